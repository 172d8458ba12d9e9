// Writes task_results rows for the worker. Writes are batched (one multi-row upsert per tick) so
// thousands of jobs a second cost a few statements, and a job only completes in BullMQ once its row
// is stored. When PostgreSQL is unreachable the batch is retried with backoff until it lands:
// a result is never dropped because the database blinked.
import { setTimeout as sleep } from 'node:timers/promises';
import type { CreationAttributes } from 'sequelize';
import { isConnectionError, type Database } from '../db/index.ts';
import type { TaskResult } from '../db/models.ts';
import type { Logger } from '../log.ts';

export type TaskResultRow = Required<
  Omit<CreationAttributes<TaskResult>, 'id' | 'periodicTaskId'>
> & { periodicTaskId: number | null };

interface PendingWrite {
  row: TaskResultRow;
  /** Counts one finished run of the row's periodic task. */
  countsRun: boolean;
  resolve(): void;
  reject(error: unknown): void;
}

const UPDATED_COLUMNS = [
  'queue',
  'task',
  'periodicTaskId',
  'status',
  'attempts',
  'args',
  'kwargs',
  'result',
  'error',
  'stack',
  'logs',
  'worker',
  'scheduledFor',
  'queuedAt',
  'startedAt',
  'finishedAt',
  'durationMs',
] as const satisfies ReadonlyArray<keyof TaskResultRow>;

export class ResultRecorder {
  readonly #db: Database;
  readonly #log: Logger;
  readonly #maxBatch: number;
  #pending: PendingWrite[] = [];
  #flushing: Promise<void> | null = null;
  #closed = false;

  constructor(db: Database, log: Logger, options: { maxBatch?: number } = {}) {
    this.#db = db;
    this.#log = log;
    this.#maxBatch = options.maxBatch ?? 500;
  }

  /** Stores the row (insert, or replace the row of the same job id); resolves once it is stored. */
  write(row: TaskResultRow, options: { countsRun?: boolean } = {}): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('result recorder is closed'));
    return new Promise((resolve, reject) => {
      this.#pending.push({ row, countsRun: options.countsRun ?? false, resolve, reject });
      this.#schedule();
    });
  }

  /** Waits until every accepted write is stored, then refuses new ones. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing || this.#pending.length) {
      await (this.#flushing ?? this.#flush());
    }
  }

  #schedule(): void {
    if (this.#flushing) return;
    // setImmediate gathers the writes of every job that finished in this turn of the event loop.
    this.#flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
      this.#flush(),
    );
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending.length) {
        const batch = this.#pending.splice(0, this.#maxBatch);
        await this.#store(batch);
      }
    } finally {
      this.#flushing = null;
    }
  }

  async #store(batch: PendingWrite[]): Promise<void> {
    // One statement cannot upsert the same key twice: the latest write of a job wins.
    const rows = new Map<string, TaskResultRow>();
    const runs = new Map<number, { count: number; at: Date }>();
    for (const { row, countsRun } of batch) {
      rows.set(row.jobId, row);
      if (countsRun && row.periodicTaskId !== null) {
        const at = row.startedAt ?? row.queuedAt;
        const run = runs.get(row.periodicTaskId) ?? { count: 0, at };
        run.count += 1;
        if (at > run.at) run.at = at;
        runs.set(row.periodicTaskId, run);
      }
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#db.sequelize.transaction(async (transaction) => {
          await this.#db.models.TaskResult.bulkCreate([...rows.values()], {
            transaction,
            conflictAttributes: ['jobId'],
            returning: false,
            updateOnDuplicate: [...UPDATED_COLUMNS],
          });
          if (runs.size) {
            await this.#db.sequelize.query(
              `UPDATE periodic_tasks AS p
                  SET last_run_at = GREATEST(p.last_run_at, r.at), total_run_count = p.total_run_count + r.count
                 FROM jsonb_to_recordset($1::jsonb) AS r(id integer, count integer, at timestamptz)
                WHERE p.id = r.id`,
              {
                transaction,
                bind: [JSON.stringify([...runs].map(([id, run]) => ({ id, ...run })))],
              },
            );
          }
        });
        if (attempt > 1)
          this.#log.info({ attempt, rows: rows.size }, 'task results stored after retrying');
        for (const write of batch) write.resolve();
        return;
      } catch (error) {
        if (!isConnectionError(error)) {
          this.#log.error({ err: error }, 'storing task results failed');
          for (const write of batch) write.reject(error);
          return;
        }
        const delay = Math.min(50 * 2 ** attempt, 2_000);
        if (attempt === 1 || attempt % 10 === 0) {
          this.#log.warn(
            { err: (error as Error).message, attempt, rows: rows.size },
            'database unreachable; retrying task result write',
          );
        }
        await sleep(delay);
      }
    }
  }
}
