// One librespeed engine run with its whole result, for bench:latency and the latency-under-load
// test to run inside the client's network namespace (the engine binds and measures from there).
// Prints one JSON object on its last line: { ok: true, result } (the SpeedtestResult, raw
// included) or { ok: false, error: { name, kind, message } }; the exit code is 0 either way, so
// the caller reads the line rather than the status. Progress lines go to stderr.
//   node --import tsx app/bench/latency/client.ts --server http://10.213.11.1:8080/speedtest/
//     [--duration-ms 6000] [--warmup-ms 2000] [--streams 6] [--pings 10]
//     [--source-address A | --interface DEV] [--family 4|6]
import { z } from 'zod';
import { SpeedtestError } from '../../src/speedtest/engine.ts';
import { createLibreSpeedEngine } from '../../src/speedtest/index.ts';
import { count, parseFlags, printResult } from '../common.ts';

const flags = parseFlags(
  'latency',
  z.object({
    server: z.url(),
    'duration-ms': count(500, 120_000, 6_000),
    'warmup-ms': count(0, 30_000, 2_000),
    streams: count(1, 32, 6),
    pings: count(3, 100, 10),
    'source-address': z.string().optional(),
    interface: z.string().optional(),
    family: z.enum(['4', '6']).optional(),
  }),
);
const engine = createLibreSpeedEngine({
  PORT: 0,
  SPEEDTEST_TARGET_PATH: '/speedtest',
  SPEEDTEST_SELF_URL: undefined,
  SPEEDTEST_SERVER_LIST_URL: undefined,
});
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort(new Error('SIGTERM')));
try {
  const result = await engine.run({
    servers: [flags.server],
    streams: flags.streams,
    durationMs: flags['duration-ms'],
    warmupMs: flags['warmup-ms'],
    pings: flags.pings,
    source: {
      sourceAddress: flags['source-address'] ?? null,
      interface: flags.interface ?? null,
      family: flags.family ? (Number(flags.family) as 4 | 6) : null,
    },
    signal: stop.signal,
    log: (line) => console.error(line),
  });
  printResult({ ok: true, result });
} catch (error) {
  const { name, message } = error as Error;
  const kind = error instanceof SpeedtestError ? error.kind : null;
  printResult({ ok: false, error: { name, kind, message } });
}
