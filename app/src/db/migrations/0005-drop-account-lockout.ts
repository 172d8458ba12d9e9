// The per-account lockout (failed_logins, locked_until) let anyone lock an admin out with five
// wrong passwords. Sign-in throttling now lives in Redis (web/auth/throttle.ts), keyed by the
// name that was typed, known or not, so it says nothing about which accounts exist.
import type { Migration } from '../migrator.ts';

export const up: Migration = async ({ context: sql }) => {
  await sql.query('ALTER TABLE users DROP COLUMN failed_logins, DROP COLUMN locked_until');
};

export const down: Migration = async ({ context: sql }) => {
  await sql.query(
    'ALTER TABLE users ADD COLUMN failed_logins integer NOT NULL DEFAULT 0, ADD COLUMN locked_until timestamptz',
  );
};
