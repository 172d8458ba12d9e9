import type { Sequelize } from 'sequelize';
import type { Config } from '../config.ts';
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

/** True for errors that mean "the database cannot be reached right now", worth retrying. */
export function isConnectionError(error: unknown): boolean {
  const name = (error as { name?: string })?.name ?? '';
  const code =
    (error as { code?: string; parent?: { code?: string } })?.parent?.code ??
    (error as { code?: string })?.code;
  return (
    /^Sequelize(Connection|ConnectionRefused|ConnectionTimedOut|HostNotReachable|HostNotFound|ConnectionAcquireTimeout)Error$/.test(
      name,
    ) ||
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'EPIPE',
      'ETIMEDOUT',
      '57P01',
      '57P02',
      '57P03',
      '08000',
      '08003',
      '08006',
    ].includes(code ?? '') ||
    /Connection terminated|connection is closed|Client has encountered a connection error/i.test(
      String((error as Error)?.message),
    )
  );
}
