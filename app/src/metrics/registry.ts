// Prometheus metrics (prom-client). Each process has one registry, served on METRICS_PORT, never
// on the public port. Names follow Prometheus conventions: refresher_ prefix, base units (seconds,
// bytes), _total on counters. The runtime's own metrics keep prom-client's standard names
// (process_*, nodejs_*), which the common Node.js dashboards expect.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { bufferbloat } from '../speedtest/bufferbloat.ts';

const SPEEDTEST_LABELS = ['engine', 'server'] as const;
/** From 1 Mbit/s to 10 Gbit/s, in bytes per second. */
const THROUGHPUT_BUCKETS = [1e6, 5e6, 10e6, 25e6, 50e6, 100e6, 250e6, 500e6, 1e9, 2.5e9, 10e9].map(
  (bits) => bits / 8,
);

export function createMetrics(role: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry });

  return {
    registry,
    taskRuns: new Counter({
      name: 'refresher_task_runs_total',
      help: 'Task attempts that ended, by task and final status of the attempt.',
      labelNames: ['task', 'status'] as const,
      registers: [registry],
    }),
    taskDuration: new Histogram({
      name: 'refresher_task_duration_seconds',
      help: 'Duration of task attempts, by task.',
      labelNames: ['task'] as const,
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300],
      registers: [registry],
    }),
    taskLateness: new Histogram({
      name: 'refresher_scheduler_lateness_seconds',
      help: 'Time from the instant a scheduled run was due to its handler starting.',
      labelNames: ['task'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    schedules: new Gauge({
      name: 'refresher_scheduler_schedules',
      help: 'Job schedulers this scheduler process keeps in force (one per enabled periodic task).',
      // Only a scheduler knows; a web or worker role exporting 0 would look like none in force.
      registers: role === 'scheduler' || role === 'all' ? [registry] : [],
    }),
    httpDuration: new Histogram({
      name: 'refresher_http_request_duration_seconds',
      help: 'Time to answer HTTP requests, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    speedtestLastDownload: new Gauge({
      name: 'refresher_speedtest_last_download_bytes_per_second',
      help: 'Download throughput of the latest speed test, by engine and server.',
      labelNames: SPEEDTEST_LABELS,
      registers: [registry],
    }),
    speedtestLastUpload: new Gauge({
      name: 'refresher_speedtest_last_upload_bytes_per_second',
      help: 'Upload throughput of the latest speed test, by engine and server.',
      labelNames: SPEEDTEST_LABELS,
      registers: [registry],
    }),
    speedtestLastPing: new Gauge({
      name: 'refresher_speedtest_last_ping_seconds',
      help: 'Latency of the latest speed test, by engine and server.',
      labelNames: SPEEDTEST_LABELS,
      registers: [registry],
    }),
    speedtestLastJitter: new Gauge({
      name: 'refresher_speedtest_last_jitter_seconds',
      help: 'Jitter of the idle latency of the latest speed test, by engine and server.',
      labelNames: SPEEDTEST_LABELS,
      registers: [registry],
    }),
    speedtestLastPacketLoss: new Gauge({
      name: 'refresher_speedtest_last_packet_loss_ratio',
      help: 'Packet loss of the latest speed test (0 to 1), by engine and server; only engines that measure it.',
      labelNames: SPEEDTEST_LABELS,
      registers: [registry],
    }),
    speedtestLastLoadedLatency: new Gauge({
      name: 'refresher_speedtest_last_loaded_latency_seconds',
      help: 'Median latency while the latest speed test downloaded or uploaded, by engine, server and direction.',
      labelNames: [...SPEEDTEST_LABELS, 'direction'] as const,
      registers: [registry],
    }),
    speedtestLastBufferbloat: new Gauge({
      name: 'refresher_speedtest_last_bufferbloat_seconds',
      help: 'How much the latest speed test raised latency on average over the idle ping (the bufferbloat grade reads it), by engine and server.',
      labelNames: SPEEDTEST_LABELS,
      registers: [registry],
    }),
    speedtestLastTimestamp: new Gauge({
      name: 'refresher_speedtest_last_timestamp_seconds',
      help: 'When the latest successful speed test started (Unix time), by engine and server.',
      labelNames: SPEEDTEST_LABELS,
      registers: [registry],
    }),
    speedtestDownload: new Histogram({
      name: 'refresher_speedtest_download_bytes_per_second',
      help: 'Download throughput of speed tests, by engine and server.',
      labelNames: SPEEDTEST_LABELS,
      buckets: THROUGHPUT_BUCKETS,
      registers: [registry],
    }),
    speedtestUpload: new Histogram({
      name: 'refresher_speedtest_upload_bytes_per_second',
      help: 'Upload throughput of speed tests, by engine and server.',
      labelNames: SPEEDTEST_LABELS,
      buckets: THROUGHPUT_BUCKETS,
      registers: [registry],
    }),
    speedtestPing: new Histogram({
      name: 'refresher_speedtest_ping_seconds',
      help: 'Latency measured by speed tests, by engine and server.',
      labelNames: SPEEDTEST_LABELS,
      buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
      registers: [registry],
    }),
    probeUp: new Gauge({
      name: 'refresher_probe_up',
      help: 'Whether a probe finds its link up (1) or in an outage it detected (0), by probe.',
      labelNames: ['probe'] as const,
      registers: [registry],
    }),
    probeLatency: new Gauge({
      name: 'refresher_probe_latency_seconds',
      help: "The latest answer's round trip (TCP connect, or HTTP request to its response), by probe and target.",
      labelNames: ['probe', 'target'] as const,
      registers: [registry],
    }),
    probeRounds: new Counter({
      name: 'refresher_probe_rounds_total',
      help: 'Checks of a probe target, by probe, target and result (ok or failed); failed over all is the loss.',
      labelNames: ['probe', 'target', 'result'] as const,
      registers: [registry],
    }),
    reconciles: new Counter({
      name: 'refresher_scheduler_reconciles_total',
      help: 'Requests to reconcile the schedules in Redis with the periodic tasks in PostgreSQL, by trigger; requests arriving together are served by one pass.',
      labelNames: ['trigger'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

export interface SpeedtestObservation {
  engine: string;
  server: string;
  startedAt: Date;
  /** Null when the engine could not measure it: the gauge then keeps its previous value. */
  downloadBps: number | null;
  uploadBps: number | null;
  pingMs: number | null;
  jitterMs: number | null;
  /** Percent, as engines report it. */
  packetLoss: number | null;
  downloadLatencyMs: number | null;
  uploadLatencyMs: number | null;
}

/** Records one speed test: the "last" gauges and, unless it is a restored value, the histograms. */
export function observeSpeedtest(
  metrics: Metrics,
  test: SpeedtestObservation,
  options: { restored?: boolean } = {},
): void {
  const labels = { engine: test.engine, server: test.server };
  // Base units: bytes per second and seconds. A missing figure is not a zero (that would read
  // as an outage), so it is left out.
  const figures = [
    [test.downloadBps, 8, metrics.speedtestLastDownload, metrics.speedtestDownload],
    [test.uploadBps, 8, metrics.speedtestLastUpload, metrics.speedtestUpload],
    [test.pingMs, 1000, metrics.speedtestLastPing, metrics.speedtestPing],
  ] as const;
  for (const [value, divisor, last, histogram] of figures) {
    if (value === null) continue;
    last.set(labels, value / divisor);
    if (!options.restored) histogram.observe(labels, value / divisor);
  }
  // These the latest test may not have measured (no packet loss from LibreSpeed, no loaded
  // latency from an older Ookla CLI): then the series goes, rather than keep an older test's
  // value beside the new timestamp for a ceiling rule to judge.
  const latest = <L extends Record<string, string>>(
    gauge: { set(labels: L, value: number): void; remove(labels: L): void },
    at: L,
    value: number | null,
  ) => (value === null ? gauge.remove(at) : gauge.set(at, value));
  latest(metrics.speedtestLastJitter, labels, test.jitterMs === null ? null : test.jitterMs / 1000);
  latest(
    metrics.speedtestLastPacketLoss,
    labels,
    test.packetLoss === null ? null : test.packetLoss / 100,
  );
  for (const [direction, latencyMs] of [
    ['download', test.downloadLatencyMs],
    ['upload', test.uploadLatencyMs],
  ] as const) {
    latest(
      metrics.speedtestLastLoadedLatency,
      { ...labels, direction },
      latencyMs === null ? null : latencyMs / 1000,
    );
  }
  const bloat = bufferbloat({
    pingMs: test.pingMs,
    downloadLatency:
      test.downloadLatencyMs === null
        ? null
        : { latencyMs: test.downloadLatencyMs, jitterMs: null },
    uploadLatency:
      test.uploadLatencyMs === null ? null : { latencyMs: test.uploadLatencyMs, jitterMs: null },
  });
  latest(metrics.speedtestLastBufferbloat, labels, bloat ? bloat.increaseMs / 1000 : null);
  metrics.speedtestLastTimestamp.set(labels, test.startedAt.getTime() / 1000);
}
