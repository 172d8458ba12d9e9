// Seeds the schedules a fresh install should have, so `npm start` is useful before anyone signs in.
// They are ordinary rows: edit or disable them in the admin portal like any other.
import type { Migration } from '../migrator.ts';

const SEEDED = ['Web health check', 'Prune old results'];

export const up: Migration = async ({ context: sql }) => {
  await sql.query(
    `INSERT INTO periodic_tasks (name, task, kwargs, schedule_type, interval_every, interval_period,
                                 crontab, timezone, description)
     VALUES
       ($1, 'system.http_check', '{}', 'interval', 1, 'minutes', NULL, 'UTC',
        'GETs this deployment''s own /healthz (HEALTHCHECK_URL) and records status and latency.'),
       ($2, 'maintenance.prune_results', '{}', 'crontab', NULL, NULL, '30 3 * * *', 'UTC',
        'Deletes task results and speedtests older than RESULT_RETENTION_DAYS, in batches.')
     ON CONFLICT (name) DO NOTHING`,
    { bind: SEEDED },
  );
};

export const down: Migration = async ({ context: sql }) => {
  await sql.query('DELETE FROM periodic_tasks WHERE name = ANY($1)', { bind: [SEEDED] });
};
