// The schedule the speedtester exists for: a test every SPEEDTEST_INTERVAL_MINUTES (30 unless
// set) with the configured engine (SPEEDTEST_ENGINE, SPEEDTEST_SERVERS; with neither set, against
// the built-in target). Only a fresh database gets it from the environment: afterwards the row is
// the schedule, edited in the portal, and a later deploy does not overwrite what a user chose.
import { seededSpeedtestIntervalMinutes } from '../../config.ts';
import type { Migration } from '../migrator.ts';

const NAME = 'Process Speed Test';

export const up: Migration = async ({ context: sql }) => {
  await sql.query(
    `INSERT INTO periodic_tasks (name, task, kwargs, schedule_type, interval_every, interval_period, description)
     VALUES ($1, 'speedtester.run_speedtest', '{}', 'interval', $2, 'minutes',
             'Measures download, upload, ping and jitter with the configured engine and stores the result.')
     ON CONFLICT (name) DO NOTHING`,
    { bind: [NAME, seededSpeedtestIntervalMinutes()] },
  );
};

export const down: Migration = async ({ context: sql }) => {
  await sql.query('DELETE FROM periodic_tasks WHERE name = $1', { bind: [NAME] });
};
