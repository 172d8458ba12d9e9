// What every command line of the project does the same way: the app's `refresher <role>` and the
// scripts in scripts/. Flags are parsed strictly (an unknown or misspelt flag is an error, never
// ignored), a usage error prints the message and the usage and exits 2, a known kind of failure
// prints its message and exits 1, and paths are shown relative to where the person stands.
import { relative } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A wrong flag, a missing argument: the person typed something the command does not take. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs in strict mode, with -h/--help; its complaints become UsageErrors. */
export function parseCommandLine<const O extends Options, const P extends boolean = false>(
  argv: string[],
  options: O,
  allowPositionals?: P,
) {
  const config = {
    args: argv,
    strict: true as const,
    allowPositionals: (allowPositionals ?? false) as P,
    options: { ...options, help: { type: 'boolean' as const, short: 'h' } },
  };
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

type ErrorClass = abstract new (...args: never[]) => Error;

export interface CommandOptions {
  /** Failures a person can fix (bad configuration, no Docker): their message alone, exit 1. */
  expected?: readonly ErrorClass[];
  /** How an expected failure is worded; by default its message. */
  describe?: (error: Error) => string;
  /** End the process at once with the code (a service role whose handles would keep it alive). */
  exit?: boolean;
}

/**
 * Runs a command's main and sets the exit code. A UsageError prints `name: message` and the usage
 * (exit 2); an expected failure prints `name: message` (exit 1, or the error's own `exitCode`,
 * which the ops scripts use to tell an unreachable host from a refusal); anything else is a bug and prints
 * its stack (exit 1).
 */
export async function runCommand(
  name: string,
  usage: string,
  main: () => Promise<number>,
  options: CommandOptions = {},
): Promise<void> {
  const { expected = [], describe = (error: Error) => error.message } = options;
  let code: number;
  try {
    code = await main();
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${name}: ${error.message}\n${usage}`);
      code = 2;
    } else if (expected.some((kind) => error instanceof kind)) {
      console.error(`${name}: ${describe(error as Error)}`);
      const own = (error as { exitCode?: unknown }).exitCode;
      code = typeof own === 'number' && own > 0 ? own : 1;
    } else {
      console.error(`${name}: failed:`, error);
      code = 1;
    }
  }
  if (options.exit) process.exit(code);
  process.exitCode = code;
}

/** A path as a person wants to read it: relative to the current folder when it is inside it. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}
