// bench:stack — the whole stack in Docker, as the stack test runs it (forged stand-ins, the app
// image from app/Dockerfile, `npm run stack:up -- --with-swag` over empty volumes).
//   npm run bench:stack [-- --idle SECONDS]
// Prints on its last line:
//   {"bench":"stack","healthy":true,"containers":N,"cold_start_s":…,
//    "idle_rss_mib":{"web":…,"worker":…,"scheduler":…},"idle_rss_sum_mib":…,
//    "app_image_mib":…,"app_layers_mib":…,"targets_up":…,"targets":…}
//   cold_start_s      from `docker compose up` to every container ready (healthy, one-shots done)
//   idle_rss_mib      each app role's memory after --idle seconds (default 60) with nothing to do,
//                     from the engine's own accounting (docker stats: usage minus page cache)
//   app_image_mib     the app image; app_layers_mib: the app image minus its node base
//   targets_up        Prometheus targets up, of `targets`
// Targets (the issue): web + worker + scheduler idle ≤ 260 MiB together; app layers ≤ 60 MiB.
import { parseArgs } from 'node:util';
import { image } from '../../templates/catalogue/index.ts';
import { tempDir } from '../../testing/files.ts';
import { docker, ensureEngine, run } from '../test/stack/docker.ts';
import { forge, nodeBaseImage } from '../test/stack/forge.ts';
import { StackUnderTest } from '../test/stack/harness.ts';

const { values } = parseArgs({ options: { idle: { type: 'string', default: '60' } } });
const idleSeconds = Number(values.idle);
if (!Number.isInteger(idleSeconds) || idleSeconds < 0)
  throw new Error(`--idle: expected whole seconds, got "${values.idle}"`);

const MIB = 2 ** 20;
const UNITS: Record<string, number> = { B: 1, KiB: 2 ** 10, MiB: MIB, GiB: 2 ** 30 };
const round = (value: number) => Math.round(value * 10) / 10;

/** docker stats' "12.3MiB / 384MiB" → MiB. */
function usedMib(memUsage: string): number {
  const match = /^([\d.]+)(B|KiB|MiB|GiB)/.exec(memUsage.trim());
  if (!match) throw new Error(`unexpected docker stats memory: ${memUsage}`);
  return (Number(match[1]) * UNITS[match[2]!]!) / MIB;
}

const engine = await ensureEngine();
const temp = tempDir('refresher-bench-stack-');
const stack = new StackUnderTest(temp.path);
try {
  await forge((line) => console.error(`bench:stack: ${line}`));
  await stack.prepare();
  // A cold start: no volumes, so PostgreSQL initialises and migrations run from nothing. The app
  // image is built first if it is missing (not counted: stack:up builds before `up`).
  await stack.stack('down', '--volumes');
  const output = await stack.stack('up', '--with-swag');
  const ready = /up: (\d+) containers ready in ([\d.]+) s/.exec(output);
  if (!ready) throw new Error(`stack:up did not report readiness:\n${output}`);
  console.error(
    `bench:stack: ${ready[1]} containers ready in ${ready[2]} s; idle ${idleSeconds} s`,
  );
  await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));

  const roles = ['web', 'worker', 'scheduler'] as const;
  const stats = await docker(
    'stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}}',
    ...roles.map((role) => stack.container(role)),
  ); // prettier-ignore
  const rss = Object.fromEntries(
    stats
      .trim()
      .split('\n')
      .map((line) => {
        const [name = '', ...usage] = line.split(' ');
        const role = roles.find((r) => name === stack.container(r));
        return [role, round(usedMib(usage.join(' ')))];
      }),
  ) as Record<(typeof roles)[number], number>;

  const sizeMib = async (reference: string) =>
    Number((await docker('image', 'inspect', '--format', '{{.Size}}', reference)).trim()) / MIB;
  const appImage = await sizeMib(image(stack.config, 'app'));
  const baseImage = await sizeMib(nodeBaseImage());

  const targets = (await (await fetch('http://127.0.0.1:9090/api/v1/targets')).json()) as {
    data: { activeTargets: { health: string }[] };
  };
  const health = await run('docker', [
    'ps', '-a', '--filter', `label=com.docker.compose.project=${stack.config.name}`,
    '--format', '{{.Status}}',
  ]); // prettier-ignore
  const unhealthy = health.stdout.split('\n').filter((s) => /unhealthy|Restarting/.test(s));

  console.log(
    JSON.stringify({
      bench: 'stack',
      healthy: unhealthy.length === 0,
      containers: Number(ready[1]),
      cold_start_s: Number(ready[2]),
      idle_rss_mib: rss,
      idle_rss_sum_mib: round(rss.web + rss.worker + rss.scheduler),
      app_image_mib: round(appImage),
      app_layers_mib: round(appImage - baseImage),
      targets_up: targets.data.activeTargets.filter((t) => t.health === 'up').length,
      targets: targets.data.activeTargets.length,
      idle_s: idleSeconds,
    }),
  );
} finally {
  await stack.stack('down', '--volumes').catch((error: Error) => console.error(error.message));
  temp.remove();
  await engine.release();
}
