// Replicas of the app roles on the stack under test (scripts/test/stack/harness.ts).
// Workers and schedulers publish no host port, so `compose up --scale` adds more of them. The web
// role publishes 127.0.0.1:3000 for a laptop's browser, and Compose v1 cannot take a port away in
// an override (it merges port lists), so a second `--scale web` container would clash on it. The
// second web replica is therefore a twin service: the rendered web service itself, minus that port,
// with the network alias `web`, the name swag proxies to (Docker's DNS then answers both).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { RENDERED } from '../../../contract/paths.ts';
import { docker, run } from '../../test/stack/docker.ts';
import type { StackUnderTest } from '../../test/stack/harness.ts';

export const WEB_TWIN = 'web-replica';

type ComposeService = Record<string, unknown>;

/** Every value of a repeated flag in the harness's stack:up arguments. */
function flagValues(args: string[], flag: string): string[] {
  return args.flatMap((arg, i) => (arg === flag ? [args[i + 1]!] : []));
}

export function renderedComposeFile(stack: StackUnderTest): string {
  const [dir] = flagValues(stack.stackArgs(), '--dir');
  if (!dir) throw new Error('the harness passes stack:up no --dir');
  return join(dir, RENDERED.compose);
}

/**
 * The override of this bench: the web twin, and PostgreSQL and Redis on 127.0.0.1 ports for the
 * bench itself (it counts rows and enqueues jobs as the app does, from outside the network).
 */
export function replicasOverride(
  renderedCompose: string,
  ports: { postgres: number; redis: number },
): string {
  const rendered = parse(readFileSync(renderedCompose, 'utf8')) as {
    services: Record<string, ComposeService>;
  };
  const web = rendered.services.web;
  if (!web) throw new Error(`${renderedCompose} has no web service`);
  const { ports: _published, ...twin } = web;
  return stringify({
    services: {
      [WEB_TWIN]: { ...twin, networks: { default: { aliases: ['web'] } } },
      postgres: { ports: [`127.0.0.1:${ports.postgres}:5432`] },
      redis: { ports: [`127.0.0.1:${ports.redis}:6379`] },
    },
  });
}

async function composeCommand(): Promise<string[]> {
  if ((await run('docker', ['compose', 'version'])).code === 0) return ['docker', 'compose'];
  return ['docker-compose'];
}

/** `compose up` with the files and project stack:up uses, and these replica counts. */
export async function scale(stack: StackUnderTest, replicas: Record<string, number>) {
  const [command, ...prefix] = await composeCommand();
  const files = [renderedComposeFile(stack), ...flagValues(stack.stackArgs(), '--override')];
  const args = [
    ...prefix, '-p', stack.config.name, ...files.flatMap((file) => ['-f', file]),
    '--profile', 'proxy', 'up', '-d', '--no-recreate',
    ...Object.entries(replicas).flatMap(([service, n]) => ['--scale', `${service}=${n}`]),
  ]; // prettier-ignore
  const result = await run(command!, args);
  if (result.code !== 0)
    throw new Error(
      `compose up --scale failed:\n${`${result.stdout}${result.stderr}`.slice(-4000)}`,
    );
}

/** The running containers of a compose service, by name. */
export async function containersOf(stack: StackUnderTest, service: string): Promise<string[]> {
  const out = await docker(
    'ps', '--filter', `label=com.docker.compose.project=${stack.config.name}`,
    '--filter', `label=com.docker.compose.service=${service}`, '--format', '{{.Names}}',
  ); // prettier-ignore
  return out.split('\n').filter(Boolean).sort();
}

/** Waits until a service has exactly `count` containers and every one of them is healthy. */
export async function waitHealthy(
  stack: StackUnderTest,
  service: string,
  count: number,
  timeoutMs = 180_000,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const names = await containersOf(stack, service);
    const health = names.length
      ? (await docker('inspect', '--format', '{{.State.Health.Status}}', ...names)).split('\n')
      : [];
    if (names.length === count && health.filter((h) => h === 'healthy').length === count)
      return names;
    if (Date.now() > deadline)
      throw new Error(`${service}: ${names.length} of ${count} containers, health ${health}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
