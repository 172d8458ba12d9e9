// A throwaway world per test file: its own PostgreSQL database (migrated) on the shared server and
// its own BullMQ key prefix on the shared Redis, removed again at the end. Files run in parallel
// without seeing each other.
import { loadConfig, type Config } from '../../src/config.ts';
import { ensureDatabase } from '../../src/db/connection.ts';
import { openDatabase, type Database } from '../../src/db/index.ts';
import { migrateUp } from '../../src/db/migrator.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import {
  BASE_REDIS_URL,
  databaseUrl,
  deleteRedisPrefix,
  dropDatabase,
  uniqueName,
} from '../../../testing/database.ts';

/** Config as the app would load it from the environment, pointed at this test's resources. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    REDIS_URL: BASE_REDIS_URL,
    WORKER_LOCK_MS: '2000',
    WORKER_STALLED_INTERVAL_MS: '1000',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...overrides,
  });
}

export function testLogger(): Logger {
  return createLogger({
    LOG_LEVEL: (process.env.TEST_LOG_LEVEL as Config['LOG_LEVEL']) ?? 'silent',
  });
}

export interface TestEnv {
  config: Config;
  db: Database;
  log: Logger;
  /** Closes connections, drops the database and deletes the queue keys. */
  cleanup(): Promise<void>;
}

export async function createTestEnv(overrides: Record<string, string> = {}): Promise<TestEnv> {
  const name = uniqueName('db');
  const prefix = uniqueName('q');
  const config = testConfig({
    DATABASE_URL: databaseUrl(name),
    QUEUE_PREFIX: prefix,
    ...overrides,
  });
  const log = testLogger();
  await ensureDatabase(config.DATABASE_URL);
  const db = openDatabase(config);
  await migrateUp(db.sequelize, config.DATABASE_URL);
  return {
    config,
    db,
    log,
    async cleanup() {
      await db.close().catch(() => undefined);
      await dropDatabase(name);
      await deleteRedisPrefix(config.QUEUE_PREFIX, config.REDIS_URL, config.REDIS_CA_FILE);
    },
  };
}
