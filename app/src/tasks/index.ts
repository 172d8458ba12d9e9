// The tasks this service ships. A fork adds its own here.
import type { Sequelize } from 'sequelize';
import { healthcheckUrl, type Config } from '../config.ts';
import { httpCheckTask } from './http-check.ts';
import { pruneResultsTask } from './prune-results.ts';
import { TaskRegistry } from './registry.ts';

export function createTaskRegistry(config: Config, sequelize: Sequelize): TaskRegistry {
  return new TaskRegistry([
    httpCheckTask(() => healthcheckUrl(config)),
    pruneResultsTask(sequelize, config.RESULT_RETENTION_DAYS),
  ]);
}
