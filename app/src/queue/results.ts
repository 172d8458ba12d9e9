// Writes task_results rows for the worker. Writes are batched (one multi-row upsert per tick) so
// thousands of jobs a second cost a few statements, and a job only completes in BullMQ once its row
// is stored. When PostgreSQL is unreachable the batch is retried with backoff until it lands:
// a result is never dropped because the database blinked.
import type { AbstractDataType, CreationAttributes } from 'sequelize';
import { retryWhileUnreachable, type Database } from '../db/index.ts';
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
 * One statement per batch, so a batch costs one round trip and is atomic: a multi-row upsert of
 * the results plus, in a data-modifying CTE, the run bookkeeping of their periodic tasks. Rows
 * travel as jsonb parameters unpacked by jsonb_to_recordset, far cheaper than a model instance per
 * row; the column list comes from the model, so it cannot drift from the rest of the code.
 */
function batchStatement(model: Database['models']['TaskResult']) {
  const columns = Object.entries(model.getAttributes())
    .filter(([name]) => name !== 'id')
    .map(([name, attribute]) => ({
      name: name as keyof TaskResultRow,
      field: attribute.field ?? name,
      type: (attribute.type as AbstractDataType).toSql(),
    }));
  const fields = columns.map((c) => c.field);
  // A periodic task deleted while its job ran leaves the result unlinked instead of failing it.
  const selected = fields.map((f) => (f === 'periodic_task_id' ? 'p.id' : `r.${f}`));
  const sql = `
    WITH stored AS (
      INSERT INTO ${model.getTableName()} (${fields.join(', ')})
      SELECT ${selected.join(', ')}
        FROM jsonb_to_recordset($1::jsonb) AS r(${columns.map((c) => `${c.field} ${c.type}`).join(', ')})
        LEFT JOIN periodic_tasks AS p ON p.id = r.periodic_task_id
      ON CONFLICT (job_id) DO UPDATE SET
        ${fields
          .filter((f) => f !== 'job_id')
          .map((f) => `${f} = EXCLUDED.${f}`)
          .join(', ')}
      RETURNING 1
    ), counted AS (
      UPDATE periodic_tasks AS p
         SET last_run_at = GREATEST(p.last_run_at, r.at), total_run_count = p.total_run_count + r.count
        FROM jsonb_to_recordset($2::jsonb) AS r(id integer, count integer, at timestamptz)
       WHERE p.id = r.id
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM stored) AS stored, (SELECT count(*) FROM counted) AS counted`;
  return {
    sql,
    bind(rows: Iterable<TaskResultRow>, runs: Map<number, { count: number; at: Date }>): string[] {
      const records = [...rows].map((row) =>
        Object.fromEntries(columns.map((c) => [c.field, row[c.name] ?? null])),
      );
      return [
        JSON.stringify(records),
        JSON.stringify([...runs].map(([id, run]) => ({ id, ...run }))),
      ];
    },
  };
}

export class ResultRecorder {
  readonly #db: Database;
  readonly #log: Logger;
  readonly #maxBatch: number;
  readonly #statement: ReturnType<typeof batchStatement>;
  #pending: PendingWrite[] = [];
  #flushing: Promise<void> | null = null;
  #closed = false;

  constructor(db: Database, log: Logger, options: { maxBatch?: number } = {}) {
    this.#db = db;
    this.#log = log;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#statement = batchStatement(db.models.TaskResult);
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
    try {
      await retryWhileUnreachable(
        () =>
          this.#db.sequelize.query(this.#statement.sql, {
            bind: this.#statement.bind(rows.values(), runs),
          }),
        { log: this.#log, what: 'task result write' },
      );
      for (const write of batch) write.resolve();
    } catch (error) {
      // One bad row (say, a result jsonb refuses) must not fail the jobs batched with it.
      if (batch.length > 1) {
        for (const write of batch) await this.#store([write]);
        return;
      }
      this.#log.error({ err: error, jobId: batch[0]?.row.jobId }, 'storing a task result failed');
      for (const write of batch) write.reject(error);
    }
  }
}
