// The REST API under /api/v1: every endpoint, and the OpenAPI document generated from them.
import { Router } from 'express';
import type { Database } from '../../db/index.ts';
import { PeriodicTasks } from '../../queue/periodic-tasks.ts';
import type { Queues } from '../../queue/queues.ts';
import type { TaskRegistry } from '../../tasks/registry.ts';
import { periodicTaskEndpoints } from './periodic-tasks.ts';
import { probeEndpoints } from './probes.ts';
import { apiRouter, openApiDocument } from './route.ts';
import { speedtestEndpoints } from './speedtests.ts';
import { taskEndpoints } from './tasks.ts';

export const API_BASE = '/api/v1';

export function apiRoutes(deps: { db: Database; registry: TaskRegistry; queues: Queues }): Router {
  const periodic = new PeriodicTasks(deps.db, deps.registry, deps.queues);
  const endpoints = [
    ...periodicTaskEndpoints(periodic),
    ...taskEndpoints(deps.db, deps.registry, deps.queues),
    ...speedtestEndpoints(deps.db),
    ...probeEndpoints(deps.db, deps.queues),
  ];
  const document = openApiDocument(endpoints, {
    title: 'Refresher API',
    version: '1',
    basePath: API_BASE,
  });
  const router = Router();
  router.get('/openapi.json', (_request, response) => {
    response.json(document);
  });
  router.use(apiRouter(endpoints));
  return router;
}
