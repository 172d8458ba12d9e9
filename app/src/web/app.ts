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
  sessionSecret,
  sessionUser,
} from './auth/middleware.ts';
import { LoginThrottle } from './auth/throttle.ts';
import { authRoutes } from './auth/routes.ts';
import { bearerAuth } from './auth/tokens.ts';
import { ADMIN, adminRoutes } from './admin/index.ts';
import { API_BASE, apiRoutes } from './api/index.ts';
import { auditWrites } from './audit.ts';
import { jsonErrors } from './errors.ts';
import { healthRoutes } from './health.ts';
import { statusPage } from './status-page.ts';
import { httpMetrics } from './metrics.ts';
import { noStore, securityHeaders } from './security-headers.ts';

export interface WebDeps {
  db: Database;
  redis: Redis;
  registry: TaskRegistry;
  /** For "run now"; on a fail-fast connection, so a Redis outage answers 500 at once. */
  queues: Queues;
  config: Pick<
    Config,
    'SESSION_SECRET' | 'SESSION_MAX_AGE_HOURS' | 'TRUST_PROXY' | 'QUEUE_PREFIX' | 'ALERTMANAGER_URL'
  >;
  log: Logger;
  /** Request durations go here when given (the web role's metrics). */
  httpDuration?: Histogram<'method' | 'route' | 'status'>;
  /** The built-in speed test target; absent when switched off. */
  speedtestTarget?: { path: string } & TargetOptions;
  /** The public, read-only status page at /status (PUBLIC_STATUS_PAGE). */
  publicStatusPage?: boolean;
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
  // Before the session: an anonymous page gets no session row and no cookie.
  if (deps.publicStatusPage) app.use(statusPage(deps.db));

  const secret = sessionSecret(deps.config, deps.log);
  const { middleware: session, store } = sessions(deps.db, deps.config, secret);
  const throttle = new LoginThrottle({
    redis: deps.redis,
    keyPrefix: deps.config.QUEUE_PREFIX,
    secret,
  });
  // A request that brings a token is a script: the API takes it, with no session (and no cookie).
  // The portal and the sign-in form take a session only, and refuse a token before anything runs.
  app.use(
    (request, response, next) => {
      if (!request.headers.authorization) return session(request, response, next);
      if (request.path === API_BASE || request.path.startsWith(`${API_BASE}/`)) return next();
      response
        .status(401)
        .set('www-authenticate', 'Bearer')
        .json({ error: `bearer tokens are for ${API_BASE}; the portal takes a signed-in session` });
    },
    bearerAuth(deps.db, deps.log),
    sessionUser(deps.db, store),
  );
  app.use(
    authRoutes(deps.db, deps.log, {
      throttle,
      loginRateLimitPerMinute: deps.loginRateLimitPerMinute,
    }),
  );

  const api = Router();
  api.use(
    noStore,
    requireApiUser,
    auditWrites(deps.log),
    express.json({ limit: '1mb' }),
    csrfProtection(),
  );
  api.get('/me', (_request, response) => {
    const user = currentUser(response.locals);
    response.json({ id: user.id, username: user.username, isAdmin: user.isAdmin });
  });
  api.use(apiRoutes({ db: deps.db, registry: deps.registry, queues: deps.queues }));
  api.use((_request, response) => {
    response.status(404).json({ error: 'not found' });
  });
  api.use(jsonErrors(deps.log));
  app.use(API_BASE, api);

  app.use(
    ADMIN,
    adminRoutes({
      db: deps.db,
      registry: deps.registry,
      queues: deps.queues,
      log: deps.log,
      throttle,
      alertmanagerUrl: deps.config.ALERTMANAGER_URL,
    }),
  );

  app.use((_request, response) => {
    response.status(404).json({ error: 'not found' });
  });
  app.use(jsonErrors(deps.log));
  return { app, close: () => store.close() };
}
