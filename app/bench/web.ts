// bench:web — the read paths a user, a script and Grafana hit, over a table of N speed tests.
//
// Fills `speedtests` with N rows spread over the last year (one every ~30 s at a million rows),
// across 40 servers in 8 countries, then starts the real web role in a process of its own and
// measures each endpoint for S seconds with C concurrent keep-alive connections: the API with a
// bearer token, the admin page with the session cookie of a real sign-in (GET /login for the
// CSRF token, then POST the form), as a script and a browser would.
//
// The web role runs the way production runs it (`--runtime bundle`, the default): the image's
// bundle (scripts/lib/bundle.ts: one file by esbuild, dependencies inside but for the few the
// image installs) on plain node. `--runtime tsx` runs it from the TypeScript sources as
// `npm start` does. Before any load the role sits idle for `--idle` seconds and its
// resident memory is read at the end of that (idle_rss_mb): V8 gives back start-up garbage only
// some seconds after start-up, so an earlier reading measures start-up, not idle. Each endpoint
// is loaded unmeasured for `--warmup` seconds before its measured seconds.
//   npm run bench:web -- --rows 1000000 [--seconds 20] [--connections 50] [--runtime bundle|tsx]
//                        [--idle 60] [--warmup 2]
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Agent, get } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { createApiToken } from '../src/web/auth/tokens.ts';
import { createUser } from '../src/web/auth/users.ts';
import { BUNDLE_FILE, REPO_ROOT } from '../../contract/paths.ts';
import { spawnTs, type Child } from '../../testing/child.ts';
import { createTestEnv } from '../test/helpers/env.ts';
import { freePort } from '../../testing/ports.ts';
import { waitFor } from '../../testing/wait.ts';
import { count, parseFlags, percentile, printResult, round } from './common.ts';

const flags = parseFlags(
  'web',
  z.object({
    rows: count(1, 10_000_000, 1_000_000),
    seconds: count(1, 600, 20),
    connections: count(1, 1000, 50),
    runtime: z.enum(['bundle', 'tsx']).default('bundle'),
    idle: count(0, 600, 60),
    warmup: count(0, 60, 2),
  }),
);

const USERNAME = 'loadtest';
const PASSWORD = 'a long benchmark password';

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * The image's bundle, built into node_modules/.cache so that the packages the image installs
 * next to it resolve from this checkout's node_modules.
 */
async function bundle(): Promise<string> {
  const dir = join(REPO_ROOT, 'node_modules/.cache/refresher-bench/web');
  // `npm run bundle` as a process: the app's benches do not import the build scripts.
  const build = spawnTs('scripts/bundle.ts', ['--out', dir, '--quiet'], {});
  const code = await build.exited;
  if (code !== 0) throw new Error(`npm run bundle failed (exit ${code}):\n${build.output()}`);
  return join(dir, BUNDLE_FILE);
}

async function startWebRole(env: Record<string, string>): Promise<Child> {
  if (flags.runtime === 'tsx') return spawnTs('app/bin/refresher.js', ['web'], env);
  const child = spawn(process.execPath, [await bundle(), 'web'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { process: child, output: () => output, exited };
}

/** Signs in through the form, as a browser does; returns the session cookie. */
async function signIn(origin: string): Promise<string> {
  const cookieOf = (response: Response) => {
    const cookie = response.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .find((c) => c.startsWith('refresher.sid='));
    if (!cookie) throw new Error(`no session cookie from ${response.url} (${response.status})`);
    return cookie;
  };
  const form = await fetch(`${origin}/login`);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1];
  if (!csrf) throw new Error('no CSRF token on the sign-in page');
  const signedIn = await fetch(`${origin}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: cookieOf(form),
    },
    body: new URLSearchParams({ username: USERNAME, password: PASSWORD, _csrf: csrf }),
  });
  if (signedIn.status !== 303) throw new Error(`sign-in answered ${signedIn.status}`);
  return cookieOf(signedIn);
}

const env = await createTestEnv({ LOG_LEVEL: 'warn' });
try {
  const filled = performance.now();
  await env.db.sequelize.query(`
    INSERT INTO speedtest_servers (engine, external_id, name, country_code, lat, lon)
    SELECT 'librespeed', 'server-' || i, 'Server ' || i,
           (ARRAY['NL','DE','BE','FR','GB','US','SE','PL'])[1 + i % 8], 40 + i % 20, i % 30
      FROM generate_series(1, 40) AS i;
    INSERT INTO speedtests (started_at, engine, download_bps, upload_bps, ping_ms, jitter_ms, server_id, raw)
    SELECT now() - (i * (interval '365 days' / ${flags.rows})),
           -- engine and server vary independently, so every filter combination has rows
           CASE WHEN (i / 7) % 4 = 0 THEN 'ookla' ELSE 'librespeed' END,
           50e6 + (i % 1000) * 1e5, 10e6 + (i % 500) * 1e5, 5 + (i % 50), (i % 7) * 0.3,
           (SELECT id FROM speedtest_servers ORDER BY id OFFSET (i % 40) LIMIT 1), '{}'
      FROM generate_series(1, ${flags.rows}) AS i;`);
  // What autovacuum does after a bulk insert within a minute or so: visibility maps, statistics.
  await env.db.sequelize.query('VACUUM ANALYZE');
  console.error(`filled ${flags.rows} rows in ${round((performance.now() - filled) / 1000)} s`);

  const user = await createUser(env.db, { username: USERNAME, password: PASSWORD });
  const { token } = await createApiToken(env.db, user.id, { name: 'bench' });
  const port = await freePort();
  const web = await startWebRole({
    DATABASE_URL: env.config.DATABASE_URL,
    REDIS_URL: env.config.REDIS_URL,
    QUEUE_PREFIX: env.config.QUEUE_PREFIX,
    PORT: String(port),
    HOST: '127.0.0.1',
    METRICS_PORT: String(await freePort()),
    METRICS_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATABASE_POOL_MAX: '20',
  });
  try {
    const origin = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${origin}/healthz`)).ok, {
      timeoutMs: 30_000,
      what: `the web role:\n${web.output()}`,
    });
    const pid = web.process.pid!;
    const startRssMb = await rssMb(pid);
    await sleep(flags.idle * 1000);
    const idleRssMb = await rssMb(pid);
    console.error(
      `web role (${flags.runtime}): ${round(startRssMb, 0)} MB when ready, ` +
        `${round(idleRssMb, 0)} MB after ${flags.idle} s idle`,
    );

    const cookie = await signIn(origin);
    const bearer = { authorization: `Bearer ${token}` };
    const weekAgo = new Date(Date.now() - 7 * 86_400_000).toISOString();
    const endpoints: Array<{ path: string; headers: Record<string, string> }> = [
      { path: '/api/v1/speedtests?limit=50', headers: bearer },
      { path: '/api/v1/speedtests?limit=50&country=DE&engine=librespeed', headers: bearer },
      // The range the portal's home page and a "last 7 days" dashboard ask for.
      {
        path: `/api/v1/speedtests/summary?from=${encodeURIComponent(weekAgo)}`,
        headers: bearer,
      },
      { path: '/admin/speedtests', headers: { cookie } },
    ];
    const agent = new Agent({ keepAlive: true, maxSockets: flags.connections });
    const fetchStatus = (path: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = get(`${origin}${path}`, { agent, headers }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
          response.on('error', reject);
        });
        req.on('error', reject);
      });
    /** Every connection sends the next request as soon as its last one is answered. */
    const load = async (path: string, headers: Record<string, string>, seconds: number) => {
      const latencies: number[] = [];
      let errors = 0;
      const deadline = performance.now() + seconds * 1000;
      const connection = async () => {
        while (performance.now() < deadline) {
          const started = performance.now();
          try {
            if ((await fetchStatus(path, headers)) !== 200) errors++;
          } catch {
            errors++;
          }
          latencies.push(performance.now() - started);
        }
      };
      await Promise.all(Array.from({ length: flags.connections }, connection));
      return { latencies, errors };
    };
    const results = [];
    for (const { path, headers } of endpoints) {
      // Unmeasured: the JIT compiles this path's code and the pool opens its connections, so
      // whichever endpoint comes first is not the one that pays for it.
      await load(path, headers, flags.warmup);
      const { latencies, errors } = await load(path, headers, flags.seconds);
      results.push({
        path,
        rps: round(latencies.length / flags.seconds, 0),
        p50_ms: round(percentile(latencies, 50)),
        p95_ms: round(percentile(latencies, 95)),
        p99_ms: round(percentile(latencies, 99)),
        errors,
      });
      console.error(JSON.stringify(results.at(-1)));
    }
    agent.destroy();
    printResult({
      bench: 'web',
      rows: flags.rows,
      idle_rss_mb: round(idleRssMb, 0),
      endpoints: results,
    });
  } finally {
    web.process.kill('SIGTERM');
    await web.exited;
  }
} finally {
  await env.cleanup();
}
