// The web role's Express application: health endpoints and the built-in speed test target; the
// API, admin portal and queue board mount here as they are built.
import express from 'express';
import type { Redis } from 'ioredis';
import type { Histogram } from 'prom-client';
import type { Sequelize } from 'sequelize';
import { speedtestTarget, type TargetOptions } from '../speedtest/target.ts';
import { healthRoutes } from './health.ts';
import { httpMetrics } from './metrics.ts';

export interface WebDeps {
  sequelize: Sequelize;
  redis: Redis;
  /** Request durations go here when given (the web role's metrics). */
  httpDuration?: Histogram<'method' | 'route' | 'status'>;
  /** The built-in speed test target; absent when switched off. */
  speedtestTarget?: { path: string } & TargetOptions;
}

export function createWebApp(deps: WebDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  if (deps.httpDuration) app.use(httpMetrics(deps.httpDuration));
  app.use(healthRoutes(deps));
  if (deps.speedtestTarget)
    app.use(deps.speedtestTarget.path, speedtestTarget(deps.speedtestTarget));
  app.use((_request, response) => {
    response.status(404).json({ error: 'not found' });
  });
  return app;
}
