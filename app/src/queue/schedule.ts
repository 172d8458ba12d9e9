// Periodic task schedules: the validated input shape (the API and admin forms use the same
// schema), its mapping to table rows, to BullMQ job-scheduler options, and next run times.
import { createHash } from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import type { IntervalPeriod, PeriodicTask } from '../db/models.ts';
import { QUEUE_NAMES, type TaskRegistry } from '../tasks/registry.ts';
import { boundedDate, INT4_MAX } from '../validation.ts';
import type { SchedulerRepeat } from './bullmq-internals.ts';

const PERIOD_MS: Record<IntervalPeriod, number> = {
  seconds: 1_000,
  minutes: 60_000,
  hours: 3_600_000,
  days: 86_400_000,
};
/** The longest random delay of a run (an hour). */
export const MAX_JITTER_SECONDS = 3_600;
/** The longest interval: ten years (longer is a clocked, one-off task). */
const MAX_INTERVAL_DAYS = 3_650;
const CRON_FIELDS = ['minute', 'hour', 'day-of-month', 'month', 'day-of-week'] as const;
/** BullMQ's highest priority number (lower runs first; none means before any prioritised job). */
const MAX_PRIORITY = 2_097_152;

export function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Returns why a 5-field crontab is invalid, naming the field, or null when it is valid. */
export function crontabProblem(expression: string, timezone = 'UTC'): string | null {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) {
    return `expected 5 fields (${CRON_FIELDS.join(' ')}), got ${fields.length}`;
  }
  for (const [index, name] of CRON_FIELDS.entries()) {
    const probe = CRON_FIELDS.map((_, i) => (i === index ? fields[i] : '*')).join(' ');
    try {
      CronExpressionParser.parse(probe, { tz: 'UTC' });
    } catch (error) {
      return `${name} field "${fields[index]}": ${(error as Error).message}`;
    }
  }
  try {
    CronExpressionParser.parse(expression, { tz: timezone }).next();
  } catch (error) {
    return (error as Error).message;
  }
  return null;
}

const timezone = z
  .string()
  .trim()
  .min(1)
  .refine(isValidTimezone, { error: (issue) => `unknown timezone "${String(issue.input)}"` });

export const scheduleSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('interval'),
      every: z
        .int('expected a whole number')
        .positive('expected a number greater than 0')
        .max(INT4_MAX, `expected at most ${INT4_MAX}`),
      period: z.enum(['days', 'hours', 'minutes', 'seconds']),
    })
    .strict()
    .refine((value) => value.every * PERIOD_MS[value.period] <= MAX_INTERVAL_DAYS * 86_400_000, {
      path: ['every'],
      message: `expected an interval of at most ${MAX_INTERVAL_DAYS} days`,
    }),
  z
    .object({
      type: z.literal('crontab'),
      expression: z.string().trim().min(1, 'expected a crontab expression'),
      timezone: timezone.default('UTC'),
    })
    .strict()
    .superRefine((value, ctx) => {
      // An unknown timezone is reported on its own field; the expression is still checked (in
      // UTC), so both problems come back at once: parsing with the bad zone would blame the
      // expression with cron-parser's "unhandled timestamp: Invalid Date".
      const zone = isValidTimezone(value.timezone) ? value.timezone : 'UTC';
      const problem = crontabProblem(value.expression, zone);
      if (problem) ctx.addIssue({ code: 'custom', path: ['expression'], message: problem });
    }),
  z.object({ type: z.literal('clocked'), at: boundedDate() }).strict(),
]);
export type Schedule = z.output<typeof scheduleSchema>;

const optionalDate = boundedDate().nullable().default(null);

/** The periodic task as a user writes it. Checks that need the task registry are added below. */
export const periodicTaskFields = z
  .object({
    name: z.string().trim().min(1, 'expected a name').max(200, 'expected at most 200 characters'),
    task: z.string().trim().min(1, 'expected a task name'),
    args: z.array(z.unknown()).default([]),
    kwargs: z.record(z.string(), z.unknown()).default({}),
    schedule: scheduleSchema,
    startTime: optionalDate,
    expiresAt: optionalDate,
    oneOff: z.boolean().default(false),
    enabled: z.boolean().default(true),
    /**
     * Each run starts up to this many seconds after its slot, at random, so that schedules do not
     * all hit the top of the hour; less than the time between two runs.
     */
    jitterSeconds: z.int().min(0).max(MAX_JITTER_SECONDS).default(0),
    priority: z.int().min(1).max(MAX_PRIORITY).nullable().default(null),
    queue: z.enum(QUEUE_NAMES).nullable().default(null),
    description: z.string().max(2000).default(''),
  })
  .strict();
export type PeriodicTaskInput = z.input<typeof periodicTaskFields>;
export type PeriodicTaskSpec = z.output<typeof periodicTaskFields>;

/** The full schema: the task must exist and its kwargs must satisfy that task's own schema. */
export function periodicTaskSchema(registry: TaskRegistry) {
  return periodicTaskFields.superRefine((value, ctx) => {
    const task = registry.get(value.task);
    if (!task) {
      ctx.addIssue({
        code: 'custom',
        path: ['task'],
        message: registry.unknownTask(value.task),
      });
      return;
    }
    if (value.args.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['args'],
        message: `${task.name} takes keyword arguments only`,
      });
    }
    const kwargs = task.kwargs.safeParse(value.kwargs);
    if (!kwargs.success) {
      for (const issue of kwargs.error.issues) {
        ctx.addIssue({ code: 'custom', path: ['kwargs', ...issue.path], message: issue.message });
      }
    }
    const gap = value.jitterSeconds ? safeGapMs(value.schedule) : null;
    if (gap !== null && value.jitterSeconds * 1000 >= gap) {
      ctx.addIssue({
        code: 'custom',
        path: ['jitterSeconds'],
        message: `expected less than the time between two runs (${gap / 1000} s)`,
      });
    }
    if (value.startTime && value.expiresAt && value.expiresAt <= value.startTime) {
      ctx.addIssue({
        code: 'custom',
        path: ['expiresAt'],
        message: 'expected a time after startTime',
      });
    }
  });
}

export type PeriodicTaskColumns = Pick<
  PeriodicTask,
  | 'name'
  | 'task'
  | 'args'
  | 'kwargs'
  | 'scheduleType'
  | 'intervalEvery'
  | 'intervalPeriod'
  | 'crontab'
  | 'timezone'
  | 'clockedAt'
  | 'jitterSeconds'
  | 'startTime'
  | 'expiresAt'
  | 'oneOff'
  | 'enabled'
  | 'priority'
  | 'queue'
  | 'description'
>;

export function specToColumns(spec: PeriodicTaskSpec): PeriodicTaskColumns {
  const { schedule } = spec;
  return {
    name: spec.name,
    task: spec.task,
    args: spec.args,
    kwargs: spec.kwargs,
    scheduleType: schedule.type,
    intervalEvery: schedule.type === 'interval' ? schedule.every : null,
    intervalPeriod: schedule.type === 'interval' ? schedule.period : null,
    crontab: schedule.type === 'crontab' ? schedule.expression : null,
    timezone: schedule.type === 'crontab' ? schedule.timezone : 'UTC',
    clockedAt: schedule.type === 'clocked' ? schedule.at : null,
    jitterSeconds: spec.jitterSeconds,
    startTime: spec.startTime,
    expiresAt: spec.expiresAt,
    // A clocked schedule has one instant, so it always runs once (as in django-celery-beat).
    oneOff: spec.oneOff || schedule.type === 'clocked',
    enabled: spec.enabled,
    priority: spec.priority,
    queue: spec.queue,
    description: spec.description,
  };
}

export function rowToSchedule(row: PeriodicTaskColumns): Schedule {
  switch (row.scheduleType) {
    case 'interval':
      return {
        type: 'interval',
        every: row.intervalEvery ?? 0,
        period: row.intervalPeriod ?? 'seconds',
      };
    case 'crontab':
      return { type: 'crontab', expression: row.crontab ?? '', timezone: row.timezone };
    case 'clocked':
      return { type: 'clocked', at: row.clockedAt ?? new Date(0) };
  }
}

export function rowToSpec(row: PeriodicTaskColumns): PeriodicTaskSpec {
  return {
    name: row.name,
    task: row.task,
    args: row.args,
    kwargs: row.kwargs,
    schedule: rowToSchedule(row),
    startTime: row.startTime,
    expiresAt: row.expiresAt,
    oneOff: row.oneOff,
    enabled: row.enabled,
    jitterSeconds: row.jitterSeconds,
    priority: row.priority,
    queue: row.queue,
    description: row.description,
  };
}

export function intervalMs(schedule: Extract<Schedule, { type: 'interval' }>): number {
  return schedule.every * PERIOD_MS[schedule.period];
}

/** BullMQ needs an interval even for a one-shot scheduler; a year never comes with limit 1. */
const CLOCKED_EVERY_MS = 365 * 86_400_000;

/** The BullMQ job-scheduler options that make a row's schedule. */
export function repeatOptions(row: PeriodicTaskColumns): SchedulerRepeat {
  const schedule = rowToSchedule(row);
  const options: SchedulerRepeat = {};
  if (schedule.type === 'interval') options.every = intervalMs(schedule);
  if (schedule.type === 'crontab')
    Object.assign(options, { pattern: schedule.expression, tz: schedule.timezone });
  if (schedule.type === 'clocked')
    Object.assign(options, { every: CLOCKED_EVERY_MS, startDate: schedule.at.getTime() });
  else if (row.startTime) options.startDate = row.startTime.getTime();
  if (row.expiresAt) options.endDate = row.expiresAt.getTime();
  if (row.oneOff || schedule.type === 'clocked') options.limit = 1;
  return options;
}

/**
 * A short fingerprint of everything that decides what runs and when. It names the BullMQ job
 * scheduler, so a changed row gets a new scheduler (the old one is removed), and workers refuse
 * jobs created from a definition that is no longer current.
 */
export function scheduleRevision(
  row: PeriodicTaskColumns & { id: number },
  jobDefaults: object,
): string {
  const defining = {
    id: row.id,
    task: row.task,
    args: row.args,
    kwargs: row.kwargs,
    repeat: repeatOptions(row),
    // Only when set, so that rows from before jitter keep their revision (and their schedulers).
    jitterSeconds: row.jitterSeconds || undefined,
    oneOff: row.oneOff,
    priority: row.priority,
    queue: row.queue,
    jobDefaults,
  };
  return createHash('sha256').update(stableJson(defining)).digest('hex').slice(0, 16);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The next `count` run times after `from`, as the scheduler will produce them. */
export function nextRunTimes(
  row: PeriodicTaskColumns & { lastRunAt?: Date | null },
  count: number,
  from = new Date(),
): Date[] {
  if (!row.enabled) return [];
  const schedule = rowToSchedule(row);
  const start = row.startTime && row.startTime > from ? row.startTime : from;
  const before = (time: Date) => !row.expiresAt || time <= row.expiresAt;
  const limit = row.oneOff ? Math.min(count, 1) : count;
  const times: Date[] = [];
  if (schedule.type === 'clocked') {
    const at = schedule.at > from ? schedule.at : from;
    if (!row.lastRunAt && before(at)) times.push(at);
  } else if (schedule.type === 'interval') {
    const every = intervalMs(schedule);
    let next = row.lastRunAt ? new Date(row.lastRunAt.getTime() + every) : start;
    if (next < start) next = start;
    while (times.length < limit && before(next)) {
      times.push(next);
      next = new Date(next.getTime() + every);
    }
  } else {
    const cron = CronExpressionParser.parse(schedule.expression, {
      tz: schedule.timezone,
      currentDate: new Date(start.getTime() - 1),
    });
    while (times.length < limit) {
      const next = cron.next().toDate();
      if (!before(next)) break;
      times.push(next);
    }
  }
  return times;
}

/** The shortest time between two runs of a repeating schedule (a one-off has none). */
export function shortestGapMs(schedule: Schedule): number | null {
  if (schedule.type === 'interval') return intervalMs(schedule);
  if (schedule.type === 'clocked') return null;
  // The next hundred runs cover every pattern that repeats within a day or an hour.
  const cron = CronExpressionParser.parse(schedule.expression, { tz: schedule.timezone });
  let previous = cron.next().getTime();
  let shortest = Infinity;
  for (let i = 0; i < 100; i++) {
    const next = cron.next().getTime();
    shortest = Math.min(shortest, next - previous);
    previous = next;
  }
  return shortest;
}

/** shortestGapMs, or null for a crontab that does not parse (its own field says why). */
function safeGapMs(schedule: Schedule): number | null {
  try {
    return shortestGapMs(schedule);
  } catch {
    return null;
  }
}
