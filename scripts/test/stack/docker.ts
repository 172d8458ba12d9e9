// The Docker engine of the stack test and bench: a dockerd that answers (started here if none
// does, and then stopped by the same code that started it), and small wrappers over the CLI.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { waitFor } from '../../../testing/wait.ts';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws for its exit status. */
export function run(
  command: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** Runs a command and returns its stdout; a non-zero exit throws with what it printed. */
export async function must(
  command: string,
  args: readonly string[],
  options?: Parameters<typeof run>[2],
): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0)
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.code}\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`,
    );
  return result.stdout;
}

export const docker = (...args: string[]) => must('docker', args);

async function daemonAnswers(): Promise<boolean> {
  return (await run('docker', ['info', '--format', '{{.ServerVersion}}'])).code === 0;
}

export interface Engine {
  /** Stops dockerd if this process started it; a no-op for an engine that was already there. */
  release(): Promise<void>;
}

/**
 * An engine that answers. With none, starts `dockerd` (root only, as on these machines: no
 * systemd) and waits for it; `release()` stops exactly that process.
 */
export async function ensureEngine(): Promise<Engine> {
  if ((await run('sh', ['-c', 'command -v docker'])).code !== 0)
    throw new Error('no docker CLI on PATH: install docker.io (bash .ci/run does)');
  if (await daemonAnswers()) return { release: async () => {} };
  if (process.getuid?.() !== 0)
    throw new Error('the Docker daemon does not answer and only root can start dockerd here');
  const log = join(tmpdir(), 'refresher-dockerd.log');
  // Debian puts dockerd in /usr/sbin, which is not on every PATH.
  const dockerd = existsSync('/usr/sbin/dockerd') ? '/usr/sbin/dockerd' : 'dockerd';
  const daemon: ChildProcess = spawn(dockerd, [], {
    detached: true,
    stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
  });
  daemon.unref();
  await waitFor(() => daemonAnswers(), { timeoutMs: 60_000, what: `dockerd (log: ${log})` });
  return {
    release: async () => {
      if (daemon.exitCode !== null) return;
      const exited = new Promise((resolve) => daemon.once('exit', resolve));
      daemon.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    },
  };
}

/** Image ids by reference, or undefined for a reference with no local image. */
export async function imageId(reference: string): Promise<string | undefined> {
  const result = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', reference]);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

export async function imageLabel(reference: string, label: string): Promise<string | undefined> {
  const result = await run('docker', [
    'image',
    'inspect',
    '--format',
    `{{ index .Config.Labels "${label}" }}`,
    reference,
  ]);
  return result.code === 0 ? result.stdout.trim() : undefined;
}
