// Who may run what. Every signed-in user may schedule and start speed tests; tasks that reach into
// the system are for admins: system.http_check makes the server request any URL it can reach
// (the metrics ports, the cloud's metadata service: a server-side request forgery and a port
// scanner), maintenance.prune_results deletes history. Users' schedules also keep a minimum
// interval, so a user cannot turn the worker into a load generator.
import { ForbiddenError } from '../errors.ts';
import type { Schedule } from '../queue/schedule.ts';
import { shortestGapMs } from '../queue/schedule.ts';
import { ValidationError } from '../validation.ts';
import type { TaskRegistry } from './registry.ts';

/** Who asks: a signed-in user. Code that acts for the system (migrations, tests) passes none. */
export interface Actor {
  isAdmin: boolean;
}

/** The shortest time between two runs of a user's schedule; admins may go below it. */
export const MIN_USER_INTERVAL_MS = 5 * 60_000;

/** Throws ForbiddenError when the actor may not start or schedule `task` with these kwargs. */
export function assertMayRun(
  registry: TaskRegistry,
  actor: Actor | undefined,
  task: string,
  kwargs: Record<string, unknown> = {},
): void {
  if (!actor || actor.isAdmin) return;
  const definition = registry.get(task);
  if (!definition) return; // the registry's own validation names an unknown task
  if (definition.allowed === 'admins')
    throw new ForbiddenError(`${task} is for admins only: ask an admin to run or schedule it`);
  const reserved = (definition.adminOnlyKwargs ?? []).filter((name) => kwargs[name] !== undefined);
  if (reserved.length)
    throw new ForbiddenError(
      `only admins may set ${reserved.map((name) => `kwargs.${name}`).join(', ')} of ${task}; ` +
        'leave it out to use the configured default',
    );
}

/** Refuses a user's schedule that runs more often than MIN_USER_INTERVAL_MS (400, on `schedule`). */
export function assertScheduleAllowed(actor: Actor | undefined, schedule: Schedule): void {
  if (!actor || actor.isAdmin) return;
  const gap = shortestGapMs(schedule);
  if (gap !== null && gap < MIN_USER_INTERVAL_MS)
    throw new ValidationError([
      {
        path: 'schedule',
        message: `expected at least ${MIN_USER_INTERVAL_MS / 60_000} minutes between runs (admins may schedule more often)`,
      },
    ]);
}
