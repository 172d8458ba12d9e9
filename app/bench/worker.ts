// bench:worker — N no-op jobs through the whole path: BullMQ in Redis, the worker, and a
// task_results row per job (started, then succeeded) in PostgreSQL. Counts only jobs whose
// succeeded row is stored.
//   npm run bench:worker -- --jobs 20000 [--concurrency N (default: WORKER_CONCURRENCY's default)]
import { z } from 'zod';
import { envSchema } from '../src/config.ts';
import { createMetrics } from '../src/metrics/registry.ts';
import { Queues, jobOptions } from '../src/queue/queues.ts';
import { createRedis } from '../src/queue/redis.ts';
import { startWorker } from '../src/queue/worker.ts';
import { defineTask, TaskRegistry } from '../src/tasks/registry.ts';
import { createTestEnv } from '../test/helpers/env.ts';
import { count, parseFlags, printResult, round } from './common.ts';

const flags = parseFlags(
  'worker',
  z.object({
    jobs: count(1, 1_000_000, 10_000),
    concurrency: count(1, 1000, envSchema.shape.WORKER_CONCURRENCY.parse(undefined)),
  }),
);

const noop = defineTask({
  name: 'bench.noop',
  description: 'Does nothing.',
  queue: 'default',
  kwargs: z.object({}).strict(),
  attempts: 1,
  backoffMs: 1000,
  timeoutMs: 10_000,
  run: async () => null,
});
const registry = new TaskRegistry([noop]);
const env = await createTestEnv({
  WORKER_CONCURRENCY: String(flags.concurrency),
  LOG_LEVEL: 'warn',
});
const queues = new Queues(createRedis(env.config.REDIS_URL), env.config.QUEUE_PREFIX);
try {
  // Enqueue first, then time the worker draining the queue into PostgreSQL.
  const options = jobOptions(noop);
  for (let i = 0; i < flags.jobs; i += 1000) {
    const size = Math.min(1000, flags.jobs - i);
    await queues.get('default').addBulk(
      Array.from({ length: size }, () => ({
        name: noop.name,
        data: { args: [], kwargs: {} },
        opts: options,
      })),
    );
  }
  const started = performance.now();
  const worker = await startWorker({
    config: env.config,
    log: env.log,
    db: env.db,
    registry,
    metrics: createMetrics('worker'),
  });
  for (;;) {
    const done = await env.db.models.TaskResult.count({ where: { status: 'succeeded' } });
    if (done >= flags.jobs) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  const rssMb = process.memoryUsage().rss / 2 ** 20;
  await worker.close();
  printResult({
    bench: 'worker',
    jobs: flags.jobs,
    seconds: round(seconds, 2),
    jobs_per_s: round(flags.jobs / seconds, 0),
    rss_mb: round(rssMb, 0),
  });
} finally {
  await queues.close();
  queues.connection.disconnect();
  await env.cleanup();
}
