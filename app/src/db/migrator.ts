// Schema changes are umzug migrations, applied by the `migrate` role (and by `all` on start).
// The list is explicit rather than globbed from disk so the esbuild bundle carries every migration.
import type { Sequelize } from 'sequelize';
import { createPgClient } from './connection.ts';
import { SequelizeStorage, Umzug, type MigrationFn } from 'umzug';
import type { Logger } from '../log.ts';
import * as initialSchema from './migrations/0001-initial-schema.ts';
import * as seedPeriodicTasks from './migrations/0002-seed-periodic-tasks.ts';
import * as seedSpeedtestSchedule from './migrations/0003-seed-speedtest-schedule.ts';
import * as speedtestDaily from './migrations/0004-speedtest-daily.ts';
import * as dropAccountLockout from './migrations/0005-drop-account-lockout.ts';
import * as scheduleJitter from './migrations/0006-schedule-jitter.ts';
import * as latencyUnderLoad from './migrations/0007-speedtest-latency-under-load.ts';
import * as probes from './migrations/0008-probes.ts';

export type Migration = MigrationFn<Sequelize>;

const MIGRATIONS: Array<{ name: string; up: Migration; down: Migration }> = [
  { name: '0001-initial-schema', ...initialSchema },
  { name: '0002-seed-periodic-tasks', ...seedPeriodicTasks },
  { name: '0003-seed-speedtest-schedule', ...seedSpeedtestSchedule },
  { name: '0004-speedtest-daily', ...speedtestDaily },
  { name: '0005-drop-account-lockout', ...dropAccountLockout },
  { name: '0006-schedule-jitter', ...scheduleJitter },
  { name: '0007-speedtest-latency-under-load', ...latencyUnderLoad },
  { name: '0008-probes', ...probes },
];

export function createMigrator(sequelize: Sequelize, log?: Logger): Umzug<Sequelize> {
  return new Umzug({
    migrations: MIGRATIONS.map(({ name, up, down }) => ({
      name,
      up: (params) => up(params),
      down: (params) => down(params),
    })),
    context: sequelize,
    storage: new SequelizeStorage({ sequelize, tableName: 'schema_migrations' }),
    logger: log
      ? {
          info: (event) => log.info(event, 'migration'),
          warn: (event) => log.warn(event, 'migration'),
          error: (event) => log.error(event, 'migration'),
          debug: (event) => log.debug(event, 'migration'),
        }
      : undefined,
  });
}

// Any constant works; it only has to be the same in every process that migrates this database.
const MIGRATION_LOCK_KEY = 7_265_120_031;

/**
 * Runs `work` holding an advisory lock on a connection of its own, so processes that start
 * together migrate one after the other.
 */
async function withMigrationLock<T>(databaseUrl: string, work: () => Promise<T>): Promise<T> {
  const lock = createPgClient(databaseUrl);
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    return await work();
  } finally {
    await lock.end();
  }
}

/** Applies every pending migration; returns the names applied. */
export async function migrateUp(
  sequelize: Sequelize,
  databaseUrl: string,
  log?: Logger,
): Promise<string[]> {
  const applied = await withMigrationLock(databaseUrl, () => createMigrator(sequelize, log).up());
  return applied.map((m) => m.name);
}

/** The migrations this build knows, in order, and those the database has applied. */
export async function migrationStatus(
  sequelize: Sequelize,
): Promise<{ known: string[]; applied: string[] }> {
  const applied = await createMigrator(sequelize).executed();
  return { known: MIGRATIONS.map((m) => m.name), applied: applied.map((m) => m.name) };
}

/** Reverts the latest migration; returns its name (none when nothing is applied). */
export async function migrateDown(
  sequelize: Sequelize,
  databaseUrl: string,
  log?: Logger,
): Promise<string[]> {
  const reverted = await withMigrationLock(databaseUrl, () =>
    createMigrator(sequelize, log).down(),
  );
  return reverted.map((m) => m.name);
}
