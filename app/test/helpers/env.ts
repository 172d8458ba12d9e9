// A throwaway world per test file: its own PostgreSQL database (migrated) on the shared server and
// its own BullMQ key prefix on the shared Redis, removed again at the end. Files run in parallel
// without seeing each other.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.ts';
import { createPgClient, ensureDatabase } from '../../src/db/connection.ts';
import { openDatabase, type Database } from '../../src/db/index.ts';
import { migrateUp } from '../../src/db/migrator.ts';
import { createLogger, type Logger } from '../../src/log.ts';

export const BASE_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/postgres';
export const BASE_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function uniqueName(kind: string): string {
  return `refresher_test_${kind}_${randomBytes(4).toString('hex')}`;
}

export function databaseUrl(name: string, base = BASE_DATABASE_URL): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

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

export async function dropDatabase(name: string): Promise<void> {
  const client = createPgClient(BASE_DATABASE_URL, 'postgres');
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export async function deleteRedisPrefix(prefix: string, redisUrl = BASE_REDIS_URL): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
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
      await deleteRedisPrefix(prefix, config.REDIS_URL);
    },
  };
}
