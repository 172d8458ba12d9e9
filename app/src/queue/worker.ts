// The worker role (Celery worker): runs jobs from the queues with the task registry's retry,
// backoff and timeout policy, records every attempt in task_results, and shuts down gracefully.
import { hostname } from 'node:os';
import { createHash } from 'node:crypto';
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Config } from '../config.ts';
import { retryWhileUnreachable, type Database } from '../db/index.ts';
import type { JsonValue, TaskLogLine, TaskStatus } from '../db/models.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/registry.ts';
import {
  QUEUE_GLOBAL_CONCURRENCY,
  type QueueName,
  type TaskDefinition,
  type TaskRegistry,
} from '../tasks/registry.ts';
import { scheduledJobDueAt } from './bullmq-internals.ts';
import { jobOptions, Queues, type JobData } from './queues.ts';
import { createRedis } from './redis.ts';
import { ResultRecorder, type TaskResultRow } from './results.ts';
import { scheduleRevision } from './schedule.ts';

export interface WorkerDeps {
  config: Pick<
    Config,
    | 'REDIS_URL'
    | 'REDIS_CA_FILE'
    | 'QUEUE_PREFIX'
    | 'WORKER_CONCURRENCY'
    | 'WORKER_LOCK_MS'
    | 'WORKER_STALLED_INTERVAL_MS'
    | 'SHUTDOWN_TIMEOUT_MS'
  >;
  log: Logger;
  db: Database;
  registry: TaskRegistry;
  metrics: Metrics;
}

export interface RunningWorker {
  /** Stops taking jobs, lets running ones finish within SHUTDOWN_TIMEOUT_MS, requeues the rest. */
  close(): Promise<void>;
}

class ShutdownError extends Error {
  override name = 'ShutdownError';
}
class TaskTimeoutError extends Error {
  override name = 'TaskTimeoutError';
}

/** When a job was due: a scheduler's run at its instant, any other job when it was meant to start. */
function dueInstant(job: Job<JobData>): Date {
  if (job.data.jitteredTo !== undefined) return new Date(job.data.jitteredTo);
  return scheduledJobDueAt(job.id) ?? new Date(job.timestamp + (job.opts.delay ?? 0));
}

/**
 * A run's random delay within its schedule's jitter, from its job id: random across runs and
 * schedules, the same for one run every time it is asked (a worker that crashes mid-delay puts
 * it off to the same instant).
 */
export function jitterOffsetMs(jobId: string, jitterSeconds: number): number {
  const draw = createHash('sha256').update(jobId).digest().readUIntBE(0, 6);
  return draw % (jitterSeconds * 1000 + 1);
}

/** Starts of a job that count: the one that only put a jittered run off is not an attempt. */
function starts(job: Job<JobData>): number {
  return job.attemptsStarted - (job.data.jitterDelayed ? 1 : 0);
}

export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const { config, log, db, registry, metrics } = deps;
  // Every task's outcome counters exist from the start, at 0: Prometheus's increase() cannot see
  // the first step of a series that appears already at 1, so a first failure would go unnoticed
  // by the alert rules (prometheus/rules.ts) until a second one.
  for (const task of registry.list())
    for (const status of ['succeeded', 'failed'] as const)
      metrics.taskRuns.inc({ task: task.name, status }, 0);
  const workerName = `${hostname()}:${process.pid}`;
  const recorder = new ResultRecorder(db, log);
  const shutdown = new AbortController();
  const connection = createRedis(config, { log, name: 'worker' });
  const queues = new Queues(connection, config.QUEUE_PREFIX, log);

  /**
   * A scheduled job runs only if its periodic task still wants it: not deleted, enabled, not
   * expired, and of the current revision. A one-off task is claimed (disabled) atomically, so no
   * second copy of its job can ever run. A job started before (a retry, a rerun after a crash or
   * a shutdown) was admitted then and is not checked again: BullMQ counts every start.
   */
  async function admissionProblem(job: Job<JobData>, task: TaskDefinition): Promise<string | null> {
    const { periodicTaskId, revision } = job.data;
    if (periodicTaskId === undefined || revision === undefined) return null;
    if (starts(job) > 1) return null;
    const row = await db.models.PeriodicTask.findByPk(periodicTaskId, { raw: true });
    if (!row) return 'its periodic task was deleted';
    if (!row.enabled) return 'its periodic task is disabled';
    if (row.expiresAt && row.expiresAt.getTime() < Date.now())
      return 'its periodic task has expired';
    if (scheduleRevision(row, jobOptions(task, row.priority)) !== revision) {
      return 'its periodic task was changed after the job was created';
    }
    // A clocked schedule has a single instant: it runs once even if a row says otherwise.
    if (row.oneOff || row.scheduleType === 'clocked') {
      const [, claimed] = await db.sequelize.query(
        'UPDATE periodic_tasks SET enabled = false, updated_at = now() WHERE id = $1 AND enabled',
        { bind: [periodicTaskId] },
      );
      if (!(claimed as { rowCount?: number })?.rowCount)
        return 'its one-off periodic task already ran';
    }
    return null;
  }

  function startedRow(job: Job<JobData>): TaskResultRow {
    return {
      jobId: job.id ?? '',
      queue: job.queueName,
      task: job.name,
      periodicTaskId: job.data.periodicTaskId ?? null,
      status: 'started',
      attempts: starts(job),
      args: job.data.args ?? [],
      kwargs: job.data.kwargs ?? {},
      result: null,
      error: null,
      stack: null,
      logs: [],
      worker: workerName,
      scheduledFor: dueInstant(job),
      queuedAt: new Date(job.timestamp),
      startedAt: new Date(),
      finishedAt: null,
      durationMs: null,
    };
  }

  async function processJob(job: Job<JobData>, token: string | undefined, cancel?: AbortSignal) {
    // A jittered schedule's run is put off, once, to its slot plus its random offset; the
    // admission check, the task result and the lateness all start from that time.
    const jitter = job.data.jitterSeconds ?? 0;
    if (jitter > 0 && job.data.revision && job.data.jitteredTo === undefined && starts(job) <= 1) {
      const to = dueInstant(job).getTime() + jitterOffsetMs(job.id ?? '', jitter);
      const delayed = to > Date.now();
      await job.updateData({ ...job.data, jitteredTo: to, jitterDelayed: delayed });
      if (delayed) {
        await job.moveToDelayed(to, token);
        throw new DelayedError();
      }
    }
    const task = registry.get(job.name);
    const row = startedRow(job);
    const finish = async (
      status: TaskStatus,
      fields: Partial<TaskResultRow>,
      countsRun: boolean,
    ) => {
      const finishedAt = new Date();
      const durationMs = finishedAt.getTime() - (row.startedAt ?? finishedAt).getTime();
      await recorder.write({ ...row, ...fields, status, finishedAt, durationMs }, { countsRun });
      metrics.taskRuns.inc({ task: job.name, status });
      metrics.taskDuration.observe({ task: job.name }, durationMs / 1000);
    };

    if (!task) {
      const error = registry.unknownTask(job.name);
      await finish('failed', { error }, true);
      throw new UnrecoverableError(error);
    }
    const problem = await retryWhileUnreachable(() => admissionProblem(job, task), {
      log,
      what: 'admission check',
    });
    if (problem) {
      log.info({ jobId: job.id, task: job.name, reason: problem }, 'skipped scheduled job');
      await finish('revoked', { error: `skipped: ${problem}` }, false);
      return { skipped: problem };
    }
    const parsed = task.kwargs.safeParse(row.kwargs);
    if (!parsed.success) {
      const error = `invalid kwargs: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
      await finish('failed', { error }, true);
      throw new UnrecoverableError(error);
    }

    const jobLog = log.child({ jobId: job.id, task: job.name });
    // The handler starts without waiting for the "started" row: it only reports progress, the
    // recorder keeps its writes in order, and the final write below is the one a job waits for.
    row.startedAt = new Date();
    recorder
      .write({ ...row })
      .catch((error: unknown) => jobLog.warn({ err: error }, 'could not record the start'));
    // Lateness is the scheduler's: a retry starts late on purpose (backoff) and is not counted.
    if (job.data.revision && starts(job) <= 1) {
      metrics.taskLateness.observe(
        { task: job.name },
        (row.startedAt!.getTime() - row.scheduledFor!.getTime()) / 1000,
      );
    }

    const logs: TaskLogLine[] = [];
    const timeout = AbortSignal.timeout(task.timeoutMs);
    const signal = AbortSignal.any([timeout, shutdown.signal, ...(cancel ? [cancel] : [])]);
    const context = {
      jobId: row.jobId,
      attempt: row.attempts,
      periodicTaskId: row.periodicTaskId,
      signal,
      log(message: string, level: TaskLogLine['level'] = 'info') {
        logs.push({ at: new Date().toISOString(), level, message });
        jobLog[level](message);
      },
    };

    try {
      const result = await untilAborted(task.run(parsed.data, context), signal, () =>
        timeout.aborted
          ? new TaskTimeoutError(`${task.name} timed out after ${task.timeoutMs} ms`)
          : shutdown.signal.aborted
            ? new ShutdownError('worker shut down before the job finished')
            : new Error(`cancelled: ${String(cancel?.reason ?? 'by request')}`),
      );
      await finish('succeeded', { result: toJson(result), logs }, true);
      return result;
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      if (err instanceof ShutdownError) {
        // Back to the queue, not counted as a failed attempt: another worker (or this one after
        // its restart) runs it again from the start.
        await finish('queued', { error: err.message, logs }, false);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      const attemptsAllowed = job.opts.attempts ?? 1;
      const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= attemptsAllowed;
      jobLog.warn({ err, attempt: row.attempts, final }, 'task attempt failed');
      await finish(
        final ? 'failed' : 'retried',
        { error: err.message, stack: err.stack ?? null, logs },
        final,
      );
      throw err;
    }
  }

  const workers: Worker[] = [];
  for (const queueName of registry.queues()) {
    const globalConcurrency = QUEUE_GLOBAL_CONCURRENCY[queueName as QueueName];
    if (globalConcurrency) await queues.get(queueName).setGlobalConcurrency(globalConcurrency);
    const worker = new Worker<JobData>(queueName, processJob, {
      connection,
      prefix: config.QUEUE_PREFIX,
      concurrency: globalConcurrency ?? config.WORKER_CONCURRENCY,
      lockDuration: config.WORKER_LOCK_MS,
      stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
      // A job whose worker dies under it is run again twice; a third death fails it, so a job
      // that crashes its worker cannot take down worker after worker forever.
      maxStalledCount: 2,
      name: workerName,
    });
    worker.on('error', (error) =>
      log.warn({ err: error.message, queue: queueName }, 'worker error'),
    );
    // BullMQ fails a job that stalled too often without calling the processor: record it here.
    worker.on('failed', (job, error) => {
      if (!job?.deferredFailure) return;
      const row = {
        ...startedRow(job),
        status: 'failed' as const,
        error: error.message,
        finishedAt: new Date(),
      };
      recorder
        .write(row, { countsRun: true })
        .catch((err: unknown) =>
          log.error({ err, jobId: job.id }, 'could not record a failed job'),
        );
      metrics.taskRuns.inc({ task: job.name, status: 'failed' });
    });
    worker.on('stalled', (jobId) =>
      log.warn({ jobId, queue: queueName }, 'job stalled (its worker died); it runs again'),
    );
    workers.push(worker);
  }
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  log.info(
    {
      queues: Object.fromEntries(
        workers.map((worker) => [worker.name, { concurrency: worker.concurrency }]),
      ),
    },
    'worker started',
  );

  return {
    async close() {
      const closing = Promise.all(workers.map((worker) => worker.close()));
      const timer = setTimeout(() => {
        log.warn(
          { timeoutMs: config.SHUTDOWN_TIMEOUT_MS },
          'jobs still running at shutdown; returning them to the queue',
        );
        shutdown.abort();
      }, config.SHUTDOWN_TIMEOUT_MS);
      try {
        await closing;
      } finally {
        clearTimeout(timer);
      }
      await recorder.close();
      await queues.close();
      connection.disconnect();
      log.info('worker stopped');
    },
  };
}

/** Task results are stored as jsonb: keep what JSON can carry (dates become strings). */
function toJson(value: unknown): JsonValue {
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as JsonValue);
}

/** Settles with the task's outcome, or rejects as soon as the signal aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, reason: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(reason());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
