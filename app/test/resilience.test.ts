// Failure paths: a worker killed mid-job, a worker stopped mid-job, PostgreSQL gone while a result
// is written, Redis restarted under a running worker and scheduler. Each test takes away only what
// it owns: its own worker processes, a TCP proxy in front of PostgreSQL, a private redis-server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Op } from 'sequelize';
import { openDatabase } from '../src/db/index.ts';
import { createMetrics } from '../src/metrics/registry.ts';
import { enqueueTask, PeriodicTasks } from '../src/queue/periodic-tasks.ts';
import { Queues } from '../src/queue/queues.ts';
import { createRedis } from '../src/queue/redis.ts';
import { startScheduler } from '../src/queue/scheduler.ts';
import { startWorker } from '../src/queue/worker.ts';
import { spawnTs, waitForOutput, type Child } from '../../testing/child.ts';
import { deleteRedisPrefix } from '../../testing/database.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { freePort } from '../../testing/ports.ts';
import { startRedisServer } from '../../testing/redis-server.ts';
import { testRegistry } from './helpers/tasks.ts';
import { startTcpProxy } from '../../testing/tcp-proxy.ts';
import { sleep, waitFor } from '../../testing/wait.ts';

describe('resilience', () => {
  let env: TestEnv;
  let queues: Queues;
  const registry = testRegistry();
  const children: Child[] = [];

  before(async () => {
    env = await createTestEnv();
    queues = new Queues(createRedis(env.config.REDIS_URL), env.config.QUEUE_PREFIX);
  });
  after(async () => {
    for (const child of children) child.process.kill('SIGKILL');
    await queues.close();
    queues.connection.disconnect();
    await env.cleanup();
  });

  function workerProcess(overrides: Record<string, string> = {}): Child {
    const { config } = env;
    const child = spawnTs('app/test/fixtures/worker-process.ts', [], {
      DATABASE_URL: config.DATABASE_URL,
      REDIS_URL: config.REDIS_URL,
      QUEUE_PREFIX: config.QUEUE_PREFIX,
      WORKER_LOCK_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      SHUTDOWN_TIMEOUT_MS: '5000',
      LOG_LEVEL: 'warn',
      ...overrides,
    });
    children.push(child);
    return child;
  }
  const enqueue = (task: string, kwargs: Record<string, unknown>) =>
    enqueueTask(env.db, registry, queues, task, kwargs);
  const resultOf = (jobId: string) => env.db.models.TaskResult.findOne({ where: { jobId } });
  const untilStatus = (jobId: string, status: string, timeoutMs = 15_000) =>
    waitFor(
      async () => {
        const row = await resultOf(jobId);
        return row?.status === status ? row : null;
      },
      { timeoutMs, what: `job ${jobId} to be ${status}` },
    );

  test('a worker killed with SIGKILL mid-job: the job runs again elsewhere and succeeds once', async () => {
    const doomed = workerProcess();
    await waitForOutput(doomed, /ready/);
    const jobId = await enqueue('test.sleep', { ms: 2_000 });
    const started = await untilStatus(jobId, 'started');
    assert.ok(started.worker?.endsWith(`:${doomed.process.pid}`));
    doomed.process.kill('SIGKILL');
    await doomed.exited;

    const rescuer = workerProcess();
    await waitForOutput(rescuer, /ready/);
    const row = await untilStatus(jobId, 'succeeded', 20_000);
    assert.ok(row.worker?.endsWith(`:${rescuer.process.pid}`), `finished by ${row.worker}`);
    assert.equal(row.attempts, 2, 'the second start of the job');
    assert.equal(await env.db.models.TaskResult.count({ where: { jobId } }), 1);
    assert.equal(await (await queues.get('default').getJob(jobId))?.getState(), 'completed');
    rescuer.process.kill('SIGTERM');
    assert.equal(await rescuer.exited, 0);
  });

  test('SIGTERM during a job: the job finishes before the worker exits', async () => {
    const child = workerProcess({ SHUTDOWN_TIMEOUT_MS: '10000' });
    await waitForOutput(child, /ready/);
    const jobId = await enqueue('test.sleep', { ms: 1_000 });
    await untilStatus(jobId, 'started');
    child.process.kill('SIGTERM');
    assert.equal(await child.exited, 0);
    const row = await resultOf(jobId);
    assert.equal(row?.status, 'succeeded');
    assert.equal(row?.attempts, 1);
  });

  test('SIGTERM during a job longer than the shutdown bound: the job goes back to the queue and runs again', async () => {
    for (const ignoreAbort of [false, true]) {
      const child = workerProcess({ SHUTDOWN_TIMEOUT_MS: '1000' });
      await waitForOutput(child, /ready/);
      const jobId = await enqueue('test.sleep', { ms: 4_000, ignoreAbort });
      await untilStatus(jobId, 'started');
      const stoppedAt = Date.now();
      child.process.kill('SIGTERM');
      assert.equal(await child.exited, 0);
      assert.ok(Date.now() - stoppedAt < 4_000, 'the worker did not wait for the whole job');
      const requeued = await resultOf(jobId);
      assert.equal(requeued?.status, 'queued');
      assert.equal(requeued?.error, 'worker shut down before the job finished');
      const job = await queues.get('default').getJob(jobId);
      assert.equal(await job?.getState(), 'waiting');
      assert.equal(job?.attemptsMade, 0, 'a shutdown does not use up an attempt');

      const next = workerProcess();
      const row = await untilStatus(jobId, 'succeeded', 20_000);
      assert.equal(row.attempts, 2);
      next.process.kill('SIGTERM');
      assert.equal(await next.exited, 0);
    }
  });

  test('PostgreSQL unreachable when a result is written: the write is retried and the result kept', async () => {
    const proxy = await startTcpProxy('127.0.0.1', 5432);
    const url = new URL(env.config.DATABASE_URL);
    url.port = String(proxy.port);
    const proxied = { ...env.config, DATABASE_URL: url.toString() };
    const db = openDatabase(proxied);
    const worker = await startWorker({
      config: proxied,
      log: env.log,
      db,
      registry,
      metrics: createMetrics('worker'),
    });
    try {
      const jobId = await enqueue('test.sleep', { ms: 800 });
      await untilStatus(jobId, 'started');
      proxy.cut();
      // The handler ends while the database is away: the job must not complete in Redis yet.
      await sleep(2_000);
      const job = await queues.get('default').getJob(jobId);
      assert.equal(await job?.getState(), 'active');
      assert.equal((await resultOf(jobId))?.status, 'started');
      proxy.restore();
      const row = await untilStatus(jobId, 'succeeded');
      assert.deepEqual(row.result, { slept: 800, attempt: 1 });
      await waitFor(
        async () =>
          (await queues.get('default').getJob(jobId))?.getState().then((s) => s === 'completed'),
        {
          what: 'the job to complete in Redis',
        },
      );
    } finally {
      proxy.restore();
      await worker.close();
      await db.close();
      await proxy.close();
    }
  });

  test('Redis restarted under a running worker and scheduler: both reconnect and schedules keep firing', async () => {
    const redis = await startRedisServer();
    const config = { ...env.config, REDIS_URL: redis.url, SCHEDULER_RECONCILE_MS: 60_000 };
    const deps = { config, log: env.log, db: env.db, registry, metrics: createMetrics('all') };
    const worker = await startWorker(deps);
    const scheduler = await startScheduler(deps);
    const ownQueues = new Queues(createRedis(redis.url), config.QUEUE_PREFIX);
    try {
      const tasks = new PeriodicTasks(env.db, registry, ownQueues);
      const row = await tasks.create({
        name: 'through a restart',
        task: 'test.echo',
        schedule: { type: 'interval', every: 1, period: 'seconds' },
      });
      const succeeded = () =>
        env.db.models.TaskResult.count({ where: { periodicTaskId: row.id, status: 'succeeded' } });
      await waitFor(async () => (await succeeded()) >= 2, { what: 'runs before the restart' });
      await redis.restart(1_000);
      const restartedAt = new Date();
      await waitFor(
        async () =>
          (await env.db.models.TaskResult.count({
            where: {
              periodicTaskId: row.id,
              status: 'succeeded',
              startedAt: { [Op.gt]: restartedAt },
            },
          })) >= 2,
        { timeoutMs: 20_000, what: 'runs after the restart' },
      );
    } finally {
      await scheduler.close();
      await worker.close();
      await ownQueues.close();
      ownQueues.connection.disconnect();
      await redis.stop();
      await deleteRedisPrefix(config.QUEUE_PREFIX).catch(() => undefined);
    }
  });
  test('SIGTERM while Redis is down: the role still exits, within the drain bound plus a grace', async () => {
    const redis = await startRedisServer();
    const child = spawnTs('app/bin/refresher.js', ['worker'], {
      DATABASE_URL: env.config.DATABASE_URL,
      DATABASE_CREATE: 'false',
      REDIS_URL: redis.url,
      QUEUE_PREFIX: env.config.QUEUE_PREFIX,
      METRICS_PORT: String(await freePort()),
      METRICS_HOST: '127.0.0.1',
      SHUTDOWN_TIMEOUT_MS: '1000',
      LOG_LEVEL: 'info',
    });
    children.push(child);
    try {
      await waitForOutput(child, /metrics served/, 30_000);
      await redis.stop();
      await sleep(500);
      const stopped = Date.now();
      child.process.kill('SIGTERM');
      const code = await Promise.race([child.exited, sleep(20_000).then(() => 'still running')]);
      assert.equal(code, 1, child.output());
      // 1 s of drain, 5 s of grace for closing connections, and start-up of the exit.
      assert.ok(Date.now() - stopped < 10_000, `took ${Date.now() - stopped} ms`);
      assert.match(child.output(), /shutdown did not finish in time/);
    } finally {
      await redis.stop();
    }
  });
});
