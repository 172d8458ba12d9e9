// The shaped link of testing/netns.ts that the latency-under-load tests run on, checked against
// ping and iperf3: it carries IPv4 and IPv6, holds the rate, builds the standing queue it promises
// under a saturating load in each direction (the numbers are printed, they are the reference), goes
// down and up on demand, and leaves nothing behind; and a link whose client end has a namespace of
// its own, where TCP takes the congestion control of the link's routes (cubic), not the machine's.
// Needs root, ip netns, tc, iperf3 and ping; skipped elsewhere. Only the link's private addresses
// are used.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import {
  createShapedLink,
  ping,
  runCommand,
  runIperf,
  startIperfServer,
  whyCannotMeasure,
  type Direction,
  type IperfServer,
  type ShapedLink,
} from '../../testing/netns.ts';
import { sleep } from '../../testing/wait.ts';

const RATE_MBIT = 20;
const QUEUE_MS = 300;
const LOAD_S = 6;
// One TCP stream keeps only ~2 GSO packets (~50 ms at 20 Mbit/s) in its own host's queue (TCP
// small queues), so it takes several to fill 300 ms; eight fill it with room to spare.
const STREAMS = 8;

const unavailable = whyCannotMeasure();

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

const netnsList = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
const hasNamespace = (ns: string) =>
  netnsList()
    .split('\n')
    .some((line) => line.split(' ')[0] === ns);

const skip = unavailable && `cannot build a shaped link here: ${unavailable}`;

describe('shaped link (testing/netns.ts)', { skip }, () => {
  let link: ShapedLink;
  let server: IperfServer | undefined;
  let idleMs = 0;
  const loadedMs: Partial<Record<Direction, number>> = {};

  before(() => {
    link = createShapedLink({
      name: 'nl-test',
      rateMbit: RATE_MBIT,
      queueLatencyMs: QUEUE_MS,
      ipv4Subnet: '10.213.9.0/24',
    });
  });
  after(async () => {
    await server?.stop();
    link?.remove();
    console.log(
      `netns-link: ${RATE_MBIT} Mbit/s, tbf latency ${QUEUE_MS} ms (full queue ` +
        `${link?.fullQueueMs.toFixed(0)} ms): ping median idle ${idleMs} ms, loaded download ` +
        `${loadedMs.download} ms, loaded upload ${loadedMs.upload} ms`,
    );
  });

  it('carries IPv4 and IPv6 both ways, from either client address', async () => {
    const idle = await ping(link.serverIp, { count: 20, intervalS: 0.05 });
    assert.equal(idle.length, 20);
    idleMs = percentile(idle, 50);
    assert.ok(idleMs < 5, `idle RTT ${idleMs} ms`);
    assert.equal((await ping(link.serverIp6, { count: 5, intervalS: 0.05 })).length, 5);
    assert.equal((await ping(link.hostIp, { count: 3, intervalS: 0.05, ns: link.ns })).length, 3);
    assert.equal((await ping(link.hostIp6, { count: 3, intervalS: 0.05, ns: link.ns })).length, 3);
    const fromSecond = await ping(link.serverIp, {
      count: 3,
      intervalS: 0.05,
      source: link.hostIp2,
    });
    assert.equal(fromSecond.length, 3);
  });

  for (const direction of ['download', 'upload'] as const) {
    it(`holds the rate and, saturated (${direction}), the RTT rises to the full queue`, async () => {
      server ??= await startIperfServer(link);
      const dropsBefore = link.queue(direction).drops;
      const load = await runIperf(link, server, {
        direction,
        seconds: LOAD_S,
        streams: STREAMS,
        omitS: 1,
      });
      // Past slow start: the queue stands, then ping goes through it for 3 of the 6 seconds.
      await sleep(1_500);
      const backlog: number[] = [];
      const sampler = setInterval(() => backlog.push(link.queue(direction).backlogBytes), 100);
      const rtts = await ping(link.serverIp, { count: 30, intervalS: 0.1 });
      clearInterval(sampler);
      const result = await load.done;
      const median = percentile(rtts, 50);
      loadedMs[direction] = median;
      const queueMs = (bytes: number) => Math.round((bytes * 8) / (RATE_MBIT * 1000));
      console.log(
        JSON.stringify({
          direction,
          streams: STREAMS,
          congestion: result.congestion,
          goodput_mbit: Number(result.receivedMbit.toFixed(2)),
          retransmits: result.retransmits,
          tbf_drops: link.queue(direction).drops - dropsBefore,
          ping_replies: rtts.length,
          ping_ms: { p10: percentile(rtts, 10), p50: median, p90: percentile(rtts, 90) },
          queue_ms: {
            p10: queueMs(percentile(backlog, 10)),
            p90: queueMs(percentile(backlog, 90)),
          },
        }),
      );
      // Goodput is TCP payload: ~4.5 % below the rate tbf counts in frame bytes.
      assert.ok(
        Math.abs(result.receivedMbit - RATE_MBIT) < RATE_MBIT * 0.15,
        `goodput ${result.receivedMbit} Mbit/s`,
      );
      assert.ok(rtts.length >= 25, `${rtts.length} of 30 replies under load`);
      assert.ok(
        median > QUEUE_MS * 0.75 && median < link.fullQueueMs + 50,
        `loaded RTT ${median} ms, the full queue is ${link.fullQueueMs} ms`,
      );
    });
  }

  it('a client namespace of its own: inClient(), cubic from the routes, down/up, removed with it', async () => {
    const own = createShapedLink({
      name: 'nl-cli',
      rateMbit: RATE_MBIT,
      queueLatencyMs: QUEUE_MS,
      ipv4Subnet: '10.213.14.0/24',
      clientNamespace: true,
    });
    let iperf: IperfServer | undefined;
    try {
      assert.equal(own.clientNs, 'rf-nl-cli-c');
      assert.deepEqual(own.inClient(['true']), ['ip', 'netns', 'exec', 'rf-nl-cli-c', 'true']);
      assert.ok(hasNamespace(own.clientNs), netnsList());
      // The client end left the root namespace.
      assert.notEqual(spawnSync('ip', ['link', 'show', own.hostDevice]).status, 0);
      assert.equal(spawnSync('ip', ['-n', own.clientNs, 'link', 'show', own.hostDevice]).status, 0);
      const pings = { ns: own.clientNs, count: 3, intervalS: 0.05 };
      assert.equal((await ping(own.serverIp, pings)).length, 3);
      assert.equal((await ping(own.serverIp6, pings)).length, 3);
      assert.equal((await ping(own.hostIp6, { ...pings, ns: own.ns })).length, 3);
      const linkRoutes = () =>
        [
          own.inClient(['ip', '-4', 'route', 'show', '10.213.14.0/24']),
          own.inClient(['ip', '-6', 'route', 'show', 'fd00:213:14::/64']),
          own.inServer(['ip', '-4', 'route', 'show', '10.213.14.0/24']),
          own.inServer(['ip', '-6', 'route', 'show', 'fd00:213:14::/64']),
        ].map((command) => spawnSync(command[0]!, command.slice(1), { encoding: 'utf8' }).stdout);
      for (const route of linkRoutes()) assert.match(route, /congctl cubic/);
      // iperf3 without -C: the sockets on both sides take the route's cubic, not the machine's
      // default (BBR here).
      iperf = await startIperfServer(own);
      const plain = await runCommand(
        own.inClient(['iperf3', '-c', own.serverIp, '-p', String(iperf.port), '-t', '1', '-J']),
      );
      const end = (JSON.parse(plain.stdout) as { end: Record<string, string> }).end;
      assert.equal(end.sender_tcp_congestion, 'cubic');
      assert.equal(end.receiver_tcp_congestion, 'cubic');
      own.down();
      assert.deepEqual(await ping(own.serverIp, pings), []);
      own.up();
      assert.equal((await ping(own.serverIp, pings)).length, 3);
      assert.equal((await ping(own.serverIp6, pings)).length, 3);
      // The kernel put the IPv4 routes back without the congestion control; up() sets it again.
      for (const route of linkRoutes()) assert.match(route, /congctl cubic/);
      assert.ok(own.queue('upload').sentBytes > 0);
    } finally {
      await iperf?.stop();
      own.remove();
    }
    assert.ok(!hasNamespace('rf-nl-cli-c') && !hasNamespace('rf-nl-cli'), netnsList());
  });

  it('down() cuts the link, up() restores it', async () => {
    link.down();
    assert.deepEqual(await ping(link.serverIp, { count: 3, intervalS: 0.1 }), []);
    assert.deepEqual(await ping(link.serverIp6, { count: 3, intervalS: 0.1 }), []);
    link.up();
    assert.equal((await ping(link.serverIp, { count: 3, intervalS: 0.1 })).length, 3);
    assert.equal((await ping(link.serverIp6, { count: 3, intervalS: 0.1 })).length, 3);
    // The outage kept the shaping.
    assert.ok(link.queue('download').sentBytes > 0);
  });

  it('replaces a leftover namespace, and leaves none when it fails', () => {
    spawnSync('ip', ['netns', 'add', 'rf-nl-left']);
    const replaced = createShapedLink({
      name: 'nl-left',
      rateMbit: RATE_MBIT,
      queueLatencyMs: QUEUE_MS,
      ipv4Subnet: '10.213.10.0/24',
    });
    replaced.remove();
    // The same subnet as the running link: refused, and its namespace is gone again.
    assert.throws(
      () =>
        createShapedLink({
          name: 'nl-clash',
          rateMbit: 1,
          queueLatencyMs: 10,
          ipv4Subnet: '10.213.9.0/24',
        }),
      /10\.213\.9\.0\/24 is in use here already/,
    );
    assert.ok(!hasNamespace('rf-nl-clash'), netnsList());
    assert.ok(!hasNamespace('rf-nl-left'), netnsList());
  });

  it('remove() deletes the namespace and the veth pair, twice without complaint', async () => {
    await server?.stop();
    server = undefined;
    link.remove();
    link.remove();
    assert.ok(!hasNamespace(link.ns), netnsList());
    assert.notEqual(spawnSync('ip', ['link', 'show', link.hostDevice]).status, 0);
  });
});
