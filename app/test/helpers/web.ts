// The web app on a free loopback port, over a test world (helpers/env.ts): its own fail-fast
// Redis connection and queues, the test task registry. close() undoes all of it but the world.
import { createServer } from 'node:http';
import type { Redis } from 'ioredis';
import { Queues } from '../../src/queue/queues.ts';
import { createRedis } from '../../src/queue/redis.ts';
import { createWebApp, type WebDeps } from '../../src/web/app.ts';
import type { TestEnv } from './env.ts';
import { freePort } from '../../../testing/ports.ts';
import { testRegistry } from './tasks.ts';

export interface ServedWebApp {
  /** http://127.0.0.1:<port> */
  origin: string;
  redis: Redis;
  queues: Queues;
  close(): Promise<void>;
}

export async function serveWebApp(
  env: TestEnv,
  overrides: Partial<WebDeps> = {},
): Promise<ServedWebApp> {
  const redis = createRedis(env.config.REDIS_URL, { failFast: true });
  const queues = new Queues(redis, env.config.QUEUE_PREFIX);
  const web = createWebApp({
    db: env.db,
    redis,
    registry: testRegistry(),
    queues,
    config: env.config,
    log: env.log,
    ...overrides,
  });
  const server = createServer(web.app);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${port}`,
    redis,
    queues,
    async close() {
      web.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await queues.close();
      redis.disconnect();
    },
  };
}
