// Throughput at each worker count, measured in the order 1, 2, 4, 4, 2, 1 with half the jobs
// each time: on a machine whose other tenants' load drifts over minutes, a single pass in rising
// order would credit (or blame) the drift to the worker count; the mirrored order cancels a
// steady drift. Each count's figure is its jobs over its seconds, both halves together, and its
// CPU is the sum of both spans.
import type pg from 'pg';
import type { Queue } from 'bullmq';
import type { JobData } from '../../../app/src/queue/queues.ts';
import { addSpent, cpuSnapshot, cpuSpent, describeCpu, type CpuSpent } from './cpu.ts';
import { measureThroughput } from './throughput.ts';

export interface WorkerRun {
  jobs: number;
  seconds: number;
  jobs_per_s: number;
  /** The two halves' own rates, in the order they ran. */
  halves_jobs_per_s: number[];
  failed: number;
  cpu: ReturnType<typeof describeCpu>;
  /**
   * What the CPU per job of this run allows: the whole machine given to the stack (cores over
   * the stack's CPU per job), and the workers' own threads (one core each, over a worker's).
   */
  ceiling_jobs_per_s: { machine: number; worker_threads: number };
}

export async function workerScaling(options: {
  db: pg.Client;
  queue: Queue<JobData>;
  project: string;
  counts: readonly number[];
  jobs: number;
  /** Brings the stack to this many worker containers, all healthy. */
  scaleTo(workers: number): Promise<void>;
  log(line: string): void;
}): Promise<Record<string, WorkerRun>> {
  const { db, queue, counts } = options;
  const half = Math.ceil(options.jobs / 2);
  const totals = new Map<number, { jobs: number; seconds: number; failed: number; rates: number[]; spent?: CpuSpent }>(); // prettier-ignore
  for (const [i, workers] of [...counts, ...[...counts].reverse()].entries()) {
    await options.scaleTo(workers);
    // Fresh containers' JIT and PostgreSQL's caches warm up on jobs that are not counted.
    await measureThroughput(db, queue, Math.min(1000, half), `warm${i}-${workers}w`);
    const before = await cpuSnapshot(options.project);
    const run = await measureThroughput(db, queue, half, `scale${i}-${workers}w`);
    const spent = cpuSpent(before, await cpuSnapshot(options.project));
    const total = totals.get(workers) ?? { jobs: 0, seconds: 0, failed: 0, rates: [] };
    total.jobs += run.jobs;
    total.seconds += run.seconds;
    total.failed += run.failed;
    total.rates.push(run.jobs_per_s);
    total.spent = total.spent ? addSpent(total.spent, spent) : spent;
    totals.set(workers, total);
    options.log(`${workers} worker(s): ${run.jobs_per_s} jobs/s over ${run.seconds} s`);
  }
  return Object.fromEntries(
    [...totals].map(([workers, t]) => {
      const cpu = describeCpu(t.spent!, t.jobs);
      const run: WorkerRun = {
        jobs: t.jobs,
        seconds: Number(t.seconds.toFixed(2)),
        jobs_per_s: Math.round(t.jobs / t.seconds),
        halves_jobs_per_s: t.rates,
        failed: t.failed,
        cpu,
        ceiling_jobs_per_s: {
          machine: Math.round((cpu.cpus * 1000) / cpu.cpu_ms_per_job.containers),
          worker_threads: Math.round((workers * 1000) / cpu.cpu_ms_per_job.worker),
        },
      };
      return [String(workers), run];
    }),
  );
}

/**
 * What held the ratios back, in a sentence from the figures: how much more than the smallest
 * worker count's throughput the machine's cores allow at the largest count's CPU per job (its
 * ceiling), how that CPU per job moved, and how busy the machine was and with what.
 */
export function boundedBy(runs: Record<string, WorkerRun>): string {
  const counts = Object.keys(runs).map(Number);
  const [fewest, most] = [Math.min(...counts), Math.max(...counts)];
  const [low, high] = [runs[fewest]!, runs[most]!];
  const pct = (share: number) => `${Math.round(share * 100)} %`;
  const room = high.ceiling_jobs_per_s.machine / low.jobs_per_s;
  const ceiling = `at ${fewest} worker(s) the stack ran ${low.jobs_per_s} jobs/s, and at the CPU per job of ${most} workers the machine's ${high.cpu.cpus} cores allow ${high.ceiling_jobs_per_s.machine} (×${room.toFixed(2)})`;
  const per = (run: WorkerRun) => run.cpu.cpu_ms_per_job;
  const cost = `CPU per job ${per(low).containers} → ${per(high).containers} ms (worker ${per(low).worker} → ${per(high).worker}, PostgreSQL ${per(low).postgres} → ${per(high).postgres}, web ${per(low).web} → ${per(high).web})`;
  const busy = `the machine was ${pct(low.cpu.host_busy_share)} busy at ${fewest} and ${pct(high.cpu.host_busy_share)} at ${most} (the stack's containers ${pct(high.cpu.containers_share)}, PostgreSQL ${pct(high.cpu.postgres_share)} of them, the engine ${pct(high.cpu.engine_share)}, this bench ${pct(high.cpu.bench_share)}, other tenants ${pct(high.cpu.other_share)})`;
  return `${room < 1.5 ? 'CPU' : 'not the machine’s CPU'}: ${ceiling}; ${cost}; ${busy}`;
}
