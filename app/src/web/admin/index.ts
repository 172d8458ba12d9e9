// The admin portal (the Django admin of this project): server-rendered pages, a little
// JavaScript for the live schedule preview and the charts, and the queue board. Every page
// needs a signed-in user; the static assets are public, like any site's stylesheet.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';
import type { Database } from '../../db/index.ts';
import type { Logger } from '../../log.ts';
import type { Queues } from '../../queue/queues.ts';
import type { TaskRegistry } from '../../tasks/registry.ts';
import { auditWrites } from '../audit.ts';
import { noStore } from '../security-headers.ts';
import { csrfProtection, requirePageUser } from '../auth/middleware.ts';
import type { LoginThrottle } from '../auth/throttle.ts';
import { notificationPages } from './notifications.ts';
import { NotFoundPage, pageErrors } from './pages.ts';
import { periodicTaskPages } from './periodic-tasks.ts';
import { probePages } from './probes.ts';
import { queueBoard } from './queue-board.ts';
import { speedtestPages } from './speedtests.ts';
import { taskResultPages } from './task-results.ts';
import { userPages } from './users.ts';

export { ADMIN } from './layout.ts';

/** The portal's own assets, and uPlot's build from node_modules. */
export function assetDirectories(): { own: string; uplot: string } {
  const require = createRequire(import.meta.url);
  return {
    own: join(dirname(fileURLToPath(import.meta.url)), 'assets'),
    uplot: dirname(require.resolve('uplot')),
  };
}

export function adminRoutes(deps: {
  db: Database;
  registry: TaskRegistry;
  queues: Queues;
  log: Logger;
  throttle: LoginThrottle;
  /** Where "Send a test notification" posts (ALERTMANAGER_URL); unset, the page says so. */
  alertmanagerUrl?: string;
}): Router {
  const router = Router();
  const assets = assetDirectories();
  const cache = { maxAge: '1h' };
  router.use('/assets/uplot', express.static(assets.uplot, cache));
  router.use('/assets', express.static(assets.own, cache));

  router.use(noStore, requirePageUser, auditWrites(deps.log));
  router.use(queueBoard(deps.queues));
  // Every state-changing form carries the session's CSRF token in its _csrf field.
  router.use(express.urlencoded({ extended: false, limit: '64kb' }), csrfProtection());
  router.use(speedtestPages(deps));
  router.use(periodicTaskPages(deps));
  router.use(probePages(deps));
  router.use(taskResultPages(deps.db, deps.registry));
  router.use(userPages(deps.db, deps.throttle));
  router.use(notificationPages(deps));
  router.use((request, _response, next) => {
    next(new NotFoundPage(`There is no page ${request.originalUrl}.`));
  });
  router.use(pageErrors(deps.log));
  return router;
}
