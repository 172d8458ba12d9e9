// npm run upgrade: a new app image for a running deployment without a full deploy. The image is
// built on the host from this checkout's bundle (the build context streamed over SSH), or named
// with --image; the migrations run with it first (they are written to be safe for the old code,
// docs/database.md); then the app roles are replaced one at a time, each waited for until Docker
// reports it healthy. The first role that is not healthy is put back on its previous container
// and the upgrade stops there: the roles not yet replaced never stopped, and the message says
// how to take the replaced ones back.
//
//   npm run upgrade [-- --image REF] [--timeout SECONDS] [--host …|--local] [--config FILE]
import { spawn } from 'node:child_process';
import { parseCommandLine, runCommand, UsageError } from '../contract/cli.ts';
import { CONTAINER_LABELS, image } from '../templates/catalogue/index.ts';
import { shellWords } from '../templates/ssh.ts';
import { bundleApp } from './lib/bundle.ts';
import { waitHealthy } from './lib/health.ts';
import {
  containerOf,
  containers,
  EXIT,
  mustOnHost,
  onHost,
  openTarget,
  OPS_ERRORS,
  OpsError,
  spawnFailure,
  spawnOnHost,
  TARGET_FLAGS,
  TARGET_USAGE,
  type Container,
  type Target,
} from './lib/ops.ts';
import { inspect, runOneShotFrom, type InspectedWithImage } from './lib/one-shot.ts';
import { runArguments, type InspectedImage } from './lib/recreate.ts';

/** Replaced in this order: the worker first (it picks up queued work on the new code), the web last. */
const UPGRADE_ORDER = ['worker', 'scheduler', 'web'] as const;

const USAGE = `usage: npm run upgrade [-- --image REF] [--timeout SECONDS]
  --image     an image already on the host (docker load, a registry pull); default: build one
              there from this checkout (npm run bundle, then docker build with the bundle)
  --timeout   how long each role may take to become healthy (default: 180)
${TARGET_USAGE}
exit: 0 every role on the new image, 1 stopped at an unhealthy role (rolled back) or a failed step`;

/** Builds the checkout's app image on the host: the bundle, as a tar on docker build's stdin. */
async function buildImage(target: Target): Promise<string> {
  const bundled = await bundleApp();
  const tag = image(target.config, 'app');
  console.error(`upgrade: building ${tag} (app ${bundled.manifest.version}) on the host from ${bundled.dir}`);
  const build = ['docker', 'build', '--quiet', '-t', tag, '--build-arg', `APP_VERSION=${bundled.manifest.version}`,
    '--build-arg', `OOKLA_ACCEPT_LICENSE=${String(target.config.speedtest.acceptOoklaLicense)}`, '-']; // prettier-ignore
  const remote = spawnOnHost(target, shellWords(build), ['pipe', 'pipe', 'pipe']);
  const tar = spawn('tar', ['-C', bundled.dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  tar.stdout!.pipe(remote.stdin!);
  let stdout = '';
  let stderr = '';
  remote.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  remote.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => remote.on('close', resolve));
  if (code !== 0)
    throw spawnFailure(target, code, stderr) ?? new OpsError(`docker build on the host failed (exit ${code}):\n${stderr.trim().split('\n').slice(-8).join('\n')}`);
  return stdout.trim().split('\n').at(-1)!;
} // prettier-ignore

/** Replaces one role's container; returns the image it ran. On failure puts the previous one back and throws. */
async function replace(target: Target, container: Container, imageId: string, timeout: number): Promise<string> {
  const current = await inspect<InspectedWithImage>(target, 'container', container.name);
  if (current.Image === imageId) return current.Image;
  const oldImage = await inspect<InspectedImage>(target, 'image', current.Image);
  const { args, command } = runArguments(current, oldImage, { [CONTAINER_LABELS.upgradedFrom]: current.Image });
  const previous = `${container.name}-previous`;
  if ((await onHost(target, shellWords(['docker', 'container', 'inspect', previous]))).exitCode === 0)
    throw new OpsError(`${previous} is left from an interrupted upgrade: if ${container.name} runs, docker rm ${previous}; else docker rename ${previous} ${container.name} and docker start it`);
  await mustOnHost(target, `renaming ${container.name}`, shellWords(['docker', 'rename', container.name, previous]));
  await mustOnHost(target, `stopping ${container.service}`, shellWords(['docker', 'stop', previous]));
  const started = await onHost(target, shellWords(['docker', 'run', ...args, imageId, ...command]));
  try {
    if (started.exitCode !== 0) throw new OpsError(`docker run failed: ${started.stderr.trim().split('\n').at(-1) ?? ''}`);
    await waitHealthy(target, [{ ...container }], timeout);
  } catch (error) {
    console.error(`upgrade: ${container.service} is not healthy on the new image: putting its previous container back`);
    await onHost(target, shellWords(['docker', 'rm', '--force', container.name]));
    await mustOnHost(target, `renaming ${previous} back`, shellWords(['docker', 'rename', previous, container.name]));
    await mustOnHost(target, `starting ${container.service} again`, shellWords(['docker', 'start', container.name]));
    await waitHealthy(target, [container], timeout);
    throw new OpsError(`${container.service} failed on the new image and is back on its previous one, ${current.Image.slice(0, 19)}: ${(error as Error).message}`);
  }
  await mustOnHost(target, `removing ${previous}`, shellWords(['docker', 'rm', previous]));
  return current.Image;
} // prettier-ignore

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { ...TARGET_FLAGS, image: { type: 'string' }, timeout: { type: 'string' } });
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const timeout = Number(values.timeout ?? 180);
  if (!Number.isInteger(timeout) || timeout < 1) throw new UsageError(`--timeout "${values.timeout}" is not a positive whole number of seconds`);
  const target = await openTarget(values);
  const found = await containers(target);
  const roles = UPGRADE_ORDER.map((role) => containerOf(found, role));
  const reference = values.image ?? (await buildImage(target));
  const imageId = (await inspect<{ Id: string }>(target, 'image', reference)).Id;
  console.error(`upgrade: new image ${imageId.slice(0, 19)} (${reference})`);
  if (found.has('migrate')) {
    console.error('upgrade: migrating with the new image');
    await runOneShotFrom(target, found.get('migrate')!, imageId, 'the migrations failed with the new image; no role was replaced');
  }
  const done: { service: string; before: string }[] = [];
  for (const role of roles) {
    console.error(`upgrade: replacing ${role.service}`);
    try {
      const before = await replace(target, role, imageId, timeout);
      console.error(`upgrade: ✓ ${role.service} is healthy on the new image (it ran ${before.slice(0, 19)})`);
      done.push({ service: role.service, before });
    } catch (error) {
      const left = roles.slice(roles.indexOf(role) + 1).map((r) => r.service);
      const undo = done.length ? `; ${done.map((d) => d.service).join(', ')} already run the new image: to take them back, npm run upgrade -- --image ${[...new Set(done.map((d) => d.before))].join(' or ')}` : '';
      throw new OpsError(`${(error as Error).message}\nstopped there: ${[...left].join(', ') || 'no other role'} kept running untouched${undo}`);
    }
  }
  console.error(`upgrade: every role runs ${imageId.slice(0, 19)}`);
  return EXIT.ok;
} // prettier-ignore

await runCommand('upgrade', USAGE, () => main(process.argv.slice(2)), { expected: OPS_ERRORS });
