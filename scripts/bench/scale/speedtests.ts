// The speed-test queue's global concurrency of 1 with several workers: K short speed tests queued
// at once through the API (the built-in target of the deployment itself, the default engine),
// then the stored runs' [started_at, finished_at] compared pairwise. Each worker would take one
// at a time anyway; only BullMQ's global limit keeps two workers from testing at once, which
// would share (and halve) the link.
import type pg from 'pg';
import type { Queue } from 'bullmq';
import type { JobData } from '../../../app/src/queue/queues.ts';
import { SPEEDTEST_TASK } from '../../../app/src/tasks/speedtest.ts';
import type { StackUnderTest } from '../../test/stack/harness.ts';
import type { Session } from './session.ts';

/** As short as the task's kwargs allow: one second per direction, no warm-up, three pings. */
const SHORT = { durationMs: 1000, warmupMs: 0, pings: 3 };

export interface SpeedtestReport {
  speedtests: number;
  succeeded: number;
  /** Workers that ran them, and workers consuming the queue when they were queued. */
  workers: number;
  listening_workers: number;
  speedtest_overlaps: number;
  global_concurrency: number | null;
  seconds: number;
}

export async function measureSpeedtests(
  stack: StackUnderTest,
  session: Session,
  db: pg.Client,
  queue: Queue<JobData>,
  count: number,
): Promise<SpeedtestReport> {
  const started = performance.now();
  const listening = new Set((await queue.getWorkers()).map((client) => client.rawname)).size;
  const jobIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await stack.https(`/api/v1/tasks/${SPEEDTEST_TASK}/run`, {
      method: 'POST',
      headers: {
        cookie: session.cookie,
        'x-csrf-token': session.csrf,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ kwargs: SHORT }),
    });
    if (reply.status !== 202)
      throw new Error(`queueing a speed test: ${reply.status} ${reply.body}`);
    jobIds.push((JSON.parse(reply.body) as { jobId: string }).jobId);
  }
  const read = async () =>
    (
      await db.query<{ worker: string; status: string; start: number; end: number | null }>(
        `SELECT worker, status, extract(epoch FROM started_at)::float8 * 1000 AS start,
                extract(epoch FROM finished_at)::float8 * 1000 AS end
           FROM task_results WHERE job_id = ANY($1)`,
        [jobIds],
      )
    ).rows;
  const deadline = Date.now() + count * 60_000;
  let runs = await read();
  while (runs.filter((r) => ['succeeded', 'failed'].includes(r.status)).length < count) {
    if (Date.now() > deadline) throw new Error(`speed tests unfinished: ${JSON.stringify(runs)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    runs = await read();
  }
  let overlaps = 0;
  for (const [i, a] of runs.entries())
    for (const b of runs.slice(i + 1)) if (a.start < b.end! && b.start < a.end!) overlaps++;
  return {
    speedtests: count,
    succeeded: runs.filter((r) => r.status === 'succeeded').length,
    workers: new Set(runs.map((r) => r.worker)).size,
    listening_workers: listening,
    speedtest_overlaps: overlaps,
    global_concurrency: await queue.getGlobalConcurrency(),
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  };
}
