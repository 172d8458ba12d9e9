// The worker through real BullMQ on Redis into PostgreSQL: results, retries with backoff,
// timeouts, bad input and the bookkeeping of periodic tasks.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMetrics } from '../src/metrics/registry.ts';
import { enqueueTask } from '../src/queue/periodic-tasks.ts';
import { Queues } from '../src/queue/queues.ts';
import { createRedis } from '../src/queue/redis.ts';
import { startWorker, type RunningWorker } from '../src/queue/worker.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { testRegistry } from './helpers/tasks.ts';
import { waitFor } from '../../testing/wait.ts';

describe('worker', () => {
  let env: TestEnv;
  let worker: RunningWorker;
  let queues: Queues;
  const registry = testRegistry();
  const metrics = createMetrics('worker');

  before(async () => {
    env = await createTestEnv();
    worker = await startWorker({ config: env.config, log: env.log, db: env.db, registry, metrics });
    queues = new Queues(createRedis(env.config.REDIS_URL), env.config.QUEUE_PREFIX);
  });
  after(async () => {
    await worker.close();
    await queues.close();
    queues.connection.disconnect();
    await env.cleanup();
  });

  const enqueue = (task: string, kwargs: Record<string, unknown> = {}, options = {}) =>
    enqueueTask(env.db, registry, queues, task, kwargs, options);
  const resultOf = (jobId: string) => env.db.models.TaskResult.findOne({ where: { jobId } });
  const finished = (jobId: string) =>
    waitFor(
      async () => {
        const row = await resultOf(jobId);
        return row && ['succeeded', 'failed'].includes(row.status) ? row : null;
      },
      { what: `job ${jobId} to finish` },
    );

  test('a run is recorded queued, then started, then succeeded with its result, logs and timings', async () => {
    const jobId = await enqueue('test.sleep', { ms: 300 });
    const queued = await resultOf(jobId);
    assert.ok(queued, 'the queued row is written before the job is in Redis');
    const started = await waitFor(async () => (await resultOf(jobId))?.status === 'started', {
      what: 'started',
    });
    assert.ok(started);
    const row = await finished(jobId);
    assert.equal(row.status, 'succeeded');
    assert.deepEqual(row.result, { slept: 300, attempt: 1 });
    assert.equal(row.attempts, 1);
    assert.equal(row.logs.length, 1);
    assert.equal(row.logs[0]?.message, 'sleeping 300 ms');
    assert.match(row.worker ?? '', /:\d+$/);
    assert.ok(row.startedAt && row.finishedAt && row.finishedAt >= row.startedAt);
    assert.ok((row.durationMs ?? 0) >= 290, `duration ${row.durationMs}`);
    assert.ok(row.queuedAt <= row.startedAt);
  });

  test('a failing task is retried with exponential backoff and its final success recorded', async () => {
    const jobId = await enqueue('test.flaky', { succeedOnAttempt: 3 });
    const statuses = new Set<string>();
    const row = await waitFor(
      async () => {
        const current = await resultOf(jobId);
        if (current) statuses.add(current.status);
        return current?.status === 'succeeded' ? current : null;
      },
      { intervalMs: 10, what: 'flaky task to succeed' },
    );
    assert.ok(statuses.has('retried'), `saw ${[...statuses].join(', ')}`);
    assert.equal(row.attempts, 3);
    assert.deepEqual(row.result, { attempt: 3 });
    const job = await queues.get('default').getJob(jobId);
    assert.equal(job?.attemptsStarted, 3);
    // backoff 200 ms then 400 ms: the run cannot end sooner than 600 ms after it was queued
    assert.ok(row.finishedAt!.getTime() - row.queuedAt.getTime() >= 600);
  });

  test('a task that keeps failing ends failed with the error and its stack', async () => {
    const jobId = await enqueue('test.flaky', { succeedOnAttempt: 0 });
    const row = await finished(jobId);
    assert.equal(row.status, 'failed');
    assert.equal(row.attempts, 3);
    assert.equal(row.error, 'planned failure on attempt 3');
    assert.match(row.stack ?? '', /planned failure on attempt 3\n\s+at /);
    const job = await queues.get('default').getJob(jobId);
    assert.equal(await job?.getState(), 'failed');
  });

  test('a task that runs past its timeout fails and says so', async () => {
    const jobId = await enqueue('test.timeout', { ms: 1_500, ignoreAbort: true });
    const row = await finished(jobId);
    assert.equal(row.status, 'failed');
    assert.equal(row.error, 'test.timeout timed out after 300 ms');
    assert.ok((row.durationMs ?? 0) < 2_000);
  });

  test('kwargs are validated when queued and again when run', async () => {
    await assert.rejects(enqueue('test.sleep', { ms: 'soon' }), /kwargs\.ms: /);
    await assert.rejects(enqueue('no.such.task'), /unknown task "no\.such\.task"/);
    assert.equal(await env.db.models.TaskResult.count({ where: { task: 'no.such.task' } }), 0);

    // A job that bypasses enqueueTask (another producer, an old version) fails without retries.
    const job = await queues
      .get('default')
      .add('test.sleep', { args: [], kwargs: { ms: -1 } }, { attempts: 3 });
    const row = await finished(job.id!);
    assert.equal(row.status, 'failed');
    assert.match(row.error ?? '', /^invalid kwargs: ms: /);
    assert.equal(row.attempts, 1);

    const unknown = await queues
      .get('default')
      .add('ghost.task', { args: [], kwargs: {} }, { attempts: 3 });
    const ghost = await finished(unknown.id!);
    assert.match(ghost.error ?? '', /unknown task "ghost\.task"/);
  });

  test('a job BullMQ fails for stalling too often is recorded as failed', async () => {
    // BullMQ marks such a job with a deferred failure and fails it without calling the processor.
    const job = await queues
      .get('default')
      .add('test.echo', { args: [], kwargs: {} }, { delay: 300 });
    await queues.connection.hset(
      queues.get('default').toKey(job.id!),
      'defa',
      'job stalled more than allowable limit',
    );
    const row = await finished(job.id!);
    assert.equal(row.status, 'failed');
    assert.equal(row.error, 'job stalled more than allowable limit');
    assert.equal(row.logs.length, 0, 'the handler never ran');
  });

  test('runs linked to a periodic task update its last run and run count', async () => {
    const periodic = await env.db.models.PeriodicTask.create({
      name: 'echo every hour',
      task: 'test.echo',
      scheduleType: 'interval',
      intervalEvery: 1,
      intervalPeriod: 'hours',
    });
    const first = await enqueue('test.echo', { value: 1 }, { periodicTaskId: periodic.id });
    const second = await enqueue('test.echo', { value: 2 }, { periodicTaskId: periodic.id });
    const rows = [await finished(first), await finished(second)];
    await periodic.reload();
    assert.equal(periodic.totalRunCount, 2);
    const latestStart = Math.max(...rows.map((row) => row.startedAt!.getTime()));
    assert.equal(periodic.lastRunAt?.getTime(), latestStart);
    assert.ok(rows.every((row) => row.periodicTaskId === periodic.id));
  });

  test('metrics count runs by task and status', async () => {
    const runs = (await metrics.taskRuns.get()).values;
    const count = (task: string, status: string) =>
      runs.find((v) => v.labels.task === task && v.labels.status === status)?.value ?? 0;
    assert.ok(count('test.flaky', 'retried') >= 2);
    assert.ok(count('test.flaky', 'failed') >= 1);
    assert.ok(count('test.sleep', 'succeeded') >= 1);
    const durations = (await metrics.taskDuration.get()).values;
    assert.ok(
      durations.some(
        (v) =>
          v.metricName === 'refresher_task_duration_seconds_count' &&
          v.labels.task === 'test.sleep' &&
          v.value >= 1,
      ),
    );
  });
});
