// npm run deploy with a configuration whose target is container-apps, with terraform and the
// Azure CLI replaced by recording stand-ins (scripts/test/stand-ins/: Azure cannot be reached
// here): the refusals before anything is created, the one stack planned and applied, --plan, and
// the question before a plan that deletes the database.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, beforeEach, describe, test } from 'node:test';
import { REPO_ROOT } from '../../contract/paths.ts';
import { spawnTs, type Child } from '../../testing/child.ts';
import { tempDir } from '../../testing/files.ts';

const STAND_INS = join(REPO_ROOT, 'scripts/test/stand-ins');
const AZ = join(STAND_INS, 'azure-cli');
const EXAMPLE = join(REPO_ROOT, 'infra/deploy.config.container-apps.example.ts');
const DOMAIN = 'lab.refresher-deploy-ci.net';

const work = tempDir('refresher-deploy-ca-test-');
after(() => work.remove());
let tf: string;
let az: string;
/** The example made the test's own: a copy with a domain that is not reserved for examples. */
const configFile = join(work.path, 'deploy.config.ts');
writeFileSync(
  configFile,
  readFileSync(EXAMPLE, 'utf8')
    .replace("from '../templates/", `from '${join(REPO_ROOT, 'templates')}/`)
    .replace("domain: 'lab.example.com'", `domain: '${DOMAIN}'`),
);

beforeEach(() => {
  const run = `run-${Date.now()}`;
  tf = join(work.path, run, 'tf');
  az = join(work.path, run, 'az');
  mkdirSync(join(tf, 'container-apps'), { recursive: true });
  mkdirSync(az, { recursive: true });
  writeFileSync(
    join(tf, 'container-apps', 'plan.json'),
    JSON.stringify({
      resource_changes: [
        {
          address: 'azurerm_container_app.app-web',
          type: 'azurerm_container_app',
          change: { actions: ['create'] },
        },
      ],
    }),
  );
  writeFileSync(
    join(tf, 'container-apps', 'outputs.json'),
    JSON.stringify({
      'url-speedtester': { value: 'https://speed.lab.example.com' },
      'url-grafana': { value: 'https://grafana.lab.example.com' },
      name_servers: { value: ['ns1-01.azure-dns.com.', 'ns2-01.azure-dns.net.'] },
    }),
  );
});

function deploy(
  args: string[],
  path = `${STAND_INS}:${AZ}:${process.env.PATH ?? ''}`,
  options: { config?: string; env?: Record<string, string> } = {},
): Child {
  return spawnTs(
    'scripts/deploy.ts',
    [
      '--config',
      options.config ?? configFile,
      '--secrets',
      join(work.path, 'secrets.json'),
      ...args,
    ],
    {
      PATH: path,
      TF_STANDIN: tf,
      AZ_STANDIN: az,
      CDKTF_OUTDIR: join(work.path, 'cdktf.out'),
      REFRESHER_STATE_DIR: join(work.path, 'state'),
      REFRESHER_DIST: join(work.path, 'dist'),
      ...options.env,
    },
  );
}

/** The terraform calls in the stack's folder, as "<subcommand>". */
function terraformCalls(): string[] {
  const log = join(tf, 'calls.log');
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('container-apps '))
    .map((line) => line.split(' ')[1]!);
}

describe('npm run deploy, target container-apps', { timeout: 180_000 }, () => {
  test('an Azure CLI that is not signed in stops it before anything is made', async () => {
    writeFileSync(join(az, 'signed-out'), '');
    const child = deploy([]);
    assert.equal(await child.exited, 1, child.output());
    assert.match(
      child.output(),
      /step check failed: .*cannot be deployed yet:\n {2}- the Azure CLI is not signed in: run az login/,
    );
    assert.deepEqual(terraformCalls(), []);
  });

  test('the committed example and an example domain are refused before Azure is asked', async () => {
    const child = deploy([], undefined, { config: EXAMPLE });
    assert.equal(await child.exited, 1, child.output());
    assert.match(child.output(), /this is the committed example: copy it and make it yours/);
    assert.match(child.output(), /domain: lab\.example\.com is reserved for examples/);
    assert.deepEqual(terraformCalls(), []);
  });

  test("a Terraform subscription other than the Azure CLI's is refused", async () => {
    const child = deploy([], undefined, {
      env: { ARM_SUBSCRIPTION_ID: '11111111-2222-4333-8444-555555555555' },
    });
    assert.equal(await child.exited, 1, child.output());
    assert.match(
      child.output(),
      /ARM_SUBSCRIPTION_ID is 11111111-2222-4333-8444-555555555555, but the Azure CLI uses 00000000-0000-4000-8000-000000000001 \(Stand-in subscription\)/,
    );
    assert.deepEqual(terraformCalls(), []);
  });

  test('no Azure CLI at all is named too', async () => {
    const child = deploy([], `${STAND_INS}:/usr/bin:/bin`);
    assert.equal(await child.exited, 1, child.output());
    assert.match(child.output(), /the Azure CLI \(az\) is not installed/);
  });

  test('synth, then the one stack planned and applied, then where it answers', async () => {
    const child = deploy([]);
    assert.equal(await child.exited, 0, child.output());
    assert.deepEqual(terraformCalls(), ['init', 'plan', 'show', 'apply', 'output']);
    const output = child.output();
    assert.match(
      output,
      /\[1\/4 check\] Azure subscription: Stand-in subscription \(00000000-0000-4000-8000-000000000001\)/,
    );
    assert.match(output, /\+ +create +azurerm_container_app\.app-web/);
    assert.match(output, /delegates to: ns1-01\.azure-dns\.com\. ns2-01\.azure-dns\.net\./);
    assert.match(output, /speedtester: https:\/\/speed\.lab\.example\.com\//);
    assert.ok(existsSync(join(work.path, 'cdktf.out/stacks/container-apps/cdk.tf.json')));
  });

  test('--plan plans and changes nothing', async () => {
    const child = deploy(['--plan']);
    assert.equal(await child.exited, 0, child.output());
    assert.deepEqual(terraformCalls(), ['init', 'plan', 'show']);
    assert.match(child.output(), /--plan: nothing was changed/);
  });

  test('a plan that deletes the database asks first, and without a terminal stops', async () => {
    writeFileSync(
      join(tf, 'container-apps', 'plan.json'),
      JSON.stringify({
        resource_changes: [
          {
            address: 'azurerm_postgresql_flexible_server.postgres_server',
            type: 'azurerm_postgresql_flexible_server',
            change: { actions: ['delete', 'create'] },
          },
        ],
      }),
    );
    const child = deploy([]);
    assert.equal(await child.exited, 1, child.output());
    assert.match(child.output(), /deletes azurerm_postgresql_flexible_server\.postgres_server/);
    assert.ok(!terraformCalls().includes('apply'));
    // The saved plan (it holds the secrets) is gone with the run.
    assert.ok(!existsSync(join(work.path, 'cdktf.out/stacks/container-apps/refresher.tfplan')));
  });
});
