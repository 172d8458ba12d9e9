// Worker throughput on the stack: N jobs of the app's cheapest shipped task (system.http_check,
// one GET of the web role's /healthz), enqueued through BullMQ on the stack's Redis with the
// task's own job options, timed from the first enqueue until PostgreSQL holds a finished
// task_results row for every one. Rows are counted, not queue counters: a job counts once its
// result is stored, as a user would see it.
import type pg from 'pg';
import type { Queue } from 'bullmq';
import { jobOptions, type JobData } from '../../../app/src/queue/queues.ts';
import { httpCheckTask } from '../../../app/src/tasks/http-check.ts';

// The default URL is the container's HEALTHCHECK_URL; only the retry policy is read here.
const HTTP_CHECK = httpCheckTask(() => '');
const BATCH = 500;

export interface Throughput {
  jobs: number;
  seconds: number;
  jobs_per_s: number;
  failed: number;
}

export async function measureThroughput(
  db: pg.Client,
  queue: Queue<JobData>,
  jobs: number,
  tag: string,
): Promise<Throughput> {
  // Rows of this run are newer than every row now: the id range keeps the count on the index.
  const { rows } = await db.query<{ max: string | null }>('SELECT max(id) FROM task_results');
  const floor = rows[0]?.max ?? '0';
  const options = jobOptions(HTTP_CHECK);
  const started = performance.now();
  const enqueued = (async () => {
    for (let i = 0; i < jobs; i += BATCH)
      await queue.addBulk(
        Array.from({ length: Math.min(BATCH, jobs - i) }, (_, j) => ({
          name: HTTP_CHECK.name,
          data: { args: [], kwargs: {} },
          opts: { ...options, jobId: `${tag}-${i + j}` },
        })),
      );
  })();
  // A job that fails three times never succeeds: count finished rows, and the failed apart.
  const count = async () =>
    (
      await db.query<{ done: number; failed: number }>(
        `SELECT count(*)::int AS done, count(*) FILTER (WHERE status = 'failed')::int AS failed
           FROM task_results
          WHERE id > $1 AND job_id LIKE $2 AND status IN ('succeeded', 'failed')`,
        [floor, `${tag}-%`],
      )
    ).rows[0]!;
  const deadline = Date.now() + Math.max(180_000, jobs * 50);
  let last = { done: 0, failed: 0 };
  while (last.done < jobs) {
    if (Date.now() > deadline)
      throw new Error(`${tag}: ${last.done} of ${jobs} jobs finished before the deadline`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await count();
  }
  const seconds = (performance.now() - started) / 1000;
  await enqueued;
  return {
    jobs,
    seconds: Number(seconds.toFixed(2)),
    jobs_per_s: Math.round(jobs / seconds),
    failed: last.failed,
  };
}
