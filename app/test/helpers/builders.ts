// Builders for the records tests would otherwise write out in full: a realistic default for every
// field, overridden by what a test cares about. When a record grows a field, this is the one
// place to change. A test passes explicitly every value its assertions depend on; whatever it
// leaves to these defaults is, by that convention, not something it checks.
import { randomUUID } from 'node:crypto';
import type { CreationAttributes } from 'sequelize';
import type { TaskResult } from '../../src/db/models.ts';
import type { PingedServer, SpeedtestResult, SpeedtestServer } from '../../src/speedtest/engine.ts';

/** A server as an engine reports it: a nearby one in Amsterdam, every field known. */
export function speedtestServer(overrides: Partial<SpeedtestServer> = {}): SpeedtestServer {
  return {
    id: 'ams-1',
    name: 'Amsterdam',
    sponsor: 'Example Fiber',
    host: 'speedtest.example.net:8080',
    url: 'http://speedtest.example.net:8080/backend',
    country: 'Netherlands',
    countryCode: 'NL',
    lat: 52.374,
    lon: 4.8897,
    distanceKm: 3.2,
    ...overrides,
  };
}

/** A candidate that answered the latency probe and was not chosen. */
export function pingedServer(overrides: Partial<PingedServer> = {}): PingedServer {
  return { server: speedtestServer(), latencyMs: 12.4, chosen: false, ...overrides };
}

/**
 * A finished LibreSpeed run of about 94/19 Mbit/s, just now. Unless given, `pinged` is the one
 * candidate the test ran against: `server`, chosen, at `pingMs`.
 */
export function speedtestResult(overrides: Partial<SpeedtestResult> = {}): SpeedtestResult {
  const server = overrides.server ?? speedtestServer();
  const pingMs = overrides.pingMs ?? 12.4;
  return {
    engine: 'librespeed',
    startedAt: new Date(),
    downloadBps: 94_200_000,
    uploadBps: 18_700_000,
    pingMs,
    jitterMs: 1.8,
    packetLoss: 0,
    // A little bufferbloat: grade A (about 18 ms more on average).
    downloadLatency: { latencyMs: 31.9, jitterMs: 4.2 },
    uploadLatency: { latencyMs: 29.2, jitterMs: 3.1 },
    source: { address: '192.0.2.10', interface: null, family: 4 },
    // 10 s in each direction at those rates, plus the latency probes.
    bytesReceived: 117_750_000,
    bytesSent: 23_375_000,
    durationMs: 21_500,
    server,
    pinged: [pingedServer({ server, latencyMs: pingMs, chosen: true })],
    client: { ip: '192.0.2.10', isp: 'Example ISP', countryCode: 'NL' },
    resultUrl: null,
    selfTest: false,
    raw: {},
    ...overrides,
  };
}

/** A task_results row for TaskResult.create: a test.echo job just queued, not yet picked up. */
export function taskResultRow(
  overrides: Partial<CreationAttributes<TaskResult>> = {},
): CreationAttributes<TaskResult> {
  return {
    jobId: randomUUID(),
    queue: 'default',
    task: 'test.echo',
    periodicTaskId: null,
    status: 'queued',
    queuedAt: new Date(),
    ...overrides,
  };
}
