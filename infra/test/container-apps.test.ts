// The second target (V2, docs/v2.md): its configuration is checked field by field, the stack
// "container-apps" synthesizes offline with what the issue asks of it, its policies hold for it
// and each fails on a copy broken the way a careless change would break it, and `npm run synth`
// writes it (with the secrets' variables and the Grafana build context) from a configuration
// that says target: 'container-apps'.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Testing } from 'cdktf';
import { REPO_ROOT } from '../../contract/paths.ts';
import { DEFAULT_QUEUE_PREFIX } from '../../contract/queues.ts';
import { waitingListKey } from '../../templates/catalogue/container-apps.ts';
import { DeploymentConfigError, loadDeploymentConfig } from '../../templates/config.ts';
import {
  loadAnyDeploymentConfig,
  parseContainerAppsConfig,
  type ContainerAppsConfig,
} from '../../templates/container-apps.ts';
import { alertRules, containerAppsAlertRules } from '../../templates/prometheus.ts';
import { runTs } from '../../testing/child.ts';
import { tempDir } from '../../testing/files.ts';
import { bundleApp, type BundleManifest } from '../../scripts/lib/bundle.ts';
import { isoDuration } from '../constructs/ca-monitoring.ts';
import { containerAppsInputs } from '../inputs.ts';
import { checkContainerApps } from '../policy-container-apps.ts';
import type { TerraformJson } from '../policy.ts';
import {
  ContainerAppsStack,
  CONTAINER_APPS_STACK,
  repositoryTag,
} from '../stacks/container-apps.ts';
import { SECRETS_TFVARS } from '../stacks/services.ts';
import {
  copy,
  OUT_DIR,
  resourcesOf,
  TEST_BUILD,
  TEST_SECRET_PREFIX,
  TEST_SECRETS,
} from './helpers.ts';

const EXAMPLE = join(REPO_ROOT, 'infra/deploy.config.container-apps.example.ts');
const dir = tempDir('refresher-ca-');
after(() => dir.remove());

type Json = Record<string, unknown>;

/** A bundle's manifest with a fixed digest, as TEST_BUILD has for the VM. */
const TEST_MANIFEST = {
  sha256: TEST_BUILD.kind === 'build' ? TEST_BUILD.contextDigest : '',
  version: '0.1.0',
} as BundleManifest;

/** A bundle folder of the test's own (a clean checkout has no dist/): its Dockerfile is all synth reads. */
function testDist(): string {
  const dist = join(dir.path, 'dist');
  mkdirSync(dist, { recursive: true });
  writeFileSync(join(dist, 'Dockerfile'), 'FROM scratch\n');
  return dist;
}

function synthStack(config: ContainerAppsConfig): {
  json: TerraformJson;
  stack: ContainerAppsStack;
} {
  const app = Testing.app({ outdir: join(dir.path, `out-${Math.random()}`), stackTraces: false });
  const stack = new ContainerAppsStack(
    app,
    containerAppsInputs({
      config,
      secrets: TEST_SECRETS,
      manifest: TEST_MANIFEST,
      distDir: testDist(),
      stateDir: join(REPO_ROOT, '.state'),
    }),
    OUT_DIR,
  );
  return { json: JSON.parse(Testing.synth(stack)) as TerraformJson, stack };
}

function only(json: TerraformJson, type: string, name?: string): Json {
  const found = resourcesOf(json, type).filter(([key]) => !name || key.startsWith(name));
  assert.equal(found.length, 1, `one ${type}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]![1];
}

function list(value: unknown): Json[] {
  return (Array.isArray(value) ? value : value === undefined ? [] : [value]) as Json[];
}

const base = {
  target: 'container-apps',
  domain: 'lab.example.com',
  subdomains: {},
  dns: { mode: 'subdomain-zone' },
  azure: { location: 'westeurope' },
  speedtest: { servers: ['https://librespeed.example.net/backend'] },
  alerts: { downloadFloorMbps: 50, uploadFloorMbps: 10 },
};

function problems(input: Record<string, unknown>): string[] {
  try {
    parseContainerAppsConfig(input, join(dir.path, 'deploy.config.ts'));
  } catch (error) {
    assert.ok(error instanceof DeploymentConfigError, String(error));
    return error.problems.map((p) => `${p.field}: ${p.message}`);
  }
  return [];
}

let config: ContainerAppsConfig;
let json: TerraformJson;
let variableValues: Record<string, string>;

before(async () => {
  const loaded = await loadAnyDeploymentConfig(EXAMPLE);
  assert.equal(loaded.target, 'container-apps');
  config = loaded as ContainerAppsConfig;
  const synthesized = synthStack(config);
  json = synthesized.json;
  variableValues = synthesized.stack.variableValues;
});

describe('the configuration', () => {
  test('the example is valid, with defaults for what it leaves out', () => {
    assert.equal(config.containerApps.web.minReplicas, 2);
    assert.equal(config.containerApps.worker.minReplicas, 1);
    assert.equal(config.containerApps.scheduler.replicas, 2);
    assert.equal(config.containerApps.postgres.backupRetentionDays, 7);
    assert.equal(config.containerApps.network.addressSpace, '10.40.0.0/16');
    assert.deepEqual(problems(base), []);
  });

  test('each bad field is named with what is wrong', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { containerApps: { web: { minReplicas: 1 } } },
        /containerApps\.web\.minReplicas: expected at least 2/,
      ],
      [
        { containerApps: { worker: { minReplicas: 0 } } },
        /containerApps\.worker\.minReplicas: expected at least 1/,
      ],
      [
        { containerApps: { web: { minReplicas: 5, maxReplicas: 3 } } },
        /containerApps\.web\.maxReplicas: is below minReplicas \(5\)/,
      ],
      [
        { containerApps: { web: { cpu: 0.3 } } },
        /containerApps\.web\.cpu: expected one of 0\.25, 0\.5/,
      ],
      [
        { containerApps: { postgres: { highAvailability: 'ZoneRedundant' } } },
        /postgres\.highAvailability: burstable servers/,
      ],
      [
        { containerApps: { postgres: { sku: 'Standard_B1ms' } } },
        /postgres\.sku: expected a Flexible Server SKU/,
      ],
      [
        { containerApps: { postgres: { storageGiB: 33 } } },
        /postgres\.storageGiB: expected one of 32, 64/,
      ],
      [
        { containerApps: { redis: { sku: 'C1' } } },
        /redis\.sku: expected an Azure Managed Redis SKU/,
      ],
      [
        { containerApps: { network: { addressSpace: '8.8.0.0/16' } } },
        /network\.addressSpace: expected a private IPv4 \/16/,
      ],
      [
        { containerApps: { scheduler: { replicas: 2, sockets: 1 } } },
        /containerApps\.scheduler\.sockets: unknown setting/,
      ],
      [
        { subdomains: { prometheus: 'prom' } },
        /subdomains\.prometheus: Container Apps deployments keep metrics in Azure Monitor/,
      ],
      [{ speedtest: { servers: [] } }, /speedtest\.servers: is empty and publicTarget is false/],
      [
        { dns: { mode: 'external' } },
        /dns\.mode: Container Apps proves each name through CNAME and TXT records/,
      ],
      [{ vm: { size: 'Standard_B2s' } }, /^vm: unknown setting/],
      [{ certbot: { email: 'a@b.example' } }, /^certbot: unknown setting/],
    ];
    for (const [change, pattern] of cases) {
      const input = { ...base, ...change };
      const found = problems(input);
      assert.ok(
        found.some((p) => pattern.test(p)),
        `${JSON.stringify(change)}: ${found.join('; ') || 'accepted'}`,
      );
    }
  });

  test('a receiver an action group cannot reach is refused, e-mail and webhooks are not', () => {
    const hook = join(dir.path, 'slack-url');
    writeFileSync(hook, 'https://hooks.slack.com/services/T0/B0/x\n');
    const found = problems({
      ...base,
      alerts: { ...base.alerts, receivers: [{ type: 'slack', webhookUrlFile: hook }] },
    });
    assert.ok(
      found.some((p) =>
        /alerts\.receivers\.0\.type: "slack" cannot be reached from an Azure Monitor action group/.test(
          p,
        ),
      ),
      found.join('; '),
    );
  });

  test('a target other than the two is refused, and the VM commands refuse a Container Apps file', async () => {
    assert.ok(problems({ ...base, target: 'kubernetes' }).some((p) => /target/.test(p)));
    await assert.rejects(
      loadAnyDeploymentConfig(join(REPO_ROOT, 'infra/deploy.config.example.ts')).then((c) => {
        assert.equal(c.target, 'vm');
        throw new Error('vm loaded');
      }),
      /vm loaded/,
    );
    await assert.rejects(loadDeploymentConfig(EXAMPLE), (error: Error) => {
      assert.match(
        error.message,
        /target: is "container-apps": this command works on a VM deployment/,
      );
      return true;
    });
  });
});

describe('the stack', () => {
  test('web: HTTPS ingress on its own name, at least two replicas, scaled on concurrency', () => {
    const web = only(json, 'azurerm_container_app', 'app-web');
    const ingress = list(web.ingress)[0]!;
    assert.equal(ingress.external_enabled, true);
    assert.equal(ingress.allow_insecure_connections, false);
    const template = list(web.template)[0]!;
    assert.equal(template.min_replicas, 2);
    assert.equal(list(template.http_scale_rule)[0]!.concurrent_requests, '50');
    const domains = resourcesOf(json, 'azurerm_container_app_custom_domain').map(([, d]) => d.name);
    assert.deepEqual(domains.sort(), ['grafana.lab.example.com', 'speed.lab.example.com']);
    const txt = resourcesOf(json, 'azurerm_dns_txt_record').map(([, r]) => r.name);
    assert.deepEqual(txt.sort(), ['asuid.grafana', 'asuid.speed']);
    const binds = resourcesOf(json, 'terraform_data').filter(([name]) =>
      name.startsWith('certificate-'),
    );
    assert.equal(binds.length, 2);
    assert.match(JSON.stringify(binds), /az containerapp hostname bind/);
  });

  test("worker: KEDA scales it on the length of BullMQ's waiting list, from one replica", () => {
    const worker = only(json, 'azurerm_container_app', 'app-worker');
    const template = list(worker.template)[0]!;
    assert.equal(template.min_replicas, 1);
    assert.equal(template.max_replicas, 4);
    const rule = list(template.custom_scale_rule)[0]!;
    assert.equal(rule.custom_rule_type, 'redis');
    const metadata = rule.metadata as Record<string, string>;
    assert.equal(metadata.listName, '{refresher}:default:wait');
    assert.equal(metadata.enableTLS, 'true');
    assert.match(metadata.address!, /:10000$/);
    assert.equal(list(rule.authentication)[0]!.secret_name, 'redis-password');
    // The list the scaler reads is the one BullMQ writes: the prefix the apps are given.
    const env = list(list(template.container)[0]!.env);
    const prefix = env.find((e) => e.name === 'QUEUE_PREFIX')!.value as string;
    assert.equal(waitingListKey('default'), `${prefix}:default:wait`);
    assert.notEqual(prefix, DEFAULT_QUEUE_PREFIX);
    // Web refuses plain HTTP: the worker reaches it through its HTTPS ingress.
    const health = env.find((e) => e.name === 'HEALTHCHECK_URL')!.value as string;
    assert.match(
      health,
      /^https:\/\/\$\{azurerm_container_app\.app-web\.ingress\[0\]\.fqdn\}\/healthz$/,
    );
  });

  test('two schedulers; migrations as a job the apply runs before any app', () => {
    const scheduler = list(only(json, 'azurerm_container_app', 'app-scheduler').template)[0]!;
    assert.equal(scheduler.min_replicas, 2);
    assert.equal(scheduler.max_replicas, 2);
    const job = only(json, 'azurerm_container_app_job', 'job-migrate');
    assert.deepEqual(list(list(job.template)[0]!.container)[0]!.args, ['migrate']);
    const [runName] = resourcesOf(json, 'terraform_data').find(([name]) =>
      name.startsWith('run-migrate'),
    )!;
    for (const app of ['app-web', 'app-worker', 'app-scheduler'])
      assert.ok(
        list(only(json, 'azurerm_container_app', app).depends_on).some((d) =>
          String(d).includes(runName),
        ),
        `${app} waits for the migrations`,
      );
  });

  test('PostgreSQL and Redis are private, TLS only, and Redis never evicts', () => {
    const server = only(json, 'azurerm_postgresql_flexible_server');
    assert.equal(server.public_network_access_enabled, false);
    assert.ok(server.delegated_subnet_id);
    assert.equal(server.backup_retention_days, 7);
    assert.equal(server.version, '17');
    const redis = only(json, 'azurerm_managed_redis');
    assert.equal(redis.public_network_access, 'Disabled');
    const database = list(redis.default_database)[0]!;
    assert.equal(database.eviction_policy, 'NoEviction');
    assert.equal(database.client_protocol, 'Encrypted');
    const url = resourcesOf(json, 'azurerm_key_vault_secret').find(
      ([, s]) => s.name === 'database-url',
    )![1];
    assert.match(String(url.value), /sslmode=verify-full/);
    const ha = synthStack(
      parseContainerAppsConfig(
        {
          ...base,
          containerApps: {
            postgres: { sku: 'GP_Standard_D2ds_v5', highAvailability: 'ZoneRedundant' },
          },
        },
        EXAMPLE,
      ),
    ).json;
    assert.deepEqual(list(only(ha, 'azurerm_postgresql_flexible_server').high_availability)[0], {
      mode: 'ZoneRedundant',
    });
  });

  test('secrets are Key Vault references read by the identity; no value is in the JSON', () => {
    for (const [name, app] of resourcesOf(json, 'azurerm_container_app'))
      for (const secret of list(app.secret)) {
        assert.ok(secret.key_vault_secret_id, `${name} ${String(secret.name)}`);
        assert.equal(secret.value, undefined);
      }
    assert.ok(!JSON.stringify(json).includes(TEST_SECRET_PREFIX));
    assert.equal(Object.keys(variableValues).length, 6);
    assert.ok(Object.values(variableValues).every((value) => value.startsWith(TEST_SECRET_PREFIX)));
  });

  test("the alert rules are the project's own, without the VM-only ones", () => {
    const group = only(json, 'azurerm_monitor_alert_prometheus_rule_group');
    const rules = list(group.rule);
    const expected = containerAppsAlertRules(config);
    assert.deepEqual(
      rules.map((r) => r.alert),
      expected.map((r) => r.alert),
    );
    const all = alertRules(config).map((r) => r.alert);
    for (const name of [
      'SpeedtestMissing',
      'SpeedtestBelowFloor',
      'TaskFailingRepeatedly',
      'ProbeOutage',
      'TargetDown',
    ])
      assert.ok(
        rules.some((r) => r.alert === name),
        name,
      );
    for (const name of [
      'DiskFilling',
      'ContainerRestarting',
      'PostgresDown',
      'RedisMemoryNearLimit',
    ])
      assert.ok(all.includes(name) && !rules.some((r) => r.alert === name), name);
    assert.equal(isoDuration('5m'), 'PT5M');
    assert.throws(() => isoDuration('1d'));
  });

  test("a webhook receiver's URL is a sensitive variable, e-mail addresses are in the group", () => {
    const urlFile = join(dir.path, 'hook-url');
    writeFileSync(urlFile, 'https://hooks.example.net/alert?token=abcdef123456\n');
    const withReceivers = parseContainerAppsConfig(
      {
        ...base,
        alerts: {
          ...base.alerts,
          receivers: [
            {
              type: 'email',
              to: ['ops@example.net'],
              from: 'alerts@example.net',
              smarthost: 'smtp.example.net:587',
            },
            { type: 'webhook', urlFile },
          ],
        },
      },
      EXAMPLE,
    );
    const { json: synthesized, stack } = synthStack(withReceivers);
    const group = only(synthesized, 'azurerm_monitor_action_group');
    assert.equal(list(group.email_receiver)[0]!.email_address, 'ops@example.net');
    assert.match(
      String(list(group.webhook_receiver)[0]!.service_uri),
      /^\$\{var\.receiver_1_url\}$/,
    );
    assert.equal(
      stack.variableValues.receiver_1_url,
      'https://hooks.example.net/alert?token=abcdef123456',
    );
    assert.ok(!JSON.stringify(synthesized).includes('abcdef123456'));
    assert.deepEqual(checkContainerApps(synthesized, Object.values(stack.variableValues)), []);
  });
});

test('an image pinned by digest keeps its digest as the tag in the registry', () => {
  assert.equal(repositoryTag('grafana/grafana:12.1.1'), 'grafana:12.1.1');
  const digest = 'a'.repeat(64);
  assert.equal(
    repositoryTag(`postgres:17.6@sha256:${digest}`),
    `postgres:sha256-${'a'.repeat(32)}`,
  );
  assert.equal(
    repositoryTag(`prom/prometheus@sha256:${digest}`),
    `prometheus:sha256-${'a'.repeat(32)}`,
  );
});

describe('the policies', () => {
  const broken = (change: (copy: TerraformJson) => void): string[] => {
    const json2 = copy(json);
    change(json2);
    return checkContainerApps(json2, Object.values(variableValues));
  };
  const first = (j: TerraformJson, type: string, name?: string) => only(j, type, name);
  const container = (j: TerraformJson, app: string) =>
    list(list(first(j, 'azurerm_container_app', app).template)[0]!.container)[0]!;

  test('hold for the stack as synthesized', () => {
    assert.deepEqual(checkContainerApps(json, Object.values(variableValues)), []);
  });

  const cases: [string, (j: TerraformJson) => void, RegExp][] = [
    [
      'a public database',
      (j) => (first(j, 'azurerm_postgresql_flexible_server').public_network_access_enabled = true),
      /PostgreSQL .* public endpoint/,
    ],
    [
      'a firewall rule',
      (j) =>
        (j.resource!.azurerm_postgresql_flexible_server_firewall_rule = {
          open: { start_ip_address: '0.0.0.0' },
        }),
      /firewall rule open/,
    ],
    [
      'TLS not required by PostgreSQL',
      (j) => {
        for (const [, c] of resourcesOf(j, 'azurerm_postgresql_flexible_server_configuration'))
          if (c.name === 'require_secure_transport') c.value = 'OFF';
      },
      /does not require TLS/,
    ],
    [
      'a public Redis',
      (j) => (first(j, 'azurerm_managed_redis').public_network_access = 'Enabled'),
      /Redis .* public endpoint/,
    ],
    [
      'plain-text Redis',
      (j) =>
        (list(first(j, 'azurerm_managed_redis').default_database)[0]!.client_protocol =
          'Plaintext'),
      /plain-text connections/,
    ],
    [
      'an evicting Redis',
      (j) =>
        (list(first(j, 'azurerm_managed_redis').default_database)[0]!.eviction_policy =
          'AllKeysLRU'),
      /may evict/,
    ],
    [
      'Azure Cache for Redis',
      (j) => (j.resource!.azurerm_redis_cache = { old: {} }),
      /use Azure Managed Redis/,
    ],
    [
      'no private endpoint for Redis',
      (j) => delete j.resource!.azurerm_private_endpoint,
      /no private endpoint/,
    ],
    [
      "the registry's admin user",
      (j) => (first(j, 'azurerm_container_registry').admin_enabled = true),
      /admin user/,
    ],
    [
      'a registry password',
      (j) =>
        (list(first(j, 'azurerm_container_app', 'app-web').registry)[0]!.password_secret_name =
          'acr-password'),
      /with a password, not its identity/,
    ],
    [
      'an inline secret',
      (j) =>
        (list(first(j, 'azurerm_container_app', 'app-worker').secret)[0]!.value =
          'hunter22hunter22'),
      /is not a Key Vault reference/,
    ],
    [
      'a vault without RBAC',
      (j) => (first(j, 'azurerm_key_vault').rbac_authorization_enabled = false),
      /access policies/,
    ],
    [
      'an app without probes',
      (j) => delete container(j, 'app-scheduler').liveness_probe,
      /app-scheduler.* no liveness or readiness probe/,
    ],
    [
      'an app without limits',
      (j) => delete container(j, 'app-worker').memory,
      /no CPU or memory limit/,
    ],
    [
      'a latest tag',
      (j) => (container(j, 'app-web').image = 'example.azurecr.io/refresher:latest'),
      /pin a version, not latest/,
    ],
    [
      'an untagged image',
      (j) => (container(j, 'app-web').image = 'example.azurecr.io/refresher'),
      /pin a version/,
    ],
    [
      'a password in a plain env value',
      (j) => list(container(j, 'app-web').env).push({ name: 'ADMIN_PASSWORD', value: 'x' }),
      /ADMIN_PASSWORD is a plain value/,
    ],
    [
      'plain HTTP ingress',
      (j) =>
        (list(first(j, 'azurerm_container_app', 'app-web').ingress)[0]!.allow_insecure_connections =
          true),
      /accepts plain HTTP/,
    ],
    [
      'an unverified database URL',
      (j) => {
        const secret = resourcesOf(j, 'azurerm_key_vault_secret').find(
          ([, s]) => s.name === 'database-url',
        )![1];
        secret.value = String(secret.value).replace('verify-full', 'require');
      },
      /does not verify the server/,
    ],
    [
      'a plain Redis URL',
      (j) => {
        const secret = resourcesOf(j, 'azurerm_key_vault_secret').find(
          ([, s]) => s.name === 'redis-url',
        )![1];
        secret.value = String(secret.value).replace('rediss://', 'redis://');
      },
      /not TLS/,
    ],
    [
      'a secret value as a literal',
      (j) =>
        (first(j, 'azurerm_key_vault_secret', 'secret-session').value = TEST_SECRETS.sessionSecret),
      /secret value\(s\) as literals/,
    ],
  ];
  for (const [what, change, pattern] of cases)
    test(`refuse ${what}`, () => {
      const violations = broken(change);
      assert.ok(
        violations.some((v) => pattern.test(v)),
        `${pattern}:\n${violations.join('\n') || '(none)'}`,
      );
    });
});

describe('npm run synth with target container-apps', () => {
  test('writes the one stack, its variables (0600) and the Grafana build context', async () => {
    const dist = join(dir.path, 'dist');
    await bundleApp({ outDir: dist });
    const out = join(dir.path, 'cdktf.out');
    const result = runTs('infra/main.ts', [], {
      CDKTF_OUTDIR: out,
      REFRESHER_DEPLOY_CONFIG: EXAMPLE,
      REFRESHER_SECRETS_FILE: join(dir.path, 'secrets.json'),
      REFRESHER_DIST: dist,
      REFRESHER_STATE_DIR: join(dir.path, 'state'),
    });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stderr, new RegExp(`stack ${CONTAINER_APPS_STACK}: \\d+ resources`));
    const stackDir = join(out, 'stacks', CONTAINER_APPS_STACK);
    assert.ok(!existsSync(join(out, 'stacks', 'azure')));
    assert.equal(statSync(join(stackDir, SECRETS_TFVARS)).mode & 0o777, 0o600);
    const datasources = readFileSync(
      join(stackDir, 'grafana-image/provisioning/datasources/refresher.yaml'),
      'utf8',
    );
    assert.match(datasources, /sslmode: verify-full/);
    assert.match(datasources, /authType: msi/);
    assert.match(
      readFileSync(join(stackDir, 'grafana-image/Dockerfile'), 'utf8'),
      /^FROM \$BASE$/m,
    );
    assert.ok(existsSync(join(stackDir, 'grafana-image/dashboards/speedtester.json')));
  });
});
