// The web role's Express application. Public: health endpoints, the built-in speed test target
// and the sign-in page. Everything under /api and /admin needs a signed-in user (a session) or an
// API token; the admin portal and the REST API grow inside those two routers.
import express, { Router } from 'express';
import type { Redis } from 'ioredis';
import type { Histogram } from 'prom-client';
import type { Config } from '../config.ts';
import type { Database } from '../db/index.ts';
import type { Logger } from '../log.ts';
import type { Queues } from '../queue/queues.ts';
import type { TaskRegistry } from '../tasks/registry.ts';
import { speedtestTarget, type TargetOptions } from '../speedtest/target.ts';
import {
  csrfProtection,
  currentUser,
  requireApiUser,
  sessions,
  sessionUser,
} from './auth/middleware.ts';
import { authRoutes } from './auth/routes.ts';
import { bearerAuth } from './auth/tokens.ts';
import { ADMIN, adminRoutes } from './admin/index.ts';
import { API_BASE, apiRoutes } from './api/index.ts';
import { healthRoutes } from './health.ts';
import { httpMetrics } from './metrics.ts';
import { securityHeaders } from './security-headers.ts';

export interface WebDeps {
  db: Database;
  redis: Redis;
  registry: TaskRegistry;
  /** For "run now"; on a fail-fast connection, so a Redis outage answers 500 at once. */
  queues: Queues;
  config: Pick<Config, 'SESSION_SECRET' | 'SESSION_MAX_AGE_HOURS' | 'TRUST_PROXY'>;
  log: Logger;
  /** Request durations go here when given (the web role's metrics). */
  httpDuration?: Histogram<'method' | 'route' | 'status'>;
  /** The built-in speed test target; absent when switched off. */
  speedtestTarget?: { path: string } & TargetOptions;
  /** Sign-in attempts per minute from one address (tests lower it). */
  loginRateLimitPerMinute?: number;
}

export interface WebApp {
  app: express.Express;
  /** Stops the session store's sweeper. */
  close(): void;
}

export function createWebApp(deps: WebDeps): WebApp {
  const app = express();
  app.disable('x-powered-by');
  // Behind SWAG the client's address and scheme come from X-Forwarded-*; believe only the proxy.
  app.set('trust proxy', deps.config.TRUST_PROXY);
  if (deps.httpDuration) app.use(httpMetrics(deps.httpDuration));
  app.use(securityHeaders());
  app.use(healthRoutes({ sequelize: deps.db.sequelize, redis: deps.redis }));
  if (deps.speedtestTarget)
    app.use(deps.speedtestTarget.path, speedtestTarget(deps.speedtestTarget));

  const { middleware: session, store } = sessions(deps.db, deps.config, deps.log);
  // A request that brings a bearer token is a script: it needs no session (and no cookie).
  app.use(
    (request, response, next) =>
      request.headers.authorization ? next() : session(request, response, next),
    bearerAuth(deps.db),
    sessionUser(deps.db, store),
  );
  app.use(authRoutes(deps.db, { loginRateLimitPerMinute: deps.loginRateLimitPerMinute }));

  const api = Router();
  api.use(requireApiUser, express.json({ limit: '1mb' }), csrfProtection());
  api.get('/me', (_request, response) => {
    const user = currentUser(response.locals);
    response.json({ id: user.id, username: user.username, isAdmin: user.isAdmin });
  });
  api.use(apiRoutes({ db: deps.db, registry: deps.registry, queues: deps.queues }));
  app.use(API_BASE, api);

  app.use(
    ADMIN,
    adminRoutes({ db: deps.db, registry: deps.registry, queues: deps.queues, log: deps.log }),
  );

  app.use((_request, response) => {
    response.status(404).json({ error: 'not found' });
  });
  return { app, close: () => store.close() };
}
