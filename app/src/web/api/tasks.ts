// /tasks (what can run, with each task's kwargs schema) and /task-results (every run), the
// django-celery-results part of the API.
import { z } from 'zod';
import type { Database } from '../../db/index.ts';
import type { TaskResult } from '../../db/models.ts';
import { enqueueTask } from '../../queue/periodic-tasks.ts';
import type { Queues } from '../../queue/queues.ts';
import { TASK_STATUSES, taskResultFilters, taskResultPage } from '../../queue/task-history.ts';
import { NotFoundError } from '../../errors.ts';
import { assertMayRun } from '../../tasks/permissions.ts';
import type { TaskRegistry } from '../../tasks/registry.ts';
import { decodeCursor, encodeCursor, pageQuery } from './pagination.ts';
import { bigserialIdParams } from '../ids.ts';
import { endpoint } from './route.ts';

const resultOut = z.object({
  id: z.string(),
  jobId: z.string(),
  queue: z.string(),
  task: z.string(),
  periodicTaskId: z.int().nullable(),
  status: z.enum(TASK_STATUSES),
  attempts: z.int(),
  args: z.array(z.unknown()),
  kwargs: z.record(z.string(), z.unknown()),
  result: z.unknown(),
  error: z.string().nullable(),
  stack: z.string().nullable(),
  logs: z.array(z.object({ at: z.string(), level: z.string(), message: z.string() })),
  worker: z.string().nullable(),
  scheduledFor: z.date().nullable(),
  queuedAt: z.date(),
  startedAt: z.date().nullable(),
  finishedAt: z.date().nullable(),
  durationMs: z.number().nullable(),
});

const present = (row: TaskResult) => row.get({ plain: true }) as z.input<typeof resultOut>;

export function taskEndpoints(db: Database, registry: TaskRegistry, queues: Queues) {
  return [
    endpoint({
      method: 'get',
      path: '/tasks',
      summary: 'Every task this deployment can run, with its kwargs as JSON Schema',
      tag: 'tasks',
      response: z.object({
        items: z.array(
          z.object({
            name: z.string(),
            description: z.string(),
            queue: z.string(),
            attempts: z.int(),
            backoffMs: z.int(),
            timeoutMs: z.int(),
            kwargsSchema: z.record(z.string(), z.unknown()),
          }),
        ),
      }),
      handler: async () => ({
        items: registry.list().map((task) => ({
          name: task.name,
          description: task.description,
          queue: task.queue,
          attempts: task.attempts,
          backoffMs: task.backoffMs,
          timeoutMs: task.timeoutMs,
          kwargsSchema: z.toJSONSchema(task.kwargs, {
            io: 'input',
            unrepresentable: 'any',
          }) as Record<string, unknown>,
        })),
      }),
    }),
    endpoint({
      method: 'post',
      path: '/tasks/:name/run',
      summary: 'Queue one run of a task with the given kwargs',
      tag: 'tasks',
      params: z.object({ name: z.string() }),
      body: z.object({ kwargs: z.record(z.string(), z.unknown()).default({}) }).strict(),
      response: z.object({ jobId: z.string() }),
      status: 202,
      handler: async ({ params, body, user }) => {
        if (!registry.get(params.name)) throw new NotFoundError(`no task named "${params.name}"`);
        assertMayRun(registry, user, params.name, body.kwargs);
        return { jobId: await enqueueTask(db, registry, queues, params.name, body.kwargs) };
      },
    }),
    endpoint({
      method: 'get',
      path: '/task-results',
      summary: 'Runs, newest first, filtered by status, task, periodic task and time',
      tag: 'task results',
      query: z.object({ ...taskResultFilters, ...pageQuery }).strict(),
      response: z.object({ items: z.array(resultOut), nextCursor: z.string().nullable() }),
      handler: async ({ query }) => {
        const { items, after } = await taskResultPage(
          db,
          query,
          query.limit,
          decodeCursor(query.cursor),
        );
        return {
          items: items.map(present),
          nextCursor: after ? encodeCursor(after.at, after.id) : null,
        };
      },
    }),
    endpoint({
      method: 'get',
      path: '/task-results/:id',
      summary: 'One run, with its logs and error',
      tag: 'task results',
      params: bigserialIdParams,
      response: resultOut,
      handler: async ({ params }) => {
        const row = await db.models.TaskResult.findByPk(params.id);
        if (!row) throw new NotFoundError(`task result ${params.id} does not exist`);
        return present(row);
      },
    }),
  ];
}
