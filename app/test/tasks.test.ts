// The two built-in tasks called straight through their definitions, with no queue in between:
// what a handler returns, logs and throws is what the worker records, so it is pinned down here
// against real servers (plain HTTP, TLS, silent, refusing) and a real migrated database.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { httpCheckTask } from '../src/tasks/http-check.ts';
import { pruneResultsTask } from '../src/tasks/prune-results.ts';
import type { TaskContext } from '../src/tasks/registry.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { freePort } from '../../testing/ports.ts';

const DAY_MS = 86_400_000;

/** A context like the worker's, keeping the log lines so a test can read them. */
function taskContext(signal: AbortSignal = new AbortController().signal) {
  const lines: string[] = [];
  const context: TaskContext = {
    jobId: 'test-job',
    attempt: 1,
    periodicTaskId: null,
    signal,
    log: (message) => lines.push(message),
  };
  return { context, lines };
}

async function listen(server: Server | HttpsServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return address.port;
}

async function shut(server: Server | HttpsServer): Promise<void> {
  // The silent route keeps its sockets open forever; close() alone would wait for them.
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('system.http_check over http', () => {
  let server: Server;
  let base = '';
  const seen: { path: string; userAgent: string }[] = [];
  // Read lazily, as the real task reads the config: the port is only known once the server runs.
  const task = httpCheckTask(() => `${base}/healthz`);

  before(async () => {
    server = createServer((request, response) => {
      seen.push({ path: request.url ?? '', userAgent: request.headers['user-agent'] ?? '' });
      if (request.url === '/silent') return; // never answers
      response.statusCode = request.url === '/broken' ? 500 : 200;
      response.end('body the check must drain');
    });
    base = `http://127.0.0.1:${await listen(server)}`;
  });
  after(() => shut(server));

  const run = (kwargs: Record<string, unknown>, signal?: AbortSignal) => {
    const { context, lines } = taskContext(signal);
    return { done: task.run(task.kwargs.parse(kwargs), context), lines };
  };

  test('a 200 gives status, ok, the latency and a log line, and no TLS fields', async () => {
    const url = `${base}/up`;
    const { done, lines } = run({ url });
    const result = await done;
    assert.deepEqual(Object.keys(result).sort(), ['latencyMs', 'ok', 'status', 'url']);
    assert.equal(result.url, url);
    assert.equal(result.status, 200);
    assert.equal(result.ok, true);
    assert.ok(result.latencyMs > 0 && result.latencyMs < 5_000, `latency ${result.latencyMs}`);
    assert.deepEqual(lines, [`GET ${url} -> 200 in ${result.latencyMs.toFixed(1)} ms`]);
    assert.deepEqual(seen.at(-1), { path: '/up', userAgent: 'refresher-http-check' });
  });

  test('a 500 fails the task naming the URL, the status and what was expected', async () => {
    const url = `${base}/broken`;
    const { done, lines } = run({ url });
    await assert.rejects(done, { message: `GET ${url} answered 500, expected 200` });
    // The measurement is logged before the verdict, so a failed run still shows what it saw.
    assert.equal(lines.length, 1);
    assert.ok(lines[0]?.startsWith(`GET ${url} -> 500 in `), lines[0]);
    assert.match(lines[0] ?? '', / in \d+\.\d ms$/);
  });

  test('expectStatus turns an error status into a healthy answer', async () => {
    const url = `${base}/broken`;
    const result = await run({ url, expectStatus: [500] }).done;
    assert.equal(result.status, 500);
    assert.equal(result.ok, false, 'ok keeps describing HTTP, not the expectation');
    await assert.rejects(run({ url: `${base}/up`, expectStatus: [201, 204] }).done, {
      message: `GET ${base}/up answered 200, expected 201 or 204`,
    });
  });

  test('a port nobody listens on fails with the connection error', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    await assert.rejects(run({ url }).done, {
      message: `GET ${url} failed: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
  });

  test('a server that never answers fails after timeoutMs, saying so', async () => {
    const url = `${base}/silent`;
    const started = Date.now();
    await assert.rejects(run({ url, timeoutMs: 300 }).done, {
      message: `GET ${url} failed: no answer within 300 ms`,
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 3_000, `gave up after ${elapsed} ms`);
  });

  test('an aborted run says aborted, not timed out', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(run({ url: `${base}/silent` }, controller.signal).done, {
      message: `GET ${base}/silent failed: aborted`,
    });
  });

  test('without kwargs.url the default URL function decides what is checked', async () => {
    const result = await run({}).done;
    assert.equal(result.url, `${base}/healthz`);
    assert.equal(result.status, 200);
    assert.equal(seen.at(-1)?.path, '/healthz');
  });

  test('kwargs: defaults, http(s) URLs only, no unknown keys', () => {
    assert.deepEqual(task.kwargs.parse({}), {
      timeoutMs: 10_000,
      expectStatus: [200],
      insecure: false,
    });
    const ftp = task.kwargs.safeParse({ url: 'ftp://x' });
    assert.equal(ftp.success, false);
    assert.deepEqual(
      ftp.error?.issues.map((issue) => [issue.path.join('.'), issue.message]),
      [['url', 'expected an http:// or https:// URL']],
    );
    const unknown = task.kwargs.safeParse({ url: 'http://x', colour: 'red' });
    assert.equal(unknown.success, false);
    assert.deepEqual(
      unknown.error?.issues.map((issue) => [issue.code, issue.message]),
      [['unrecognized_keys', 'Unrecognized key: "colour"']],
    );
    const tooQuick = task.kwargs.safeParse({ timeoutMs: 50 });
    assert.deepEqual(
      tooQuick.error?.issues.map((issue) => issue.path.join('.')),
      ['timeoutMs'],
    );
  });
});

describe('system.http_check over https', () => {
  let dir = '';
  let server: HttpsServer;
  let url = '';
  let notAfter = '';
  const task = httpCheckTask(() => 'http://127.0.0.1:1/unused');

  before(async () => {
    // A fresh certificate each run: a checked-in one would expire and silently change the result.
    dir = await mkdtemp(join(tmpdir(), 'refresher-tls-'));
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '30',
      '-subj',
      '/CN=localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    const pem = await readFile(cert);
    notAfter = new Date(new X509Certificate(pem).validTo).toISOString();
    server = createHttpsServer({ key: await readFile(key), cert: pem }, (_request, response) => {
      response.end('ok');
    });
    url = `https://127.0.0.1:${await listen(server)}/`;
  });
  after(async () => {
    if (server) await shut(server);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('insecure: true accepts a self-signed certificate and records its expiry', async () => {
    const { context } = taskContext();
    const result = await task.run(task.kwargs.parse({ url, insecure: true }), context);
    assert.equal(result.status, 200);
    assert.equal(result.tlsExpiresAt, notAfter);
    const ahead = Date.parse(result.tlsExpiresAt ?? '') - Date.now();
    assert.ok(ahead > 30 * DAY_MS - 120_000 && ahead <= 30 * DAY_MS, `expires in ${ahead} ms`);
    // Made a moment ago for 30 days: a little less than 30 whole days remain, rounded down.
    assert.equal(result.tlsDaysLeft, 29);
  });

  test('insecure: false refuses the self-signed certificate', async () => {
    const { context, lines } = taskContext();
    await assert.rejects(task.run(task.kwargs.parse({ url }), context), {
      message: `GET ${url} failed: self-signed certificate`,
    });
    assert.deepEqual(lines, []);
  });
});

describe('maintenance.prune_results', () => {
  let env: TestEnv;

  before(async () => {
    env = await createTestEnv();
  });
  after(() => env.cleanup());

  const ago = (days: number) => new Date(Date.now() - days * DAY_MS);

  /** Five old and two recent results, three old and two recent speedtests, some linked. */
  async function seed() {
    const { Speedtest, TaskResult } = env.db.models;
    // Speedtests first: they reference task results.
    await Speedtest.destroy({ where: {} });
    await TaskResult.destroy({ where: {} });
    const result = (jobId: string, days: number) =>
      TaskResult.create({
        jobId,
        queue: 'default',
        task: 'test.echo',
        status: 'succeeded',
        queuedAt: ago(days),
      });
    const old = [];
    for (const [index, days] of [31, 45, 90, 400, 1000].entries()) {
      old.push(await result(`old-${index}`, days));
    }
    await result('new-0', 29);
    await result('new-1', 0);
    const speedtest = (days: number, taskResultId: string | null = null) =>
      Speedtest.create({ startedAt: ago(days), engine: 'librespeed', taskResultId });
    await speedtest(31, old[0]!.id);
    await speedtest(60);
    await speedtest(500);
    // A recent test whose task result is old: the result goes, the test stays and loses the link.
    const keptButOrphaned = await speedtest(10, old[1]!.id);
    const kept = await speedtest(0);
    // Probe history: three old minutes (in two batches), one recent; an old ended outage goes,
    // one still open since long ago stays.
    await env.db.models.Probe.destroy({ where: {} });
    const probe = await env.db.models.Probe.create({
      name: 'p',
      kind: 'tcp',
      targets: ['127.0.0.1:1'],
      periodSeconds: 10,
      timeoutMs: 1_000,
    });
    for (const days of [40, 41, 500, 1]) {
      const minute = new Date(Math.floor(ago(days).getTime() / 60_000) * 60_000);
      await env.db.sequelize.query(
        `INSERT INTO probe_minutes (probe_id, target, minute, sent, lost) VALUES ($1, 't', $2, 6, 0)`,
        { bind: [probe.id, minute] },
      );
    }
    await env.db.models.ProbeOutage.bulkCreate([
      { probeId: probe.id, startedAt: ago(50), endedAt: ago(49) },
      { probeId: probe.id, startedAt: ago(600), endedAt: null },
    ]);
    return { keptIds: [keptButOrphaned.id, kept.id].sort(), orphanedId: keptButOrphaned.id };
  }

  test('deletes rows older than olderThanDays in batches and keeps the rest', async () => {
    const { keptIds, orphanedId } = await seed();
    const task = pruneResultsTask(env.db.sequelize, 365);
    const { context, lines } = taskContext();
    const startedAt = Date.now();
    const result = await task.run(task.kwargs.parse({ olderThanDays: 30, batchSize: 2 }), context);

    // batchSize 2 and five old results: only a loop that goes on past full batches finds them all.
    assert.deepEqual(result.deleted, {
      speedtests: 3,
      task_results: 5,
      probe_minutes: 3,
      probe_outages: 1,
    });
    assert.equal(
      (await env.db.models.ProbeOutage.findOne())?.endedAt,
      null,
      'an outage going on stays',
    );
    assert.equal(result.retentionDays, 30);
    const cutoff = Date.parse(result.cutoff);
    assert.ok(Math.abs(cutoff - (startedAt - 30 * DAY_MS)) < 5_000, `cutoff ${result.cutoff}`);
    assert.deepEqual(lines, [
      `deleted 3 rows from speedtests older than ${result.cutoff}`,
      `deleted 5 rows from task_results older than ${result.cutoff}`,
      `deleted 3 rows from probe_minutes older than ${result.cutoff}`,
      `deleted 1 rows from probe_outages older than ${result.cutoff}`,
    ]);

    const { Speedtest, TaskResult } = env.db.models;
    const results = await TaskResult.findAll({ order: [['jobId', 'ASC']] });
    assert.deepEqual(
      results.map((row) => row.jobId),
      ['new-0', 'new-1'],
    );
    const speedtests = await Speedtest.findAll();
    assert.deepEqual(speedtests.map((row) => row.id).sort(), keptIds);
    const orphaned = speedtests.find((row) => row.id === orphanedId);
    assert.equal(orphaned?.taskResultId, null);
  });

  test('without olderThanDays the configured retention applies', async () => {
    await seed();
    const task = pruneResultsTask(env.db.sequelize, 365);
    const { context } = taskContext();
    const result = await task.run(task.kwargs.parse({}), context);
    assert.equal(result.retentionDays, 365);
    // Only the results of 400 and 1000 days and the speedtest of 500 days are past a year.
    assert.deepEqual(result.deleted, {
      speedtests: 1,
      task_results: 2,
      probe_minutes: 1,
      probe_outages: 0,
    });
    assert.equal(await env.db.models.TaskResult.count(), 5);
    assert.equal(await env.db.models.Speedtest.count(), 4);
  });

  test('an aborted signal stops it before anything is deleted', async () => {
    await seed();
    const task = pruneResultsTask(env.db.sequelize, 365);
    const controller = new AbortController();
    controller.abort();
    const { context, lines } = taskContext(controller.signal);
    await assert.rejects(task.run(task.kwargs.parse({ olderThanDays: 30 }), context), {
      name: 'AbortError',
    });
    assert.deepEqual(lines, []);
    assert.equal(await env.db.models.TaskResult.count(), 7);
    assert.equal(await env.db.models.Speedtest.count(), 5);
  });

  test('kwargs: positive whole days and a bounded batch size', () => {
    const task = pruneResultsTask(env.db.sequelize, 365);
    assert.deepEqual(task.kwargs.parse({}), { batchSize: 5_000 });
    for (const [kwargs, path] of [
      [{ olderThanDays: 0 }, 'olderThanDays'],
      [{ olderThanDays: 1.5 }, 'olderThanDays'],
      [{ batchSize: 0 }, 'batchSize'],
      [{ batchSize: 100_001 }, 'batchSize'],
    ] as const) {
      const parsed = task.kwargs.safeParse(kwargs);
      assert.deepEqual(
        parsed.error?.issues.map((issue) => issue.path.join('.')),
        [path],
        JSON.stringify(kwargs),
      );
    }
  });
});
