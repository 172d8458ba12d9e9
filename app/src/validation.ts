// One error type for bad input anywhere (API bodies, admin forms, task kwargs, CLI flags): it
// carries every problem with the field it belongs to, so callers can show all of them at once.
import { z } from 'zod';
import './zod-words.ts';

export interface FieldIssue {
  path: string;
  message: string;
}

export class ValidationError extends Error {
  override name = 'ValidationError';
  readonly issues: FieldIssue[];

  constructor(issues: FieldIssue[]) {
    super(issues.map((issue) => `${issue.path || '(input)'}: ${issue.message}`).join('; '));
    this.issues = issues;
  }
}

export function issuesOf(error: z.ZodError, prefix: PropertyKey[] = []): FieldIssue[] {
  const at = (path: PropertyKey[]) => [...prefix, ...path].map(String).join('.');
  return error.issues.flatMap((issue) =>
    // An unknown key is a problem of that key, not of the object that holds it.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: at([...issue.path, key]), message: 'unknown field' }))
      : [{ path: at(issue.path), message: issue.message }],
  );
}

/** Parses with the schema or throws a ValidationError naming every field at fault. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ValidationError(issuesOf(parsed.error));
  return parsed.data;
}

// Bounds that keep every value inside its PostgreSQL column: a number past them is a 400 naming
// the field, never an overflow error from the database (a 500).

/** PostgreSQL's integer (int4). */
export const INT4_MAX = 2_147_483_647;

/** A row id of an integer (serial) column, from a query string or a form. */
export const int4Id = () =>
  z.coerce
    .number()
    .int('expected a whole number')
    .positive('expected a number greater than 0')
    .max(INT4_MAX, `expected at most ${INT4_MAX}`);

const EARLIEST = new Date('1970-01-01T00:00:00.000Z');
const LATEST = new Date('9999-12-31T23:59:59.999Z');

/** A time as people and scripts write it (ISO 8601), between 1970 and the year 9999. */
export const boundedDate = () =>
  z.coerce
    .date({ error: 'expected a date and time (ISO 8601, e.g. 2026-12-04T09:30:00Z)' })
    .min(EARLIEST, 'expected a time in 1970 or later')
    .max(LATEST, 'expected a time before the year 10000');
