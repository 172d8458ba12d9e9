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
import type { Client as PgClient } from 'pg';
import type { Config } from '../config.ts';
import { createPgClient } from '../db/connection.ts';
import type { Database } from '../db/index.ts';
import type { PeriodicTask } from '../db/models.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/registry.ts';
import { QUEUE_NAMES, type QueueName, type TaskRegistry } from '../tasks/registry.ts';
import { jobOptions, Queues, type JobData } from './queues.ts';
import { createRedis } from './redis.ts';
import { repeatOptions, scheduleRevision } from './schedule.ts';

export const NOTIFY_CHANNEL = 'periodic_tasks_changed';
const SCHEDULER_ID_PREFIX = 'periodic:';

export interface SchedulerDeps {
  config: Pick<Config, 'DATABASE_URL' | 'REDIS_URL' | 'QUEUE_PREFIX' | 'SCHEDULER_RECONCILE_MS'>;
  log: Logger;
  db: Database;
  registry: TaskRegistry;
  metrics: Metrics;
}

export interface ReconcileReport {
  schedules: number;
  added: number;
  removed: number;
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

export async function startScheduler(deps: SchedulerDeps): Promise<RunningScheduler> {
  const { config, log, db, registry, metrics } = deps;
  const connection = createRedis(config.REDIS_URL, { log, name: 'scheduler' });
  const queues = new Queues(connection, config.QUEUE_PREFIX, log);
  let closed = false;

  async function desiredSchedulers(): Promise<Map<string, DesiredScheduler>> {
    const rows = await db.models.PeriodicTask.findAll({ where: { enabled: true } });
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
          data: { args: row.args, kwargs: row.kwargs, periodicTaskId: row.id, revision },
          opts,
        },
      });
    }
    return desired;
  }

  async function reconcileOnce(): Promise<ReconcileReport> {
    const desired = await desiredSchedulers();
    let added = 0;
    let removed = 0;
    for (const queueName of QUEUE_NAMES) {
      const queue = queues.get(queueName);
      // Only the ids: cheaper than getJobSchedulers(), which loads every scheduler's template.
      const existing = new Set(
        (await connection.zrange(queue.toKey('repeat'), 0, -1)).filter((id) =>
          id.startsWith(SCHEDULER_ID_PREFIX),
        ),
      );
      for (const id of existing) {
        if (desired.get(id)?.queue === queueName) continue;
        await queue.removeJobScheduler(id);
        removed++;
      }
      for (const [id, { queue: target, row, template }] of desired) {
        if (target !== queueName || existing.has(id)) continue;
        await queue.upsertJobScheduler(id, repeatOptions(row), template);
        added++;
      }
    }
    metrics.schedules.set(desired.size);
    if (added || removed)
      log.info({ schedules: desired.size, added, removed }, 'schedules reconciled');
    return { schedules: desired.size, added, removed };
  }

  // Reconciles never overlap: requests during one share a single follow-up run.
  let running: Promise<ReconcileReport> | null = null;
  let next: Promise<ReconcileReport> | null = null;
  let retryTimer: NodeJS.Timeout | undefined;
  function runReconcile(trigger: string): Promise<ReconcileReport> {
    const run: Promise<ReconcileReport> = reconcileOnce()
      .catch((error: unknown) => {
        log.warn({ err: (error as Error).message, trigger }, 'reconcile failed; retrying in 1 s');
        clearTimeout(retryTimer);
        if (!closed) retryTimer = setTimeout(() => reconcileQuietly('retry'), 1_000);
        throw error;
      })
      .finally(() => {
        if (running === run) running = null;
      });
    running = run;
    return run;
  }
  function reconcile(trigger: string): Promise<ReconcileReport> {
    metrics.reconciles.inc({ trigger });
    if (!running) return runReconcile(trigger);
    next ??= running
      .catch(() => undefined)
      .then(() => {
        next = null;
        return runReconcile(trigger);
      });
    return next;
  }
  const reconcileQuietly = (trigger: string) => {
    if (!closed) reconcile(trigger).catch(() => undefined);
  };

  // LISTEN on a connection of its own, re-established (and followed by a full reconcile) whenever
  // it drops, since notifications sent while we were away are lost.
  let listener: PgClient | null = null;
  let listenRetry: NodeJS.Timeout | undefined;
  async function listen(attempt = 0): Promise<void> {
    if (closed) return;
    const client = createPgClient(config.DATABASE_URL);
    const retry = (error: Error) => {
      if (closed || listener !== client) return;
      listener = null;
      client.end().catch(() => undefined);
      const delay = Math.min(200 * 2 ** attempt, 5_000);
      log.warn(
        { err: error.message, delayMs: delay },
        'lost the PostgreSQL LISTEN connection; reconnecting',
      );
      listenRetry = setTimeout(() => void listen(attempt + 1), delay);
    };
    listener = client;
    client.on('error', retry);
    client.on('end', () => retry(new Error('connection ended')));
    client.on('notification', () => reconcileQuietly('notify'));
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      if (attempt > 0) {
        log.info('PostgreSQL LISTEN connection restored');
        reconcileQuietly('pg-reconnect');
      }
      attempt = 0;
    } catch (error) {
      retry(error as Error);
    }
  }

  await listen();
  await reconcile('start');
  let redisWasDown = false;
  connection.on('error', () => (redisWasDown = true));
  connection.on('ready', () => {
    // A restarted Redis without persistence has lost every scheduler: put them back now.
    if (redisWasDown) reconcileQuietly('redis-reconnect');
    redisWasDown = false;
  });
  const periodic = setInterval(() => reconcileQuietly('periodic'), config.SCHEDULER_RECONCILE_MS);
  log.info({ reconcileMs: config.SCHEDULER_RECONCILE_MS }, 'scheduler started');

  return {
    reconcile: () => reconcile('manual'),
    async close() {
      closed = true;
      clearInterval(periodic);
      clearTimeout(retryTimer);
      clearTimeout(listenRetry);
      await running?.catch(() => undefined);
      const client = listener;
      listener = null;
      await client?.end().catch(() => undefined);
      await queues.close();
      connection.disconnect();
      log.info('scheduler stopped');
    },
  };
}
