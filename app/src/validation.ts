// One error type for bad input anywhere (API bodies, admin forms, task kwargs, CLI flags): it
// carries every problem with the field it belongs to, so callers can show all of them at once.
import type { z } from 'zod';

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
