// Running a deployment's one-shot container (migrate) again from an image of one's choosing, with
// the container's own settings: upgrade migrates with the new image before any role is replaced,
// and restore migrates with the image the web role runs, which after an upgrade is no longer the
// image the migrate container was made from.
import type { DeploymentConfig } from '../../templates/config.ts';
import { serviceCatalogue } from '../../templates/catalogue/index.ts';
import { shellWords } from '../../templates/ssh.ts';
import { onHost, OpsError, type Container, type Target } from './ops.ts';
import { runArguments, type InspectedContainer, type InspectedImage } from './recreate.ts';

export type InspectedWithImage = InspectedContainer & { Image: string };

/** `docker container|image inspect` of one object, parsed; a missing one is an OpsError. */
export async function inspect<T>(target: Target, kind: 'container' | 'image', ref: string): Promise<T> {
  const out = await onHost(target, shellWords(['docker', kind, 'inspect', ref]));
  if (out.exitCode !== 0) throw new OpsError(`no ${kind} ${ref} on the host${kind === 'image' ? ' (docker load it, or leave out --image to build one)' : ''}`);
  return (JSON.parse(out.stdout) as T[])[0]!;
} // prettier-ignore

/** The image id a container runs. */
export async function imageOf(target: Target, container: Container): Promise<string> {
  return (await inspect<InspectedWithImage>(target, 'container', container.name)).Image;
}

/**
 * The one-shot again, from `imageId`, attached, removed afterwards, under a name of its own; it
 * must exit 0, else an OpsError with its last lines and `failure` before them.
 */
export async function runOneShotFrom(target: Target, container: Container, imageId: string, failure: string): Promise<void> {
  const current = await inspect<InspectedWithImage>(target, 'container', container.name);
  const oldImage = await inspect<InspectedImage>(target, 'image', current.Image);
  const { args, command } = runArguments(current, oldImage);
  const oneShot: string[] = ['--rm'];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--detach') continue;
    if (args[i] === '--restart') { i++; continue; }
    if (args[i] === '--name') { oneShot.push('--name', `${args[++i]}-upgrade`); continue; }
    oneShot.push(args[i]!);
  } // prettier-ignore
  const out = await onHost(target, `${shellWords(['docker', 'run', ...oneShot, imageId, ...command])} 2>&1`);
  if (out.exitCode !== 0)
    throw new OpsError(`${failure} (exit ${out.exitCode}):\n${out.stdout.trim().split('\n').slice(-5).join('\n')}`);
} // prettier-ignore

/** The deployment's one-shot services (migrate, grafana-db-role): run to completion, never restarted. */
export function oneShotServices(config: DeploymentConfig): string[] {
  return serviceCatalogue(config)
    .filter((service) => service.restart === 'no')
    .map((service) => service.name);
}

/** Runs a one-shot container again as it is, attached; it must exit 0, else an OpsError. */
export async function runOneShotAgain(target: Target, container: Container, failure: string): Promise<void> {
  const out = await onHost(target, `${shellWords(['docker', 'start', '-a', container.name])} 2>&1`);
  if (out.exitCode !== 0)
    throw new OpsError(`${failure} (exit ${out.exitCode}): ${out.stdout.trim().split('\n').slice(-3).join(' / ')}`);
} // prettier-ignore
