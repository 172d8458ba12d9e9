// bench:scheduler — N interval schedules with periods spread over 1–10 s, run for S seconds by
// the real scheduler and worker (in this process, like `refresher all`). Reports, for the due
// instants inside the measured window: how many were expected, run, run twice, or never run; the
// lateness from due instant to handler start; and how long a row change takes to be in force.
//   npm run bench:scheduler -- --schedules 1000 --seconds 60 [--schedulers 1]
import { z } from 'zod';
import { envSchema } from '../src/config.ts';
import { createMetrics } from '../src/metrics/registry.ts';
import { PeriodicTasks } from '../src/queue/periodic-tasks.ts';
import { schedulerIdsKey } from '../src/queue/bullmq-internals.ts';
import { Queues, jobOptions } from '../src/queue/queues.ts';
import { createRedis } from '../src/queue/redis.ts';
import { scheduleRevision } from '../src/queue/schedule.ts';
import { schedulerId, startScheduler, type RunningScheduler } from '../src/queue/scheduler.ts';
import { startWorker } from '../src/queue/worker.ts';
import { defineTask, TaskRegistry } from '../src/tasks/registry.ts';
import { createTestEnv } from '../test/helpers/env.ts';
import { startRedisServer } from '../../testing/redis-server.ts';

/** The Redis timer frequency the stack ships with (see the service catalogue). */
const REDIS_HZ = 100;
import { count, parseFlags, percentile, printResult, round } from './common.ts';

const flags = parseFlags(
  'scheduler',
  z.object({
    schedules: count(1, 100_000, 1000),
    seconds: count(5, 3600, 60),
    schedulers: count(1, 4, 1),
    'redis-hz': count(1, 500, REDIS_HZ),
    concurrency: count(1, 1000, envSchema.shape.WORKER_CONCURRENCY.parse(undefined)),
  }),
);

/** Every handler start: which schedule, which due instant, and when it started. */
const starts: Array<{ periodicTaskId: number; due: number; startedAt: number }> = [];
const tick = defineTask({
  name: 'bench.tick',
  description: 'Notes when it ran.',
  queue: 'default',
  kwargs: z.object({}).strict(),
  attempts: 1,
  backoffMs: 1000,
  timeoutMs: 10_000,
  async run(_kwargs, context) {
    const startedAt = Date.now();
    const due = Number(/:(\d+)$/.exec(context.jobId)?.[1]);
    if (context.periodicTaskId !== null)
      starts.push({ periodicTaskId: context.periodicTaskId, due, startedAt });
    return null;
  },
});
const registry = new TaskRegistry([tick]);

// A private redis-server, configured as the stack runs it: BullMQ wakes up for a due job when a
// blocking BZPOPMIN times out, and Redis notices timeouts only on its `hz` clock (10 per second by
// default, so up to 100 ms late). See docs/task-queue.md.
const redis = await startRedisServer(['--hz', String(flags['redis-hz'])]);
const env = await createTestEnv({
  LOG_LEVEL: 'warn',
  WORKER_CONCURRENCY: String(flags.concurrency),
  REDIS_URL: redis.url,
});
await env.db.models.PeriodicTask.destroy({ where: {} });
const queues = new Queues(createRedis(env.config.REDIS_URL), env.config.QUEUE_PREFIX);
const deps = {
  config: env.config,
  log: env.log,
  db: env.db,
  registry,
  metrics: createMetrics('all'),
};
const schedulers: RunningScheduler[] = [];
try {
  const periodMs = (i: number) => (1 + (i % 10)) * 1000;
  const rows = await env.db.models.PeriodicTask.bulkCreate(
    Array.from({ length: flags.schedules }, (_, i) => ({
      name: `bench ${i}`,
      task: tick.name,
      scheduleType: 'interval' as const,
      intervalEvery: periodMs(i) / 1000,
      intervalPeriod: 'seconds' as const,
    })),
  );
  // The probe row is changed during the run to time changes; it is not part of the counts.
  const probe = await env.db.models.PeriodicTask.create({
    name: 'bench probe',
    task: tick.name,
    scheduleType: 'interval',
    intervalEvery: 1,
    intervalPeriod: 'hours',
  });

  const worker = await startWorker(deps);
  for (let i = 0; i < flags.schedulers; i++) schedulers.push(await startScheduler(deps));
  const queue = queues.get('default');
  const idOf = (row: typeof probe) =>
    schedulerId(row.id, scheduleRevision(row, jobOptions(tick, row.priority)));

  // The window opens once every schedule is in Redis and has settled into its rhythm.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const windowStart = Date.now();
  const windowEnd = windowStart + flags.seconds * 1000;
  const anchors = new Map<number, number>();
  for (const row of rows) {
    const scheduled = await queue.getJobScheduler(idOf(row));
    if (scheduled?.next) anchors.set(row.id, scheduled.next);
  }

  // Change the probe a few times during the window and time each change until it is in force.
  const tasks = new PeriodicTasks(env.db, registry, queues);
  const changeMs: number[] = [];
  const changes = 5;
  for (let i = 0; i < changes; i++) {
    await new Promise((resolve) => setTimeout(resolve, (flags.seconds * 1000) / (changes + 1)));
    const changedAt = performance.now();
    const changed = await tasks.update(probe.id, {
      schedule: { type: 'interval', every: 2 + i, period: 'hours' },
    });
    const id = idOf(changed);
    while ((await queues.connection.zscore(schedulerIdsKey(queue), id)) === null) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    changeMs.push(performance.now() - changedAt);
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, windowEnd - Date.now()) + 2_000));
  for (const scheduler of schedulers.splice(0)) await scheduler.close();
  await worker.close();

  const periods = new Map(rows.map((row, i) => [row.id, periodMs(i)]));
  const expected = new Set<string>();
  for (const [id, anchor] of anchors) {
    const every = periods.get(id)!;
    // The grid of due instants of this schedule, restricted to the window.
    let due = anchor - Math.floor((anchor - windowStart) / every) * every;
    if (due < windowStart) due += every;
    for (; due < windowEnd; due += every) expected.add(`${id}@${due}`);
  }
  const seen = new Map<string, number>();
  const lateness: number[] = [];
  for (const start of starts) {
    if (start.due < windowStart || start.due >= windowEnd || !periods.has(start.periodicTaskId))
      continue;
    const key = `${start.periodicTaskId}@${start.due}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    lateness.push(start.startedAt - start.due);
  }
  const duplicates = [...seen.values()].reduce((sum, n) => sum + n - 1, 0);
  const missed = [...expected].filter((key) => !seen.has(key)).length;
  const unexpected = [...seen.keys()].filter((key) => !expected.has(key)).length;
  printResult({
    bench: 'scheduler',
    schedules: flags.schedules,
    seconds: flags.seconds,
    expected: expected.size,
    runs: lateness.length,
    duplicates,
    missed,
    unexpected,
    schedulers: flags.schedulers,
    redis_hz: flags['redis-hz'],
    concurrency: flags.concurrency,
    p50_ms: round(percentile(lateness, 50)),
    p99_ms: round(percentile(lateness, 99)),
    max_ms: round(Math.max(0, ...lateness)),
    change_ms: round(percentile(changeMs, 50)),
    change_max_ms: round(Math.max(...changeMs)),
    rss_mb: round(process.memoryUsage().rss / 2 ** 20, 0),
  });
} finally {
  for (const scheduler of schedulers) await scheduler.close();
  await queues.close();
  queues.connection.disconnect();
  await env.cleanup();
  await redis.stop();
}
