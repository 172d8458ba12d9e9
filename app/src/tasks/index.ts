// The tasks this service ships. A fork adds its own here.
import { healthcheckUrl, type Config } from '../config.ts';
import type { Database } from '../db/index.ts';
import { observeSpeedtest, type Metrics } from '../metrics/registry.ts';
import type { SpeedtestEngine } from '../speedtest/engine.ts';
import { createLibreSpeedEngine, createOoklaEngine, type EngineName } from '../speedtest/index.ts';
import { httpCheckTask } from './http-check.ts';
import { pruneResultsTask } from './prune-results.ts';
import { TaskRegistry } from './registry.ts';
import { speedtestTask } from './speedtest.ts';

export function createTaskRegistry(config: Config, db: Database, metrics?: Metrics): TaskRegistry {
  const engines = new Map<EngineName, SpeedtestEngine>();
  const factories: Record<EngineName, () => SpeedtestEngine> = {
    librespeed: () => createLibreSpeedEngine(config),
    ookla: () => createOoklaEngine(config),
  };
  return new TaskRegistry([
    httpCheckTask(() => healthcheckUrl(config)),
    pruneResultsTask(db.sequelize, config.RESULT_RETENTION_DAYS),
    speedtestTask({
      db,
      defaultEngine: config.SPEEDTEST_ENGINE,
      defaultServers: config.SPEEDTEST_SERVERS,
      defaultDurationMs: config.SPEEDTEST_DURATION_MS,
      defaultStreams: config.SPEEDTEST_STREAMS,
      observe: (result) =>
        metrics &&
        observeSpeedtest(metrics, {
          engine: result.engine,
          server: result.server.name,
          startedAt: result.startedAt,
          downloadBps: result.downloadBps,
          uploadBps: result.uploadBps,
          pingMs: result.pingMs,
          jitterMs: result.jitterMs,
          packetLoss: result.packetLoss,
          downloadLatencyMs: result.downloadLatency?.latencyMs ?? null,
          uploadLatencyMs: result.uploadLatency?.latencyMs ?? null,
        }),
      engine(name) {
        let engine = engines.get(name);
        if (!engine) engines.set(name, (engine = factories[name]()));
        return engine;
      },
    }),
  ]);
}
