// The stores: PostgreSQL (everything the app keeps) and Redis (the queues).
import { DATABASE_NAME, DATABASE_USER } from '../../contract/database.ts';
import { PORTS } from '../../contract/ports.ts';
import type { DeploymentConfig } from '../config.ts';
import { defineService, health } from './define.ts';
import { image } from './images.ts';
import type { SecretEnv, ServiceSpec } from './types.ts';

/** The app's connection to PostgreSQL over the containers' network. */
export const DATABASE_URL: SecretEnv = {
  secret: 'postgresPassword',
  template: `postgres://${DATABASE_USER}:{}@postgres:${PORTS.postgres}/${DATABASE_NAME}`,
  urlEncode: true,
};

export const REDIS_URL = `redis://redis:${PORTS.redis}`;

export function postgresService(config: DeploymentConfig): ServiceSpec {
  return defineService({
    name: 'postgres',
    description: 'PostgreSQL: speed tests, periodic tasks, task results, users, sessions',
    image: image(config, 'postgres'),
    environment: {
      POSTGRES_USER: DATABASE_USER,
      POSTGRES_DB: DATABASE_NAME,
      POSTGRES_PASSWORD: { secret: 'postgresPassword' },
    },
    listens: { postgres: PORTS.postgres },
    volumes: [{ volume: 'postgres-data', target: '/var/lib/postgresql/data' }],
    healthcheck: health(['CMD', 'pg_isready', '-U', DATABASE_USER, '-d', DATABASE_NAME], 30, 10),
    memoryLimitMb: 1024,
  });
}

export function redisService(config: DeploymentConfig): ServiceSpec {
  return defineService({
    name: 'redis',
    description: 'Redis: the BullMQ queues (persistent, never evicts)',
    image: image(config, 'redis'),
    // hz 100: BullMQ's delayed jobs wake up on Redis timers (p99 lateness 164 ms at the default
    // hz 10, under 100 ms at 100). noeviction: BullMQ must never lose a key to memory pressure;
    // maxmemory below the container limit turns pressure into errors instead of an OOM kill.
    command: [
      'redis-server',
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--hz', '100',
      '--maxmemory', '192mb',
      '--maxmemory-policy', 'noeviction',
    ], // prettier-ignore
    listens: { redis: PORTS.redis },
    volumes: [{ volume: 'redis-data', target: '/data' }],
    healthcheck: health(['CMD', 'redis-cli', 'ping'], 10, 10),
    memoryLimitMb: 256,
  });
}
