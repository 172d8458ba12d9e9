// The Azure CLI steps of the Container Apps stack (infra/constructs/az-step.ts), run by the shell
// as Terraform's local-exec runs them, against a recording stand-in for `az`
// (scripts/test/stand-ins/azure-cli/az): Azure cannot be reached here, the scripts' logic can.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { REPO_ROOT } from '../../contract/paths.ts';
import { startDnsServer, type DnsServer } from '../../testing/dns-server.ts';
import { tempDir } from '../../testing/files.ts';
import {
  ACR_BUILD,
  ACR_IMPORT,
  BIND_HOSTNAME,
  RUN_JOB,
  WAIT_FOR_CNAME,
} from '../constructs/az-step.ts';
import { dockerHubSource } from '../stacks/container-apps.ts';

const AZ = join(REPO_ROOT, 'scripts/test/stand-ins/azure-cli');
const work = tempDir('refresher-az-step-');
after(() => work.remove());
const standIn = join(work.path, 'az');

beforeEach(() => {
  rmSync(standIn, { recursive: true, force: true });
  mkdirSync(standIn);
});

/** Runs a step's script as local-exec does: /bin/sh -c, set -eu first, inputs in the env. */
function step(script: string, environment: Record<string, string>) {
  const result = spawnSync('/bin/sh', ['-c', `set -eu\n${script}`], {
    env: { PATH: `${AZ}:${process.env.PATH}`, AZ_STANDIN: standIn, ...environment },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const log = join(standIn, 'calls.log');
  let calls: string[] = [];
  try {
    calls = readFileSync(log, 'utf8').trim().split('\n');
  } catch {
    // no call made
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
}

describe('RUN_JOB', () => {
  const env = {
    JOB: 'refresher-migrate',
    GROUP: 'rg-refresher',
    MINUTES: '1',
    POLL_SECONDS: '0.05',
  };

  test('starts the job and waits through Running until Succeeded', () => {
    writeFileSync(join(standIn, 'statuses'), 'Running\nRunning\nSucceeded\n');
    const result = step(RUN_JOB, env);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /refresher-migrate succeeded/);
    assert.equal(result.calls.filter((c) => c.includes('execution show')).length, 3);
    assert.match(
      result.calls[0]!,
      /^containerapp job start --name refresher-migrate --resource-group rg-refresher/,
    );
    assert.match(result.calls[1]!, /--job-execution-name job-execution-1/);
  });

  test("fails with the job's verdict and where its logs are", () => {
    writeFileSync(join(standIn, 'statuses'), 'Running\nFailed\n');
    const result = step(RUN_JOB, env);
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /refresher-migrate Failed: az containerapp job logs show --name refresher-migrate/,
    );
  });

  test('gives up after MINUTES with the status it had', () => {
    writeFileSync(join(standIn, 'statuses'), 'Running\n');
    const result = step(RUN_JOB, { ...env, MINUTES: '0' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /still Running after 0 minutes/);
  });

  test('a job that cannot start fails the step', () => {
    writeFileSync(join(standIn, 'fail-job'), 'ERROR: (ResourceNotFound) no such job\n');
    const result = step(RUN_JOB, env);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /ResourceNotFound/);
  });
});

describe('the registry steps', () => {
  test('ACR_BUILD passes the base image as a build argument only when there is one', () => {
    const common = {
      REGISTRY: 'crrefresher',
      IMAGE: 'refresher:0.1.0-abc',
      DOCKERFILE: 'dist/Dockerfile',
      CONTEXT: 'dist',
    };
    const plain = step(ACR_BUILD, { ...common, BASE: '' });
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(
      plain.calls[0],
      'acr build --registry crrefresher --image refresher:0.1.0-abc --file dist/Dockerfile --no-logs dist',
    );
    rmSync(join(standIn, 'calls.log'));
    const based = step(ACR_BUILD, { ...common, BASE: 'crrefresher.azurecr.io/grafana:12.1.1' });
    assert.match(
      based.calls[0]!,
      /--no-logs --build-arg BASE=crrefresher\.azurecr\.io\/grafana:12\.1\.1 dist$/,
    );
    writeFileSync(join(standIn, 'fail-build'), 'TasksOperationsNotAllowed\n');
    assert.equal(step(ACR_BUILD, { ...common, BASE: '' }).status, 1);
  });

  test("ACR_IMPORT imports once, and from Docker Hub's library for official images", () => {
    const env = {
      REGISTRY: 'crrefresher',
      SOURCE: dockerHubSource('postgres:17.6-bookworm'),
      IMAGE: 'postgres:17.6-bookworm',
    };
    assert.equal(env.SOURCE, 'docker.io/library/postgres:17.6-bookworm');
    assert.equal(dockerHubSource('grafana/grafana:12.1.1'), 'docker.io/grafana/grafana:12.1.1');
    assert.equal(
      dockerHubSource('quay.io/prometheus/node-exporter:v1'),
      'quay.io/prometheus/node-exporter:v1',
    );
    const first = step(ACR_IMPORT, env);
    assert.equal(first.status, 0, first.stderr);
    assert.ok(
      first.calls.some(
        (c) =>
          c ===
          'acr import --name crrefresher --source docker.io/library/postgres:17.6-bookworm --image postgres:17.6-bookworm',
      ),
    );
    rmSync(join(standIn, 'calls.log'));
    writeFileSync(join(standIn, 'in-registry'), '');
    const again = step(ACR_IMPORT, env);
    assert.match(again.stdout, /already in crrefresher/);
    assert.ok(!again.calls.some((c) => c.startsWith('acr import')));
  });
});

const bindEnv = {
  DOMAIN_NAME: 'speed.lab.example.com',
  APP: 'refresher-web',
  GROUP: 'rg-refresher',
  ENVIRONMENT: 'cae-refresher',
  MINUTES: '0',
  HINT: 'the parent of lab.example.com must have NS records for it',
  WAIT_FOR_CNAME,
};

describe('BIND_HOSTNAME', () => {
  let dns: DnsServer;
  before(async () => {
    dns = await startDnsServer({
      cname: { 'speed.lab.example.com': 'refresher-web.happy.westeurope.azurecontainerapps.io' },
    });
  });
  after(() => dns.stop());

  test('binds a managed certificate once the name resolves to the app', () => {
    const result = step(BIND_HOSTNAME, { ...bindEnv, DNS_SERVERS: dns.address, MINUTES: '1' });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.calls, [
      'containerapp hostname bind --hostname speed.lab.example.com --name refresher-web --resource-group rg-refresher --environment cae-refresher --validation-method CNAME',
    ]);
    assert.match(result.stdout, /https:\/\/speed\.lab\.example\.com has a managed certificate/);
  });

  test('no CNAME in time fails the step before any binding', () => {
    // The name is unknown to the test's DNS server: the wait gives up at once (MINUTES 0).
    const result = step(BIND_HOSTNAME, {
      ...bindEnv,
      DNS_SERVERS: dns.address,
      DOMAIN_NAME: 'grafana.lab.example.com',
    });
    assert.equal(result.status, 1);
    assert.match(
      result.stdout,
      /waiting until grafana\.lab\.example\.com resolves \(the parent of lab\.example\.com/,
    );
    assert.match(result.stderr, /no CNAME for grafana\.lab\.example\.com after 0 min/);
    assert.ok(!result.calls.some((c) => c.startsWith('containerapp hostname')));
  });
});
