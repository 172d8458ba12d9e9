// The one entry point of the image: `refresher <role>`.
//   web | worker | scheduler   one role per process (production: one container each)
//   all                        migrate, then the three roles in one process (`npm start`)
//   migrate [--down|--status]  create the database if missing and apply (or revert one) migration,
//                              or print which are known and applied (JSON, for npm run restore)
//   speedtest [--engine E] [--server S]...   one speed test, printed
import { parseCommandLine, runCommand, UsageError } from '../../contract/cli.ts';
// Time beyond the drain bound for closing connections before the process exits regardless.
import { SHUTDOWN_GRACE_MS } from '../../contract/shutdown.ts';
import { ConfigError, loadConfig } from './config.ts';
import { openDatabase } from './db/index.ts';
import { DatabaseTlsError } from './db/tls.ts';
import { migrateDown, migrationStatus } from './db/migrator.ts';
import { createLogger } from './log.ts';
import { migrate, SERVICE_ROLES, startRoles, type ServiceRole } from './roles.ts';
import { runSpeedtestCli } from './speedtest/cli.ts';
import { ValidationError } from './validation.ts';
import { createAdmin, readNewPassword } from './web/auth/create-admin.ts';
import { SpeedtestError } from './speedtest/engine.ts';
import { ENGINE_NAMES, type EngineName } from './speedtest/index.ts';

const USAGE = `usage: refresher <role>
  web         the HTTP service
  worker      runs queued tasks
  scheduler   keeps schedules in Redis equal to the periodic tasks in PostgreSQL
  all         migrate, then web + worker + scheduler in one process
  migrate     create the database if missing and apply pending migrations
              --down   revert the latest migration instead
              --status print the migrations this build knows and those applied, as JSON
  create-admin --username NAME
              create an admin; the password is read from standard input
  speedtest   run one speed test now and print it (nothing is stored)
              --engine librespeed|ookla   default: SPEEDTEST_ENGINE
              --server URL|ID             repeatable; default: SPEEDTEST_SERVERS, else the
                                          built-in target of a running web role
              --seconds N                 measured time per direction, 1 to 60 (default 10)
              --json                      the whole result as JSON`;

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      down: { type: 'boolean' },
      status: { type: 'boolean' },
      engine: { type: 'string' },
      server: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      seconds: { type: 'string' },
      username: { type: 'string' },
    },
    true,
  );
  const [role, ...extra] = parsed.positionals;
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!role) throw new UsageError('missing role');
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const commands: readonly string[] = ['migrate', 'speedtest', 'create-admin', ...SERVICE_ROLES];
  if (!commands.includes(role)) {
    throw new UsageError(`unknown role "${role}"`);
  }
  for (const flag of ['down', 'status'] as const)
    if (parsed.values[flag] && role !== 'migrate')
      throw new UsageError(`--${flag} goes with the migrate role`);
  if (parsed.values.down && parsed.values.status)
    throw new UsageError('--down and --status exclude each other');
  if ((parsed.values.username !== undefined) !== (role === 'create-admin')) {
    throw new UsageError(
      role === 'create-admin'
        ? 'create-admin needs --username NAME'
        : '--username goes with create-admin',
    );
  }
  const speedtestFlags = (['engine', 'server', 'json', 'seconds'] as const).filter(
    (flag) => parsed.values[flag] !== undefined,
  );
  if (speedtestFlags.length && role !== 'speedtest') {
    throw new UsageError(`--${speedtestFlags[0]} goes with the speedtest role`);
  }
  const seconds = Number(parsed.values.seconds ?? 10);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 60) {
    throw new UsageError(
      `--seconds must be a whole number from 1 to 60 (got "${parsed.values.seconds}")`,
    );
  }
  const engine = parsed.values.engine ?? undefined;
  if (engine !== undefined && !(ENGINE_NAMES as readonly string[]).includes(engine)) {
    throw new UsageError(`--engine must be one of ${ENGINE_NAMES.join(', ')} (got "${engine}")`);
  }

  const config = loadConfig();
  const log = createLogger(config, { role });

  if (role === 'migrate' && parsed.values.status) {
    const db = openDatabase(config, log);
    try {
      console.log(JSON.stringify(await migrationStatus(db.sequelize)));
    } finally {
      await db.close();
    }
    return 0;
  }
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
  if (role === 'create-admin') {
    const password = await readNewPassword();
    const db = openDatabase(config, log);
    try {
      const username = await createAdmin(db, parsed.values.username ?? '', password);
      console.log(`created admin "${username}"`);
    } finally {
      await db.close();
    }
    return 0;
  }

  if (role === 'speedtest') {
    const output = await runSpeedtestCli(config, {
      engine: (engine as EngineName | undefined) ?? config.SPEEDTEST_ENGINE,
      servers: parsed.values.server ?? [],
      json: parsed.values.json ?? false,
      seconds,
    });
    console.log(output);
    return 0;
  }

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
      // Draining is bounded by SHUTDOWN_TIMEOUT_MS; closing connections to a server that is gone
      // (Redis down, say) can wait forever, and an orchestrator would then have to SIGKILL us.
      const deadline = setTimeout(() => {
        log.error(
          { graceMs: SHUTDOWN_GRACE_MS },
          'shutdown did not finish in time (a server unreachable?): exiting anyway',
        );
        resolve(1);
      }, config.SHUTDOWN_TIMEOUT_MS + SHUTDOWN_GRACE_MS);
      running.close().then(
        () => {
          clearTimeout(deadline);
          resolve(0);
        },
        (error: unknown) => {
          clearTimeout(deadline);
          log.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

void runCommand('refresher', USAGE, () => main(process.argv.slice(2)), {
  expected: [ValidationError, SpeedtestError, ConfigError, DatabaseTlsError],
  describe: (error) =>
    error instanceof SpeedtestError
      ? `speed test failed (${error.kind}): ${error.message}`
      : error.message,
  // The roles' connections and timers would keep the process alive after a drain.
  exit: true,
});
