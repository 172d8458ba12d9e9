// What each process role starts. One image, one entry point: `refresher <role>`.
import { createServer, type Server } from 'node:http';
import type { Config } from './config.ts';
import { ensureDatabase } from './db/connection.ts';
import { openDatabase, type Database } from './db/index.ts';
import { migrateUp } from './db/migrator.ts';
import type { Logger } from './log.ts';
import { registerQueueJobs } from './metrics/queue-jobs.ts';
import { createMetrics, observeSpeedtest, type Metrics } from './metrics/registry.ts';
import { Queues } from './queue/queues.ts';
import { startProber } from './probe/runner.ts';
import { publishWorkerSources } from './speedtest/worker-sources.ts';
import { latestSpeedtests } from './speedtest/store.ts';
import { serveMetrics } from './metrics/server.ts';
import { createRedis } from './queue/redis.ts';
import { startScheduler } from './queue/scheduler.ts';
import { startWorker } from './queue/worker.ts';
import { createTaskRegistry } from './tasks/index.ts';
import type { TaskRegistry } from './tasks/registry.ts';
import { createWebApp } from './web/app.ts';
import { ensureAdminFromEnv } from './web/auth/users.ts';

export const SERVICE_ROLES = ['web', 'worker', 'scheduler', 'all'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

export interface Running {
  close(): Promise<void>;
}

/** Creates the database when allowed and missing, then applies pending migrations. */
export async function migrate(config: Config, log: Logger): Promise<string[]> {
  if (config.DATABASE_CREATE) await ensureDatabase(config.DATABASE_URL, log);
  const db = openDatabase(config, log);
  try {
    const applied = await migrateUp(db.sequelize, config.DATABASE_URL, log);
    log.info({ applied }, applied.length ? 'migrations applied' : 'database schema is up to date');
    return applied;
  } finally {
    await db.close();
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

async function startWeb(
  config: Config,
  log: Logger,
  db: Database,
  metrics: Metrics,
  registry: TaskRegistry,
): Promise<Running> {
  await ensureAdminFromEnv(db, config, log);
  const redis = createRedis(config, { log, failFast: true, name: 'web' });
  const queues = new Queues(redis, config.QUEUE_PREFIX, log);
  const web = createWebApp({
    db,
    redis,
    registry,
    queues,
    config,
    log,
    httpDuration: metrics.httpDuration,
    publicStatusPage: config.PUBLIC_STATUS_PAGE,
    speedtestTarget: config.SPEEDTEST_TARGET_ENABLED
      ? {
          path: config.SPEEDTEST_TARGET_PATH,
          rateLimitPerMinute: config.SPEEDTEST_TARGET_RATE_LIMIT,
          maxStreams: config.SPEEDTEST_TARGET_MAX_STREAMS,
          mibPerMinute: config.SPEEDTEST_TARGET_MIB_PER_MINUTE,
          unlimitedCidrs: config.SPEEDTEST_TARGET_UNLIMITED_CIDRS,
        }
      : undefined,
  });
  const server = createServer(web.app);
  await listen(server, config.PORT, config.HOST);
  log.info(
    { url: `http://${config.HOST === '0.0.0.0' ? 'localhost' : config.HOST}:${config.PORT}` },
    'web role listening',
  );
  return {
    async close() {
      // Requests in flight may finish, but not for longer than jobs may: a speed test's transfer
      // would otherwise hold the process past the platform's grace period and be killed there.
      const cut = setTimeout(() => server.closeAllConnections(), config.SHUTDOWN_TIMEOUT_MS);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      clearTimeout(cut);
      web.close();
      await queues.close();
      redis.disconnect();
    },
  };
}

/**
 * Beside the worker, on a Redis connection of their own: the probes, and this host's addresses
 * and interfaces for the web role to check schedules against (speedtest/worker-sources.ts).
 */
async function startProbes(deps: {
  config: Config;
  log: Logger;
  db: Database;
  registry: TaskRegistry;
  metrics: Metrics;
}): Promise<Running> {
  const redis = createRedis(deps.config, { log: deps.log, name: 'probe' });
  const queues = new Queues(redis, deps.config.QUEUE_PREFIX, deps.log);
  const prober = await startProber({ ...deps, redis, queues });
  const sources = await publishWorkerSources(redis, deps.config.QUEUE_PREFIX);
  return {
    async close() {
      await sources.stop();
      await prober.close();
      await queues.close();
      redis.disconnect();
    },
  };
}

/** Starts the service roles in this process (`all` runs the three of them). */
export async function startRoles(role: ServiceRole, config: Config, log: Logger): Promise<Running> {
  if (role === 'all') await migrate(config, log);
  const db = openDatabase(config, log);
  const metrics = createMetrics(role);
  const registry = createTaskRegistry(config, db, metrics);
  const started: Running[] = [];
  const wants = (r: ServiceRole) => role === r || role === 'all';
  try {
    // Web first and scheduler last: the first scheduled runs may call this process's own /healthz.
    if (wants('web')) {
      started.push(await startWeb(config, log.child({ component: 'web' }), db, metrics, registry));
    }
    const deps = (component: string) => ({
      config,
      log: log.child({ component }),
      db,
      registry,
      metrics,
    });
    if (wants('worker')) {
      // The "latest speed test" gauges survive a restart: they start from the database.
      for (const test of await latestSpeedtests(db))
        observeSpeedtest(metrics, test, { restored: true });
      const worker = await startWorker(deps('worker'));
      const probes = await startProbes(deps('probe')).catch(async (error: unknown) => {
        await worker.close();
        throw error;
      });
      started.push(together(worker, probes));
    }
    if (role !== 'web') {
      const redis = createRedis(config, { log, failFast: true, name: 'metrics' });
      const queues = new Queues(redis, config.QUEUE_PREFIX, log);
      registerQueueJobs(metrics.registry, queues);
      started.push({
        async close() {
          await queues.close();
          redis.disconnect();
        },
      });
    }
    if (wants('scheduler')) started.push(await startScheduler(deps('scheduler')));
    const metricsServer = await serveMetrics(
      metrics.registry,
      config.METRICS_PORT,
      config.METRICS_HOST,
    );
    started.push({ close: () => new Promise((resolve) => metricsServer.close(() => resolve())) });
    log.info({ port: config.METRICS_PORT }, 'metrics served on /metrics');
  } catch (error) {
    await closeAll(started);
    await db.close();
    throw error;
  }
  return {
    async close() {
      // Newest first: the scheduler stops, the worker drains, the web role goes last.
      await closeAll(started);
      await db.close();
    },
  };
}

/**
 * Closes both at once: the worker then stops taking jobs, and starts its SHUTDOWN_TIMEOUT_MS
 * drain, the moment the signal comes, not after a probe round (up to 30 s) has ended.
 */
function together(...parts: Running[]): Running {
  return {
    async close() {
      const results = await Promise.allSettled(parts.map((part) => part.close()));
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}

async function closeAll(started: Running[]): Promise<void> {
  for (const running of [...started].reverse()) await running.close();
}
