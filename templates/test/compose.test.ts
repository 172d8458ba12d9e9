// The compose file and the catalogue behind it: Debian's docker-compose accepts it, only swag
// publishes a port on a public address, and every container has what production needs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BlockList } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { envSchema } from '../../contract/env.ts';
import type { AppEnvironment } from '../catalogue/index.ts';
import { RENDERED } from '../../contract/paths.ts';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, SHUTDOWN_GRACE_MS } from '../../contract/shutdown.ts';
import { DEFAULT_IMAGES, resolveEnvironment, serviceCatalogue } from '../catalogue/index.ts';
import { renderAll, writeRendered } from '../render.ts';
import { generateSecrets } from '../secrets.ts';
import { configFixture } from './helpers/deployment.ts';

const fixture = configFixture();
after(() => fixture.remove());

interface ComposeService {
  image: string;
  ports?: string[];
  restart: string;
  mem_limit: string;
  stop_grace_period?: string;
  logging: { driver: string; options: Record<string, string> };
  healthcheck?: unknown;
  environment?: Record<string, string>;
  env_file?: string[];
  depends_on?: Record<string, { condition: string }>;
  command?: string[];
  profiles?: string[];
  entrypoint?: string[];
  cap_add?: string[];
  networks?: Record<string, { ipv4_address: string }>;
}

function compose(config = fixture.config()) {
  const files = renderAll(config, generateSecrets());
  const text = files.find((file) => file.path === RENDERED.compose)!.content;
  return {
    files,
    text,
    doc: parse(text, { version: '1.1' }) as { services: Record<string, ComposeService> },
  };
}

/** `docker-compose config -q` in the rendered folder; status and output. */
function composeCheck(files: ReturnType<typeof renderAll>, name: string) {
  const out = join(fixture.path, name);
  writeRendered(out, files);
  const result = spawnSync(
    'docker-compose',
    ['-p', 'refresher-test', '-f', join(out, RENDERED.compose), 'config', '-q'],
    {
      encoding: 'utf8',
    },
  );
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

/** The host address of a short-syntax port mapping; none means every address. */
function hostAddress(mapping: string): string {
  const parts = mapping.replace(/\/(tcp|udp)$/, '').split(':');
  return parts.length === 3 ? parts[0]! : '0.0.0.0';
}

describe('compose file and service catalogue', () => {
  test('docker-compose config accepts it, and rejects a broken copy (the check can fail)', () => {
    const { files } = compose();
    const good = composeCheck(files, 'good');
    assert.ok(good.ok, good.output);
    const broken = files.map((file) =>
      file.path === RENDERED.compose
        ? { ...file, content: file.content.replace('mem_limit: 384m', 'mem_limit: [384m]') }
        : file,
    );
    assert.equal(composeCheck(broken, 'broken').ok, false);
  });

  test('only swag publishes ports on a public address; the rest only on 127.0.0.1', () => {
    const { doc } = compose();
    const published = Object.entries(doc.services).flatMap(([name, service]) =>
      (service.ports ?? []).map((port) => ({ name, port, address: hostAddress(port) })),
    );
    const publicOnes = published.filter((p) => !['127.0.0.1', '[::1]', '::1'].includes(p.address));
    assert.deepEqual(
      publicOnes.map((p) => `${p.name} ${p.port}`),
      ['swag 80:80', 'swag 443:443'],
    );
    assert.ok(published.some((p) => p.name === 'web' && p.port === '127.0.0.1:3000:3000'));
    for (const service of serviceCatalogue(fixture.config()))
      if (service.name !== 'swag')
        assert.deepEqual(service.publicPorts, [], `${service.name} must not be public`);
    assert.deepEqual(
      doc.services.swag!.profiles,
      ['proxy'],
      'swag starts on a laptop only when asked',
    );
  });

  test('every container: pinned image, restart policy, memory limit, log rotation, a health check or a reason', () => {
    const { doc } = compose();
    const catalogue = serviceCatalogue(fixture.config());
    assert.deepEqual(
      Object.keys(doc.services),
      catalogue.map((s) => s.name),
    );
    for (const name of [
      'swag',
      'web',
      'worker',
      'scheduler',
      'postgres',
      'redis',
      'grafana',
      'prometheus',
      'node-exporter',
      'cadvisor',
      'postgres-exporter',
      'redis-exporter',
      'alertmanager',
    ])
      assert.ok(doc.services[name], `${name} is in the catalogue`);
    for (const spec of catalogue) {
      const service = doc.services[spec.name]!;
      assert.match(
        service.image,
        /:(?!latest$)[\w][\w.-]*$|@sha256:/,
        `${spec.name} image is pinned`,
      );
      // One-shots run to completion: the migrations, and the grant of Grafana's read-only role.
      const oneShot = ['migrate', 'grafana-db-role'].includes(spec.name);
      assert.equal(service.restart, oneShot ? 'no' : 'unless-stopped', spec.name);
      assert.match(service.mem_limit, /^\d+m$/, spec.name);
      // An app role drains its jobs on SIGTERM: Docker's 10 s default would kill it first.
      if (spec.image === DEFAULT_IMAGES.app) {
        const grace = Number(/^(\d+)s$/.exec(service.stop_grace_period ?? '')?.[1]);
        assert.ok(
          grace * 1000 > DEFAULT_SHUTDOWN_TIMEOUT_MS + SHUTDOWN_GRACE_MS,
          `${spec.name}: stop_grace_period ${service.stop_grace_period} must outlast its shutdown`,
        );
      }
      assert.deepEqual(
        service.logging,
        { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } },
        spec.name,
      );
      assert.ok(
        service.healthcheck || spec.healthNote,
        `${spec.name} needs a health check or a healthNote`,
      );
    }
    for (const image of Object.values(DEFAULT_IMAGES)) assert.doesNotMatch(image, /:latest$/);
  });

  test('migrations run first; the app roles get the environment the app reads, and nothing else', () => {
    const config = fixture.config();
    const { doc } = compose(config);
    for (const role of ['web', 'worker', 'scheduler']) {
      assert.deepEqual(doc.services[role]!.command, [role]);
      assert.deepEqual(
        doc.services[role]!.depends_on?.migrate,
        { condition: 'service_completed_successfully' },
        role,
      );
    }
    assert.deepEqual(doc.services.migrate!.command, ['migrate']);
    assert.deepEqual(doc.services.migrate!.depends_on?.postgres, { condition: 'service_healthy' });

    const known = new Set(Object.keys(envSchema.shape));
    const secrets = generateSecrets();
    const byName = new Map(serviceCatalogue(config).map((s) => [s.name, s]));
    for (const role of ['migrate', 'web', 'worker', 'scheduler']) {
      const env = resolveEnvironment(byName.get(role)!, secrets);
      for (const name of Object.keys(env))
        assert.ok(known.has(name), `${role} sets ${name}, which contract/env.ts does not declare`);
    }
    // And before any of this runs, the compiler (npm run typecheck) refuses a name the app does
    // not read in an app role's environment:
    const misspelt: AppEnvironment = {
      // @ts-expect-error DATABSE_URL is not a variable of contract/env.ts
      DATABSE_URL: 'postgres://postgres/refresher',
    };
    assert.ok(misspelt);
    const web = resolveEnvironment(byName.get('web')!, secrets);
    assert.equal(web.TRUST_PROXY, '172.28.0.10');
    assert.equal(
      doc.services.swag!.networks?.default?.ipv4_address,
      '172.28.0.10',
      'the app trusts exactly swag',
    );
    assert.equal(web.SESSION_SECRET, secrets.sessionSecret);
    // The speed test target's limits spare the worker's self-test (from the network's dynamic
    // range) but nothing from outside: not swag, through which every internet client comes, nor
    // the gateway.
    assert.equal(web.SPEEDTEST_TARGET_UNLIMITED_CIDRS, '127.0.0.0/8,::1/128,172.28.0.128/25');
    const unlimited = new BlockList();
    const cidrs = envSchema.shape.SPEEDTEST_TARGET_UNLIMITED_CIDRS.parse(
      web.SPEEDTEST_TARGET_UNLIMITED_CIDRS,
    );
    for (const cidr of cidrs) {
      const [address, bits] = cidr.split('/');
      unlimited.addSubnet(address!, Number(bits), address!.includes(':') ? 'ipv6' : 'ipv4');
    }
    for (const [address, exempt] of [
      ['172.28.0.130', true],
      ['172.28.0.254', true],
      ['172.28.0.10', false],
      ['172.28.0.1', false],
      ['203.0.113.9', false],
    ] as const)
      assert.equal(unlimited.check(address), exempt, address);
    const worker = resolveEnvironment(byName.get('worker')!, secrets);
    assert.equal(worker.HEALTHCHECK_URL, 'http://web:3000/healthz');
    assert.equal(worker.SPEEDTEST_SELF_URL, 'http://web:3000/speedtest/');
    assert.equal(worker.OOKLA_ACCEPT_LICENSE, 'false');
    assert.equal(worker.OOKLA_SPEEDTEST_BIN, undefined);
    assert.equal(worker.RESULT_RETENTION_DAYS, '365');
    assert.equal(new URL(worker.DATABASE_URL!).password, secrets.postgresPassword);

    const ookla = fixture.config({ speedtest: { engine: 'ookla', acceptOoklaLicense: true } });
    const ooklaWorker = resolveEnvironment(
      serviceCatalogue(ookla).find((s) => s.name === 'worker')!,
      secrets,
    );
    assert.equal(ooklaWorker.SPEEDTEST_ENGINE, 'ookla');
    assert.equal(ooklaWorker.OOKLA_ACCEPT_LICENSE, 'true');
    assert.equal(ooklaWorker.OOKLA_SPEEDTEST_BIN, '/usr/local/bin/speedtest');
  });

  test('redis runs as BullMQ needs it; secrets reach containers only through env files', () => {
    const { doc, text, files } = compose();
    const redis = doc.services.redis!.command!.join(' ');
    for (const flag of ['--hz 100', '--maxmemory-policy noeviction', '--appendonly yes'])
      assert.ok(redis.includes(flag), flag);
    assert.deepEqual(doc.services.web!.env_file, ['secrets/web.env']);
    assert.equal(doc.services.web!.environment?.SESSION_SECRET, undefined);
    const webEnv = files.find((file) => file.path === 'compose/secrets/web.env')!;
    assert.deepEqual(
      webEnv.content
        .trim()
        .split('\n')
        .map((line) => line.split('=')[0]),
      ['DATABASE_URL', 'SESSION_SECRET', 'ADMIN_PASSWORD'],
    );
    assert.doesNotMatch(text, /PASSWORD: |SECRET: /);
  });

  test('swag: its environment and config files come from the configuration', () => {
    const config = fixture.config();
    const swag = serviceCatalogue(config).find((s) => s.name === 'swag')!;
    assert.deepEqual(swag.environment, {
      PUID: '1000',
      PGID: '1000',
      TZ: 'Europe/Amsterdam',
      URL: 'example.test',
      SUBDOMAINS: 'speed,grafana,prometheus',
      ONLY_SUBDOMAINS: 'true',
      VALIDATION: 'http',
      EMAIL: 'ops@example.test',
      STAGING: 'false',
      REFRESHER_CERT_RETRY_SECONDS: '1200',
      S6_BEHAVIOUR_IF_STAGE2_FAILS: '2',
    });
    assert.deepEqual(
      swag.files.map((file) => file.target),
      [
        '/refresher/certificate-gate.py',
        '/config/nginx/proxy-confs/speed.subdomain.conf',
        '/config/nginx/proxy-confs/grafana.subdomain.conf',
        '/config/nginx/proxy-confs/prometheus.subdomain.conf',
        '/config/nginx/refresher.htpasswd',
      ],
    );
  });

  test('swag: the certificate gate is its entry point and health check; NET_ADMIN for fail2ban; no public address on a laptop', () => {
    const { doc, files } = compose();
    const swag = doc.services.swag!;
    assert.deepEqual(swag.entrypoint, ['python3', '/refresher/certificate-gate.py', 'init']);
    assert.deepEqual((swag.healthcheck as { test: string[] }).test, [
      'CMD',
      'python3',
      '/refresher/certificate-gate.py',
      'health',
    ]);
    assert.deepEqual(swag.cap_add, ['CAP_NET_ADMIN']);
    assert.equal(swag.environment?.REFRESHER_PUBLIC_ADDRESS, undefined, 'the gate skips its wait');
    const gate = files.find((file) => file.path === RENDERED.swagGate)!;
    assert.equal(gate.mode, 0o644);
    assert.match(gate.content, /os\.execv\(INIT/);
    for (const [name, service] of Object.entries(doc.services))
      if (name !== 'swag') {
        assert.equal(service.cap_add, undefined, `${name}: no added capability`);
        assert.equal(service.entrypoint, undefined, `${name}: the image's entry point`);
      }
  });
});
