// One ProbeMonitor (app/src/probe/monitor.ts) with the worker's own checker, for bench:latency to
// run inside the client's network namespace while it takes the link down and up. Prints one JSON
// line per event, every time in Unix ms (Date.now(), the clock the bench uses):
//   {"event":"round","at":…,"ok":true}      every round, once its checks are back
//   {"event":"outage-started","since":…,"at":…}
//   {"event":"outage-ended","round":…,"at":…}
// and runs until SIGTERM or SIGINT.
//   node --import tsx app/bench/latency/probe.ts --target 10.213.13.1:8080 [--kind tcp]
//     [--period 5] [--timeout-ms 2000] [--failures 2]
import { z } from 'zod';
import { checkTarget } from '../../src/probe/check.ts';
import { PROBE_MIN_PERIOD_S } from '../../src/probe/definition.ts';
import { ProbeMonitor } from '../../src/probe/monitor.ts';
import { count, parseFlags } from '../common.ts';

const flags = parseFlags(
  'latency',
  z.object({
    target: z.string().min(1),
    kind: z.enum(['tcp', 'http']).default('tcp'),
    period: count(PROBE_MIN_PERIOD_S, 3_600, PROBE_MIN_PERIOD_S),
    'timeout-ms': count(100, 30_000, 2_000),
    failures: count(1, 10, 2),
  }),
);
const say = (line: Record<string, unknown>) => console.log(JSON.stringify(line));

const monitor = new ProbeMonitor(
  {
    id: 1,
    name: 'bench',
    kind: flags.kind,
    targets: [flags.target],
    periodSeconds: flags.period,
    timeoutMs: flags['timeout-ms'],
    failuresForOutage: flags.failures,
  },
  {
    round: (_probe, at, results) =>
      say({ event: 'round', at: at.getTime(), ok: results.some(({ result }) => result.ok) }),
    outageStarted: (_probe, since) =>
      say({ event: 'outage-started', since: since.getTime(), at: Date.now() }),
    outageEnded: (_probe, round) =>
      say({ event: 'outage-ended', round: round.getTime(), at: Date.now() }),
  },
  { check: checkTarget },
);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void monitor.stop().then(() => process.exit(0)));
}
monitor.start();
say({ event: 'started', at: Date.now() });
