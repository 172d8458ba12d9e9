// Schedules on the stack with several scheduler containers: N interval rows in periodic_tasks,
// the i-th every 1 + (i mod 10) seconds, as bench:scheduler makes them (app/bench/scheduler.ts),
// and the same definitions over a window of S seconds: `expected` is every due instant of every
// schedule inside the window, from each job scheduler's next due time in Redis and its period;
// `duplicates` counts runs beyond the first of one schedule's due instant, `missed` due instants
// never run, `unexpected` runs at instants off every grid. A run is a task_results row (its
// scheduled_for is the due instant in the job's id); a row's attempts beyond the first are further
// starts of the same job, and count as duplicates too.
import type pg from 'pg';
import type { Queue } from 'bullmq';
import type { JobData } from '../../../app/src/queue/queues.ts';
import { percentile } from '../../../app/bench/common.ts';
import { cpuSnapshot, cpuSpent, describeCpu } from './cpu.ts';

const NAME_PREFIX = 'bench:scale ';
const TASK = 'system.http_check';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ScheduleReport {
  schedules: number;
  seconds: number;
  expected: number;
  runs: number;
  duplicates: number;
  missed: number;
  unexpected: number;
  revoked: number;
  failed: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Missed due instants by the schedule's period in seconds: late runs skip short periods' slots. */
  missed_by_period_s: Record<string, number>;
  /** Runs due per second, and what the window's CPU per run allows on the whole machine. */
  due_per_s: number;
  ceiling_runs_per_s: number;
  /** Over the schedules' whole life: finished runs stored, and runs the rows' bookkeeping counted. */
  stored_runs: number;
  total_run_count: number;
  cpu: ReturnType<typeof describeCpu>;
}

interface Run {
  id: number;
  due: number;
  status: string;
  attempts: number;
  started: number | null;
}

/** This bench's job schedulers in Redis and when each runs next, by periodic task id. */
async function nextRuns(queue: Queue<JobData>, ids: Set<number>): Promise<Map<number, number>> {
  const found = new Map<number, number>();
  for (const scheduler of await queue.getJobSchedulers(0, -1)) {
    const id = Number(/^periodic:(\d+):/.exec(scheduler.key)?.[1]);
    if (ids.has(id) && scheduler.next) found.set(id, scheduler.next);
  }
  return found;
}

export async function measureSchedules(
  db: pg.Client,
  queue: Queue<JobData>,
  options: { project: string; schedules: number; seconds: number; log: (line: string) => void },
): Promise<ScheduleReport> {
  const created = await db.query<{ id: number; every: number }>(
    `INSERT INTO periodic_tasks (name, task, schedule_type, interval_every, interval_period)
     SELECT $1 || i, $2, 'interval', 1 + i % 10, 'seconds' FROM generate_series(0, $3 - 1) AS i
     RETURNING id, interval_every AS every`,
    [NAME_PREFIX, TASK, options.schedules],
  );
  const periods = new Map(created.rows.map((row) => [row.id, row.every * 1000]));
  const ids = new Set(periods.keys());
  try {
    const deadline = Date.now() + 60_000;
    while ((await nextRuns(queue, ids)).size < ids.size) {
      if (Date.now() > deadline) throw new Error('the schedulers did not add every schedule');
      await sleep(500);
    }
    // As bench:scheduler: the window opens once every schedule has settled into its rhythm.
    await sleep(1000);
    const windowStart = Date.now();
    const windowEnd = windowStart + options.seconds * 1000;
    const cpuBefore = await cpuSnapshot(options.project);
    const anchors = await nextRuns(queue, ids);
    options.log(`${ids.size} schedules in Redis; measuring ${options.seconds} s`);
    await sleep(windowEnd - Date.now());
    const spent = cpuSpent(cpuBefore, await cpuSnapshot(options.project));

    const expected = new Set<string>();
    for (const [id, anchor] of anchors) {
      const every = periods.get(id)!;
      let due = anchor - Math.floor((anchor - windowStart) / every) * every;
      if (due < windowStart) due += every;
      for (; due < windowEnd; due += every) expected.add(`${id}@${due}`);
    }
    const runs = await settledRuns(db, [...ids], windowStart, windowEnd);

    const seen = new Map<string, number>();
    const lateness: number[] = [];
    let duplicates = 0;
    for (const run of runs) {
      if (run.status === 'revoked') continue;
      const key = `${run.id}@${run.due}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      duplicates += Math.max(0, run.attempts - 1);
      if (run.started !== null) lateness.push(run.started - run.due);
    }
    for (const n of seen.values()) duplicates += n - 1;
    const cpu = describeCpu(spent, lateness.length);
    const {
      rows: [life],
    } = await db.query<{ stored: number; counted: number }>(
      `SELECT (SELECT count(*)::int FROM task_results
                WHERE periodic_task_id = ANY($1) AND status IN ('succeeded', 'failed')) AS stored,
              (SELECT sum(total_run_count)::int FROM periodic_tasks WHERE id = ANY($1)) AS counted`,
      [[...ids]],
    );
    const missed = [...expected].filter((key) => !seen.has(key));
    const missedByPeriod: Record<string, number> = {};
    for (const key of missed) {
      const period = String(periods.get(Number(key.split('@')[0]))! / 1000);
      missedByPeriod[period] = (missedByPeriod[period] ?? 0) + 1;
    }
    return {
      schedules: ids.size,
      seconds: options.seconds,
      expected: expected.size,
      runs: lateness.length,
      duplicates,
      missed: missed.length,
      unexpected: [...seen.keys()].filter((key) => !expected.has(key)).length,
      revoked: runs.filter((run) => run.status === 'revoked').length,
      failed: runs.filter((run) => run.status === 'failed').length,
      p50_ms: Math.round(percentile(lateness, 50)),
      p99_ms: Math.round(percentile(lateness, 99)),
      max_ms: Math.round(Math.max(0, ...lateness)),
      missed_by_period_s: missedByPeriod,
      due_per_s: Math.round(expected.size / options.seconds),
      ceiling_runs_per_s: Math.round((cpu.cpus * 1000) / cpu.cpu_ms_per_job.containers),
      stored_runs: life!.stored,
      total_run_count: life!.counted,
      cpu,
    };
  } finally {
    // Deleting a row unlinks its results (ON DELETE SET NULL): only once they are counted.
    await db.query('DELETE FROM periodic_tasks WHERE id = ANY($1)', [[...ids]]);
  }
}

/**
 * The window's runs once they have stopped changing: runs due near the end may still be queued
 * or running when it closes (the workers are busy with the next due instants by then).
 */
async function settledRuns(
  db: pg.Client,
  ids: number[],
  windowStart: number,
  windowEnd: number,
): Promise<Run[]> {
  const read = async () =>
    (
      await db.query<Run>(
        `SELECT periodic_task_id AS id, round(extract(epoch FROM scheduled_for) * 1000)::float8 AS due,
                status, attempts, round(extract(epoch FROM started_at) * 1000)::float8 AS started
           FROM task_results
          WHERE periodic_task_id = ANY($1) AND scheduled_for >= $2 AND scheduled_for < $3`,
        [ids, new Date(windowStart), new Date(windowEnd)],
      )
    ).rows;
  const finished = (runs: Run[]) => runs.filter((r) => !['queued', 'started'].includes(r.status));
  let runs = await read();
  let stable = 0;
  const deadline = Date.now() + 60_000;
  while (stable < 3 && Date.now() < deadline) {
    await sleep(1000);
    const next = await read();
    stable = finished(next).length === finished(runs).length ? stable + 1 : 0;
    runs = next;
  }
  return runs;
}
