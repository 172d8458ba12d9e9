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
  /** Schedules in force after the reconcile (within its scope). */
  schedules: number;
  added: number;
  removed: number;
  /** Rows whose schedule BullMQ refused (an invalid crontab written by plain SQL, say). */
  failed: number;
}

/** Errors about one row's schedule, as opposed to Redis being unreachable. */
function isRowError(error: unknown): boolean {
  const message = (error as Error)?.message ?? '';
  return !/ECONNREFUSED|ECONNRESET|Connection is closed|ETIMEDOUT|max retries|Stream isn't writeable/i.test(
    message,
  );
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
          data: { args: row.args, kwargs: row.kwargs, periodicTaskId: row.id, revision },
          opts,
        },
      });
    }
    return desired;
  }

  /** Scheduler ids in Redis: all of ours, or only those of the given periodic tasks. */
  async function existingSchedulers(key: string, ids: Set<number> | null): Promise<Set<string>> {
    if (!ids) {
      // Only the ids: cheaper than getJobSchedulers(), which loads every scheduler's template.
      const all = await connection.zrange(key, 0, -1);
      return new Set(all.filter((id) => id.startsWith(SCHEDULER_ID_PREFIX)));
    }
    const found = new Set<string>();
    for (const id of ids) {
      let cursor = '0';
      do {
        const [next, entries] = await connection.zscan(
          key,
          cursor,
          'MATCH',
          `${SCHEDULER_ID_PREFIX}${id}:*`,
          'COUNT',
          1000,
        );
        for (let i = 0; i < entries.length; i += 2) found.add(entries[i]!);
        cursor = next;
      } while (cursor !== '0');
    }
    return found;
  }

  /** Makes Redis match PostgreSQL, for every row (ids null) or for the rows that changed. */
  /** Scheduler ids this process knows to be in force; the gauge counts them. */
  const inForce = new Set<string>();

  async function reconcileOnce(ids: Set<number> | null): Promise<ReconcileReport> {
    const desired = await desiredSchedulers(ids);
    if (!ids) inForce.clear();
    let added = 0;
    let removed = 0;
    let failed = 0;
    for (const queueName of QUEUE_NAMES) {
      const queue = queues.get(queueName);
      const existing = await existingSchedulers(queue.toKey('repeat'), ids);
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

  // Requests are queued and served one reconcile at a time. A full reconcile also covers any ids
  // waiting; ids that arrive together (a burst of NOTIFYs) are served by one scoped reconcile.
  let pendingFull = false;
  const pendingIds = new Set<number>();
  const fullWaiters: Array<{
    resolve(report: ReconcileReport): void;
    reject(error: unknown): void;
  }> = [];
  let draining = false;
  let drained: Promise<void> = Promise.resolve();
  let retryTimer: NodeJS.Timeout | undefined;

  function request(trigger: string, ids?: number[]): void {
    if (closed) return;
    metrics.reconciles.inc({ trigger });
    if (ids) for (const id of ids) pendingIds.add(id);
    else pendingFull = true;
    if (!draining) drained = drain();
  }

  async function drain(): Promise<void> {
    draining = true;
    try {
      while (!closed && (pendingFull || pendingIds.size)) {
        const ids = pendingFull ? null : new Set(pendingIds);
        const waiters = pendingFull ? fullWaiters.splice(0) : [];
        pendingFull = false;
        pendingIds.clear();
        try {
          const report = await reconcileOnce(ids);
          for (const waiter of waiters) waiter.resolve(report);
        } catch (error) {
          log.warn({ err: (error as Error).message }, 'reconcile failed; retrying in 1 s');
          for (const waiter of waiters) waiter.reject(error);
          clearTimeout(retryTimer);
          retryTimer = setTimeout(() => request('retry'), 1_000);
        }
      }
    } finally {
      draining = false;
      for (const waiter of closed ? fullWaiters.splice(0) : [])
        waiter.reject(new Error('scheduler closed'));
    }
  }

  /** A full reconcile; resolves with its report once it has run. */
  function reconcile(trigger: string): Promise<ReconcileReport> {
    if (closed) return Promise.reject(new Error('scheduler closed'));
    return new Promise((resolve, reject) => {
      fullWaiters.push({ resolve, reject });
      request(trigger);
    });
  }

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
    client.on('notification', (message) => {
      const id = Number(message.payload);
      // Our trigger sends the row id; anything else on the channel asks for a full reconcile.
      request('notify', Number.isSafeInteger(id) ? [id] : undefined);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      if (attempt > 0) {
        log.info('PostgreSQL LISTEN connection restored');
        request('pg-reconnect');
      }
      attempt = 0;
    } catch (error) {
      retry(error as Error);
    }
  }

  await listen();
  // Redis or PostgreSQL may still be starting (containers start together): a failed first
  // reconcile is retried every second, like any other, instead of ending the process.
  await reconcile('start').catch(() => undefined);
  let redisWasDown = false;
  connection.on('error', () => (redisWasDown = true));
  connection.on('ready', () => {
    // A restarted Redis without persistence has lost every scheduler: put them back now.
    if (redisWasDown) request('redis-reconnect');
    redisWasDown = false;
  });
  const periodic = setInterval(() => request('periodic'), config.SCHEDULER_RECONCILE_MS);
  log.info({ reconcileMs: config.SCHEDULER_RECONCILE_MS }, 'scheduler started');

  return {
    reconcile: () => reconcile('manual'),
    async close() {
      closed = true;
      clearInterval(periodic);
      clearTimeout(retryTimer);
      clearTimeout(listenRetry);
      await drained;
      const client = listener;
      listener = null;
      await client?.end().catch(() => undefined);
      await queues.close();
      connection.disconnect();
      log.info('scheduler stopped');
    },
  };
}
