// One librespeed engine run, for bench:speedtest to run inside a network namespace. Prints the
// figures and the CPU time the engine's process spent, as JSON on its last line.
import { z } from 'zod';
import { createLibreSpeedEngine } from '../../src/speedtest/index.ts';
import { count, parseFlags, printResult } from '../common.ts';

const flags = parseFlags(
  'speedtest',
  z.object({
    server: z.url(),
    seconds: count(1, 120, 10),
    streams: count(1, 32, 6),
    warmup: count(0, 30, 2),
  }),
);
const engine = createLibreSpeedEngine({
  PORT: 0,
  SPEEDTEST_TARGET_PATH: '/speedtest',
  SPEEDTEST_SELF_URL: undefined,
  SPEEDTEST_SERVER_LIST_URL: undefined,
});
const cpu = process.cpuUsage();
const result = await engine.run({
  servers: [flags.server],
  streams: flags.streams,
  durationMs: flags.seconds * 1000,
  warmupMs: flags.warmup * 1000,
  pings: 10,
  signal: new AbortController().signal,
  log: (line) => console.error(line),
});
const used = process.cpuUsage(cpu);
printResult({
  down_bps: result.downloadBps,
  up_bps: result.uploadBps,
  ping_ms: result.pingMs,
  bytes: result.bytesReceived + result.bytesSent,
  cpu_s: (used.user + used.system) / 1e6,
});
