// speedtester.run_speedtest end to end: through BullMQ and the worker into PostgreSQL, against
// the built-in target served on loopback; two workers never run two tests at once.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { QueryTypes } from 'sequelize';
import { createMetrics } from '../src/metrics/registry.ts';
import { enqueueTask } from '../src/queue/periodic-tasks.ts';
import { Queues } from '../src/queue/queues.ts';
import { createRedis } from '../src/queue/redis.ts';
import { startWorker, type RunningWorker } from '../src/queue/worker.ts';
import { SpeedtestError } from '../src/speedtest/engine.ts';
import { createLibreSpeedEngine } from '../src/speedtest/index.ts';
import { TaskRegistry } from '../src/tasks/registry.ts';
import { speedtestTask } from '../src/tasks/speedtest.ts';
import { createWebApp } from '../src/web/app.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { freePort } from '../../testing/ports.ts';
import { waitFor } from '../../testing/wait.ts';

describe('speedtester.run_speedtest', () => {
  let env: TestEnv;
  let web: Server;
  let queues: Queues;
  let registry: TaskRegistry;
  const workers: RunningWorker[] = [];
  const short = { durationMs: 1000, warmupMs: 200, streams: 2, pings: 3 };

  before(async () => {
    env = await createTestEnv();
    const port = await freePort();
    const redis = createRedis(env.config.REDIS_URL);
    const webApp = createWebApp({
      db: env.db,
      redis,
      registry: new TaskRegistry([]),
      queues: new Queues(redis, env.config.QUEUE_PREFIX),
      config: env.config,
      log: env.log,
      speedtestTarget: { path: '/speedtest', rateLimitPerMinute: 100_000 },
    });
    web = createServer(webApp.app);
    web.on('close', () => webApp.close());
    web.on('close', () => redis.disconnect());
    await new Promise<void>((resolve) => web.listen(port, '127.0.0.1', resolve));
    const librespeed = createLibreSpeedEngine({
      PORT: port,
      SPEEDTEST_TARGET_PATH: '/speedtest',
      SPEEDTEST_SELF_URL: undefined,
      SPEEDTEST_SERVER_LIST_URL: undefined,
    });
    const task = speedtestTask({
      db: env.db,
      defaultEngine: 'librespeed',
      defaultServers: [],
      defaultDurationMs: 1000,
      defaultStreams: 2,
      engine: (name) => {
        if (name !== 'librespeed') throw new SpeedtestError('engine-failed', `no ${name} here`);
        return librespeed;
      },
    });
    // The same task with a tiny timeout, to see a test that runs too long killed and recorded.
    registry = new TaskRegistry([
      task,
      { ...task, name: 'test.speedtest_short_fuse', timeoutMs: 500, attempts: 1 },
    ]);
    // Two workers, as on two machines: the speedtests queue must still run one test at a time.
    for (let i = 0; i < 2; i++) {
      workers.push(
        await startWorker({
          config: env.config,
          log: env.log,
          db: env.db,
          registry,
          metrics: createMetrics('worker'),
        }),
      );
    }
    queues = new Queues(createRedis(env.config.REDIS_URL), env.config.QUEUE_PREFIX);
  });
  after(async () => {
    for (const worker of workers) await worker.close();
    await queues.close();
    queues.connection.disconnect();
    web.closeAllConnections();
    await new Promise((resolve) => web.close(resolve));
    await env.cleanup();
  });

  const finished = (jobId: string, timeoutMs = 30_000) =>
    waitFor(
      async () => {
        const row = await env.db.models.TaskResult.findOne({ where: { jobId } });
        return row && ['succeeded', 'failed'].includes(row.status) ? row : null;
      },
      { timeoutMs, what: `job ${jobId}` },
    );

  test('a run stores the test, its server, client and pinged candidates, linked to its task result', async () => {
    const jobId = await enqueueTask(env.db, registry, queues, 'speedtester.run_speedtest', short);
    const result = await finished(jobId);
    assert.equal(result.status, 'succeeded', result.error ?? '');
    assert.equal(result.queue, 'speedtests');
    const summary = result.result as {
      speedtestId: string;
      selfTest: boolean;
      downloadMbps: number;
    };
    assert.equal(summary.selfTest, true);
    const speedtest = await env.db.models.Speedtest.findByPk(summary.speedtestId);
    assert.ok(speedtest);
    assert.equal(speedtest.taskResultId, result.id);
    assert.equal(speedtest.engine, 'librespeed');
    assert.equal(speedtest.selfTest, true);
    assert.ok((speedtest.downloadBps ?? 0) > 1e6 && (speedtest.uploadBps ?? 0) > 1e6);
    assert.ok(Math.abs((speedtest.downloadBps ?? 0) / 1e6 - summary.downloadMbps) <= 0.005);
    // Latency under load and the source are columns of their own.
    assert.ok((speedtest.downloadLatencyMs ?? -1) >= 0, 'download latency stored');
    assert.ok((speedtest.uploadLatencyMs ?? -1) >= 0, 'upload latency stored');
    assert.equal(speedtest.sourceAddress, '127.0.0.1');
    assert.equal(speedtest.ipFamily, 4);
    const [server] = await env.db.sequelize.query<{ engine: string; host: string }>(
      'SELECT engine, host FROM speedtest_servers WHERE id = $1',
      { bind: [speedtest.serverId], type: QueryTypes.SELECT },
    );
    assert.equal(server?.engine, 'librespeed');
    assert.match(server?.host ?? '', /^127\.0\.0\.1:\d+$/);
    const client = await env.db.models.Client.findByPk(speedtest.clientId!);
    assert.equal(client?.ip, '127.0.0.1');
    const pings = await env.db.models.SpeedtestServerPing.findAll({
      where: { speedtestId: speedtest.id },
    });
    assert.deepEqual(
      pings.map((p) => [p.serverId, p.chosen]),
      [[speedtest.serverId, true]],
    );
    assert.ok(result.logs.some((line) => /Mbit\/s down/.test(line.message)));
  });

  test('tests never overlap, even with two workers and three tests queued at once', async () => {
    const jobIds = await Promise.all(
      [1, 2, 3].map(() =>
        enqueueTask(env.db, registry, queues, 'speedtester.run_speedtest', short),
      ),
    );
    const rows = await Promise.all(jobIds.map((jobId) => finished(jobId, 60_000)));
    assert.deepEqual(
      rows.map((row) => row.status),
      ['succeeded', 'succeeded', 'succeeded'],
    );
    const spans = rows
      .map((row) => [row.startedAt!.getTime(), row.finishedAt!.getTime()] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) {
      assert.ok(spans[i]![0] >= spans[i - 1]![1], `test ${i} started before test ${i - 1} ended`);
    }
  });

  test('a test that exceeds its timeout is stopped and recorded as failed with the reason', async () => {
    const jobId = await enqueueTask(env.db, registry, queues, 'test.speedtest_short_fuse', {
      ...short,
      durationMs: 5000,
    });
    const row = await finished(jobId);
    assert.equal(row.status, 'failed');
    assert.equal(row.error, 'test.speedtest_short_fuse timed out after 500 ms');
    assert.ok((row.durationMs ?? 0) < 2_000);
    assert.equal(await env.db.models.Speedtest.count({ where: { taskResultId: row.id } }), 0);
  });

  test('an engine error is recorded with its message, and bad kwargs are refused up front', async () => {
    const jobId = await enqueueTask(env.db, registry, queues, 'speedtester.run_speedtest', {
      ...short,
      engine: 'ookla',
    });
    // Two attempts a minute apart: the first one's record is enough here.
    const row = await waitFor(async () => {
      const found = await env.db.models.TaskResult.findOne({ where: { jobId } });
      return found?.status === 'retried' ? found : null;
    });
    assert.match(row.error ?? '', /no ookla here/);
    await assert.rejects(
      enqueueTask(env.db, registry, queues, 'speedtester.run_speedtest', { engine: 'fast.com' }),
      /kwargs\.engine: /,
    );
    await assert.rejects(
      enqueueTask(env.db, registry, queues, 'speedtester.run_speedtest', { streams: 0 }),
      /kwargs\.streams: /,
    );
    const refused: Array<[Record<string, unknown>, RegExp]> = [
      [{ sourceAddress: '10.0.0.300' }, /kwargs\.sourceAddress: must be an IPv4 or IPv6 address/],
      [{ interface: 'eth0; reboot' }, /kwargs\.interface: must be a network interface name/],
      [{ interface: 'a-very-long-interface' }, /kwargs\.interface: /],
      [{ family: 5 }, /kwargs\.family: must be 4 or 6/],
      [
        { family: 6, servers: ['http://192.0.2.1/backend/'] },
        /kwargs\.servers\.0: http:\/\/192\.0\.2\.1\/backend\/ is an IPv4 address, and the schedule asks for IPv6/,
      ],
      [{ sourceAddress: '192.0.2.1', family: 6 }, /kwargs\.family: is 6, but the source address/],
      [
        { sourceAddress: '192.0.2.1', interface: 'eth0' },
        /kwargs\.interface: give a source address or an interface, not both/,
      ],
    ];
    for (const [kwargs, message] of refused) {
      await assert.rejects(
        enqueueTask(env.db, registry, queues, 'speedtester.run_speedtest', kwargs),
        message,
      );
    }
  });
});
