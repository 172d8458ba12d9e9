// bench:web — the read paths a user and Grafana hit, over a table of N speed tests.
//
// Fills `speedtests` with N rows spread over the last year (one every ~30 s at a million rows),
// across 40 servers in 8 countries, then starts the real web role in a process of its own and
// measures each endpoint for S seconds with C concurrent keep-alive connections. It also reports
// the web role's resident memory before any load (idle RSS).
//   npm run bench:web -- --rows 1000000 [--seconds 20] [--connections 50]
import { readFile } from 'node:fs/promises';
import { Agent, get } from 'node:http';
import { z } from 'zod';
import { createApiToken } from '../src/web/auth/tokens.ts';
import { createUser } from '../src/web/auth/users.ts';
import { spawnTs } from '../test/helpers/child.ts';
import { createTestEnv } from '../test/helpers/env.ts';
import { freePort } from '../test/helpers/ports.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { count, parseFlags, percentile, printResult, round } from './common.ts';

const flags = parseFlags(
  'web',
  z.object({
    rows: count(1, 10_000_000, 1_000_000),
    seconds: count(1, 600, 20),
    connections: count(1, 1000, 50),
  }),
);

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
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
      FROM generate_series(1, ${flags.rows}) AS i;
    ANALYZE speedtests; ANALYZE speedtest_servers;`);
  console.error(`filled ${flags.rows} rows in ${round((performance.now() - filled) / 1000)} s`);

  const user = await createUser(env.db, {
    username: 'loadtest',
    password: 'a long benchmark password',
  });
  const { token } = await createApiToken(env.db, user.id, { name: 'bench' });
  const port = await freePort();
  const web = spawnTs('app/bin/refresher.js', ['web'], {
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
      what: 'the web role',
    });
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // let start-up garbage be collected
    const idleRssMb = await rssMb(web.process.pid!);

    const weekAgo = new Date(Date.now() - 7 * 86_400_000).toISOString();
    const endpoints = [
      '/api/v1/speedtests?limit=50',
      '/api/v1/speedtests?limit=50&country=DE&engine=librespeed',
      `/api/v1/speedtests/summary?from=${encodeURIComponent(weekAgo)}`,
    ];
    const agent = new Agent({ keepAlive: true, maxSockets: flags.connections });
    const fetchStatus = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = get(
          `${origin}${path}`,
          { agent, headers: { authorization: `Bearer ${token}` } },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
            response.on('error', reject);
          },
        );
        req.on('error', reject);
      });
    const results = [];
    for (const path of endpoints) {
      const latencies: number[] = [];
      let errors = 0;
      const deadline = performance.now() + flags.seconds * 1000;
      const connection = async () => {
        while (performance.now() < deadline) {
          const started = performance.now();
          try {
            if ((await fetchStatus(path)) !== 200) errors++;
          } catch {
            errors++;
          }
          latencies.push(performance.now() - started);
        }
      };
      await Promise.all(Array.from({ length: flags.connections }, connection));
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
