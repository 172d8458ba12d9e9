// maintenance.prune_results: deletes task results, speedtests and probe minutes and outages older
// than the retention, in batches, so a table of millions of rows is trimmed without one long lock
// or a huge transaction. An outage still going on is never deleted (its ended_at is NULL).
import { QueryTypes, type Sequelize } from 'sequelize';
import { z } from 'zod';
import { defineTask } from './registry.ts';

const kwargs = z
  .object({
    olderThanDays: z.int().positive().optional(),
    batchSize: z.int().min(1).max(100_000).default(5_000),
  })
  .strict();

// Speedtests go first: they point at task results, and pruning them keeps that link meaningful.
// probe_minutes has no id column (its key is probe, minute and target): its rows go by ctid.
const TABLES = [
  { table: 'speedtests', timeColumn: 'started_at', key: 'id' },
  { table: 'task_results', timeColumn: 'queued_at', key: 'id' },
  { table: 'probe_minutes', timeColumn: 'minute', key: 'ctid' },
  { table: 'probe_outages', timeColumn: 'ended_at', key: 'id' },
] as const;

export function pruneResultsTask(sequelize: Sequelize, defaultRetentionDays: number) {
  return defineTask({
    name: 'maintenance.prune_results',
    description:
      'Delete task results, speedtests and probe history older than the retention, in batches.',
    queue: 'default',
    kwargs,
    allowed: 'admins',
    attempts: 3,
    backoffMs: 60_000,
    timeoutMs: 30 * 60_000,
    async run(args, context) {
      const days = args.olderThanDays ?? defaultRetentionDays;
      const cutoff = new Date(Date.now() - days * 86_400_000);
      const deleted: Record<string, number> = {};
      for (const { table, timeColumn, key } of TABLES) {
        deleted[table] = 0;
        for (;;) {
          context.signal.throwIfAborted();
          const rows = await sequelize.query<{ one: number }>(
            `DELETE FROM ${table} WHERE ${key} = ANY (ARRAY(
               SELECT ${key} FROM ${table} WHERE ${timeColumn} < $1 ORDER BY ${timeColumn} LIMIT $2
             )) RETURNING 1 AS one`,
            { bind: [cutoff, args.batchSize], type: QueryTypes.SELECT },
          );
          deleted[table] += rows.length;
          if (rows.length < args.batchSize) break;
        }
        context.log(
          `deleted ${deleted[table]} rows from ${table} older than ${cutoff.toISOString()}`,
        );
      }
      return { cutoff: cutoff.toISOString(), retentionDays: days, deleted };
    },
  });
}
