// The web role's Express application. This is its foundation: health endpoints; the API, admin
// portal, queue board and speed test target mount here as they are built.
import express from 'express';
import type { Redis } from 'ioredis';
import type { Sequelize } from 'sequelize';
import { healthRoutes } from './health.ts';

export interface WebDeps {
  sequelize: Sequelize;
  redis: Redis;
}

export function createWebApp(deps: WebDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRoutes(deps));
  app.use((_request, response) => {
    response.status(404).json({ error: 'not found' });
  });
  return app;
}
