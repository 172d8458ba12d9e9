// Schedules in words, for people ("At 02:30, only on Monday (Europe/Amsterdam)"), and the
// preview an editor shows before saving: the words and the next run times.
import cronstrue from 'cronstrue';
import { z } from 'zod';
import { boundedDate, parseOrThrow } from '../validation.ts';
import { SPEEDTEST_TASK, TYPICAL_SPEEDTEST_MS } from '../tasks/speedtest.ts';
import {
  intervalMs,
  nextRunTimes,
  periodicTaskFields,
  scheduleSchema,
  specToColumns,
  type Schedule,
} from './schedule.ts';

export function describeSchedule(schedule: Schedule): string {
  switch (schedule.type) {
    case 'interval': {
      const unit = schedule.every === 1 ? schedule.period.replace(/s$/, '') : schedule.period;
      return `Every ${schedule.every === 1 ? '' : `${schedule.every} `}${unit}`;
    }
    case 'crontab': {
      const words = cronstrue.toString(schedule.expression, {
        use24HourTimeFormat: true,
        throwExceptionOnParseError: false,
      });
      return `${words} (${schedule.timezone})`;
    }
    case 'clocked':
      return `Once, at ${schedule.at
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC')}`;
  }
}

export const schedulePreviewInput = z
  .object({
    schedule: scheduleSchema,
    startTime: boundedDate().nullable().default(null),
    expiresAt: boundedDate().nullable().default(null),
    oneOff: z.boolean().default(false),
    /** An existing task's last run: an interval counts from it, as the scheduler does. */
    lastRunAt: boundedDate().nullable().default(null),
    /** The task it runs, for warnings that depend on it (a speed test takes a while). */
    task: z.string().optional(),
    count: z.int().min(1).max(50).default(5),
  })
  .strict();

export interface SchedulePreview {
  description: string;
  nextRuns: Date[];
  /** Allowed, but probably not meant: said beside the preview, not refused. */
  warnings: string[];
}

/** What a schedule would do, before it is saved: its description and next run times. */
export function previewSchedule(input: unknown): SchedulePreview {
  const { schedule, startTime, expiresAt, oneOff, lastRunAt, task, count } = parseOrThrow(
    schedulePreviewInput,
    input,
  );
  const columns = specToColumns(
    periodicTaskFields.parse({ name: 'preview', task: 'preview', schedule, oneOff }),
  );
  return {
    description: describeSchedule(schedule),
    nextRuns: nextRunTimes({ ...columns, startTime, expiresAt, lastRunAt }, count),
    warnings: scheduleWarnings(schedule, task),
  };
}

/** What a schedule does that its author may not mean: runs that overlap, a time gone by. */
export function scheduleWarnings(schedule: Schedule, task?: string, now = new Date()): string[] {
  const warnings: string[] = [];
  if (
    schedule.type === 'interval' &&
    task === SPEEDTEST_TASK &&
    intervalMs(schedule) < TYPICAL_SPEEDTEST_MS
  )
    warnings.push(
      `a speed test takes about ${TYPICAL_SPEEDTEST_MS / 1000} s: runs closer together than that wait for each other (one speed test at a time)`,
    );
  if (schedule.type === 'clocked' && schedule.at < now)
    warnings.push('this time has passed: the task runs once, as soon as it is saved');
  return warnings;
}
