// bench:latency — latency under load as the librespeed engine measures it, against ping.
//
// As root, where `ip netns` and `tc` work and iperf3 and ping are installed, it builds a shaped
// link (testing/netns.ts) with a deep queue: tbf at --rate Mbit/s with --queue-ms of latency, each
// end in a network namespace of its own, TCP congestion control cubic in both (set on the link's
// routes; the root namespace is not touched). Everything on the client side runs in the client's
// namespace: ping, iperf3 and the engine (app/bench/latency/client.ts); the built-in target and
// iperf3's server run in the server's.
//
// First the reference: ping idle, then ping (every 200 ms) beside iperf3 saturating the download
// (-R) and then the upload, with the engine's stream count, after its warm-up, for its duration.
// Then the engine runs with `ping -D -i 0.2` beside it, and the ping replies are cut into the
// engine's own windows (raw.pingWindow — widened back to ping's start, as that window lasts only
// a few milliseconds — and raw.loadedLatency.downloadWindow and .uploadWindow): the *_ping_ms
// figures are their medians, the same moments the engine's figures cover.
//
// Last, outage detection: a ProbeMonitor (app/src/probe/monitor.ts, with the worker's checker and
// the probe defaults: TCP connects to the target, two failed rounds make an outage, 2 s timeout)
// runs in the client's namespace every --probe-period seconds (the 5 s floor by default); the link
// goes down half a period after a round and comes back half a period after a failed round, the
// average case of a link that fails and returns at random moments. outage_detect_s is from down()
// to outageStarted, recovery_detect_s from up() to outageEnded.
//
// The namespaces are deleted at the end, also on failure, Ctrl-C or SIGTERM. Only the link's
// private addresses are used.
//   sudo npm run bench:latency [-- --rate 20 --queue-ms 300 --seconds 6 --warmup 2 --streams 6
//                                  --probe-period 5]
import { z } from 'zod';
import { REPO_ROOT } from '../../contract/paths.ts';
import {
  createShapedLink,
  ping,
  runCommand,
  runIperf,
  samplesIn,
  startIperfServer,
  startPing,
  startProcess,
  whyCannotMeasure,
  type NamespaceProcess,
  type PingSample,
  type ShapedLink,
} from '../../testing/netns.ts';
import { sleep, waitFor } from '../../testing/wait.ts';
import { PROBE_MIN_PERIOD_S } from '../src/probe/definition.ts';
import { bufferbloat } from '../src/speedtest/bufferbloat.ts';
import type { SpeedtestResult } from '../src/speedtest/engine.ts';
import { count, parseFlags, printResult, round } from './common.ts';

const flags = parseFlags(
  'latency',
  z.object({
    rate: count(1, 1000, 20),
    'queue-ms': count(1, 2000, 300),
    seconds: count(1, 60, 6),
    warmup: count(0, 30, 2),
    streams: count(1, 32, 6),
    'probe-period': count(PROBE_MIN_PERIOD_S, 60, PROBE_MIN_PERIOD_S),
  }),
);
/** The probe's defaults (app/src/probe/definition.ts): two failed rounds make an outage. */
const PROBE_FAILURES = 2;
const PROBE_TIMEOUT_MS = 2_000;
const PORT = 8080;
/** ping's interval, the engine's loaded-latency period (LOADED_PROBE_PERIOD_MS). */
const PING_INTERVAL_S = 0.2;

function median(values: number[]): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return sorted.length % 2
    ? sorted[Math.floor(middle)]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
const ms = (value: number | null | undefined) => (value == null ? null : round(value, 2));

const unavailable = whyCannotMeasure();
if (unavailable) {
  console.error(`bench:latency: cannot build a shaped link here: ${unavailable}`);
  process.exit(1);
}

type Window = { from: number; to: number };
type EngineResult = Omit<SpeedtestResult, 'raw'> & {
  raw: {
    pingWindow: Window;
    loadedLatency: {
      periodMs: number;
      downloadWindow: Window;
      uploadWindow: Window;
      downloadSamplesMs: number[];
      uploadSamplesMs: number[];
    };
  };
};

const link: ShapedLink = createShapedLink({
  name: 'rfb-lat',
  rateMbit: flags.rate,
  queueLatencyMs: flags['queue-ms'],
  ipv4Subnet: '10.213.13.0/24',
  clientNamespace: true,
});
const children: NamespaceProcess[] = [];
// Node runs no exit handlers when a signal ends it: the namespaces go here, and every process in
// them (target, iperf3, ping, the engine) with them.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    link.remove();
    process.exit(130);
  });
}

/** Ping's median beside iperf3 loading one direction, over the engine's measured window. */
async function besideIperf(
  direction: 'download' | 'upload',
  server: Awaited<ReturnType<typeof startIperfServer>>,
) {
  const load = await runIperf(link, server, {
    direction,
    seconds: flags.warmup + flags.seconds + 1,
    streams: flags.streams,
  });
  await sleep(flags.warmup * 1000);
  const rtts = await ping(link.serverIp, {
    ns: link.clientNs,
    count: Math.round(flags.seconds / PING_INTERVAL_S),
    intervalS: PING_INTERVAL_S,
  });
  const result = await load.done;
  console.error(
    `iperf3 ${direction}: ${result.receivedMbit.toFixed(1)} Mbit/s (${result.congestion}), ping median ${median(rtts)} ms over ${rtts.length} replies`,
  );
  return { pingMs: median(rtts), mbit: result.receivedMbit };
}

async function engineWithPing(): Promise<{
  result: EngineResult;
  samples: PingSample[];
  pingFrom: number;
}> {
  const pinging = await startPing(link.serverIp, { ns: link.clientNs, intervalS: PING_INTERVAL_S });
  const pingFrom = Date.now();
  let run: Awaited<ReturnType<typeof runCommand>>;
  let samples: PingSample[];
  try {
    // Idle replies before the engine's own idle ping.
    await sleep(1_000);
    run = await runCommand(
      link.inClient([
        process.execPath,
        '--import',
        'tsx',
        'app/bench/latency/client.ts',
        '--server',
        `http://${link.serverIp}:${PORT}/speedtest/`,
        '--duration-ms',
        String(flags.seconds * 1000),
        '--warmup-ms',
        String(flags.warmup * 1000),
        '--streams',
        String(flags.streams),
      ]),
      { cwd: REPO_ROOT },
    );
  } finally {
    samples = await pinging.stop();
  }
  process.stderr.write(run.stderr);
  const outcome = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? 'null') as
    { ok: true; result: EngineResult } | { ok: false; error: { message: string } } | null;
  if (!outcome) throw new Error(`the engine's client printed nothing (exit ${run.status})`);
  if (!outcome.ok) throw new Error(`the engine failed: ${outcome.error.message}`);
  return { result: outcome.result, samples, pingFrom };
}

type ProbeEvent =
  | { event: 'started'; at: number }
  | { event: 'round'; at: number; ok: boolean }
  | { event: 'outage-started'; since: number; at: number }
  | { event: 'outage-ended'; round: number; at: number };

/**
 * How soon a ProbeMonitor (the worker's, with its checker: TCP connects to the target, from the
 * client's namespace) reports an outage that begins, and one that ends, half a period after a
 * round: the average case of a link that fails at a random moment.
 */
async function outageDetection(): Promise<{ detectS: number; recoveryS: number }> {
  const period = flags['probe-period'] * 1000;
  const monitor = await startProcess(
    link.inClient([
      process.execPath,
      '--import',
      'tsx',
      'app/bench/latency/probe.ts',
      '--target',
      `${link.serverIp}:${PORT}`,
      '--period',
      String(flags['probe-period']),
      '--timeout-ms',
      String(PROBE_TIMEOUT_MS),
      '--failures',
      String(PROBE_FAILURES),
    ]),
    /"started"/,
    { cwd: REPO_ROOT },
  );
  children.push(monitor);
  const events = () =>
    monitor
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as ProbeEvent);
  /** The first event after the `after`-th one that matches. */
  const next = <E extends ProbeEvent['event']>(event: E, after: number, ok?: boolean) =>
    waitFor(
      () => {
        const index = events().findIndex(
          (e, i) =>
            i >= after && e.event === event && (ok === undefined || ('ok' in e && e.ok === ok)),
        );
        return index < 0
          ? null
          : { index, event: events()[index] as Extract<ProbeEvent, { event: E }> };
      },
      { timeoutMs: period * (PROBE_FAILURES + 3), intervalMs: 10, what: `the probe's ${event}` },
    );
  const halfAfter = async (at: number) => sleep(Math.max(0, at + period / 2 - Date.now()));
  try {
    const good = await next('round', 0, true);
    await halfAfter(good.event.at);
    link.down();
    const downAt = Date.now();
    const started = await next('outage-started', good.index + 1);
    const failed = await next('round', started.index + 1, false);
    await halfAfter(failed.event.at);
    link.up();
    const upAt = Date.now();
    const ended = await next('outage-ended', failed.index + 1);
    console.error(
      `probe: outage reported ${started.event.at - downAt} ms after it began, its end ${ended.event.at - upAt} ms after it ended`,
    );
    return {
      detectS: (started.event.at - downAt) / 1000,
      recoveryS: (ended.event.at - upAt) / 1000,
    };
  } finally {
    link.up();
    await monitor.stop();
  }
}

try {
  const idle = await ping(link.serverIp, { ns: link.clientNs, count: 20, intervalS: 0.1 });
  const iperfServer = await startIperfServer(link);
  const iperfDown = await besideIperf('download', iperfServer);
  const iperfUp = await besideIperf('upload', iperfServer);
  await iperfServer.stop();

  children.push(
    await startProcess(
      link.inServer([
        process.execPath,
        '--import',
        'tsx',
        'app/bench/speedtest/target.ts',
        '--host',
        link.serverIp,
        '--port',
        String(PORT),
      ]),
      /ready/,
      { cwd: REPO_ROOT },
    ),
  );
  const { result, samples, pingFrom } = await engineWithPing();
  const { pingWindow, loadedLatency } = result.raw;
  const idlePing = samplesIn(samples, { from: pingFrom, to: pingWindow.to });
  const downPing = samplesIn(samples, loadedLatency.downloadWindow);
  const upPing = samplesIn(samples, loadedLatency.uploadWindow);
  const bloat = bufferbloat(result);
  const outage = await outageDetection();
  printResult({
    bench: 'latency',
    rate_mbit: flags.rate,
    queue_ms: flags['queue-ms'],
    full_queue_ms: round(link.fullQueueMs, 1),
    streams: flags.streams,
    seconds: flags.seconds,
    warmup_s: flags.warmup,
    congestion: link.congestion,
    idle_ms: ms(result.pingMs),
    idle_ping_ms: ms(median(idlePing)),
    loaded_down_ms: ms(result.downloadLatency?.latencyMs),
    loaded_down_ping_ms: ms(median(downPing)),
    loaded_up_ms: ms(result.uploadLatency?.latencyMs),
    loaded_up_ping_ms: ms(median(upPing)),
    iperf_idle_ping_ms: ms(median(idle)),
    iperf_down_ping_ms: ms(iperfDown.pingMs),
    iperf_up_ping_ms: ms(iperfUp.pingMs),
    down_mbit: round(result.downloadBps / 1e6, 2),
    up_mbit: round(result.uploadBps / 1e6, 2),
    iperf_down_mbit: round(iperfDown.mbit, 2),
    iperf_up_mbit: round(iperfUp.mbit, 2),
    increase_ms: ms(bloat?.increaseMs),
    grade: bloat?.grade ?? null,
    replies: {
      idle_ping: idlePing.length,
      down_ping: downPing.length,
      up_ping: upPing.length,
      down_engine: loadedLatency.downloadSamplesMs.length,
      up_engine: loadedLatency.uploadSamplesMs.length,
    },
    // The engine's loaded-latency probes (raw.loadedLatency.periodMs), not the probe module's.
    engine_probe_period_ms: loadedLatency.periodMs,
    probe_period_s: flags['probe-period'],
    probe_failures_for_outage: PROBE_FAILURES,
    outage_detect_s: round(outage.detectS, 2),
    recovery_detect_s: round(outage.recoveryS, 2),
  });
} finally {
  await Promise.all(children.map((child) => child.stop()));
  link.remove();
}
