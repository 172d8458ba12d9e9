// Waiting for containers to be healthy, as restore and upgrade do after they start the roles:
// Docker's own health check where the image has one, "running" otherwise; a container that
// turns unhealthy or exits ends the wait with its last log lines.
import { shellWords } from '../../templates/ssh.ts';
import { onHost, OpsError, type Container, type Target } from './ops.ts';

export interface ContainerHealth {
  status: string;
  health?: string;
  exitCode: number;
  image: string;
  startedAt: string;
}

const FORMAT =
  '{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|{{.State.ExitCode}}|{{.Config.Image}}|{{.State.StartedAt}}';

export async function inspectHealth(target: Target, names: string[]): Promise<ContainerHealth[]> {
  const out = await onHost(target, shellWords(['docker', 'inspect', '--format', FORMAT, ...names]));
  if (out.exitCode !== 0)
    throw new OpsError(`docker inspect failed: ${out.stderr.trim().split('\n').at(-1) ?? ''}`);
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [status = '', health = '', exitCode = '0', image = '', startedAt = ''] =
        line.split('|');
      return { status, health: health || undefined, exitCode: Number(exitCode), image, startedAt };
    });
}

/** Ready: healthy, or running for a container without a health check. */
export const isReady = (state: ContainerHealth) =>
  state.status === 'running' && (state.health === undefined || state.health === 'healthy');

/** Waits until every container is ready; an unhealthy or stopped one fails at once. */
export async function waitHealthy(
  target: Target,
  list: Container[],
  timeoutSeconds = 180,
): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const states = await inspectHealth(target, list.map((c) => c.name));
    const failed = states.findIndex((s) => s.health === 'unhealthy' || s.status === 'exited' || s.status === 'dead');
    if (failed >= 0) {
      const container = list[failed]!;
      const logs = await onHost(target, `${shellWords(['docker', 'logs', '--tail', '5', container.name])} 2>&1`);
      throw new OpsError(`${container.service} is ${states[failed]!.health ?? states[failed]!.status}; its last lines:\n${logs.stdout.trimEnd().replace(/^/gm, '    ')}`);
    }
    if (states.every(isReady)) return;
    if (Date.now() > deadline) {
      const waiting = list.flatMap((c, i) => (isReady(states[i]!) ? [] : [`${c.service} (${states[i]!.health ?? states[i]!.status})`]));
      throw new OpsError(`not healthy after ${timeoutSeconds} s: ${waiting.join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
} // prettier-ignore
