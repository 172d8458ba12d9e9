// `npm start` as a user runs it: the `all` role on a database that does not exist yet. It must
// create and migrate it, serve /healthz and /readyz, and run the seeded health check on schedule.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { openDatabase } from '../src/db/index.ts';
import { spawnTs, waitForOutput, type Child } from '../../testing/child.ts';
import {
  BASE_REDIS_URL,
  databaseUrl,
  deleteRedisPrefix,
  dropDatabase,
  uniqueName,
} from '../../testing/database.ts';
import { freePort } from '../../testing/ports.ts';
import { waitFor } from '../../testing/wait.ts';

describe('npm start (role all)', () => {
  const database = uniqueName('start');
  const prefix = uniqueName('q');
  const children: Child[] = [];

  after(async () => {
    for (const child of children) child.process.kill('SIGKILL');
    await dropDatabase(database);
    await deleteRedisPrefix(prefix);
  });

  test('creates the database, serves health, runs the scheduled self health check and stops on SIGTERM', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const child = spawnTs('app/bin/refresher.js', ['all'], {
      DATABASE_URL: databaseUrl(database),
      REDIS_URL: BASE_REDIS_URL,
      QUEUE_PREFIX: prefix,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      HOST: '127.0.0.1',
      METRICS_HOST: '127.0.0.1',
      // The seeded speed test runs at once, against this process's own target: keep it short.
      SPEEDTEST_DURATION_MS: '1000',
      SPEEDTEST_STREAMS: '2',
    });
    children.push(child);
    await waitForOutput(child, /web role listening/, 30_000);
    assert.match(child.output(), /"created database"/);
    assert.match(
      child.output(),
      /"applied":\["0001-initial-schema","0002-seed-periodic-tasks","0003-seed-speedtest-schedule","0004-speedtest-daily","0005-drop-account-lockout","0006-schedule-jitter","0007-speedtest-latency-under-load","0008-probes"\]/,
    );

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { down: string[] }).down, []);
    assert.equal(
      (await fetch(`http://127.0.0.1:${port}/metrics`)).status,
      404,
      'metrics are not on the public port',
    );

    const db = openDatabase({ DATABASE_URL: databaseUrl(database), DATABASE_POOL_MAX: 2 });
    try {
      const run = await waitFor(
        () =>
          db.models.TaskResult.findOne({
            where: { task: 'system.http_check', status: 'succeeded' },
          }),
        { timeoutMs: 15_000, what: 'the seeded health check to succeed' },
      );
      assert.equal((run.result as { url: string }).url, `http://127.0.0.1:${port}/healthz`);
      assert.equal((run.result as { status: number }).status, 200);
      assert.ok(run.periodicTaskId);
      // With nothing configured, the seeded speed test measures this process's own target.
      const speedtest = await waitFor(() => db.models.Speedtest.findOne(), {
        timeoutMs: 30_000,
        what: 'the seeded self-test speed test',
      });
      assert.equal(speedtest.selfTest, true);
      assert.equal(speedtest.engine, 'librespeed');
      assert.ok((speedtest.downloadBps ?? 0) > 0 && (speedtest.uploadBps ?? 0) > 0);
    } finally {
      await db.close();
    }
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(
      metrics,
      /^refresher_task_runs_total\{task="system\.http_check",status="succeeded",role="all"\} [1-9]/m,
    );
    assert.match(metrics, /^refresher_scheduler_schedules\{role="all"\} 3$/m);

    child.process.kill('SIGTERM');
    assert.equal(await child.exited, 0);
    assert.match(child.output(), /"worker stopped"/);
  });

  test('/readyz answers 503 and names Redis when Redis is down', async () => {
    const port = await freePort();
    const child = spawnTs('app/bin/refresher.js', ['web'], {
      DATABASE_URL: databaseUrl(database),
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      PORT: String(port),
      METRICS_PORT: String(await freePort()),
      HOST: '127.0.0.1',
    });
    children.push(child);
    await waitForOutput(child, /web role listening/, 30_000);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as { down: string[]; checks: Record<string, string> };
    assert.deepEqual(body.down, ['redis']);
    assert.equal(body.checks.postgres, 'up');
    child.process.kill('SIGTERM');
    assert.equal(await child.exited, 0);
  });
});
