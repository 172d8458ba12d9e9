// Writes task_results rows for the worker. Writes are batched (one multi-row upsert per tick) so
// thousands of jobs a second cost a few statements, and a job only completes in BullMQ once its row
// is stored. When PostgreSQL is unreachable the batch is retried with backoff until it lands:
// a result is never dropped because the database blinked.
import { setTimeout as sleep } from 'node:timers/promises';
import type { AbstractDataType, CreationAttributes } from 'sequelize';
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

/**
 * One multi-row upsert for a whole batch. Rows travel as a single jsonb parameter and are unpacked
 * by jsonb_to_recordset: far cheaper than building a model instance per row, and the column list
 * comes from the model, so it cannot drift from the rest of the code.
 */
function upsertStatement(model: Database['models']['TaskResult']): {
  sql: string;
  toRecord(row: TaskResultRow): object;
} {
  const columns = Object.entries(model.getAttributes())
    .filter(([name]) => name !== 'id')
    .map(([name, attribute]) => ({
      name,
      field: attribute.field ?? name,
      type: (attribute.type as AbstractDataType).toSql(),
    }));
  const fields = columns.map((c) => c.field).join(', ');
  return {
    sql: `INSERT INTO ${model.getTableName()} (${fields})
          SELECT ${fields} FROM jsonb_to_recordset($1::jsonb)
            AS r(${columns.map((c) => `${c.field} ${c.type}`).join(', ')})
          ON CONFLICT (job_id) DO UPDATE SET
            ${columns
              .filter((c) => c.field !== 'job_id')
              .map((c) => `${c.field} = EXCLUDED.${c.field}`)
              .join(', ')}`,
    toRecord: (row) =>
      Object.fromEntries(columns.map((c) => [c.field, row[c.name as keyof TaskResultRow] ?? null])),
  };
}

export class ResultRecorder {
  readonly #db: Database;
  readonly #log: Logger;
  readonly #maxBatch: number;
  readonly #upsert: ReturnType<typeof upsertStatement>;
  #pending: PendingWrite[] = [];
  #flushing: Promise<void> | null = null;
  #closed = false;

  constructor(db: Database, log: Logger, options: { maxBatch?: number } = {}) {
    this.#db = db;
    this.#log = log;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#upsert = upsertStatement(db.models.TaskResult);
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
          await this.#db.sequelize.query(this.#upsert.sql, {
            transaction,
            bind: [JSON.stringify([...rows.values()].map(this.#upsert.toRecord))],
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
