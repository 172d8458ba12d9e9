// The one entry point of the image: `refresher <role>`.
//   web | worker | scheduler   one role per process (production: one container each)
//   all                        migrate, then the three roles in one process (`npm start`)
//   migrate [--down]           create the database if missing and apply (or revert one) migration
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.ts';
import { openDatabase } from './db/index.ts';
import { migrateDown } from './db/migrator.ts';
import { createLogger } from './log.ts';
import { migrate, SERVICE_ROLES, startRoles, type ServiceRole } from './roles.ts';

const USAGE = `usage: refresher <role>
  web         the HTTP service
  worker      runs queued tasks
  scheduler   keeps schedules in Redis equal to the periodic tasks in PostgreSQL
  all         migrate, then web + worker + scheduler in one process
  migrate     create the database if missing and apply pending migrations
              --down   revert the latest migration instead`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { down: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const [role, ...extra] = parsed.positionals;
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!role) throw new UsageError('missing role');
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (parsed.values.down && role !== 'migrate')
    throw new UsageError('--down goes with the migrate role');

  const config = loadConfig();
  const log = createLogger(config, { role });

  if (role === 'migrate') {
    if (!parsed.values.down) {
      await migrate(config, log);
      return 0;
    }
    const db = openDatabase(config, log);
    try {
      const reverted = await migrateDown(db.sequelize, config.DATABASE_URL, log);
      log.info({ reverted }, reverted.length ? 'migration reverted' : 'nothing to revert');
    } finally {
      await db.close();
    }
    return 0;
  }
  if (!(SERVICE_ROLES as readonly string[]).includes(role))
    throw new UsageError(`unknown role "${role}"`);

  const running = await startRoles(role as ServiceRole, config, log);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting without waiting');
        resolve(1);
        return;
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      running.close().then(
        () => resolve(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`refresher: ${error.message}\n${USAGE}`);
      process.exit(2);
    }
    if (error instanceof ConfigError) {
      console.error(`refresher: ${error.message}`);
      process.exit(1);
    }
    console.error('refresher: failed to start:', error);
    process.exit(1);
  },
);
