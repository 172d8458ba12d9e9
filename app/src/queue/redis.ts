// Redis connections for BullMQ. Workers and the scheduler wait out a Redis outage (they retry
// forever); request handlers fail fast instead of hanging a browser on a queue that is down.
//
// Every connection the app opens starts here, and BullMQ's own (a worker's blocking connection,
// the queues') are duplicates of one of these, which ioredis makes with the same options: a
// rediss:// URL and REDIS_CA_FILE therefore hold for all of them.
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { isCertificateError, isNameMismatch, readCaBundle } from '../tls.ts';

/** Where Redis is: the configuration's URL and CA file, or (tests) a bare URL. */
export type RedisTarget = string | Pick<Config, 'REDIS_URL' | 'REDIS_CA_FILE'>;

/** The TLS options of a rediss:// target; undefined for redis:// (plain text). */
export function redisTls(url: string, caFile?: string): ConnectionOptions | undefined {
  const parsed = new URL(url);
  if (parsed.protocol !== 'rediss:') return undefined;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  return {
    ...(caFile ? { ca: readCaBundle(caFile) } : {}),
    // ioredis sends no SNI by itself; a TLS front end serving several names needs it to pick the
    // certificate. RFC 6066 forbids it for an address.
    ...(isIP(host) ? {} : { servername: host }),
  };
}

/** A connection error in words that name the setting to change, when TLS is the reason. */
export function describeRedisError(error: Error, url: string, caFile?: string): string {
  const { host } = new URL(url);
  if (isNameMismatch(error))
    return `the certificate of Redis at ${host} is not for that name (${error.message}); REDIS_URL must use a name the certificate lists`;
  if (isCertificateError(error)) {
    const against = caFile
      ? `REDIS_CA_FILE=${caFile}`
      : "Node's built-in root CAs (no REDIS_CA_FILE)";
    return `the certificate of Redis at ${host} is not trusted, checked against ${against}: ${error.message}`;
  }
  return error.message;
}

export function createRedis(
  target: RedisTarget,
  options: { failFast?: boolean; log?: Logger; name?: string } = {},
): Redis {
  const url = typeof target === 'string' ? target : target.REDIS_URL;
  const caFile = typeof target === 'string' ? undefined : target.REDIS_CA_FILE;
  const tls = redisTls(url, caFile);
  const redisOptions: RedisOptions = {
    connectionName: options.name ? `refresher:${options.name}` : 'refresher',
    // BullMQ requires null for blocking connections; commands wait for a reconnect.
    maxRetriesPerRequest: options.failFast ? 1 : null,
    enableOfflineQueue: !options.failFast,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5_000),
    ...(tls ? { tls } : {}),
  };
  const redis = new Redis(url, redisOptions);
  let down = false;
  redis.on('error', (error) => {
    // A refused certificate does not heal by retrying: say it as the error it is.
    if (!down && isCertificateError(error))
      options.log?.error({ err: describeRedisError(error, url, caFile) }, 'redis connection error');
    else if (!down) options.log?.warn({ err: error.message }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) options.log?.info('redis connection restored');
    down = false;
  });
  return redis;
}
