// The stack under test: a deployment configuration of the test's own (the example, plus a webhook
// receiver), the rendered compose file run by `npm run stack:up` unchanged, with two overrides:
// this machine's one limit (this-machine.override.yml) and the test's own services on the stack's
// network (pebble, the ACME server swag's certbot talks to; dnsmasq, the DNS server swag and pebble
// resolve the public names through; a webhook receiver for Alertmanager), plus what the VM's
// deployment gives swag: its public address (here its address on the network, where pebble's
// validation reaches it) and a short certificate retry interval.
// The test reaches the stack only through ports published on 127.0.0.1.
import { readFileSync, writeFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REPO_ROOT } from '../../../contract/paths.ts';
import { CERTIFICATE_GATE_ENV, serviceCatalogue } from '../../../templates/catalogue/index.ts';
import {
  loadDeploymentConfig,
  publicHosts,
  type DeploymentConfig,
} from '../../../templates/config.ts';
import { freePort } from '../../../testing/ports.ts';
import { DNSMASQ_IMAGE, nodeBaseImage, PEBBLE_IMAGE } from './forge.ts';
import { docker, run } from './docker.ts';
import { keygen } from './sshd.ts';

const MACHINE_OVERRIDE = join(import.meta.dirname, 'this-machine.override.yml');

/** The webhook receiver: keeps every POST body, lists them on GET /received. */
const WEBHOOK_SERVER = `
const received = [];
require('node:http').createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    if (req.method === 'POST') {
      received.push({ path: req.url, body: JSON.parse(body || 'null') });
      res.end('ok');
    } else {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(received));
    }
  });
}).listen(8080);
`;

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request, its answer read whole. */
function httpsText(options: RequestOptions, body?: string): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    request(options, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
      );
    })
      .on('error', reject)
      .end(body);
  });
}

/** The two views of the test's DNS server: what swag resolves, and what the CA (pebble) does. */
export type DnsView = 'swag' | 'ca';

/** Seconds between swag's certificate attempts in the test (1200 in a deployment). */
export const TEST_CERT_RETRY_SECONDS = 30;

export class StackUnderTest {
  readonly dir: string;
  config!: DeploymentConfig;
  secrets!: { appAdminPassword: string; [name: string]: string };
  pebbleRoot = '';
  ports = { pebble: 0, webhook: 0 };
  /** swag's address on the network (its "public" one here) and the DNS server's. */
  addresses = { swag: '', dns: '' };
  private overrideFile = '';

  /** Further compose files merged last (bench:stack --override: trying a setting). */
  private readonly extraOverrides: string[];
  /** What both DNS views answer at start: swag's address, or nothing (a first deploy). */
  private readonly dnsAtStart: 'right' | 'none';

  constructor(dir: string, extraOverrides: string[] = [], dnsAtStart: 'right' | 'none' = 'right') {
    this.dir = dir;
    this.extraOverrides = extraOverrides;
    this.dnsAtStart = dnsAtStart;
  }

  get configFile() {
    return join(this.dir, 'deploy.config.ts');
  }

  /** Writes the configuration and the overrides; loads the configuration as stack:up will. */
  async prepare(): Promise<void> {
    // The deployment's own key pair, as vm.sshPublicKeyPath names one: the ops scripts log in
    // with its private half (ops.ts authorizes the public one on the test's sshd).
    await keygen('deploy', join(this.dir, 'id_deploy'));
    const webhookUrlFile = join(this.dir, 'webhook-url');
    writeFileSync(webhookUrlFile, 'http://webhook:8080/alerts\n', { mode: 0o600 });
    writeFileSync(
      this.configFile,
      [
        `import example from ${JSON.stringify(join(REPO_ROOT, 'infra/deploy.config.example.ts'))};`,
        'export default {',
        '  ...example,',
        `  vm: { ...example.vm, sshPublicKeyPath: ${JSON.stringify(join(this.dir, 'id_deploy.pub'))} },`,
        `  alerts: { ...example.alerts, receivers: [{ type: 'webhook', urlFile: ${JSON.stringify(webhookUrlFile)} }] },`,
        '};',
        '',
      ].join('\n'),
    );
    this.config = await loadDeploymentConfig(this.configFile);
    const swag = serviceCatalogue(this.config).find((service) => service.name === 'swag');
    if (!swag?.ipv4Address) throw new Error('the catalogue gives swag no fixed address');
    // .53 of the subnet: below the range Docker hands out (.128/25), as swag's .10.
    this.addresses = { swag: swag.ipv4Address, dns: swag.ipv4Address.replace(/\.\d+$/, '.53') };
    const first = this.dnsAtStart === 'right' ? this.addresses.swag : 'none';
    this.ports = { pebble: await freePort(), webhook: await freePort() };
    this.overrideFile = join(this.dir, 'test-services.override.yml');
    const started = { condition: 'service_started' };
    writeFileSync(
      this.overrideFile,
      stringify({
        services: {
          dnsmasq: {
            image: DNSMASQ_IMAGE,
            profiles: ['proxy'],
            environment: {
              DNS_DOMAIN: this.config.domain,
              DNS_NAMES: publicHosts(this.config)
                .map((host) => host.fqdn)
                .join(','),
              DNS_SWAG_ANSWER: first,
              DNS_CA_ANSWER: first,
            },
            networks: { default: { ipv4_address: this.addresses.dns } },
          },
          pebble: {
            image: PEBBLE_IMAGE,
            profiles: ['proxy'],
            environment: { PEBBLE_DNS_SERVER: `${this.addresses.dns}:5353` },
            ports: [`127.0.0.1:${this.ports.pebble}:15000`],
            depends_on: { dnsmasq: started },
          },
          swag: {
            depends_on: { pebble: started, dnsmasq: started },
            dns: [this.addresses.dns],
            environment: {
              [CERTIFICATE_GATE_ENV.publicAddress]: this.addresses.swag,
              [CERTIFICATE_GATE_ENV.retrySeconds]: String(TEST_CERT_RETRY_SECONDS),
            },
          },
          webhook: {
            image: nodeBaseImage(),
            command: ['node', '-e', WEBHOOK_SERVER],
            ports: [`127.0.0.1:${this.ports.webhook}:8080`],
          },
        },
      }),
    );
    this.pebbleRoot = await docker(
      'run',
      '--rm',
      '--entrypoint',
      'cat',
      PEBBLE_IMAGE,
      '/etc/pebble/cert.pem',
    );
  }

  /** Arguments every stack:up and stack:down of the test passes. */
  stackArgs(): string[] {
    return [
      '--config', this.configFile, '--secrets', join(this.dir, 'secrets.json'),
      '--dir', join(this.dir, 'stack'), '--override', MACHINE_OVERRIDE,
      '--override', this.overrideFile,
      ...this.extraOverrides.flatMap((file) => ['--override', file]),
    ]; // prettier-ignore
  }

  /** `npm run stack:up|down` as a user runs it; returns what it printed. */
  async stack(action: 'up' | 'down', ...flags: string[]): Promise<string> {
    const result = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        join(REPO_ROOT, 'scripts/stack.ts'),
        action,
        ...flags,
        ...this.stackArgs(),
      ],
      { cwd: REPO_ROOT },
    );
    const output = `${result.stdout}${result.stderr}`;
    if (result.code !== 0)
      throw new Error(`stack:${action} exited ${result.code}:\n${output.slice(-6000)}`);
    if (action === 'up')
      this.secrets = JSON.parse(
        readFileSync(join(this.dir, 'secrets.json'), 'utf8'),
      ) as typeof this.secrets;
    return output;
  }

  container(service: string): string {
    return `${this.config.name}_${service}_1`;
  }

  /** From now on, that view of the DNS server answers `address` for every public name, or nothing. */
  async dnsAnswer(view: DnsView, address: string | 'none'): Promise<void> {
    await docker('exec', this.container('dnsmasq'), 'dns-answer', view, address);
  }

  /** What a container printed, stdout and stderr in their order; '' while it does not exist. */
  async logs(service: string): Promise<string> {
    const result = await run('sh', ['-c', `docker logs ${this.container(service)} 2>&1`]);
    return result.code === 0 ? result.stdout : '';
  }

  fqdn(site: 'speedtester' | 'grafana'): string {
    return `${this.config.subdomains[site]}.${this.config.domain}`;
  }

  /** HTTPS through swag on 127.0.0.1:443, the certificate checked against pebble's root. */
  async https(
    path: string,
    options: { method?: string; headers?: Record<string, string>; body?: string; ca?: string } = {},
  ): Promise<HttpReply> {
    const host = this.fqdn('speedtester');
    const ca = options.ca ?? (await this.issuerRoot());
    return httpsText(
      {
        host: '127.0.0.1',
        port: 443,
        servername: host,
        path,
        method: options.method ?? 'GET',
        headers: { host, ...options.headers },
        ca,
      },
      options.body,
    );
  }

  private issuer?: string;

  /**
   * The root pebble issued swag's certificate under, from its management API. Pebble makes a new
   * root each time it starts, but swag keeps the certificate in its volume across down and up: the
   * first root is the one that verifies it, so it is kept.
   */
  async issuerRoot(): Promise<string> {
    this.issuer ??= (
      await httpsText({
        host: '127.0.0.1',
        port: this.ports.pebble,
        path: '/roots/0',
        ca: this.pebbleRoot,
        servername: 'pebble',
      })
    ).body;
    return this.issuer;
  }

  async webhookReceived(): Promise<
    { path: string; body: { alerts?: { status: string; labels: Record<string, string> }[] } }[]
  > {
    const response = await fetch(`http://127.0.0.1:${this.ports.webhook}/received`);
    return (await response.json()) as never;
  }
}
