// A shaped network link for tests that need a real, slow, queueing path (latency under load): a veth
// pair whose server end lives in a network namespace this helper creates. Its client end stays in
// the root namespace, so the code under test runs in-process as the client, or (`clientNamespace`)
// lives in a second namespace of its own, so that everything on the client side (the code under
// test as a child process, iperf3, ping) runs in one place with one TCP configuration. Both ends
// are shaped with tbf (this kernel has tbf and htb, no netem), each on what it sends, with a deep
// queue: a saturating load builds a standing queue of known depth, which is the bufferbloat to
// measure. Needs root, `ip netns` and `tc`; `canShape()` tells a test whether to skip. Only the
// private addresses of the link (and loopback) are ever used, and nothing in the root namespace
// changes but the client end's device and addresses (root-namespace mode only).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { waitFor } from './wait.ts';

export interface ShapedLink {
  /** The server-side network namespace. */
  ns: string;
  /** The client side's namespace (`rf-<name>-c`); null: the client end is in the root namespace. */
  clientNs: string | null;
  /** The veth end in the namespace (shapes what the server sends: downloads). */
  serverDevice: string;
  /** The client side's veth end, in the root namespace or in `clientNs` (shapes uploads). */
  hostDevice: string;
  /** IPv4 addresses in a /24 that exists only on this veth pair. */
  serverIp: string;
  hostIp: string;
  /** A second client address on the host end, for a test that needs two client sources. */
  hostIp2: string;
  /** IPv6 ULA addresses (a /64 only on this veth pair), added without duplicate detection. */
  serverIp6: string;
  hostIp6: string;
  rateMbit: number;
  queueLatencyMs: number;
  burstBytes: number;
  /**
   * How long a packet waits behind a full queue: tbf holds rate × latency + burst bytes, so a
   * saturated direction adds about this much to the round trip.
   */
  fullQueueMs: number;
  /**
   * The TCP congestion control of every connection over the link that starts or ends in a
   * namespace of this link (null: the machine's default, which root-namespace clients keep).
   */
  congestion: string | null;
  /** Prefixes `ip netns exec <ns>`: the command runs on the server side. */
  inServer(command: string[]): string[];
  /** Runs the command on the client side: in `clientNs`, or unchanged in the root namespace. */
  inClient(command: string[]): string[];
  /** What the tbf of one direction holds and has done so far. */
  queue(direction: Direction): QueueStats;
  /** An outage: the host end goes down (both ends lose carrier), addresses and shaping stay. */
  down(): void;
  /** Ends the outage; the routes (and so the congestion control) are as they were. */
  up(): void;
  /** Ends every process left in the namespaces, deletes them and so the veth pair; idempotent. */
  remove(): void;
}

/** download: server to client (the namespace end's queue); upload: client to server. */
export type Direction = 'download' | 'upload';

export interface QueueStats {
  backlogBytes: number;
  backlogPackets: number;
  drops: number;
  sentBytes: number;
}

export interface LinkOptions {
  /** Names the namespace (`rf-<name>`) and the devices (`<name>-h`, `<name>-s`): [a-z0-9-], ≤ 13. */
  name: string;
  rateMbit: number;
  /** tbf's latency: how long the queue in each direction can grow before tbf drops. */
  queueLatencyMs: number;
  /**
   * The /24 for the link, "10.B.C.0/24" (default 10.213.9.0/24); the IPv6 /64 follows from it as
   * fd00:B:C::/64. Two tests that run at the same time need different ones.
   */
  ipv4Subnet?: string;
  /**
   * The client end in a namespace of its own (`rf-<name>-c`), run commands there with
   * `inClient()`. Default false: the client end stays in the root namespace.
   */
  clientNamespace?: boolean;
  /**
   * The TCP congestion control for the link's connections in the namespaces this helper creates
   * (default cubic, the loss-based sender that keeps a tail-drop queue full, as a typical client
   * and server do); null keeps the machine's default (BBR on some, which keeps queues short). Set
   * as the congctl of the link's routes: a namespace's own net.ipv4.tcp_congestion_control may only
   * name the root namespace's tcp_allowed_congestion_control (EPERM otherwise), a route's may name
   * any. A root-namespace client end is never changed: its uploads keep the machine's default.
   */
  congestion?: string | null;
}

function sh(command: string[], options: { allowFail?: boolean } = {}): string {
  const run = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8' });
  if ((run.status !== 0 || run.error) && !options.allowFail) {
    throw new Error(`${command.join(' ')} failed: ${run.error?.message ?? ''}${run.stderr}`);
  }
  return run.stdout ?? '';
}

/** Why this machine cannot build a shaped link (undefined when it can): for a test's skip. */
export function whyCannotShape(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (ip netns and tc need it)';
  if (spawnSync('tc', ['-V']).status !== 0) return 'no tc (iproute2)';
  const probe = `rf-probe-${process.pid}`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (added.status !== 0) return `ip netns add does not work: ${added.stderr || added.error}`;
  try {
    const tbf = ['tbf', 'rate', '1mbit', 'burst', '64kb', 'latency', '10ms'];
    const shaped = spawnSync(
      'ip',
      ['netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', ...tbf],
      {
        encoding: 'utf8',
      },
    );
    if (shaped.status !== 0) return `tc cannot add a tbf qdisc: ${shaped.stderr || shaped.error}`;
  } finally {
    sh(['ip', 'netns', 'del', probe], { allowFail: true });
  }
  return undefined;
}

/** Why a shaped link cannot be measured with ping and iperf3 here, or undefined when it can. */
export function whyCannotMeasure(): string | undefined {
  const missing = (tool: string, flag: string) =>
    spawnSync(tool, [flag]).status === 0 ? undefined : `no ${tool}`;
  return whyCannotShape() ?? missing('iperf3', '--version') ?? missing('ping', '-V');
}

export function canShape(): boolean {
  return whyCannotShape() === undefined;
}

/**
 * tbf's bucket: at least one 10 ms timer tick's worth of bytes at the rate, and never less than
 * 64 KiB, so a full-size GSO packet (64 KiB on veth) passes without being split or dropped.
 */
export function tbfBurstKb(rateMbit: number): number {
  return Math.max(64, Math.ceil((rateMbit * 1000) / 8 / 100));
}

/** "10.B.C.0/24" -> [B, C]; only 10/8 subnets, so the link can never shadow a real network. */
function parseSubnet(subnet: string): [number, number] {
  const match = /^10\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet);
  const [b, c] = [Number(match?.[1]), Number(match?.[2])];
  if (!match || b > 255 || c > 255 || (b === 0 && c === 0)) {
    // 10.0.0.0/24 is refused too: its IPv6 twin would be fd00::/64, which is often really in use.
    throw new Error(`ipv4Subnet must look like 10.B.C.0/24 (not 10.0.0.0/24), got ${subnet}`);
  }
  return [b, c];
}

/** Kills what still runs in the namespace (an iperf3 a test forgot), then deletes it. */
function deleteNamespace(ns: string): void {
  const pids = sh(['ip', 'netns', 'pids', ns], { allowFail: true }).split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  // A process still inside would keep the namespace, and the veth pair with it, alive unnamed.
  sh(['ip', 'netns', 'del', ns], { allowFail: true });
}

/**
 * Builds the link: fresh namespaces (a leftover of the same name is deleted first), the veth pair,
 * addresses, routes, and a tbf on each end. On any failure nothing is left behind.
 */
export function createShapedLink(options: LinkOptions): ShapedLink {
  const { name, rateMbit, queueLatencyMs } = options;
  if (!/^[a-z0-9][a-z0-9-]{0,12}$/.test(name)) {
    throw new Error(`name must be 1-13 characters of [a-z0-9-] (device names max 15), got ${name}`);
  }
  if (!(rateMbit > 0) || !(queueLatencyMs > 0)) {
    throw new Error('rateMbit and queueLatencyMs must be positive');
  }
  const congestion = options.congestion === undefined ? 'cubic' : options.congestion;
  if (congestion !== null && !/^[a-z0-9_]+$/.test(congestion)) {
    throw new Error(
      `congestion must name a congestion control (cubic, reno, bbr), got ${congestion}`,
    );
  }
  const [b, c] = parseSubnet(options.ipv4Subnet ?? '10.213.9.0/24');
  const ns = `rf-${name}`;
  const clientNs = options.clientNamespace ? `rf-${name}-c` : null;
  const hostDevice = `${name}-h`;
  const serverDevice = `${name}-s`;
  const v4 = `10.${b}.${c}`;
  const v6 = `fd00:${b}:${c}::`;
  const burstKb = tbfBurstKb(rateMbit);
  const burstBytes = burstKb * 1024;
  const inServer = (command: string[]) => ['ip', 'netns', 'exec', ns, ...command];
  const inClient = (command: string[]) =>
    clientNs ? ['ip', 'netns', 'exec', clientNs, ...command] : command;
  const ends = [
    { dev: hostDevice, run: inClient, ips: [`${v4}.2`, `${v4}.3`], ip6: `${v6}2`, own: !!clientNs },
    { dev: serverDevice, run: inServer, ips: [`${v4}.1`], ip6: `${v6}1`, own: true },
  ];
  /**
   * The kernel's prefix routes of an end, replaced by the same routes with the congestion control
   * (and put back after an outage: a device that goes down loses its IPv4 routes, and the kernel
   * adds them back without it).
   */
  const routes = () => {
    for (const { dev, run, ips, own } of ends) {
      if (!own || congestion === null) continue;
      const common = ['dev', dev, 'proto', 'kernel', 'congctl', congestion];
      sh(run(['ip', 'route', 'replace', `${v4}.0/24`, ...common, 'scope', 'link', 'src', ips[0]!]));
      sh(run(['ip', '-6', 'route', 'replace', `${v6}/64`, ...common, 'metric', '256']));
    }
  };
  const link: ShapedLink = {
    ns,
    clientNs,
    serverDevice,
    hostDevice,
    serverIp: `${v4}.1`,
    hostIp: `${v4}.2`,
    hostIp2: `${v4}.3`,
    serverIp6: `${v6}1`,
    hostIp6: `${v6}2`,
    rateMbit,
    queueLatencyMs,
    burstBytes,
    fullQueueMs: queueLatencyMs + (burstBytes * 8) / (rateMbit * 1000),
    congestion,
    inServer,
    inClient,
    queue: (direction) =>
      direction === 'download'
        ? tbfStats(inServer(['tc', '-s', '-j', 'qdisc', 'show', 'dev', serverDevice]))
        : tbfStats(inClient(['tc', '-s', '-j', 'qdisc', 'show', 'dev', hostDevice])),
    down: () => void sh(inClient(['ip', 'link', 'set', hostDevice, 'down'])),
    up: () => {
      sh(inClient(['ip', 'link', 'set', hostDevice, 'up']));
      routes();
    },
    remove() {
      process.off('exit', onExit);
      if (clientNs) deleteNamespace(clientNs);
      deleteNamespace(ns);
      // Normally gone with the namespace; only a pair whose peer never got moved would remain.
      if (sh(['ip', '-o', 'link', 'show', hostDevice], { allowFail: true })) {
        sh(['ip', 'link', 'del', hostDevice], { allowFail: true });
      }
    },
  };

  // A test that dies of an exception (process.exit) still cleans up; a SIGKILLed one leaves the
  // namespaces to the next createShapedLink of the same name. Signals are the caller's to handle
  // (Node runs no exit handlers when a signal ends it): remove() in a SIGINT handler.
  const onExit = () => link.remove();
  link.remove();
  try {
    // Refuse a subnet something else on this machine already uses, rather than shadow it.
    for (const [family, subnet] of [
      ['-4', `${v4}.0/24`],
      ['-6', `${v6}/64`],
    ] as const) {
      const inUse = sh(['ip', '-o', family, 'addr', 'show', 'to', subnet]).trim();
      const routed = sh(['ip', family, 'route', 'show', 'root', subnet]).trim();
      if (inUse || routed) throw new Error(`${subnet} is in use here already:\n${inUse || routed}`);
    }
    sh(['ip', 'netns', 'add', ns]);
    if (clientNs) sh(['ip', 'netns', 'add', clientNs]);
    const hostEnd = clientNs ? [hostDevice, 'netns', clientNs] : [hostDevice];
    sh([
      'ip',
      'link',
      'add',
      ...hostEnd,
      'type',
      'veth',
      'peer',
      'name',
      serverDevice,
      'netns',
      ns,
    ]);
    for (const { dev, run, ips, ip6 } of ends) {
      // Without this, `ip link set down` flushes the IPv6 addresses and an outage would not end.
      sh(run(['sysctl', '-q', '-w', `net.ipv6.conf.${dev}.keep_addr_on_down=1`]));
      for (const ip of ips) sh(run(['ip', 'addr', 'add', `${ip}/24`, 'dev', dev]));
      // nodad: usable at once, instead of "tentative" (and unbindable) for a second or two.
      sh(run(['ip', 'addr', 'add', `${ip6}/64`, 'dev', dev, 'nodad']));
      sh(run(['ip', 'link', 'set', dev, 'up']));
      // Each end shapes what it sends: the server end the download, the host end the upload.
      const tbf = ['tbf', 'rate', `${rateMbit}mbit`, 'burst', `${burstKb}kb`];
      sh(run(['tc', 'qdisc', 'add', 'dev', dev, 'root', ...tbf, 'latency', `${queueLatencyMs}ms`]));
    }
    sh(inServer(['ip', 'link', 'set', 'lo', 'up']));
    if (clientNs) sh(inClient(['ip', 'link', 'set', 'lo', 'up']));
    routes();
  } catch (error) {
    link.remove();
    throw error;
  }
  process.on('exit', onExit);
  return link;
}

function tbfStats(command: string[]): QueueStats {
  const qdiscs = JSON.parse(sh(command)) as Array<{
    kind: string;
    bytes: number;
    drops: number;
    backlog: number;
    qlen: number;
  }>;
  const tbf = qdiscs.find((qdisc) => qdisc.kind === 'tbf');
  if (!tbf) throw new Error(`no tbf in ${command.join(' ')}`);
  return {
    backlogBytes: tbf.backlog,
    backlogPackets: tbf.qlen,
    drops: tbf.drops,
    sentBytes: tbf.bytes,
  };
}

/** iputils' ping with `args`, in a namespace or not, its output collected as it comes. */
function spawnPing(
  target: string,
  args: string[],
  options: { ns?: string | null; source?: string },
) {
  const all = [...args, ...(options.source ? ['-I', options.source] : [])];
  const command = options.ns
    ? ['ip', 'netns', 'exec', options.ns, 'ping', ...all, target]
    : ['ping', ...all, target];
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  return { child, command, output };
}

/**
 * Round-trip times in ms of the echo replies that came back (iputils ping). Lost or late replies
 * are simply missing, so a link that is down gives an empty list rather than an error. `ns` pings
 * from inside that namespace (`link.ns`, the server side, or `link.clientNs`); `source` picks the
 * address to send from.
 */
export async function ping(
  target: string,
  options: { count?: number; intervalS?: number; ns?: string | null; source?: string } = {},
): Promise<number[]> {
  const { count = 5, intervalS = 0.2 } = options;
  const args = ['-n', '-c', String(count), '-i', String(intervalS), '-W', '2'];
  // The deadline ends a run whose replies never come (link down) instead of waiting per packet.
  args.push('-w', String(Math.ceil(count * intervalS + 2)));
  const { child, command, output } = spawnPing(target, args, options);
  const status = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  // 0: replies, 1: none came back; 2 is an error, but "unreachable" is what a downed link says.
  if (status !== 0 && status !== 1 && !/unreachable/i.test(output.stderr)) {
    throw new Error(`${command.join(' ')} exited with ${status}: ${output.stderr}${output.stdout}`);
  }
  return output.stdout
    .split('\n')
    .filter((line) => !line.includes('DUP!'))
    .flatMap((line) => {
      const match = /icmp_seq=\d+ .*time=([\d.]+) ms/.exec(line);
      return match ? [Number(match[1])] : [];
    });
}

export interface PingSample {
  /** When the echo request left, in Unix ms (the reply's timestamp less the round trip). */
  sentAt: number;
  /** When the reply came back, in Unix ms (`ping -D`, the same clock as Date.now()). */
  receivedAt: number;
  ms: number;
}

export interface PingRun {
  /** Ends the ping (SIGINT) and gives every reply it got, in order. */
  stop(): Promise<PingSample[]>;
}

/**
 * A ping that runs beside something else until stopped, every reply timestamped (`ping -D`), so a
 * caller can cut the samples into the windows another tool reports (see samplesIn()).
 */
export async function startPing(
  target: string,
  options: { intervalS?: number; ns?: string | null; source?: string } = {},
): Promise<PingRun> {
  const args = ['-n', '-D', '-i', String(options.intervalS ?? 0.2), '-W', '2'];
  const { child, command, output } = spawnPing(target, args, options);
  let gone = false;
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      gone = true;
      resolve();
    }),
  );
  // Running once its first line (the PING header) is out: a wrong option fails here, not later.
  try {
    await waitFor(() => gone || output.stdout.includes('\n'), {
      timeoutMs: 5_000,
      what: `${command.join(' ')} to start`,
    });
    if (gone) throw new Error(`${command.join(' ')} exited: ${output.stderr}${output.stdout}`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    async stop() {
      if (!gone) child.kill('SIGINT');
      await exited;
      return output.stdout
        .split('\n')
        .filter((line) => !line.includes('DUP!'))
        .flatMap((line) => {
          const match = /^\[(\d+\.\d+)\] .*icmp_seq=\d+ .*time=([\d.]+) ms/.exec(line);
          if (!match) return [];
          const receivedAt = Number(match[1]) * 1000;
          const ms = Number(match[2]);
          return [{ sentAt: receivedAt - ms, receivedAt, ms }];
        });
    },
  };
}

/** The round trips of the samples wholly inside the window (sent from `from`, back by `to`). */
export function samplesIn(samples: PingSample[], window: { from: number; to: number }): number[] {
  return samples
    .filter((sample) => sample.sentAt >= window.from && sample.receivedAt <= window.to)
    .map((sample) => sample.ms);
}

/** Runs a command to its end without blocking the event loop (so timers and signals still run). */
export function runCommand(
  command: string[],
  options: { cwd?: string } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(command[0]!, command.slice(1), {
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

export interface NamespaceProcess {
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after a second; resolves once it is gone. */
  stop(): Promise<void>;
}

/**
 * Starts a long-running command (a server, usually in a namespace: `link.inServer([...])`) and
 * resolves once its output matches `ready`; fails with its output if it exits first.
 */
export async function startProcess(
  command: string[],
  ready: RegExp,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<NamespaceProcess> {
  const { cwd, timeoutMs = 15_000 } = options;
  const child = spawn(command[0]!, command.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let gone = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      gone = true;
      resolve(code);
    }),
  );
  const stop = async () => {
    if (!gone) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 1_000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    await waitFor(() => gone || ready.test(output), {
      timeoutMs,
      what: `${command.join(' ')} to print ${ready}`,
    });
    if (gone) throw new Error(`${command.join(' ')} exited: ${output}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { output: () => output, exited, stop };
}

export interface IperfServer {
  port: number;
  /** Resolves once the server waits for the next run: iperf3 serves one at a time. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** iperf3's server on the server side, on every address of the namespace (which are the link's). */
export async function startIperfServer(link: ShapedLink, port = 5201): Promise<IperfServer> {
  const [command, ...args] = link.inServer(['iperf3', '-s', '-p', String(port), '--forceflush']);
  const child = spawn(command!, args);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    await waitFor(() => gone || /Server listening/.test(output), {
      timeoutMs: 5_000,
      what: `iperf3 -s in ${link.ns}`,
    });
    if (gone) throw new Error(`iperf3 -s exited: ${output}`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const count = (pattern: RegExp) => output.match(pattern)?.length ?? 0;
  return {
    port,
    async idle() {
      await waitFor(() => gone || count(/Server listening/g) > count(/Accepted connection/g), {
        timeoutMs: 10_000,
        what: `iperf3 -s in ${link.ns} to finish its run`,
      });
      if (gone) throw new Error(`iperf3 -s is not running: ${output}`);
    },
    async stop() {
      if (!gone) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface IperfResult {
  /** Goodput the receiver saw, in Mbit/s (TCP payload: about 96 % of the tbf rate). */
  receivedMbit: number;
  sentMbit: number;
  retransmits: number;
  /** The congestion control the sending side used. */
  congestion: string;
  seconds: number;
}

export interface IperfLoad {
  /** The run's result once it ends (or is stopped). */
  done: Promise<IperfResult>;
  /**
   * Ends the run early; `done` then resolves with what the client measured until then (the
   * server's side never reports, so receivedMbit is 0).
   */
  stop(): Promise<void>;
}

/**
 * Runs iperf3's client on the client side (`link.inClient`) against `server`, and returns once the
 * load really runs: the tbf of the loaded direction holds a queue. A download uses -R, so the
 * server sends.
 *
 * How deep the standing queue gets depends on the sender, because each tbf sits on the sender's own
 * device: TCP small queues let one socket keep only about two GSO packets (~130 KB on veth) in a
 * local qdisc, so one stream stands at ~50 ms at 20 Mbit/s whatever the queue's size, and filling
 * a deep queue takes about (rate × fullQueueMs) / 130 KB streams. The congestion control is the
 * link's (cubic unless it says otherwise) unless `congestion` says otherwise (iperf3 -C, which the
 * server's sockets use too for -R): a loss-based sender keeps its queue full, while BBR (the
 * default of some machines) keeps it short.
 */
export async function runIperf(
  link: ShapedLink,
  server: IperfServer,
  options: {
    direction: Direction;
    seconds: number;
    streams?: number;
    family?: 4 | 6;
    /** The sender's TCP congestion control; by default the link's, or cubic. */
    congestion?: string;
    /** Seconds at the start left out of the result (iperf3 -O), e.g. slow start. */
    omitS?: number;
  },
): Promise<IperfLoad> {
  const target = options.family === 6 ? link.serverIp6 : link.serverIp;
  const args = ['-c', target, '-p', String(server.port), '-t', String(options.seconds), '-J'];
  const congestion = options.congestion ?? link.congestion ?? 'cubic';
  args.push('-P', String(options.streams ?? 1), '-C', congestion);
  args.push('--connect-timeout', '3000');
  if (options.direction === 'download') args.push('-R');
  if (options.omitS) args.push('-O', String(options.omitS));
  // A run stopped early leaves the server busy for a moment; connecting then gets a reset.
  await server.idle();
  const [command, ...rest] = link.inClient(['iperf3', ...args]);
  const child: ChildProcess = spawn(command!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let gone = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      gone = true;
      resolve(code);
    }),
  );
  const done = exited.then(() => parseIperf(stdout, stderr));
  // Marked as handled: a caller that only stops the load must not crash on a failed report.
  done.catch(() => {});
  const stop = async () => {
    // SIGINT, as Ctrl-C: iperf3 still prints its report of the time so far.
    if (!gone) child.kill('SIGINT');
    await exited;
  };
  try {
    await waitFor(() => gone || link.queue(options.direction).backlogBytes > 0, {
      timeoutMs: 5_000,
      intervalMs: 20,
      what: `a ${options.direction} queue on ${link.ns}`,
    });
    if (gone) throw new Error(`iperf3 ended before the load ran: ${stderr}${stdout}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { done, stop };
}

function parseIperf(stdout: string, stderr: string): IperfResult {
  let report: {
    error?: string;
    end?: {
      sum_sent?: { bits_per_second: number; retransmits?: number; seconds: number };
      sum_received?: { bits_per_second: number };
      sender_tcp_congestion?: string;
    };
  };
  try {
    report = JSON.parse(stdout) as typeof report;
  } catch {
    throw new Error(`iperf3 gave no report: ${stderr}${stdout}`);
  }
  const end = report.end;
  if (!end?.sum_sent || !end.sum_received) {
    throw new Error(`iperf3 failed: ${report.error ?? stderr}`);
  }
  return {
    receivedMbit: end.sum_received.bits_per_second / 1e6,
    sentMbit: end.sum_sent.bits_per_second / 1e6,
    retransmits: end.sum_sent.retransmits ?? 0,
    congestion: end.sender_tcp_congestion ?? 'unknown',
    seconds: end.sum_sent.seconds,
  };
}
