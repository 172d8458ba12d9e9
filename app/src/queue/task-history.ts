// Reading back task runs (django-celery-results' list and detail), for the API and the portal.
import { Op, type WhereOptions } from 'sequelize';
import { z } from 'zod';
import { boundedDate, int4Id } from '../validation.ts';
import type { Database } from '../db/index.ts';
import type { TaskResult, TaskStatus } from '../db/models.ts';

export const TASK_STATUSES = [
  'queued',
  'started',
  'retried',
  'succeeded',
  'failed',
  'revoked',
] as const satisfies readonly TaskStatus[];

export const taskResultFilters = {
  status: z.enum(TASK_STATUSES).optional(),
  task: z.string().optional(),
  periodicTaskId: int4Id().optional(),
  from: boundedDate().optional(),
  to: boundedDate().optional(),
};
export type TaskResultFilters = {
  [K in keyof typeof taskResultFilters]?: z.output<(typeof taskResultFilters)[K]>;
};

/** One page of runs, newest first (by queue time), starting strictly after `after`. */
export async function taskResultPage(
  db: Database,
  filters: TaskResultFilters,
  limit: number,
  after: { at: string; id: string } | null = null,
): Promise<{ items: TaskResult[]; after: { at: Date; id: string } | null }> {
  const where: WhereOptions[] = [];
  if (filters.status) where.push({ status: filters.status });
  if (filters.task) where.push({ task: filters.task });
  if (filters.periodicTaskId) where.push({ periodicTaskId: filters.periodicTaskId });
  if (filters.from) where.push({ queuedAt: { [Op.gte]: filters.from } });
  if (filters.to) where.push({ queuedAt: { [Op.lt]: filters.to } });
  if (after) {
    where.push({
      [Op.or]: [
        { queuedAt: { [Op.lt]: new Date(after.at) } },
        { queuedAt: new Date(after.at), id: { [Op.lt]: after.id } },
      ],
    });
  }
  const rows = await db.models.TaskResult.findAll({
    where: { [Op.and]: where },
    order: [
      ['queuedAt', 'DESC'],
      ['id', 'DESC'],
    ],
    limit: limit + 1,
  });
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, after: rows.length > limit && last ? { at: last.queuedAt, id: last.id } : null };
}
