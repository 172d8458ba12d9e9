// bench:speedtest — how close the librespeed engine comes to the truth, and what it costs.
//
// On links of known capacity it first measures the reference goodput with iperf3 (same
// direction, several streams, warm-up omitted), then runs the engine against the built-in target,
// and reports measured / iperf3 and the engine process's CPU seconds per GB moved. As root, where
// `ip netns` and `tc` work, the links are a veth pair between two network namespaces this bench
// creates, shaped with tbf at 50 and 500 Mbit/s; plain loopback is measured too. Only loopback and
// the addresses inside those namespaces are used; the namespaces are deleted at the end, also on
// failure or Ctrl-C.
//   npm run bench:speedtest [-- --seconds 10 --streams 6]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { z } from 'zod';
import { tbfBurstKb } from '../../testing/netns.ts';
import { freePort } from '../../testing/ports.ts';
import { count, parseFlags, printResult, round } from './common.ts';

const flags = parseFlags(
  'speedtest',
  z.object({ seconds: count(3, 120, 10), streams: count(1, 32, 6) }),
);
const WARMUP_S = 2;
const SERVER_NS = 'rfbench-srv';
const CLIENT_NS = 'rfbench-cli';
const SERVER_IP = '10.213.7.1';
const CLIENT_IP = '10.213.7.2';

function sh(command: string[], options: { allowFail?: boolean } = {}): string {
  const run = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8' });
  if (run.status !== 0 && !options.allowFail) {
    throw new Error(`${command.join(' ')} failed: ${run.stderr || run.stdout}`);
  }
  return run.stdout;
}

const inNs = (ns: string | null, command: string[]) =>
  ns ? ['ip', 'netns', 'exec', ns, ...command] : command;

function removeNamespaces(): void {
  for (const ns of [SERVER_NS, CLIENT_NS]) sh(['ip', 'netns', 'del', ns], { allowFail: true });
}

function createLink(rateMbps: number): void {
  removeNamespaces();
  sh(['ip', 'netns', 'add', SERVER_NS]);
  sh(['ip', 'netns', 'add', CLIENT_NS]);
  sh([
    'ip',
    'link',
    'add',
    'rfb-s',
    'netns',
    SERVER_NS,
    'type',
    'veth',
    'peer',
    'name',
    'rfb-c',
    'netns',
    CLIENT_NS,
  ]);
  // tbf needs a bucket of at least one timer tick's worth of bytes at the rate.
  const burstKb = tbfBurstKb(rateMbps);
  for (const [ns, dev, ip] of [
    [SERVER_NS, 'rfb-s', SERVER_IP],
    [CLIENT_NS, 'rfb-c', CLIENT_IP],
  ] as const) {
    sh(inNs(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', dev]));
    sh(inNs(ns, ['ip', 'link', 'set', dev, 'up']));
    sh(inNs(ns, ['ip', 'link', 'set', 'lo', 'up']));
    // Each side shapes what it sends: the server side the download, the client side the upload.
    sh(
      inNs(ns, [
        'tc',
        'qdisc',
        'add',
        'dev',
        dev,
        'root',
        'tbf',
        'rate',
        `${rateMbps}mbit`,
        'burst',
        `${burstKb}kb`,
        'latency',
        '50ms',
      ]),
    );
  }
}

function canShape(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = spawnSync('ip', ['netns', 'add', 'rfbench-probe']);
  if (probe.status !== 0) return false;
  sh(['ip', 'netns', 'del', 'rfbench-probe'], { allowFail: true });
  return spawnSync('tc', ['-V']).status === 0 && spawnSync('iperf3', ['--version']).status === 0;
}

function start(command: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`${command.join(' ')} exited with ${code}: ${output}`)),
    );
  });
}

async function iperf(
  ns: string | null,
  serverIp: string,
  port: number,
  download: boolean,
): Promise<number> {
  const args = [
    'iperf3',
    '-c',
    serverIp,
    '-p',
    String(port),
    '-P',
    String(flags.streams),
    '-t',
    String(flags.seconds + WARMUP_S),
    '-O',
    String(WARMUP_S),
    '-J',
  ];
  if (download) args.push('-R');
  const report = JSON.parse(sh(inNs(ns, args))) as {
    end: { sum_received: { bits_per_second: number } };
  };
  return report.end.sum_received.bits_per_second;
}

interface LinkResult {
  rate_mbps: number | null;
  iperf_down_mbps: number;
  iperf_up_mbps: number;
  down_mbps: number;
  up_mbps: number;
  down_ratio: number;
  up_ratio: number;
  cpu_s_per_gb: number;
}

async function measureLink(rateMbps: number | null): Promise<LinkResult> {
  const serverNs = rateMbps === null ? null : SERVER_NS;
  const clientNs = rateMbps === null ? null : CLIENT_NS;
  const serverIp = rateMbps === null ? '127.0.0.1' : SERVER_IP;
  if (rateMbps !== null) createLink(rateMbps);
  const children: ChildProcess[] = [];
  try {
    const iperfPort = await freePort();
    const targetPort = await freePort();
    children.push(
      await start(
        inNs(serverNs, ['iperf3', '-s', '--forceflush', '-B', serverIp, '-p', String(iperfPort)]),
        /Server listening/,
      ),
    );
    const iperfDown = await iperf(clientNs, serverIp, iperfPort, true);
    const iperfUp = await iperf(clientNs, serverIp, iperfPort, false);
    children.push(
      await start(
        inNs(serverNs, [
          process.execPath,
          '--import',
          'tsx',
          'app/bench/speedtest/target.ts',
          '--host',
          serverIp,
          '--port',
          String(targetPort),
        ]),
        /ready/,
      ),
    );
    const output = sh(
      inNs(clientNs, [
        process.execPath,
        '--import',
        'tsx',
        'app/bench/speedtest/client.ts',
        '--server',
        `http://${serverIp}:${targetPort}/speedtest/`,
        '--seconds',
        String(flags.seconds),
        '--streams',
        String(flags.streams),
        '--warmup',
        String(WARMUP_S),
      ]),
    );
    const engine = JSON.parse(output.trim().split('\n').at(-1)!) as {
      down_bps: number;
      up_bps: number;
      bytes: number;
      cpu_s: number;
    };
    const result: LinkResult = {
      rate_mbps: rateMbps,
      iperf_down_mbps: round(iperfDown / 1e6),
      iperf_up_mbps: round(iperfUp / 1e6),
      down_mbps: round(engine.down_bps / 1e6),
      up_mbps: round(engine.up_bps / 1e6),
      down_ratio: round(engine.down_bps / iperfDown, 3),
      up_ratio: round(engine.up_bps / iperfUp, 3),
      cpu_s_per_gb: round(engine.cpu_s / (engine.bytes / 1e9), 2),
    };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    for (const child of children) child.kill('SIGKILL');
    if (rateMbps !== null) removeNamespaces();
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    removeNamespaces();
    process.exit(130);
  });
}

const links: Array<number | null> = canShape() ? [50, 500, null] : [null];
if (links.length === 1)
  console.error('bench:speedtest: not root, or ip netns / tc / iperf3 missing: loopback only');
const results: LinkResult[] = [];
try {
  for (const rate of links) results.push(await measureLink(rate));
} finally {
  removeNamespaces();
}
printResult({ bench: 'speedtest', seconds: flags.seconds, streams: flags.streams, links: results });
