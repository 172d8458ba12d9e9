// Schedules in words, for people: "At 02:30, only on Monday (Europe/Amsterdam)".
import cronstrue from 'cronstrue';
import type { Schedule } from './schedule.ts';

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
