// The scheduler role (celery beat with django-celery-beat's DatabaseScheduler): periodic tasks live
// in PostgreSQL; this process keeps BullMQ's job schedulers in Redis equal to the enabled rows.
//
// - A trigger NOTIFYs `periodic_tasks_changed` on every change; we LISTEN and reconcile at once.
// - A full reconcile also runs every SCHEDULER_RECONCILE_MS, after Redis or PostgreSQL comes back,
//   and at start, so anything missed (a dropped notification, a Redis flush) is repaired.
// - Each scheduler id embeds the row's revision: a changed row gets a new scheduler and the old one
//   is removed; an unchanged row is never touched, so its next run keeps its time.
// - Adding a scheduler is idempotent in BullMQ (the next job's id is derived from the scheduler id
//   and the due instant), so two scheduler processes at once cannot produce a run twice.
//
// The parts: createReconciler (below) makes Redis match the rows, ReconcileRequests
// (reconcile-requests.ts) serves the requests for it one at a time, listenForChanges
// (scheduler-listen.ts) turns NOTIFYs into requests; startScheduler wires them together.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { isConnectionError } from '../errors.ts';
import type { Database } from '../db/index.ts';
import type { PeriodicTask } from '../db/models.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/registry.ts';
import { QUEUE_NAMES, type QueueName, type TaskRegistry } from '../tasks/registry.ts';
import { jobOptions, Queues, type JobData } from './queues.ts';
import { schedulerIds } from './bullmq-internals.ts';
import { ReconcileRequests } from './reconcile-requests.ts';
import { createRedis } from './redis.ts';
import { listenForChanges } from './scheduler-listen.ts';
import { repeatOptions, scheduleRevision } from './schedule.ts';

export const NOTIFY_CHANNEL = 'periodic_tasks_changed';
const SCHEDULER_ID_PREFIX = 'periodic:';

export interface SchedulerDeps {
  config: Pick<
    Config,
    'DATABASE_URL' | 'REDIS_URL' | 'REDIS_CA_FILE' | 'QUEUE_PREFIX' | 'SCHEDULER_RECONCILE_MS'
  >;
  log: Logger;
  db: Database;
  registry: TaskRegistry;
  metrics: Metrics;
}

export interface ReconcileReport {
  /** Schedules in force after the reconcile (within its scope). */
  schedules: number;
  added: number;
  removed: number;
  /** Rows whose schedule BullMQ refused (an invalid crontab written by plain SQL, say). */
  failed: number;
}

/** Errors about one row's schedule, as opposed to Redis being unreachable. */
function isRowError(error: unknown): boolean {
  return !isConnectionError(error);
}

export interface RunningScheduler {
  /** Runs a full reconcile now (coalesced with one already running) and reports what it did. */
  reconcile(): Promise<ReconcileReport>;
  close(): Promise<void>;
}

interface DesiredScheduler {
  queue: QueueName;
  row: PeriodicTask;
  template: { name: string; data: JobData; opts: ReturnType<typeof jobOptions> };
}

export function schedulerId(periodicTaskId: number, revision: string): string {
  return `${SCHEDULER_ID_PREFIX}${periodicTaskId}:${revision}`;
}

/**
 * What a reconcile does: reads the rows that should be scheduled, lists the job schedulers Redis
 * has, and adds and removes schedulers until the two agree (for every row, or for some ids).
 */
function createReconciler(
  deps: SchedulerDeps,
  connection: Redis,
  queues: Queues,
): (ids: Set<number> | null) => Promise<ReconcileReport> {
  const { log, db, registry, metrics } = deps;

  /** The schedulers that should exist: for every enabled row, or only for the given ids. */
  async function desiredSchedulers(
    ids: Set<number> | null,
  ): Promise<Map<string, DesiredScheduler>> {
    // raw: plain objects, no model instance per row; the reconcile stays cheap at 100,000 rows.
    const rows = await db.models.PeriodicTask.findAll({
      where: ids ? { enabled: true, id: [...ids] } : { enabled: true },
      raw: true,
    });
    const desired = new Map<string, DesiredScheduler>();
    const now = Date.now();
    for (const row of rows) {
      const task = registry.get(row.task);
      if (!task) {
        log.warn(
          { periodicTask: row.name, task: row.task },
          'periodic task names a task this build does not have; not scheduled',
        );
        continue;
      }
      if (row.expiresAt && row.expiresAt.getTime() <= now) continue;
      const opts = jobOptions(task, row.priority);
      const revision = scheduleRevision(row, opts);
      desired.set(schedulerId(row.id, revision), {
        queue: row.queue ?? task.queue,
        row,
        template: {
          name: task.name,
          data: {
            args: row.args,
            kwargs: row.kwargs,
            periodicTaskId: row.id,
            revision,
            ...(row.jitterSeconds ? { jitterSeconds: row.jitterSeconds } : {}),
          },
          opts,
        },
      });
    }
    return desired;
  }

  /** Scheduler ids in Redis: all of ours, or only those of the given periodic tasks. */
  async function existingSchedulers(
    queue: Queue<JobData>,
    ids: Set<number> | null,
  ): Promise<Set<string>> {
    if (!ids) {
      const all = await schedulerIds(connection, queue);
      return new Set(all.filter((id) => id.startsWith(SCHEDULER_ID_PREFIX)));
    }
    const found = new Set<string>();
    for (const id of ids)
      for (const match of await schedulerIds(connection, queue, `${SCHEDULER_ID_PREFIX}${id}:*`))
        found.add(match);
    return found;
  }

  /** Scheduler ids this process knows to be in force; the gauge counts them. */
  const inForce = new Set<string>();

  /** Makes Redis match PostgreSQL, for every row (ids null) or for the rows that changed. */
  async function reconcileOnce(ids: Set<number> | null): Promise<ReconcileReport> {
    const desired = await desiredSchedulers(ids);
    if (!ids) inForce.clear();
    let added = 0;
    let removed = 0;
    let failed = 0;
    for (const queueName of QUEUE_NAMES) {
      const queue = queues.get(queueName);
      const existing = await existingSchedulers(queue, ids);
      for (const id of existing) {
        if (desired.get(id)?.queue === queueName) {
          inForce.add(id);
          continue;
        }
        await queue.removeJobScheduler(id);
        inForce.delete(id);
        removed++;
      }
      for (const [id, { queue: target, row, template }] of desired) {
        if (target !== queueName || existing.has(id)) continue;
        try {
          await queue.upsertJobScheduler(id, repeatOptions(row), template);
          inForce.add(id);
          added++;
        } catch (error) {
          // A row written around the validation (plain SQL, say) must not stop every other schedule.
          if (!isRowError(error)) throw error;
          failed++;
          log.error(
            { periodicTask: row.name, err: (error as Error).message },
            'periodic task cannot be scheduled; fix or disable it',
          );
        }
      }
    }
    // A scoped reconcile also drops what its rows no longer want (a disabled row has no desire).
    if (ids) {
      for (const id of [...inForce]) {
        const owner = Number(id.slice(SCHEDULER_ID_PREFIX.length).split(':')[0]);
        if (ids.has(owner) && !desired.has(id)) inForce.delete(id);
      }
    }
    metrics.schedules.set(inForce.size);
    if (added || removed || failed) {
      log.info({ scope: ids ? [...ids] : 'all', added, removed, failed }, 'schedules reconciled');
    }
    return { schedules: desired.size - failed, added, removed, failed };
  }

  return reconcileOnce;
}

export async function startScheduler(deps: SchedulerDeps): Promise<RunningScheduler> {
  const { config, log, metrics } = deps;
  const connection = createRedis(config, { log, name: 'scheduler' });
  const queues = new Queues(connection, config.QUEUE_PREFIX, log);
  const requests = new ReconcileRequests<ReconcileReport>({
    run: createReconciler(deps, connection, queues),
    log,
    counted: (trigger) => metrics.reconciles.inc({ trigger }),
  });

  const listener = await listenForChanges({
    databaseUrl: config.DATABASE_URL,
    channel: NOTIFY_CHANNEL,
    log,
    onChange: (ids) => requests.request('notify', ids),
    onReconnected: () => requests.request('pg-reconnect'),
  });
  // Redis or PostgreSQL may still be starting (containers start together): a failed first
  // reconcile is retried every second, like any other, instead of ending the process.
  await requests.full('start').catch(() => undefined);
  let redisWasDown = false;
  connection.on('error', () => (redisWasDown = true));
  connection.on('ready', () => {
    // A restarted Redis without persistence has lost every scheduler: put them back now.
    if (redisWasDown) requests.request('redis-reconnect');
    redisWasDown = false;
  });
  const periodic = setInterval(() => requests.request('periodic'), config.SCHEDULER_RECONCILE_MS);
  log.info({ reconcileMs: config.SCHEDULER_RECONCILE_MS }, 'scheduler started');

  return {
    reconcile: () => requests.full('manual'),
    async close() {
      clearInterval(periodic);
      // No reconnect may start while the last reconcile finishes: both stop taking work at once.
      listener.stop();
      await requests.close();
      await listener.close();
      await queues.close();
      connection.disconnect();
      log.info('scheduler stopped');
    },
  };
}
