// Liveness and readiness. /healthz says the process answers; /readyz says it can do its work
// (PostgreSQL and Redis reachable) and names what is down, for load balancers and humans alike.
import { Router } from 'express';
import type { Redis } from 'ioredis';
import type { Sequelize } from 'sequelize';

const CHECK_TIMEOUT_MS = 2_000;

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    work,
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS} ms`)),
        CHECK_TIMEOUT_MS,
      ).unref(),
    ),
  ]);
}

export function healthRoutes(deps: { sequelize: Sequelize; redis: Redis }): Router {
  const router = Router();
  router.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });
  router.get('/readyz', async (_request, response) => {
    const checks = {
      postgres: withTimeout(deps.sequelize.query('SELECT 1'), 'PostgreSQL'),
      redis: withTimeout(deps.redis.ping(), 'Redis'),
    };
    const results = await Promise.allSettled(Object.values(checks));
    const down = Object.keys(checks).filter((_, i) => results[i]?.status === 'rejected');
    const detail = Object.fromEntries(
      Object.keys(checks).map((name, i) => {
        const result = results[i];
        return [
          name,
          result?.status === 'fulfilled' ? 'up' : `down: ${(result?.reason as Error)?.message}`,
        ];
      }),
    );
    response
      .status(down.length ? 503 : 200)
      .json({ status: down.length ? 'unavailable' : 'ok', down, checks: detail });
  });
  return router;
}
