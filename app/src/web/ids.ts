// Row ids in paths, parsed one way for the API (as zod params, so they are in the OpenAPI
// document) and for the portal's pages (an id that is not one is a 404 page, not an error).
import { z } from 'zod';

/**
 * Rows with a serial key (periodic tasks, users, API tokens): at most 9 digits, so every value
 * fits PostgreSQL's integer and nothing out of range ever reaches a query.
 */
export const serialId = z
  .string()
  .regex(/^\d{1,9}$/, 'expected a numeric id')
  .transform(Number);

/**
 * Rows with a bigserial key (speed tests, task results), kept as strings: JavaScript numbers lose
 * precision past 2^53. At most 18 digits always fits a bigint.
 */
export const bigserialId = z.string().regex(/^\d{1,18}$/, 'expected a numeric id');

export const serialIdParams = z.object({ id: serialId });
export const bigserialIdParams = z.object({ id: bigserialId });

/** The id in a page's path, or undefined when it cannot be one. */
export function pathId<T>(schema: z.ZodType<T, string>, value: unknown): T | undefined {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
