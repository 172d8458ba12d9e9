import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from '../contract/paths.ts';
import { waitFor } from './wait.ts';

export interface Child {
  process: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Spawns a TypeScript file (or the CLI) under tsx with the given environment. */
export function spawnTs(
  file: string,
  args: string[],
  env: Record<string, string>,
  options: { input?: string } = {},
): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.input !== undefined) child.stdin?.end(options.input);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { process: child, output: () => output, exited };
}

export async function waitForOutput(
  child: Child,
  pattern: RegExp,
  timeoutMs = 15_000,
): Promise<void> {
  await waitFor(() => pattern.test(child.output()), {
    timeoutMs,
    what: `output matching ${pattern}:\n${child.output()}`,
  });
}

/** Runs a TypeScript file under tsx to its end, with only PATH and HOME of this environment. */
export function runTs(
  file: string,
  args: string[],
  env: Record<string, string>,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
