import { setTimeout as sleep } from 'node:timers/promises';
import type { Sequelize } from 'sequelize';
import type { Config } from '../config.ts';
import { isConnectionError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { createSequelize } from './connection.ts';
import { initModels, type Models } from './models.ts';

export interface Database {
  sequelize: Sequelize;
  models: Models;
  close(): Promise<void>;
}

export function openDatabase(
  config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_MAX'>,
  log?: Logger,
): Database {
  const sequelize = createSequelize(config.DATABASE_URL, {
    log,
    poolMax: config.DATABASE_POOL_MAX,
  });
  const models = initModels(sequelize);
  return { sequelize, models, close: () => sequelize.close() };
}

/**
 * Runs `work` until it succeeds or fails for a reason other than an unreachable database, waiting
 * with exponential backoff (50 ms up to 2 s) in between. For writes that must not be lost and
 * checks that must not be skipped because PostgreSQL restarted.
 */
export async function retryWhileUnreachable<T>(
  work: () => Promise<T>,
  options: { log: Logger; what: string },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await work();
      if (attempt > 1) options.log.info({ attempt }, `${options.what}: database reachable again`);
      return result;
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      if (attempt === 1 || attempt % 10 === 0) {
        options.log.warn(
          { err: (error as Error).message, attempt },
          `${options.what}: database unreachable; retrying`,
        );
      }
      await sleep(Math.min(50 * 2 ** attempt, 2_000));
    }
  }
}
