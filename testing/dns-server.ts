// A real DNS server for tests: Debian's dnsmasq on a free loopback port, answering only what the
// test gives it (no upstream, NXDOMAIN for everything else). A and AAAA records come from a hosts folder
// dnsmasq watches (inotify), so a test changes the answers while the code under test keeps asking.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './files.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

export interface DnsServer {
  /** "127.0.0.1:PORT", as node's Resolver and --dns-server take it. */
  address: string;
  /**
   * Replaces every address record: fqdn -> IPv4 (A) and IPv6 (AAAA) addresses; a name left out
   * answers NXDOMAIN again. Returns once dnsmasq answers so.
   */
  setAddresses(records: Record<string, string[]>): Promise<void>;
  stop(): Promise<void>;
}

/** The wire form of a domain name (length-prefixed labels), in hex, for --dns-rr. */
function wireName(name: string): string {
  const labels = name.replace(/\.$/, '').split('.');
  return Buffer.concat([
    ...labels.map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])),
    Buffer.from([0]),
  ]).toString('hex');
}

/** Starts dnsmasq; `ns` gives fixed NS answers (zone -> name servers), `cname` CNAMEs. */
export async function startDnsServer(
  options: { ns?: Record<string, string[]>; cname?: Record<string, string> } = {},
): Promise<DnsServer> {
  const dir = tempDir('refresher-dns-');
  const hosts = join(dir.path, 'hosts');
  mkdirSync(hosts);
  const port = await freePort();
  const nsArgs = Object.entries(options.ns ?? {}).flatMap(([zone, servers]) =>
    servers.map((server) => `--dns-rr=${zone},2,${wireName(server)}`),
  );
  // Generic records of type 5: a CNAME whose target need not be known here.
  for (const [name, target] of Object.entries(options.cname ?? {}))
    nsArgs.push(`--dns-rr=${name},5,${wireName(target)}`);
  let output = '';
  // Debian puts it in /usr/sbin, which is not on every user's PATH.
  const binary = existsSync('/usr/sbin/dnsmasq') ? '/usr/sbin/dnsmasq' : 'dnsmasq';
  const child: ChildProcess = spawn(
    binary,
    [
      '--keep-in-foreground',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      `--hostsdir=${hosts}`,
      // Every name is local: NXDOMAIN instead of a forward that has nowhere to go.
      '--local=/#/',
      '--cache-size=0',
      '--user=root',
      `--pid-file=${join(dir.path, 'pid')}`,
      '--log-facility=-',
      ...nsArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = `127.0.0.1:${port}`;
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([address]);
  const answers = async (fqdn: string, family: 4 | 6 = 4) => {
    try {
      return (await (family === 4 ? resolver.resolve4(fqdn) : resolver.resolve6(fqdn)))
        .sort()
        .join(',');
    } catch (error) {
      return (error as NodeJS.ErrnoException).code ?? 'error';
    }
  };
  await waitFor(async () => (await answers('probe.invalid')) === 'ENOTFOUND', {
    timeoutMs: 10_000,
    what: `dnsmasq answering on ${address}:\n${output}`,
  });

  const known: Record<string, string[]> = {};
  return {
    address,
    async setAddresses(given) {
      const records = { ...given };
      // One file, rewritten: dnsmasq flushes what it read from a changed file and reads it again.
      const lines = Object.entries(records).flatMap(([fqdn, addresses]) =>
        addresses.map((ip) => `${ip} ${fqdn}\n`),
      );
      writeFileSync(join(hosts, 'records'), lines.join(''));
      for (const fqdn of Object.keys(known)) if (!(fqdn in records)) records[fqdn] = [];
      Object.assign(known, records);
      for (const [fqdn, addresses] of Object.entries(records)) {
        const expected = (family: 4 | 6) => {
          const some = addresses.filter((ip) => isIP(ip) === family).sort();
          return some.length ? some.join(',') : addresses.length ? 'ENODATA' : 'ENOTFOUND';
        };
        await waitFor(
          async () =>
            (await answers(fqdn, 4)) === expected(4) && (await answers(fqdn, 6)) === expected(6),
          {
            timeoutMs: 10_000,
            what: `dnsmasq answering ${fqdn} with ${addresses.join(', ')}:\n${output}`,
          },
        );
      }
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      dir.remove();
    },
  };
}
