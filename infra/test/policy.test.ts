// The policies (infra/policy.ts) hold for the synthesized stacks of several configurations, and
// each one fails loudly on a copy broken the way a careless future change would break it: a rule
// that stopped looking would let the broken copy through.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DeploymentConfig } from '../../templates/config.ts';
import { generateSecrets } from '../../templates/secrets.ts';
import { configFixture } from '../../templates/test/helpers/deployment.ts';
import { REPO_ROOT } from '../../contract/paths.ts';
import {
  checkAll,
  checkAzure,
  checkNoSecretLiterals,
  checkRepositoryLiterals,
  checkServices,
  secretPositionLiterals,
  isPinnedImage,
  type TerraformJson,
} from '../policy.ts';
import {
  copy,
  exampleConfig,
  resourcesOf,
  synthStacks,
  TEST_SECRET_PREFIX,
  TEST_SECRETS,
  testInputs,
  type Synthesized,
} from './helpers.ts';

const fixture = configFixture();
after(() => fixture.remove());

let config: DeploymentConfig;
let example: Synthesized;
const variants: { what: string; config: DeploymentConfig; synth: Synthesized }[] = [];

type Json = Record<string, unknown>;

/** The first resource of a type in a copy, for breaking it. */
function first(json: TerraformJson, type: string, where?: (r: Json) => boolean): Json {
  const found = resourcesOf(json, type).find(([, r]) => !where || where(r));
  assert.ok(found, `a ${type}`);
  return found[1];
}

function assertViolation(violations: string[], pattern: RegExp): void {
  assert.ok(
    violations.some((v) => pattern.test(v)),
    `expected a violation matching ${pattern}, got:\n${violations.join('\n') || '(none)'}`,
  );
}

before(async () => {
  config = await exampleConfig();
  example = synthStacks(testInputs(config));
  const configs: [string, DeploymentConfig][] = [
    [
      'every option on',
      fixture.config({
        dns: { mode: 'existing-zone', resourceGroup: 'rg-dns' },
        azure: {
          location: 'westeurope',
          remoteState: {
            resourceGroup: 'rg-state',
            storageAccount: 'state123',
            container: 'tfstate',
          },
        },
        vm: {
          size: 'Standard_B2s',
          sshPublicKeyPath: fixture.keyPath,
          sshAllowedCidrs: ['203.0.113.0/24', '2001:db8::/48'],
          dataDiskGiB: 64,
        },
        speedtest: { engine: 'ookla', acceptOoklaLicense: true },
      }),
    ],
    [
      'DNS validation, app image pulled',
      fixture.config({
        certbot: {
          email: 'ops@example.test',
          validation: 'dns',
          dnsPlugin: 'cloudflare',
          credentialsFile: fixture.writeJson('cloudflare.ini', { token: 'x' }),
        },
        pullAppImage: true,
        images: { app: 'ghcr.io/example/refresher:2.0.0' },
      }),
    ],
  ];
  for (const [what, variant] of configs)
    variants.push({
      what,
      config: variant,
      synth: synthStacks(testInputs(variant, { secrets: generateSecrets() })),
    });
});

describe('policies', () => {
  test('the example and every variant pass all of them', () => {
    for (const { what, config: cfg, synth } of [
      { what: 'example', config, synth: example },
      ...variants,
    ]) {
      const violations = checkAll({
        azure: synth.azureJson,
        services: synth.servicesJson,
        config: cfg,
        secretValues: Object.values(synth.stacks.services.variableValues),
      });
      assert.deepEqual(violations, [], what);
    }
  });

  test('no inbound rule opens SSH, or any port but 80/443, to everyone', () => {
    const sshToAll = copy(example.azureJson);
    first(
      sshToAll,
      'azurerm_network_security_rule',
      (r) => r.destination_port_range === '22',
    ).source_address_prefix = '*';
    assertViolation(checkAzure(sshToAll, config), /opens 22 to the internet/);
    assertViolation(checkAzure(sshToAll, config), /lets \* reach SSH/);

    const sshToStranger = copy(example.azureJson);
    first(
      sshToStranger,
      'azurerm_network_security_rule',
      (r) => r.destination_port_range === '22',
    ).source_address_prefix = '198.51.100.0/24';
    assertViolation(checkAzure(sshToStranger, config), /198\.51\.100\.0\/24 reach SSH/);

    const extraPort = copy(example.azureJson);
    first(
      extraPort,
      'azurerm_network_security_rule',
      (r) => r.destination_port_range === '443',
    ).destination_port_range = '443-3000';
    assertViolation(checkAzure(extraPort, config), /opens 444, 445, .* to the internet/);

    const allPorts = copy(example.azureJson);
    first(
      allPorts,
      'azurerm_network_security_rule',
      (r) => r.destination_port_range === '80',
    ).destination_port_range = '*';
    assertViolation(checkAzure(allPorts, config), /opens every port to the internet/);

    const inline = copy(example.azureJson);
    first(inline, 'azurerm_network_security_group').security_rule = [
      {
        name: 'debug',
        direction: 'Inbound',
        access: 'Allow',
        source_address_prefix: '0.0.0.0/0',
        destination_port_range: '5432',
      },
    ];
    assertViolation(checkAzure(inline, config), /security_rule\[0\] opens 5432/);
  });

  test('the VM never accepts passwords', () => {
    const passwords = copy(example.azureJson);
    first(passwords, 'azurerm_linux_virtual_machine').disable_password_authentication = false;
    assertViolation(checkAzure(passwords, config), /allows password authentication/);
    const withPassword = copy(example.azureJson);
    first(withPassword, 'azurerm_linux_virtual_machine').admin_password = 'hunter2hunter2';
    assertViolation(checkAzure(withPassword, config), /has an admin password/);
  });

  test('every taggable Azure resource carries the tags', () => {
    const untagged = copy(example.azureJson);
    delete first(untagged, 'azurerm_public_ip').tags;
    assertViolation(
      checkAzure(untagged, config),
      /azurerm_public_ip\.\S+ lacks the deployment's tags/,
    );
  });

  test('only swag publishes ports', () => {
    const published = copy(example.servicesJson);
    first(published, 'docker_container', (c) => c.name === 'postgres').ports = [
      { internal: 5432, external: 5432 },
    ];
    const violations = checkServices(published, config);
    assertViolation(violations, /container postgres publishes ports: only swag may/);
    assertViolation(violations, /container postgres publishes port 5432/);
  });

  test('restart policy, memory limit, log rotation and health check on every container', () => {
    const broken = copy(example.servicesJson);
    delete first(broken, 'docker_container', (c) => c.name === 'web').restart;
    delete first(broken, 'docker_container', (c) => c.name === 'worker').memory;
    delete first(broken, 'docker_container', (c) => c.name === 'redis').log_opts;
    delete first(broken, 'docker_container', (c) => c.name === 'postgres').healthcheck;
    first(broken, 'docker_container', (c) => c.name === 'grafana').healthcheck = { test: ['NONE'] };
    const violations = checkServices(broken, config);
    assertViolation(violations, /container web has no restart policy/);
    assertViolation(violations, /container worker has no memory limit/);
    assertViolation(violations, /container redis has no log rotation/);
    assertViolation(violations, /container postgres has no health check/);
    assertViolation(violations, /container grafana has no health check/);
    // The one-shot migrations and an image with nothing to check with are the exceptions.
    assert.ok(!violations.some((v) => /migrate|redis-exporter/.test(v)), violations.join('\n'));
  });

  test('every image pinned to a version', () => {
    for (const reference of [
      'postgres:17.6-bookworm',
      'prom/prometheus:v3.5.0',
      'refresher-app:0.1.0',
      `redis@sha256:${'a'.repeat(64)}`,
      'localhost:5000/app:1.0',
    ])
      assert.ok(isPinnedImage(reference), reference);
    for (const reference of ['postgres', 'postgres:latest', 'redis:alpine', 'localhost:5000/app'])
      assert.ok(!isPinnedImage(reference), reference);
    const latest = copy(example.servicesJson);
    first(latest, 'docker_image', (i) => String(i.name).startsWith('postgres:')).name =
      'postgres:latest';
    assertViolation(
      checkServices(latest, config),
      /docker_image\.\S+ \(postgres:latest\) is not pinned/,
    );
    const literal = copy(example.servicesJson);
    first(literal, 'docker_container', (c) => c.name === 'redis').image = 'redis';
    assertViolation(checkServices(literal, config), /container redis runs an unpinned image redis/);
  });

  test('secrets only through sensitive variables', () => {
    const broken = copy(example.servicesJson);
    const grafana = first(broken, 'docker_container', (c) => c.name === 'grafana');
    grafana.env = (grafana.env as string[]).map((e) =>
      e.startsWith('GF_SECURITY_ADMIN_PASSWORD=') ? 'GF_SECURITY_ADMIN_PASSWORD=admin' : e,
    );
    const web = first(broken, 'docker_container', (c) => c.name === 'web');
    web.env = [
      ...(web.env as string[]).filter((e) => !e.startsWith('DATABASE_URL=')),
      'DATABASE_URL=postgres://refresher:hunter2@postgres:5432/refresher',
      'SMTP_PASSWORD=changeme',
    ];
    const swag = first(broken, 'docker_container', (c) => c.name === 'swag');
    (swag.upload as Json[]).find((u) => String(u.file).endsWith('.htpasswd'))!.content =
      'ops:$2b$...';
    const variables = broken.variable!;
    variables[Object.keys(variables)[0]!]!.sensitive = false;
    const violations = checkServices(broken, config);
    assertViolation(violations, /grafana sets GF_SECURITY_ADMIN_PASSWORD to a literal/);
    assertViolation(violations, /web sets DATABASE_URL to a literal/);
    assertViolation(violations, /web has a literal password in the URL of DATABASE_URL/);
    assertViolation(violations, /web sets SMTP_PASSWORD to a literal/);
    assertViolation(violations, /swag uploads \/config\/nginx\/refresher\.htpasswd as a literal/);
    assertViolation(violations, /variable \S+ is not marked sensitive/);
  });

  test('no secret literal in the JSON that is also in the repository', () => {
    // The text of every file of the repository (tracked, or new and not ignored).
    const repository = execFileSync(
      'git',
      ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
      { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    )
      .split('\0')
      .filter((path) => path && !/\.(png|jpe?g|gif|ico|woff2?)$/.test(path))
      .map((path) => {
        try {
          return readFileSync(join(REPO_ROOT, path), 'utf8');
        } catch {
          return ''; // listed but deleted in the work tree
        }
      })
      .join('\n');
    const stacks = { azure: example.azureJson, services: example.servicesJson };
    assert.deepEqual(secretPositionLiterals(stacks, config), []);
    assert.deepEqual(checkRepositoryLiterals(stacks, config, repository), []);
    // The stacks were synthesized with TEST_SECRETS, built from a prefix written in
    // infra/test/helpers.ts: no part of them reaches either stack.
    assert.ok(repository.includes(TEST_SECRET_PREFIX));
    assert.ok(!example.azure.includes(TEST_SECRET_PREFIX));
    assert.ok(!example.services.includes(TEST_SECRET_PREFIX));
    const secretValues = Object.values(example.stacks.services.variableValues);
    assert.deepEqual(checkNoSecretLiterals(stacks, secretValues), []);

    // Both checks find what is there: a default password from the repository, and a secret
    // value hidden inside a longer one.
    const leaked = copy(example.servicesJson);
    const grafana = first(leaked, 'docker_container', (c) => c.name === 'grafana');
    grafana.env = [...(grafana.env as string[]), 'GF_DATABASE_PASSWORD=refresher'];
    assertViolation(
      checkRepositoryLiterals({ services: leaked }, config, repository),
      /grafana GF_DATABASE_PASSWORD is "ref…", which is also in the repository/,
    );
    const redis = first(leaked, 'docker_container', (c) => c.name === 'redis');
    redis.command = ['redis-server', '--requirepass', `x${TEST_SECRETS.postgresPassword}x`];
    assertViolation(
      checkNoSecretLiterals({ services: leaked }, secretValues),
      /the services stack holds 1 secret value/,
    );
  });
});
