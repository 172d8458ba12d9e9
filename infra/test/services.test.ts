// Stack "services" with cdktf's Testing helpers: the docker provider reaches the VM through the
// azure stack's address; one network, the named volumes, the images; and every container of the
// service catalogue exactly as the catalogue describes it, with its rendered files uploaded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { Network } from '@cdktf/provider-docker/lib/network/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { testingMatchers } from 'cdktf';
import {
  image,
  isSecretEnv,
  serviceCatalogue,
  VOLUMES,
  type ServiceSpec,
} from '../../templates/catalogue/index.ts';
import type { DeploymentConfig } from '../../templates/config.ts';
import { configFixture } from '../../templates/test/helpers/deployment.ts';
import { SECRET_NAMES } from '../../templates/secrets.ts';
import { fileVariableName, secretVariableName } from '../stacks/services.ts';
import {
  assertResource,
  exampleConfig,
  resourcesOf,
  synthStacks,
  TEST_BUILD,
  TEST_SECRETS,
  testInputs,
  type Synthesized,
} from './helpers.ts';

const fixture = configFixture();
after(() => fixture.remove());

let example: Synthesized;
let config: DeploymentConfig;
let services: ServiceSpec[];
/** Ookla accepted, the app image pulled from a registry. */
let pulled: Synthesized;
let pulledCfg: DeploymentConfig;

type Json = Record<string, unknown>;
function container(synth: Synthesized, name: string): Json {
  const found = resourcesOf(synth.servicesJson, 'docker_container').find(
    ([, c]) => c.name === name,
  );
  assert.ok(found, `a container named ${name}`);
  return found[1];
}

before(async () => {
  config = await exampleConfig();
  example = synthStacks(testInputs(config));
  services = serviceCatalogue(config);
  pulledCfg = fixture.config({
    speedtest: { engine: 'ookla', acceptOoklaLicense: true },
    pullAppImage: true,
    images: { app: 'ghcr.io/example/refresher:1.2.3' },
  });
  pulled = synthStacks(testInputs(pulledCfg));
});

describe('stack "services"', () => {
  test("the docker provider connects over SSH to the azure stack's address", () => {
    const provider = example.servicesJson.provider!.docker![0]!;
    const remote =
      /^ssh:\/\/deploy@\$\{data\.terraform_remote_state\.([^.]+)\.outputs\.([^}]+)\}$/.exec(
        String(provider.host),
      );
    assert.ok(remote, String(provider.host));
    const [, state, output] = remote;
    // The reference is real: the remote state reads the azure stack's state file, and the azure
    // stack outputs the public IP under that name.
    const data = example.servicesJson.data!.terraform_remote_state![state!]!;
    assert.deepEqual(data.config, { path: '../../../.state/terraform.azure.tfstate' });
    assert.match(
      String(example.azureJson.output![output!]!.value),
      /^\$\{azurerm_public_ip\.[^.]+\.ip_address\}$/,
    );
    assert.ok((provider.ssh_opts as string[]).includes('StrictHostKeyChecking=accept-new'));
    assert.deepEqual(example.stacks.services.dependencies, [example.stacks.azure]);
  });

  test('one network with the planned subnet, and the named volumes', () => {
    assertResource(example.services, Network, {
      name: 'refresher',
      driver: 'bridge',
      ipam_config: [
        { subnet: '172.28.0.0/24', ip_range: '172.28.0.128/25', gateway: '172.28.0.1' },
      ],
    });
    assert.equal(resourcesOf(example.servicesJson, 'docker_network').length, 1);
    for (const volume of VOLUMES)
      assertResource(example.services, Volume, { name: `refresher_${volume}` });
    assert.equal(resourcesOf(example.servicesJson, 'docker_volume').length, VOLUMES.length);
  });

  test('the image build is the same from another checkout: its identity is the bundle', () => {
    const elsewhere = '/home/someone/elsewhere/refresher';
    const moved = synthStacks(
      testInputs(config, {
        appImage: {
          ...TEST_BUILD,
          context: `${elsewhere}/dist`,
          dockerfile: `${elsewhere}/dist/Dockerfile`,
        } as typeof TEST_BUILD,
      }),
      `${elsewhere}/cdktf.out`,
    );
    const build = (json: typeof example.servicesJson) =>
      resourcesOf(json, 'docker_image').find(([, i]) => i.build)?.[1];
    assert.ok(build(example.servicesJson));
    assert.deepEqual(build(moved.servicesJson), build(example.servicesJson));
    assert.ok(!moved.services.includes(elsewhere), 'no path of the checkout in the stack');
  });

  test('the app image is built on the VM from the bundle; the others are pulled, pinned', () => {
    assertResource(example.services, Image, {
      name: image(config, 'app'),
      keep_locally: true,
      build: {
        // Relative to the stack's folder, cdktf.out/stacks/services, where the provider runs.
        context: '../../../dist',
        dockerfile: '../../../dist/Dockerfile',
        build_args: { APP_VERSION: '0.1.0', OOKLA_ACCEPT_LICENSE: 'false' },
      },
      triggers: { context: 'b'.repeat(64), ookla: 'false' },
    });
    const images = resourcesOf(example.servicesJson, 'docker_image').map(([, i]) => i);
    assert.deepEqual(
      images.map((i) => i.name).sort(),
      [...new Set(services.map((s) => s.image))].sort(),
    );
    for (const pulledImage of images.filter((i) => i.name !== image(config, 'app')))
      assert.equal(pulledImage.build, undefined, `${String(pulledImage.name)} is pulled`);
  });

  test('with pullAppImage the app image comes from its registry; the licence flag reaches the build', () => {
    const app = resourcesOf(pulled.servicesJson, 'docker_image').find(
      ([, i]) => i.name === 'ghcr.io/example/refresher:1.2.3',
    );
    assert.ok(app);
    assert.equal(app[1].build, undefined);
    const worker = container(pulled, 'worker');
    assert.ok((worker.env as string[]).includes('OOKLA_ACCEPT_LICENSE=true'));
    assert.ok((worker.env as string[]).includes('OOKLA_SPEEDTEST_BIN=/usr/local/bin/speedtest'));

    const licensed = synthStacks(
      testInputs(fixture.config({ speedtest: { engine: 'ookla', acceptOoklaLicense: true } })),
    );
    assertResource(licensed.services, Image, {
      build: { build_args: { OOKLA_ACCEPT_LICENSE: 'true' } },
      triggers: { ookla: 'true' },
    });
  });

  test('every catalogue service is a container as the catalogue says', () => {
    const containers = resourcesOf(example.servicesJson, 'docker_container');
    assert.deepEqual(containers.map(([, c]) => c.name).sort(), services.map((s) => s.name).sort());
    const imageIds = Object.fromEntries(
      resourcesOf(example.servicesJson, 'docker_image').map(([key, i]) => [
        `\${docker_image.${key}.image_id}`,
        i.name,
      ]),
    );
    for (const service of services) {
      const c = container(example, service.name);
      assert.equal(imageIds[String(c.image)], service.image, `${service.name}: image`);
      assert.deepEqual(c.command, service.command, `${service.name}: command`);
      assert.equal(c.restart, service.restart, `${service.name}: restart`);
      assert.equal(c.memory, service.memoryLimitMb, `${service.name}: memory`);
      assert.equal(c.stop_timeout, service.stopGraceSeconds, `${service.name}: stop grace`);
      assert.equal(c.destroy_grace_seconds, service.stopGraceSeconds, `${service.name}: grace`);
      assert.equal(c.log_driver, 'json-file');
      assert.deepEqual(c.log_opts, {
        'max-size': `${service.logging.maxSizeMb}m`,
        'max-file': String(service.logging.maxFiles),
      });
      if (service.healthcheck)
        assert.deepEqual(
          c.healthcheck,
          {
            test: service.healthcheck.test,
            interval: `${service.healthcheck.intervalSeconds}s`,
            timeout: `${service.healthcheck.timeoutSeconds}s`,
            retries: service.healthcheck.retries,
            start_period: `${service.healthcheck.startPeriodSeconds}s`,
          },
          `${service.name}: health check`,
        );
      // The environment, with each secret from its sensitive variable.
      const env = new Map(
        (c.env as string[]).map((entry) => [
          entry.split('=')[0]!,
          entry.slice(entry.indexOf('=') + 1),
        ]),
      );
      assert.deepEqual(
        [...env.keys()],
        [
          ...Object.keys(service.environment),
          ...(service.publicAddressEnv ? [service.publicAddressEnv] : []),
        ],
        `${service.name}: env`,
      );
      assert.deepEqual(c.entrypoint, service.entrypoint, `${service.name}: entry point`);
      assert.deepEqual(
        c.capabilities,
        service.capabilities.length ? { add: service.capabilities } : undefined,
        `${service.name}: capabilities`,
      );
      for (const [name, value] of Object.entries(service.environment)) {
        if (!isSecretEnv(value)) assert.equal(env.get(name), value, `${service.name}: ${name}`);
        else {
          const variable = `var.${secretVariableName(value.secret)}`;
          const expected = value.urlEncode ? `\${urlencode(${variable})}` : `\${${variable}}`;
          assert.equal(
            env.get(name),
            value.template ? value.template.replace('{}', expected) : expected,
            `${service.name}: ${name}`,
          );
        }
      }
      // Named volumes and read-only host mounts.
      assert.deepEqual(
        c.volumes,
        service.volumes.map((v) => ({
          volume_name: `\${docker_volume.volume-${v.volume}.name}`,
          container_path: v.target,
        })),
      );
      assert.deepEqual(
        c.mounts,
        service.hostMounts.map((m) => ({
          type: 'bind',
          source: m.source,
          target: m.target,
          read_only: true,
        })),
      );
      assert.deepEqual(c.networks_advanced, [
        {
          name: '${docker_network.network.name}',
          aliases: [service.name],
          ...(service.ipv4Address ? { ipv4_address: service.ipv4Address } : {}),
        },
      ]);
    }
  });

  test('only swag publishes ports, 80 and 443; its confs are uploaded, the htpasswd from a variable', () => {
    const swag = container(example, 'swag');
    assert.deepEqual(swag.ports, [
      { internal: 80, external: 80, protocol: 'tcp' },
      { internal: 443, external: 443, protocol: 'tcp' },
    ]);
    for (const service of services.filter((s) => s.name !== 'swag'))
      assert.equal(container(example, service.name).ports, undefined, service.name);

    const spec = services.find((s) => s.name === 'swag')!;
    const uploads = swag.upload as { file: string; content: string; permissions: string }[];
    assert.deepEqual(
      uploads.map((u) => u.file),
      spec.files.map((f) => f.target),
    );
    for (const file of spec.files) {
      const upload = uploads.find((u) => u.file === file.target)!;
      const rendered = example.inputs.files.get(file.source)!;
      assert.equal(upload.permissions, `0${rendered.mode.toString(8)}`);
      if (file.secret) assert.equal(upload.content, `\${var.${fileVariableName(file.source)}}`);
      else assert.equal(upload.content, rendered.content, file.source);
    }
    assert.ok(uploads.some((u) => u.file === '/config/nginx/proxy-confs/speed.subdomain.conf'));
  });

  test("swag: the certificate gate gets the azure stack's public IP, and NET_ADMIN for fail2ban", () => {
    const swag = container(example, 'swag');
    const spec = services.find((s) => s.name === 'swag')!;
    assert.equal(spec.publicAddressEnv, 'REFRESHER_PUBLIC_ADDRESS');
    const entry = (swag.env as string[]).find((e) => e.startsWith('REFRESHER_PUBLIC_ADDRESS='))!;
    const remote =
      /^REFRESHER_PUBLIC_ADDRESS=\$\{data\.terraform_remote_state\.[^.]+\.outputs\.([^}]+)\}$/.exec(
        entry,
      );
    assert.ok(remote, entry);
    // The same output the docker provider's host comes from: the public IP.
    assert.match(
      String(example.azureJson.output![remote[1]!]!.value),
      /^\$\{azurerm_public_ip\.[^.]+\.ip_address\}$/,
    );
    assert.deepEqual(swag.entrypoint, ['python3', '/refresher/certificate-gate.py', 'init']);
    assert.deepEqual(swag.capabilities, { add: ['CAP_NET_ADMIN'] });
    assert.deepEqual((swag.healthcheck as { test: string[] }).test, [
      'CMD',
      'python3',
      '/refresher/certificate-gate.py',
      'health',
    ]);
    for (const service of services.filter((s) => s.name !== 'swag'))
      assert.ok(
        !(container(example, service.name).env as string[]).some((e) =>
          e.startsWith('REFRESHER_PUBLIC_ADDRESS='),
        ),
        service.name,
      );
  });

  test('start order: Terraform waits for health where the catalogue waits for it', () => {
    const key = (name: string) =>
      resourcesOf(example.servicesJson, 'docker_container').find(([, c]) => c.name === name)![0];
    for (const service of services) {
      const c = container(example, service.name);
      assert.deepEqual(
        ((c.depends_on as string[] | undefined) ?? []).sort(),
        service.dependsOn.map((d) => `docker_container.${key(d.service)}`).sort(),
        `${service.name}: depends_on`,
      );
    }
    const waited = new Set(
      services.flatMap((s) =>
        s.dependsOn.filter((d) => d.condition === 'healthy').map((d) => d.service),
      ),
    );
    for (const name of waited) {
      const c = container(example, name);
      assert.equal(c.wait, true, `${name} is waited for`);
      assert.ok(Number(c.wait_timeout) >= 60);
    }
    for (const name of ['postgres', 'redis', 'web']) assert.ok(waited.has(name));
  });

  test('the migrations run once per deployment, to completion, and fail the apply when they fail', () => {
    const migrate = container(example, 'migrate');
    assert.equal(migrate.must_run, false);
    assert.equal(migrate.attach, true);
    assert.equal(migrate.restart, 'no');
    assert.deepEqual(migrate.healthcheck, { test: ['NONE'] });
    assert.deepEqual(
      (migrate.lifecycle as { postcondition: { condition: string }[] }).postcondition[0]!.condition,
      '${self.exit_code == 0}',
    );
    for (const role of ['web', 'worker', 'scheduler'])
      assert.ok(
        (container(example, role).depends_on as string[]).some((d) =>
          d.includes('service-migrate'),
        ),
      );
  });

  test('secrets are sensitive variables with no default; their values go to the tfvars file only', () => {
    const variables = example.servicesJson.variable!;
    for (const name of SECRET_NAMES) {
      const variable = variables[secretVariableName(name)];
      assert.ok(variable, name);
      assert.equal(variable.sensitive, true);
      assert.equal(variable.default, undefined);
      assert.equal(
        example.stacks.services.variableValues[secretVariableName(name)],
        TEST_SECRETS[name],
      );
    }
    const secretFiles = [...example.inputs.files.values()].filter((f) => f.secret);
    assert.ok(secretFiles.length >= 1);
    for (const file of secretFiles)
      assert.equal(
        example.stacks.services.variableValues[fileVariableName(file.path)],
        file.content,
      );
    const result = testingMatchers.getToHaveResourceWithProperties()(example.services, Container, {
      name: 'web',
    });
    assert.ok(result.pass, result.message);
  });
});
