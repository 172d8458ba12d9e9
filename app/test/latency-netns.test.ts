// Latency under load, measured by the librespeed engine on a real shaped link and checked against
// ping: a 20 Mbit/s link (testing/netns.ts) whose client end has a namespace of its own, so the
// engine (app/bench/latency/client.ts, a child process), iperf3 and ping all run from the same
// place, with the same congestion control (cubic, on the link's routes in both namespaces; the
// machine's default may be BBR, which keeps queues short) and the same 6 streams. The built-in
// target (app/bench/speedtest/target.ts) runs in the server's namespace.
//
// The reference is ping: idle, and beside iperf3 saturating each direction; then the engine runs
// with ping beside it, and the ping replies are cut into the engine's own windows (raw.pingWindow,
// raw.loadedLatency.downloadWindow, .uploadWindow). The tolerance is the issue's: 10 % or 2 ms,
// whichever is larger (20 % against ping beside iperf3, which ran at other moments; see there).
// Also: the bufferbloat grade of a deep (300 ms) and a shallow queue, the source address and
// interface as the target sees them, and IPv6. Needs root, ip netns, tc, iperf3 and ping; skipped
// elsewhere. Only the links' private addresses are used.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
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
  type Direction,
  type IperfServer,
  type NamespaceProcess,
  type PingSample,
  type ShapedLink,
} from '../../testing/netns.ts';
import { sleep } from '../../testing/wait.ts';
import { bufferbloat } from '../src/speedtest/bufferbloat.ts';
import type { SpeedtestErrorKind, SpeedtestResult } from '../src/speedtest/engine.ts';

const RATE_MBIT = 20;
const SHALLOW_RATE_MBIT = 100;
const QUEUE_MS = 300;
/** The engine's default, and so iperf3's here too. */
const STREAMS = 6;
const WARMUP_MS = 2_000;
const DURATION_MS = 6_000;
const PORT = 8080;
const PORT6 = 8081;

const unavailable = whyCannotMeasure();
const skip = unavailable && `cannot build a shaped link here: ${unavailable}`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return sorted.length % 2
    ? sorted[Math.floor(middle)]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Within `fraction` of the reference (the 10 %) or 2 ms, whichever is larger. */
function assertClose(
  actual: number,
  reference: number,
  what: string,
  fraction = 0.1,
  samples?: number[],
): void {
  const allowed = Math.max(fraction * reference, 2);
  const detail = samples
    ? `; the engine's samples: ${samples.map((v) => v.toFixed(1)).join(' ')}`
    : '';
  assert.ok(
    Math.abs(actual - reference) <= allowed,
    `${what}: ${actual.toFixed(2)} ms against ${reference.toFixed(2)} ms (±${allowed.toFixed(2)} ms)${detail}`,
  );
}

interface Window {
  from: number;
  to: number;
}
type EngineResult = Omit<SpeedtestResult, 'raw' | 'startedAt'> & {
  raw: {
    pingWindow: Window;
    pingSamplesMs: number[];
    loadedLatency: {
      downloadWindow: Window;
      uploadWindow: Window;
      downloadSamplesMs: number[];
      uploadSamplesMs: number[];
    };
  };
};
type Outcome =
  | { ok: true; result: EngineResult }
  | { ok: false; error: { name: string; kind: SpeedtestErrorKind | null; message: string } };

/** One engine run in the client's namespace; its last line of output is the outcome. */
async function runEngine(link: ShapedLink, server: string, args: string[]): Promise<Outcome> {
  const client = ['app/bench/latency/client.ts', '--server', server, ...args];
  const { status, stdout, stderr } = await runCommand(
    link.inClient([process.execPath, '--import', 'tsx', ...client]),
    { cwd: REPO_ROOT },
  );
  try {
    return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Outcome;
  } catch {
    throw new Error(`the engine's client printed no outcome (exit ${status}): ${stderr}${stdout}`);
  }
}

function succeeded(outcome: Outcome): EngineResult {
  if (!outcome.ok) assert.fail(`the engine failed: ${JSON.stringify(outcome.error)}`);
  return outcome.result;
}

const startTarget = (link: ShapedLink, host: string, port: number) =>
  startProcess(
    link.inServer([
      process.execPath,
      '--import',
      'tsx',
      'app/bench/speedtest/target.ts',
      '--host',
      host,
      '--port',
      String(port),
    ]),
    /ready/,
    { cwd: REPO_ROOT },
  );

describe(
  'latency under load on a shaped link: the librespeed engine against ping',
  { skip },
  () => {
    let link: ShapedLink;
    let iperf: IperfServer | undefined;
    const targets: NamespaceProcess[] = [];
    let url = '';
    let url6 = '';
    /** Ping's medians: idle, and beside iperf3 in each direction. */
    const reference: { idle?: number } & Partial<Record<Direction, number>> = {};
    const summary: Record<string, unknown> = {};

    before(async () => {
      link = createShapedLink({
        name: 'lat-deep',
        rateMbit: RATE_MBIT,
        queueLatencyMs: QUEUE_MS,
        ipv4Subnet: '10.213.11.0/24',
        clientNamespace: true,
      });
      url = `http://${link.serverIp}:${PORT}/speedtest/`;
      url6 = `http://[${link.serverIp6}]:${PORT6}/speedtest/`;
      targets.push(
        ...(await Promise.all([
          startTarget(link, link.serverIp, PORT),
          startTarget(link, link.serverIp6, PORT6),
        ])),
      );
    });
    after(async () => {
      await iperf?.stop();
      await Promise.all(targets.map((target) => target.stop()));
      link?.remove();
      console.log(`latency-netns: ${JSON.stringify(summary)}`);
    });

    it(`reference: ping idle, and beside iperf3 (${STREAMS} streams) saturating each direction`, async () => {
      const idle = await ping(link.serverIp, { ns: link.clientNs, count: 10, intervalS: 0.1 });
      assert.equal(idle.length, 10);
      reference.idle = median(idle);
      iperf = await startIperfServer(link);
      for (const direction of ['download', 'upload'] as const) {
        // As the engine measures: after the same warm-up, for the same time, every 200 ms.
        const load = await runIperf(link, iperf, {
          direction,
          seconds: (WARMUP_MS + DURATION_MS) / 1000 + 1,
          streams: STREAMS,
        });
        await sleep(WARMUP_MS);
        const rtts = await ping(link.serverIp, {
          ns: link.clientNs,
          count: DURATION_MS / 200,
          intervalS: 0.2,
        });
        // To its end: a run stopped early reports no congestion control.
        const result = await load.done;
        assert.equal(result.congestion, 'cubic');
        assert.ok(rtts.length >= DURATION_MS / 200 - 5, `${rtts.length} replies under load`);
        reference[direction] = median(rtts);
        // A standing queue near the full one (TCP small queues hold 6 streams a little below it).
        assert.ok(
          reference[direction] > QUEUE_MS * 0.75 && reference[direction] < link.fullQueueMs + 50,
          `ping beside iperf3 (${direction}): ${reference[direction]} ms`,
        );
      }
      summary.reference = reference;
    });

    it('the engine: idle and loaded latency as ping beside it sees them, and as beside iperf3; grade D or F', async () => {
      const pinging = await startPing(link.serverIp, { ns: link.clientNs, intervalS: 0.2 });
      const pingStarted = Date.now();
      // Idle ping samples before the engine's own idle ping (its process starts in the meantime).
      await sleep(1_000);
      let outcome: Outcome;
      let samples: PingSample[];
      try {
        outcome = await runEngine(link, url, [
          '--duration-ms',
          String(DURATION_MS),
          '--warmup-ms',
          String(WARMUP_MS),
          '--streams',
          String(STREAMS),
        ]);
      } finally {
        samples = await pinging.stop();
      }
      const result = succeeded(outcome);
      const { pingWindow, loadedLatency } = result.raw;
      // The engine's idle pings take a few ms in all, too short a window for a ping every 200 ms:
      // the idle bucket is everything ping saw from its start until that window's end, all idle.
      const idle = samplesIn(samples, { from: pingStarted, to: pingWindow.to });
      const down = samplesIn(samples, loadedLatency.downloadWindow);
      const up = samplesIn(samples, loadedLatency.uploadWindow);
      assert.ok(idle.length >= 3, `${idle.length} idle ping replies`);
      assert.ok(
        down.length >= 20 && up.length >= 20,
        `${down.length}, ${up.length} loaded replies`,
      );
      assert.ok(result.downloadLatency && result.uploadLatency, 'loaded latency measured');
      const figures = {
        idle_ms: result.pingMs,
        idle_ping_ms: median(idle),
        loaded_down_ms: result.downloadLatency.latencyMs,
        loaded_down_ping_ms: median(down),
        loaded_up_ms: result.uploadLatency.latencyMs,
        loaded_up_ping_ms: median(up),
        down_mbit: result.downloadBps / 1e6,
        up_mbit: result.uploadBps / 1e6,
        probes: [loadedLatency.downloadSamplesMs.length, loadedLatency.uploadSamplesMs.length],
        grade: bufferbloat(result)?.grade,
      };
      summary.deep = figures;
      // The engine's idle ping is an HTTP request through two Node processes (about 1 ms here):
      // the 2 ms leave it a margin of about 1 ms, which a busy machine's stalls can take.
      assertClose(figures.idle_ms, figures.idle_ping_ms, 'idle', 0.1, result.raw.pingSamplesMs);
      assertClose(figures.loaded_down_ms, figures.loaded_down_ping_ms, 'download, ping beside');
      assertClose(figures.loaded_up_ms, figures.loaded_up_ping_ms, 'upload, ping beside');
      // Against ping beside iperf3, a few seconds earlier: not the same moments of the queue, whose
      // level under 6 cubic streams moves between runs (263–303 ms measured here). 37 of 38
      // comparisons in 19 runs were within 10 %, one was 13 % off, so this holds the engine to a
      // 20 % that catches a queue it fills differently; the 10 % is held against ping beside it.
      if (reference.download && reference.upload) {
        assertClose(figures.loaded_down_ms, reference.download, 'download, against iperf3', 0.2);
        assertClose(figures.loaded_up_ms, reference.upload, 'upload, against iperf3', 0.2);
      }
      assert.ok(
        ['D', 'F'].includes(figures.grade ?? ''),
        `grade ${figures.grade} on a 300 ms queue`,
      );
    });

    // 100 Mbit/s, so that tbf's bucket (at least 64 KiB, one GSO packet) adds 10 ms, not the 26 ms
    // it would at 20 Mbit/s (which grades A or B by a hair). A smaller bucket at 20 Mbit/s makes a
    // queue of some 20 packets, and 6 cubic streams then drop so many of them that 20–30 % of the
    // engine's probes wait out a 200 ms retransmission timeout (ping's replies do not): its median
    // then reads C now and then. Here no probe waits for one.
    it('a shallow queue (100 Mbit/s, tbf latency 5 ms: ~15 ms full) grades A+ or A', async () => {
      const shallow = createShapedLink({
        name: 'lat-flat',
        rateMbit: SHALLOW_RATE_MBIT,
        queueLatencyMs: 5,
        ipv4Subnet: '10.213.12.0/24',
        clientNamespace: true,
      });
      try {
        const target = await startTarget(shallow, shallow.serverIp, PORT);
        try {
          const result = succeeded(
            await runEngine(shallow, `http://${shallow.serverIp}:${PORT}/speedtest/`, [
              '--duration-ms',
              '3000',
              '--warmup-ms',
              '1000',
            ]),
          );
          const grade = bufferbloat(result);
          summary.shallow = {
            idle_ms: result.pingMs,
            loaded_down_ms: result.downloadLatency?.latencyMs,
            loaded_up_ms: result.uploadLatency?.latencyMs,
            grade: grade?.grade,
          };
          assert.ok(['A+', 'A'].includes(grade?.grade ?? ''), JSON.stringify(summary.shallow));
        } finally {
          await target.stop();
        }
      } finally {
        shallow.remove();
      }
    });

    it('binds to a source address and to an interface, as the target sees them', async () => {
      // Every connection of the run, watched from the server's side while it runs.
      const peers = new Set<string>();
      const watch = setInterval(() => {
        const ss = spawnSync(
          'ip',
          ['netns', 'exec', link.ns, 'ss', '-Htn', 'state', 'established', `sport = :${PORT}`],
          { encoding: 'utf8' },
        );
        for (const line of ss.stdout.split('\n')) {
          const peer = line.trim().split(/\s+/).at(-1);
          if (peer) peers.add(peer.replace(/:\d+$/, ''));
        }
      }, 50);
      const quick = ['--duration-ms', '1000', '--warmup-ms', '0'];
      let bound: EngineResult;
      try {
        bound = succeeded(await runEngine(link, url, [...quick, '--source-address', link.hostIp2]));
      } finally {
        clearInterval(watch);
      }
      assert.equal(bound.client?.ip, link.hostIp2, 'the address getIP saw');
      assert.deepEqual(bound.source, { address: link.hostIp2, interface: null, family: 4 });
      assert.deepEqual([...peers], [link.hostIp2], 'the peers of the target’s connections');

      // The interface's first usable address (IPv4 here: hostIp, then hostIp2, then hostIp6).
      const byInterface = succeeded(
        await runEngine(link, url, [...quick, '--interface', link.hostDevice]),
      );
      assert.deepEqual(byInterface.source, {
        address: link.hostIp,
        interface: link.hostDevice,
        family: 4,
      });
      assert.equal(byInterface.client?.ip, link.hostIp);
    });

    it('IPv6: family 6 reaches an IPv6 target from the IPv6 address; family 4 is bad-source', async () => {
      const quick = ['--duration-ms', '1000', '--warmup-ms', '0'];
      const over6 = succeeded(await runEngine(link, url6, [...quick, '--family', '6']));
      assert.equal(over6.source.family, 6);
      assert.equal(over6.source.address, link.hostIp6);
      assert.equal(over6.client?.ip, link.hostIp6);
      assert.ok(over6.downloadBps > 0 && over6.uploadBps > 0);

      const over4 = await runEngine(link, url6, [...quick, '--family', '4']);
      assert.ok(!over4.ok, 'family 4 against an IPv6 URL must fail');
      assert.equal(over4.error.kind, 'bad-source');
      assert.ok(over4.error.message.includes(`[${link.serverIp6}]:${PORT6}`), over4.error.message);
      assert.match(over4.error.message, /IPv4/);
    });
  },
);
