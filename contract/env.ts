// The app's environment: every variable a role reads, its type, default and message. It lives in
// the leaf module because three layers must agree on it: the app parses it at start
// (app/src/config.ts), the service catalogue sets it per container (templates/catalogue/, where a
// misspelt name is a compile error), and the tests check the rendered compose file against it.
import { isIP } from 'node:net';
import { z } from 'zod';
import { PORTS } from './ports.ts';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from './shutdown.ts';
import { DEFAULT_QUEUE_PREFIX } from './queues.ts';
import { databaseTls } from './database-tls.ts';

// Digits only: Number() would also take "0x10", "1e3" or " " (as 0), which no one means in a port.
const digits = (message: string) => z.string().trim().regex(/^\d+$/, message).transform(Number);
const port = digits('expected a TCP port number').pipe(
  z
    .number()
    .min(1, 'expected a TCP port between 1 and 65535')
    .max(65535, 'expected a TCP port between 1 and 65535'),
);
const positiveInt = digits('expected a whole number').pipe(
  z.number().positive('expected a number greater than 0'),
);

const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `expected a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}` },
  );

/**
 * Comma-separated networks in CIDR notation (a bare address is one host), or `none`: an empty
 * value already means "the default", so "no networks" needs a word of its own.
 */
const cidrList = z.string().transform((value, ctx) => {
  if (value.trim() === 'none') return [];
  const message = 'expected comma-separated networks such as 127.0.0.0/8,::1/128, or none';
  const items = value.split(',').map((item) => item.trim());
  const cidrs: string[] = [];
  for (const item of items) {
    const [address = '', bits, ...rest] = item.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    if (
      !family ||
      rest.length ||
      (bits !== undefined && !/^\d{1,3}$/.test(bits)) ||
      Number(bits) > max
    ) {
      ctx.addIssue({ code: 'custom', message: `${message} ("${item}" is not one)` });
      return z.NEVER;
    }
    cidrs.push(bits === undefined ? `${address}/${max}` : item);
  }
  return cidrs;
});

/** A PostgreSQL URL whose libpq TLS parameters (sslmode, sslrootcert) are ones the app can honour. */
const databaseUrl = url(['postgres', 'postgresql']).superRefine((value, ctx) => {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return; // said by url()
  }
  const tls = databaseTls(parsed);
  if ('problems' in tls)
    for (const message of tls.problems) ctx.addIssue({ code: 'custom', message });
});

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const envSchema = z.object({
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),

  /** libpq's sslmode and sslrootcert parameters choose TLS (contract/database-tls.ts). */
  DATABASE_URL: databaseUrl.default('postgres://localhost:5432/refresher'),
  /** Max connections per process; PostgreSQL's default max_connections is 100. */
  DATABASE_POOL_MAX: positiveInt.pipe(z.number().max(100, 'expected at most 100')).default(10),
  REDIS_URL: url(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
  /**
   * The CAs a rediss:// server's certificate is checked against instead of Node's built-in roots,
   * for a private CA. Azure Managed Redis needs none: its certificates chain to public roots that
   * Node carries (DigiCert Global Root G2, Microsoft RSA Root Certificate Authority 2017).
   */
  REDIS_CA_FILE: z
    .string()
    .refine((path) => path.startsWith('/'), 'expected an absolute path to a CA bundle (PEM)')
    .optional(),
  /**
   * Prefix of every BullMQ key, so several deployments (or test runs) can share one Redis. In
   * braces, a cluster hash tag: every key then lives in one slot, as a clustered Redis needs for
   * BullMQ's multi-key scripts (Azure Managed Redis is clustered).
   */
  QUEUE_PREFIX: z
    .string()
    .regex(
      /^(?:[A-Za-z0-9_.-]+|\{[A-Za-z0-9_.-]+\})$/,
      'expected letters, digits, dot, dash or underscore, the whole of it optionally in braces as a cluster hash tag ({refresher})',
    )
    .default(DEFAULT_QUEUE_PREFIX),

  /**
   * Loopback by default: `npm start` on a laptop serves nobody else. The containers set 0.0.0.0
   * (the catalogue), where only the reverse proxy publishes a port.
   */
  HOST: z.string().min(1, 'expected a host name or address').default('127.0.0.1'),
  PORT: port.default(PORTS.web),
  /** Prometheus metrics of this role; never the public port. */
  METRICS_PORT: port.default(PORTS.metrics),
  METRICS_HOST: z.string().min(1, 'expected a host name or address').default('127.0.0.1'),

  /**
   * Jobs one worker runs at once on the default queue (speedtests always run one at a time).
   * Tasks mostly wait on the network and the database, so one process keeps many in flight.
   */
  WORKER_CONCURRENCY: positiveInt.pipe(z.number().max(1000, 'expected at most 1000')).default(50),
  /** How long a worker's lock on a job lasts; a crashed worker's jobs run again after it expires. */
  WORKER_LOCK_MS: positiveInt.pipe(z.number().min(1000, 'expected at least 1000')).default(30_000),
  /** How often workers look for jobs whose worker died (stalled jobs). */
  WORKER_STALLED_INTERVAL_MS: positiveInt
    .pipe(z.number().min(500, 'expected at least 500'))
    .default(15_000),
  /** On SIGTERM, how long running jobs may take to finish before they are put back in the queue. */
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(DEFAULT_SHUTDOWN_TIMEOUT_MS),

  /** The full reconcile of schedules that repairs any drift LISTEN/NOTIFY could have missed. */
  SCHEDULER_RECONCILE_MS: positiveInt
    .pipe(z.number().min(1000, 'expected at least 1000'))
    .default(60_000),

  /** Task results and speedtests older than this are deleted by maintenance.prune_results. */
  RESULT_RETENTION_DAYS: positiveInt.default(365),
  /** The URL the seeded health check task requests; by default this process's own /healthz. */
  HEALTHCHECK_URL: url(['http', 'https']).optional(),

  /** Create the database on start when it is missing (roles `migrate` and `all`). */
  DATABASE_CREATE: z.stringbool({ error: 'expected true or false' }).default(true),

  /**
   * Signs session cookies. Unset: a random one per process, so sessions end at every restart and
   * are not shared between web processes (fine on a laptop; the deployment generates one).
   */
  SESSION_SECRET: z.string().min(32, 'expected at least 32 characters').optional(),
  /** How long a signed-in session lasts without activity. */
  SESSION_MAX_AGE_HOURS: positiveInt
    .pipe(z.number().max(24 * 30, 'expected at most 720'))
    .default(12),
  /**
   * Which proxies to believe about the client's address and scheme (Express "trust proxy"):
   * false, true, a hop count, or addresses/CIDRs/names such as loopback or uniquelocal.
   */
  TRUST_PROXY: z
    .string()
    .trim()
    .transform((value): boolean | number | string =>
      value === 'true'
        ? true
        : value === 'false'
          ? false
          : /^\d+$/.test(value)
            ? Number(value)
            : value,
    )
    .default(false),

  /**
   * The first admin, created by the web role at start when no user of that name exists. Both or
   * neither; there is no default account. The password is only hashed, never stored as given.
   */
  ADMIN_USERNAME: z.string().trim().toLowerCase().optional(),
  ADMIN_PASSWORD: z.string().optional(),

  /**
   * Alertmanager's base URL, where the portal's "Send a test notification" posts an alert (its
   * v2 API). Unset: the portal says no Alertmanager is configured.
   */
  ALERTMANAGER_URL: url(['http', 'https']).optional(),

  /** The engine of scheduled speed tests when a task's kwargs name none. */
  SPEEDTEST_ENGINE: z.enum(['librespeed', 'ookla']).default('librespeed'),
  /**
   * Comma-separated servers to measure against when a task's kwargs name none: LibreSpeed backend
   * URLs (librespeed) or server ids (ookla). Empty: a server list, else the built-in target.
   */
  SPEEDTEST_SERVERS: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .default([]),
  /** Measured time per direction of a scheduled test, when its kwargs say none (1 s to 60 s). */
  SPEEDTEST_DURATION_MS: positiveInt
    .pipe(z.number().min(1_000, 'expected at least 1000').max(60_000, 'expected at most 60000'))
    .default(10_000),
  /**
   * The interval "Process Speed Test" is created with when the database is first migrated. After
   * that the schedule lives in the database and is changed in the portal or the API.
   */
  SPEEDTEST_INTERVAL_MINUTES: positiveInt
    .pipe(z.number().max(1_440, 'expected at most 1440 (a day)'))
    .default(30),
  /** Parallel connections per direction of a scheduled test, when its kwargs say none. */
  SPEEDTEST_STREAMS: positiveInt.pipe(z.number().max(32, 'expected at most 32')).default(6),
  /** A LibreSpeed server list (JSON) to choose from when no servers are named. */
  SPEEDTEST_SERVER_LIST_URL: url(['http', 'https']).optional(),
  /** Where the worker reaches this deployment's own target; by default this process's. */
  SPEEDTEST_SELF_URL: url(['http', 'https']).optional(),
  /** Serve the built-in speed test target (LibreSpeed endpoints) from the web role. */
  SPEEDTEST_TARGET_ENABLED: z.stringbool({ error: 'expected true or false' }).default(true),
  /**
   * A public, read-only status page at /status (the latest results, the week's figures, a chart;
   * no admin data): off unless asked for, since it shows anyone how the line performs.
   */
  PUBLIC_STATUS_PAGE: z.stringbool({ error: 'expected true or false' }).default(false),
  /** The path the target is mounted under. */
  SPEEDTEST_TARGET_PATH: z
    .string()
    .regex(
      /^\/[A-Za-z0-9_\-/]*[A-Za-z0-9_-]$/,
      'expected a path such as /speedtest, without a trailing slash',
    )
    .default('/speedtest'),
  /** Requests per minute one client address may make to the target (a test makes a few dozen). */
  SPEEDTEST_TARGET_RATE_LIMIT: positiveInt.default(600),
  /**
   * Garbage and empty transfers one client address may have open at once; more are answered 429.
   * LibreSpeed's browser client opens up to 6 download streams, the librespeed engine
   * SPEEDTEST_STREAMS (6); 2 more cover one direction's streams still closing as the next opens.
   */
  SPEEDTEST_TARGET_MAX_STREAMS: positiveInt
    .pipe(z.number().max(64, 'expected at most 64'))
    .default(8),
  /**
   * MiB (download plus upload) one client address may move through the target per minute,
   * counted as they flow: a transfer that runs past it is cut off. 4096 lets one honest test at
   * 1 Gbit/s through (LibreSpeed's browser client: 15 s each way, 3.5 GiB).
   */
  SPEEDTEST_TARGET_MIB_PER_MINUTE: positiveInt
    .pipe(z.number().max(1_048_576, 'expected at most 1048576 (1 TiB)'))
    .default(4096),
  /**
   * Client networks exempt from the target's limits, comma-separated CIDRs or `none`: loopback
   * by default; the deployment adds the containers' network, where the worker's self-test is from.
   */
  SPEEDTEST_TARGET_UNLIMITED_CIDRS: cidrList.default(['127.0.0.0/8', '::1/128']),

  /**
   * The official Ookla `speedtest` CLI the `ookla` engine runs. Absolute, because the worker's
   * working directory is no one's business; unset, the engine refuses to run (it never downloads).
   */
  OOKLA_SPEEDTEST_BIN: z
    .string()
    .refine((path) => path.startsWith('/'), 'expected an absolute path to the Ookla speedtest CLI')
    .optional(),
  /** Accept Ookla's licence and GDPR terms on the operator's behalf; a person has to say so. */
  OOKLA_ACCEPT_LICENSE: z.stringbool({ error: 'expected true or false' }).default(false),
  /** Where the `ookla` engine learns candidate servers with their coordinates. */
  OOKLA_SERVER_LIST_URL: url(['http', 'https']).default(
    'https://www.speedtest.net/api/js/servers?engine=js&limit=10',
  ),
});

/** The variables' names, each typed: what the catalogue may set on an app container. */
export type AppEnvName = keyof z.input<typeof envSchema>;
