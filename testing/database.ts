// Throwaway stores for a test file: its own PostgreSQL database on the shared server and its own
// key prefix on the shared Redis, removed again at the end, so files run in parallel without
// seeing each other. Plain pg and ioredis: every layer's tests may use these.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';
import { spawnTs } from './child.ts';

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

/** A pg client for a URL; a URL without a user name means what it means to libpq (PGUSER, then the system user). */
export function pgClient(connectionUrl: string): pg.Client {
  const url = new URL(connectionUrl);
  return new pg.Client({
    host: url.hostname,
    port: Number(url.port || 5432),
    database: decodeURIComponent(url.pathname.slice(1)) || 'postgres',
    user: decodeURIComponent(url.username) || process.env.PGUSER || userInfo().username,
    password: decodeURIComponent(url.password) || process.env.PGPASSWORD,
  });
}

export async function dropDatabase(name: string): Promise<void> {
  const client = pgClient(BASE_DATABASE_URL);
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export async function deleteRedisPrefix(
  prefix: string,
  redisUrl = BASE_REDIS_URL,
  /** The CA bundle a rediss:// server's certificate is checked against. */
  caFile?: string,
): Promise<void> {
  const tls = caFile ? { tls: { ca: readFileSync(caFile, 'utf8') } } : {};
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, ...tls });
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

export interface ScratchDatabase {
  name: string;
  url: string;
  /** A BullMQ prefix of its own, for the app roles a test starts over this database. */
  queuePrefix: string;
  /** Drops the database and deletes the queue keys. */
  drop(redisUrl?: string): Promise<void>;
}

/**
 * A new database with the app's schema, made the way a deployment makes it: the app's own
 * `migrate` role, run as a process (the migrate container), not imported.
 */
export async function migratedDatabase(env: Record<string, string> = {}): Promise<ScratchDatabase> {
  const name = uniqueName('db');
  const url = databaseUrl(name);
  const queuePrefix = uniqueName('q');
  const migrate = spawnTs('app/src/main.ts', ['migrate'], {
    LOG_LEVEL: 'warn',
    DATABASE_URL: url,
    DATABASE_CREATE: 'true',
    ...env,
  });
  const code = await migrate.exited;
  if (code !== 0) {
    await dropDatabase(name).catch(() => undefined);
    throw new Error(`refresher migrate exited ${code}:\n${migrate.output()}`);
  }
  return {
    name,
    url,
    queuePrefix,
    async drop(redisUrl = BASE_REDIS_URL) {
      await dropDatabase(name);
      await deleteRedisPrefix(queuePrefix, redisUrl);
    },
  };
}
