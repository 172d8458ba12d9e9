// Jittered schedules: each run of a schedule may start up to jitter_seconds after its slot (a
// random offset per run), so that many deployments' tests do not all hit the top of the hour.
import type { Migration } from '../migrator.ts';

export const up: Migration = async ({ context: sql }) => {
  await sql.query(
    `ALTER TABLE periodic_tasks ADD COLUMN jitter_seconds integer NOT NULL DEFAULT 0
       CHECK (jitter_seconds BETWEEN 0 AND 3600)`,
  );
};

export const down: Migration = async ({ context: sql }) => {
  await sql.query('ALTER TABLE periodic_tasks DROP COLUMN jitter_seconds');
};
