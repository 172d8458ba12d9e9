// The schedule the speedtester exists for: a test every 30 minutes with the configured engine
// (SPEEDTEST_ENGINE, SPEEDTEST_SERVERS; with neither set, against the built-in target).
import type { Migration } from '../migrator.ts';

const NAME = 'Process Speed Test';

export const up: Migration = async ({ context: sql }) => {
  await sql.query(
    `INSERT INTO periodic_tasks (name, task, kwargs, schedule_type, interval_every, interval_period, description)
     VALUES ($1, 'speedtester.run_speedtest', '{}', 'interval', 30, 'minutes',
             'Measures download, upload, ping and jitter with the configured engine and stores the result.')
     ON CONFLICT (name) DO NOTHING`,
    { bind: [NAME] },
  );
};

export const down: Migration = async ({ context: sql }) => {
  await sql.query('DELETE FROM periodic_tasks WHERE name = $1', { bind: [NAME] });
};
