// /periodic-tasks: the schedules (django-celery-beat's PeriodicTask admin, as an API).
import { z } from 'zod';
import type { PeriodicTask } from '../../db/models.ts';
import type { PeriodicTasks } from '../../queue/periodic-tasks.ts';
import {
  describeSchedule,
  previewSchedule,
  schedulePreviewInput,
} from '../../queue/schedule-description.ts';
import { nextRunTimes, periodicTaskFields, rowToSpec } from '../../queue/schedule.ts';
import { serialIdParams } from '../ids.ts';
import { endpoint } from './route.ts';

export const periodicTaskOut = periodicTaskFields.extend({
  id: z.int(),
  lastRunAt: z.date().nullable(),
  totalRunCount: z.int(),
  createdAt: z.date(),
  updatedAt: z.date(),
  nextRuns: z.array(z.date()),
  /** The schedule in words, e.g. "Every 30 minutes". */
  scheduleDescription: z.string(),
});

export function presentPeriodicTask(row: PeriodicTask, nextRuns = 5) {
  const spec = rowToSpec(row);
  return {
    id: row.id,
    ...spec,
    lastRunAt: row.lastRunAt,
    totalRunCount: row.totalRunCount,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    nextRuns: nextRunTimes(row, nextRuns),
    scheduleDescription: describeSchedule(spec.schedule),
  };
}

export function periodicTaskEndpoints(tasks: PeriodicTasks) {
  const tag = 'periodic tasks';
  return [
    endpoint({
      method: 'get',
      path: '/periodic-tasks',
      summary: 'All periodic tasks, with their next run times',
      tag,
      response: z.object({ items: z.array(periodicTaskOut) }),
      handler: async () => ({
        items: (await tasks.list()).map((row) => presentPeriodicTask(row)),
      }),
    }),
    endpoint({
      method: 'get',
      path: '/periodic-tasks/:id',
      summary: 'One periodic task',
      tag,
      params: serialIdParams,
      response: periodicTaskOut,
      handler: async ({ params }) => presentPeriodicTask(await tasks.get(params.id)),
    }),
    endpoint({
      method: 'post',
      path: '/periodic-tasks',
      summary: 'Create a periodic task; the scheduler picks it up within a second',
      tag,
      body: periodicTaskFields,
      response: periodicTaskOut,
      status: 201,
      handler: async ({ request, user }) =>
        presentPeriodicTask(await tasks.create(request.body, user)),
    }),
    endpoint({
      method: 'patch',
      path: '/periodic-tasks/:id',
      summary: 'Change some fields (enable/disable with {"enabled": …}); validated as a whole',
      tag,
      params: serialIdParams,
      body: periodicTaskFields.partial(),
      response: periodicTaskOut,
      handler: async ({ params, request, user }) =>
        presentPeriodicTask(await tasks.update(params.id, request.body, user)),
    }),
    endpoint({
      method: 'delete',
      path: '/periodic-tasks/:id',
      summary: 'Delete a periodic task (its past results stay, unlinked)',
      tag,
      params: serialIdParams,
      handler: async ({ params, user }) => {
        await tasks.remove(params.id, user);
      },
    }),
    endpoint({
      method: 'post',
      path: '/periodic-tasks/:id/run',
      summary: 'Queue one run now, whatever the schedule says',
      tag,
      params: serialIdParams,
      response: z.object({ jobId: z.string() }),
      status: 202,
      handler: async ({ params, user }) => ({ jobId: await tasks.runNow(params.id, user) }),
    }),
    endpoint({
      method: 'post',
      path: '/schedules/preview',
      summary: 'The next run times of a schedule and its description in words, before saving it',
      tag,
      body: schedulePreviewInput,
      response: z.object({ description: z.string(), nextRuns: z.array(z.date()) }),
      handler: async ({ body }) => previewSchedule(body),
    }),
  ];
}
