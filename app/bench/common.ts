// Shared by the benchmarks: flag parsing with clear errors, percentiles, and the one-JSON-line
// contract (the last line of output is the result, for scripts and docs/benchmarks.md).
import { parseArgs } from 'node:util';
import { z } from 'zod';

export function parseFlags<S extends z.ZodObject>(name: string, schema: S): z.output<S> {
  let values: Record<string, unknown>;
  try {
    const options = Object.fromEntries(
      Object.keys(schema.shape).map((key) => [key, { type: 'string' as const }]),
    );
    values = parseArgs({
      args: process.argv.slice(2),
      options,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    fail(name, (error as Error).message);
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    fail(
      name,
      parsed.error.issues.map((issue) => `--${issue.path.join('.')}: ${issue.message}`).join('; '),
    );
  }
  return parsed.data;
}

function fail(name: string, message: string): never {
  console.error(`bench:${name}: ${message}`);
  process.exit(2);
}

export const count = (min: number, max: number, fallback: number) =>
  z.coerce
    .number()
    .int('expected a whole number')
    .min(min, `expected at least ${min}`)
    .max(max, `expected at most ${max}`)
    .default(fallback);

/** Nearest-rank percentile of an unsorted list (0 for an empty one). */
export function percentile(values: number[], p: number): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

export const round = (value: number, digits = 1) => Number(value.toFixed(digits));

export function printResult(result: Record<string, unknown>): void {
  console.log(JSON.stringify(result));
}
