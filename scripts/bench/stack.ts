// bench:stack — the whole stack in Docker, as the stack test runs it (forged stand-ins, the app
// image from app/Dockerfile, `npm run stack:up -- --with-swag` over empty volumes).
//   npm run bench:stack [-- --idle SECONDS] [--override FILE]...
// Prints on its last line:
//   {"bench":"stack","healthy":true,"containers":N,"cold_start_s":…,
//    "idle_rss_mib":{"web":…,"worker":…,"scheduler":…},"idle_rss_sum_mib":…,
//    "app_image_mib":…,"app_layers_mib":…,"targets_up":…,"targets":…}
//   cold_start_s      from `docker compose up` to every container ready (healthy, one-shots done)
//   idle_rss_mib      each app role's resident memory after --idle seconds (default 60) with
//                     nothing to do, from the engine's own accounting (its stats API: the cgroup's
//                     RSS), the median of five samples 2 s apart; idle_usage_mib (after the listed
//                     fields) is what `docker stats` shows for the same containers (RSS + active
//                     page cache)
//   app_image_mib     the app image; app_layers_mib: the app image minus its node base
//   targets_up        Prometheus targets up, of `targets`
// Targets (the issue): web + worker + scheduler idle ≤ 260 MiB together; app layers ≤ 60 MiB.
import { request } from 'node:http';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { image } from '../../templates/catalogue/index.ts';
import { tempDir } from '../../testing/files.ts';
import { docker, ensureEngine, run } from '../test/stack/docker.ts';
import { forge, nodeBaseImage } from '../test/stack/forge.ts';
import { StackUnderTest } from '../test/stack/harness.ts';

const { values } = parseArgs({
  options: {
    idle: { type: 'string', default: '60' },
    // A compose file merged over the rendered one, to measure a setting before adopting it.
    override: { type: 'string', multiple: true, default: [] },
  },
});
const idleSeconds = Number(values.idle);
if (!Number.isInteger(idleSeconds) || idleSeconds < 0)
  throw new Error(`--idle: expected whole seconds, got "${values.idle}"`);

const MIB = 2 ** 20;
const round = (value: number) => Math.round(value * 10) / 10;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

/**
 * A container's memory from the engine's stats API: RSS (anonymous memory: cgroup v1 total_rss,
 * v2 anon) and what `docker stats` shows (usage minus inactive page cache).
 */
function engineMemory(container: string): Promise<{ rss: number; usage: number }> {
  return new Promise((resolve, reject) => {
    request(
      { socketPath: '/var/run/docker.sock', path: `/containers/${container}/stats?stream=false` },
      (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => {
          const memory = (
            JSON.parse(body) as {
              memory_stats: { usage: number; stats: Record<string, number | undefined> };
            }
          ).memory_stats;
          const stats = memory.stats;
          const rss = stats.total_rss ?? stats.rss ?? stats.anon;
          if (rss === undefined) return reject(new Error(`no RSS in the stats of ${container}`));
          const inactive = stats.total_inactive_file ?? stats.inactive_file ?? 0;
          resolve({ rss, usage: memory.usage - inactive });
        });
      },
    )
      .on('error', reject)
      .end();
  });
}

const engine = await ensureEngine();
const temp = tempDir('refresher-bench-stack-');
const stack = new StackUnderTest(
  temp.path,
  values.override.map((file) => resolve(file)),
);
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
  // Five samples 2 s apart; the median of each role (a health check or a scrape can land on one).
  const samples: Record<(typeof roles)[number], { rss: number[]; usage: number[] }> = {
    web: { rss: [], usage: [] },
    worker: { rss: [], usage: [] },
    scheduler: { rss: [], usage: [] },
  };
  for (let i = 0; i < 5; i++) {
    for (const role of roles) {
      const memory = await engineMemory(stack.container(role));
      samples[role].rss.push(memory.rss);
      samples[role].usage.push(memory.usage);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  const rss = Object.fromEntries(
    roles.map((role) => [role, round(median(samples[role].rss) / MIB)]),
  ) as Record<(typeof roles)[number], number>;
  const usage = Object.fromEntries(
    roles.map((role) => [role, round(median(samples[role].usage) / MIB)]),
  );

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
      idle_usage_mib: usage,
      idle_s: idleSeconds,
    }),
  );
} finally {
  await stack.stack('down', '--volumes').catch((error: Error) => console.error(error.message));
  temp.remove();
  await engine.release();
}
