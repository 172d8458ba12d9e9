// `refresher speedtest`: one test from the command line, printed, nothing stored. Handy to check
// an engine, a server or the built-in target before scheduling anything.
import type { Config } from '../config.ts';
import type { SpeedtestEngine, SpeedtestResult } from './engine.ts';
import { createLibreSpeedEngine, createOoklaEngine, type EngineName } from './index.ts';

export interface SpeedtestCliOptions {
  engine: EngineName;
  servers: string[];
  json: boolean;
  /** Measured time per direction. */
  seconds: number;
}

const mbps = (bps: number) => `${(bps / 1e6).toFixed(2)} Mbit/s`;

export function describeResult(result: SpeedtestResult): string {
  return [
    `engine    ${result.engine}${result.selfTest ? ' (self-test against this deployment)' : ''}`,
    `server    ${result.server.name}${result.server.sponsor ? ` (${result.server.sponsor})` : ''}${result.server.host && result.server.host !== result.server.name ? ` ${result.server.host}` : ''}`,
    `client    ${result.client?.ip ?? 'unknown'}${result.client?.isp ? ` (${result.client.isp})` : ''}`,
    `ping      ${result.pingMs.toFixed(2)} ms${result.jitterMs === null ? '' : `, jitter ${result.jitterMs.toFixed(2)} ms`}${result.packetLoss === null ? '' : `, loss ${result.packetLoss}%`}`,
    `download  ${mbps(result.downloadBps)}`,
    `upload    ${mbps(result.uploadBps)}`,
    ...(result.resultUrl ? [`result    ${result.resultUrl}`] : []),
  ].join('\n');
}

export async function runSpeedtestCli(
  config: Config,
  options: SpeedtestCliOptions,
): Promise<string> {
  const engine: SpeedtestEngine =
    options.engine === 'ookla' ? createOoklaEngine(config) : createLibreSpeedEngine(config);
  const controller = new AbortController();
  const interrupt = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', interrupt);
  try {
    const result = await engine.run({
      servers: options.servers.length ? options.servers : config.SPEEDTEST_SERVERS,
      streams: 6,
      durationMs: options.seconds * 1000,
      warmupMs: Math.min(2_000, options.seconds * 500),
      pings: 10,
      signal: controller.signal,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    return options.json ? JSON.stringify(result, null, 2) : describeResult(result);
  } finally {
    process.off('SIGINT', interrupt);
  }
}
