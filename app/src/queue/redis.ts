// Redis connections for BullMQ. Workers and the scheduler wait out a Redis outage (they retry
// forever); request handlers fail fast instead of hanging a browser on a queue that is down.
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log.ts';

export function createRedis(
  url: string,
  options: { failFast?: boolean; log?: Logger; name?: string } = {},
): Redis {
  const redisOptions: RedisOptions = {
    connectionName: options.name ? `refresher:${options.name}` : 'refresher',
    // BullMQ requires null for blocking connections; commands wait for a reconnect.
    maxRetriesPerRequest: options.failFast ? 1 : null,
    enableOfflineQueue: !options.failFast,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5_000),
  };
  const redis = new Redis(url, redisOptions);
  let down = false;
  redis.on('error', (error) => {
    if (!down) options.log?.warn({ err: error.message }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) options.log?.info('redis connection restored');
    down = false;
  });
  return redis;
}
