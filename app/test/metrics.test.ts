// Each role's /metrics, scraped over HTTP from the real processes and checked by promtool (the
// Prometheus text-format parser and linter from Debian's prometheus package): the names are there,
// follow the conventions, and move when tasks run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { bufferbloat } from '../src/speedtest/bufferbloat.ts';
import { spawnTs, type Child } from '../../testing/child.ts';
import { deleteRedisPrefix } from '../../testing/database.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { freePort } from '../../testing/ports.ts';
import { waitFor } from '../../testing/wait.ts';

/** promtool's verdict on an exposition; prom-client's own runtime gauges end in _total upstream. */
async function lint(text: string): Promise<string[]> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdin.end(text);
  await new Promise((resolve) => child.on('exit', resolve));
  return output
    .split('\n')
    .filter(
      (line) => line.trim() && !/^nodejs_active_(handles|requests|resources)_total /.test(line),
    );
}

/** Samples by name and labels, from the text format (promtool has already vouched for its syntax). */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) found.set(match[1]!, Number(match[2]));
  }
  return found;
}

const sum = (found: Map<string, number>, prefix: string, labels: string[] = []) =>
  [...found]
    .filter(([key]) => key.startsWith(prefix) && labels.every((label) => key.includes(label)))
    .reduce((total, [, value]) => total + value, 0);

describe('metrics of every role', () => {
  let env: TestEnv;
  const ports = { web: 0, worker: 0, scheduler: 0, http: 0 };
  const children: Child[] = [];

  before(async () => {
    env = await createTestEnv();
    // Only what this test needs runs: a health check every second and a short speed test.
    await env.db.models.PeriodicTask.update({ enabled: false }, { where: {} });
    for (const key of Object.keys(ports) as Array<keyof typeof ports>)
      ports[key] = await freePort();
    const common = {
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_URL: env.config.REDIS_URL,
      QUEUE_PREFIX: env.config.QUEUE_PREFIX,
      PORT: String(ports.http),
      HOST: '127.0.0.1',
      METRICS_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      SPEEDTEST_DURATION_MS: '1000',
      SPEEDTEST_STREAMS: '2',
    };
    for (const role of ['web', 'worker', 'scheduler'] as const) {
      const child = spawnTs('app/bin/refresher.js', [role], {
        ...common,
        METRICS_PORT: String(ports[role]),
      });
      children.push(child);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${ports[role]}/metrics`)).ok, {
        timeoutMs: 30_000,
        what: `${role} metrics`,
      }).catch((error: Error) => {
        throw new Error(`${error.message}\n${child.output()}`);
      });
    }
    await env.db.models.PeriodicTask.bulkCreate([
      {
        name: 'check',
        task: 'system.http_check',
        scheduleType: 'interval',
        intervalEvery: 1,
        intervalPeriod: 'seconds',
      },
      {
        name: 'measure',
        task: 'speedtester.run_speedtest',
        scheduleType: 'interval',
        intervalEvery: 1,
        intervalPeriod: 'hours',
      },
    ]);
    await waitFor(() => env.db.models.Speedtest.count(), {
      timeoutMs: 30_000,
      what: 'a stored speed test',
    });
  });
  after(async () => {
    for (const child of children) child.process.kill('SIGTERM');
    await Promise.all(children.map((child) => child.exited));
    await deleteRedisPrefix(`${env.config.QUEUE_PREFIX}-idle`);
    await env.cleanup();
  });

  const scrape = async (role: keyof typeof ports) => {
    const response = await fetch(`http://127.0.0.1:${ports[role]}/metrics`);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    assert.deepEqual(await lint(text), [], `promtool on the ${role} role's metrics`);
    return samples(text);
  };

  test('web: request durations by route pattern and status, and the runtime', async () => {
    await fetch(`http://127.0.0.1:${ports.http}/no/such/page`);
    const web = await scrape('web');
    assert.ok(
      sum(web, 'refresher_http_request_duration_seconds_count', [
        'route="/healthz"',
        'status="200"',
      ]) >= 1,
    );
    assert.ok(
      sum(web, 'refresher_http_request_duration_seconds_count', ['route="/speedtest/garbage"']) >=
        1,
    );
    assert.ok(
      sum(web, 'refresher_http_request_duration_seconds_count', [
        'route="unmatched"',
        'status="404"',
      ]) >= 1,
    );
    assert.ok(sum(web, 'process_cpu_seconds_total') > 0);
    assert.ok(sum(web, 'nodejs_heap_size_used_bytes') > 0);
  });

  test('worker: task runs and durations, queue depth, the latest speed test', async () => {
    const worker = await scrape('worker');
    assert.ok(
      sum(worker, 'refresher_task_runs_total', [
        'task="system.http_check"',
        'status="succeeded"',
      ]) >= 1,
    );
    assert.ok(
      sum(worker, 'refresher_task_runs_total', [
        'task="speedtester.run_speedtest"',
        'status="succeeded"',
      ]) >= 1,
    );
    assert.ok(
      sum(worker, 'refresher_task_duration_seconds_count', ['task="speedtester.run_speedtest"']) >=
        1,
    );
    assert.ok(
      sum(worker, 'refresher_scheduler_lateness_seconds_count', ['task="system.http_check"']) >= 1,
    );
    assert.ok(worker.has('refresher_queue_jobs{queue="speedtests",state="waiting",role="worker"}'));
    const download = sum(worker, 'refresher_speedtest_last_download_bytes_per_second', [
      'engine="librespeed"',
    ]);
    const stored = await env.db.models.Speedtest.findOne({ order: [['startedAt', 'DESC']] });
    assert.equal(download, (stored?.downloadBps ?? 0) / 8);
    assert.ok(sum(worker, 'refresher_speedtest_last_ping_seconds') > 0);
    assert.equal(
      sum(worker, 'refresher_speedtest_last_jitter_seconds'),
      (stored?.jitterMs ?? NaN) / 1000,
    );
    for (const direction of ['download', 'upload']) {
      assert.equal(
        sum(worker, 'refresher_speedtest_last_loaded_latency_seconds', [
          `direction="${direction}"`,
        ]),
        ((direction === 'download' ? stored?.downloadLatencyMs : stored?.uploadLatencyMs) ?? NaN) /
          1000,
        `${direction} loaded latency`,
      );
    }
    const bloat = bufferbloat({
      pingMs: stored!.pingMs,
      downloadLatency: { latencyMs: stored!.downloadLatencyMs!, jitterMs: null },
      uploadLatency: { latencyMs: stored!.uploadLatencyMs!, jitterMs: null },
    });
    assert.equal(
      sum(worker, 'refresher_speedtest_last_bufferbloat_seconds'),
      bloat!.increaseMs / 1000,
    );
    // LibreSpeed measures no packet loss: no gauge rather than a zero.
    assert.equal(sum(worker, 'refresher_speedtest_last_packet_loss_ratio'), 0);
    assert.ok(
      ![...worker.keys()].some((key) =>
        key.startsWith('refresher_speedtest_last_packet_loss_ratio{'),
      ),
    );
    assert.ok(sum(worker, 'refresher_speedtest_download_bytes_per_second_count') >= 1);
    assert.equal(
      sum(worker, 'refresher_speedtest_last_timestamp_seconds'),
      stored!.startedAt.getTime() / 1000,
    );

    // The counters move with every run.
    const before = sum(worker, 'refresher_task_runs_total', ['task="system.http_check"']);
    await waitFor(
      async () =>
        sum(await scrape('worker'), 'refresher_task_runs_total', ['task="system.http_check"']) >
        before,
      {
        what: 'the run counter to move',
      },
    );
  });

  test('scheduler: schedules in force and reconciles by trigger', async () => {
    const scheduler = await scrape('scheduler');
    assert.equal(scheduler.get('refresher_scheduler_schedules{role="scheduler"}'), 2);
    assert.ok(sum(scheduler, 'refresher_scheduler_reconciles_total', ['trigger="start"']) >= 1);
    assert.ok(sum(scheduler, 'refresher_scheduler_reconciles_total', ['trigger="notify"']) >= 1);
    assert.ok(
      scheduler.has('refresher_queue_jobs{queue="default",state="delayed",role="scheduler"}'),
    );
  });

  test('a restarted worker starts its "latest speed test" gauges from the database', async () => {
    const port = await freePort();
    const child = spawnTs('app/bin/refresher.js', ['worker'], {
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_URL: env.config.REDIS_URL,
      QUEUE_PREFIX: `${env.config.QUEUE_PREFIX}-idle`,
      METRICS_PORT: String(port),
      METRICS_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    });
    children.push(child);
    const text = await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null);
        return response?.ok ? response.text() : null;
      },
      { timeoutMs: 30_000, what: 'the second worker' },
    );
    const found = samples(text);
    assert.ok(sum(found, 'refresher_speedtest_last_download_bytes_per_second') > 0);
    assert.equal(
      sum(found, 'refresher_speedtest_download_bytes_per_second_count'),
      0,
      'no new observation',
    );
  });
});
