// npm run deploy / destroy with terraform and ssh replaced by recording stand-ins
// (scripts/test/stand-ins/: no provider can reach Azure here) and a real DNS server (dnsmasq) for
// the public names: the order of the steps, the DNS wait through nothing, a wrong address and the
// right one, the refusals before anything is created, the stop at a failed step, --plan, the
// replacement of a failed migrate, and destroy's question.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { REPO_ROOT } from '../../contract/paths.ts';
import { spawnTs, waitForOutput, type Child } from '../../testing/child.ts';
import { startDnsServer, type DnsServer } from '../../testing/dns-server.ts';
import { tempDir } from '../../testing/files.ts';
import { sshPublicKey, validInput } from '../../templates/test/helpers/deployment.ts';

const STAND_INS = join(REPO_ROOT, 'scripts/test/stand-ins');
const DOMAIN = 'lab.refresher-deploy-ci.net';
const NAMES = ['speed', 'grafana', 'prometheus'].map((sub) => `${sub}.${DOMAIN}`);
const ADDRESS = '198.51.100.20';
const NAME_SERVERS = ['ns1-07.azure-dns.com.', 'ns2-07.azure-dns.net.'];

const work = tempDir('refresher-deploy-test-');
let dns: DnsServer;
let standIn: string;
let configFile: string;

/** One planned change per address, in terraform's plan JSON. */
function plan(changes: Record<string, string[]>) {
  return {
    resource_changes: Object.entries(changes).map(([address, actions]) => ({
      address,
      type: address.split('.')[0],
      change: { actions },
    })),
  };
}

function writeStandIn(stack: string, name: string, value: unknown): void {
  mkdirSync(join(standIn, stack), { recursive: true });
  writeFileSync(
    join(standIn, stack, name),
    typeof value === 'string' ? value : JSON.stringify(value),
  );
}

/** The terraform calls, as "<stack> <subcommand>" with the flags that matter. */
function calls(): string[] {
  const log = join(standIn, 'calls.log');
  if (!existsSync(log)) return [];
  return (
    readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      // synth's own `terraform version` (cdktf asks it) runs in the checkout, not in a stack
      .filter(([stack]) => stack === 'azure' || stack === 'services')
      .map(([stack, command, ...args]) => {
        const kept = args.filter(
          (arg) => /^-(destroy|replace=)/.test(arg) || /^[^-].*\.tfplan$/.test(arg),
        );
        return [
          stack,
          command,
          ...kept.map((arg) => (arg.endsWith('.tfplan') ? 'PLAN' : arg)),
        ].join(' ');
      })
  );
}

/** The test's configuration with some fields changed, as a file of its own. */
function variant(name: string, changes: Record<string, unknown>): string {
  const file = join(work.path, `${name}.json`);
  const input = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...input, ...changes }));
  return file;
}

/** The script with the stand-ins first on PATH, and every file it writes in the work folder. */
function run(args: string[], options: { script?: string; config?: string } = {}): Child {
  return spawnTs(
    options.script ?? 'scripts/deploy.ts',
    [
      '--config',
      options.config ?? configFile,
      '--secrets',
      join(work.path, 'secrets.json'),
      ...args,
    ],
    {
      PATH: `${STAND_INS}:${process.env.PATH ?? ''}`,
      TF_STANDIN: standIn,
      CDKTF_OUTDIR: join(work.path, 'cdktf.out'),
      REFRESHER_STATE_DIR: join(work.path, 'state'),
      REFRESHER_DIST: join(work.path, 'dist'),
    },
  );
}

const FAST = ['--dns-server', '', '--dns-interval', '0.2', '--cert-timeout', '0.05'];

before(async () => {
  dns = await startDnsServer({
    ns: { 'taken.refresher-deploy-ci.net': ['ns1.somewhere-else.example.'] },
  });
  FAST[1] = dns.address;
  const keyPath = join(work.path, 'id_ed25519.pub');
  writeFileSync(keyPath, `${sshPublicKey()}\n`);
  writeFileSync(join(work.path, 'id_ed25519'), 'private half (the stand-in ssh never reads it)\n', {
    mode: 0o600,
  });
  configFile = join(work.path, 'deploy.config.json');
  writeFileSync(
    configFile,
    JSON.stringify(
      validInput(keyPath, {
        name: 'refresher-ci',
        domain: DOMAIN,
        certbot: { email: 'ops@refresher-deploy-ci.net', validation: 'http' },
        dns: { mode: 'subdomain-zone' },
        vm: { size: 'Standard_B2s', sshPublicKeyPath: keyPath, sshAllowedCidrs: ['100.64.7.0/24'] },
      }),
    ),
  );
});

after(async () => {
  await dns.stop();
  work.remove();
});

beforeEach(async () => {
  standIn = join(work.path, `standin-${Date.now()}`);
  mkdirSync(standIn);
  await dns.setAddresses({});
  writeStandIn('azure', 'plan.json', plan({ 'azurerm_linux_virtual_machine.vm': ['create'] }));
  writeStandIn('azure', 'outputs.json', {
    public_ip: { value: ADDRESS },
    name_servers: { value: NAME_SERVERS },
  });
  writeStandIn('services', 'plan.json', plan({ 'docker_container.swag': ['create'] }));
});

describe('npm run deploy', { timeout: 240_000 }, () => {
  test('azure, then a wait until the names resolve to the VM, then services, then HTTPS', async () => {
    const deploy = run(FAST);
    await waitForOutput(deploy, /\[4\/6 dns\] waiting up to/, 60_000);
    const waiting = deploy.output();
    // The person is told exactly which NS records to add, at the parent's DNS host.
    for (const server of NAME_SERVERS)
      assert.match(
        waiting,
        new RegExp(
          `${DOMAIN.replaceAll('.', '\\.')}\\.  3600  IN  NS  ${server.replaceAll('.', '\\.')}`,
        ),
      );
    assert.match(waiting, /does not exist yet \(NXDOMAIN\)/);
    assert.ok(!calls().some((call) => call.startsWith('services')), 'services waits for DNS');

    await dns.setAddresses(Object.fromEntries(NAMES.map((name) => [name, ['192.0.2.99']])));
    await waitForOutput(deploy, /resolves to 192\.0\.2\.99, not 198\.51\.100\.20/, 30_000);
    assert.ok(!calls().some((call) => call.startsWith('services')), 'a wrong address still waits');

    await dns.setAddresses(Object.fromEntries(NAMES.map((name) => [name, [ADDRESS]])));
    assert.equal(await deploy.exited, 0, deploy.output());
    assert.deepEqual(calls(), [
      'azure init',
      'azure plan',
      'azure show PLAN',
      'azure apply PLAN',
      'azure output',
      'services init',
      'services show',
      'services plan',
      'services show PLAN',
      'services apply PLAN',
    ]);
    assert.match(deploy.output(), /every name resolves to 198\.51\.100\.20/);
    assert.match(deploy.output(), /\+ +create +azurerm_linux_virtual_machine\.vm/);
    assert.match(deploy.output(), /speedtester: https:\/\/speed\.lab\.refresher-deploy-ci\.net\//);
    assert.ok(
      !existsSync(join(work.path, 'cdktf.out/stacks/azure/refresher.tfplan')),
      'plan removed',
    );
    const ssh = readFileSync(join(standIn, 'ssh.log'), 'utf8');
    assert.match(ssh, /IdentitiesOnly=yes/);
    assert.match(ssh, new RegExp(`deploy@${ADDRESS.replaceAll('.', '\\.')}`));
  });

  test('--plan plans and changes nothing', async () => {
    const deploy = run(['--plan', ...FAST]);
    assert.equal(await deploy.exited, 0, deploy.output());
    assert.deepEqual(calls(), ['azure init', 'azure plan', 'azure show PLAN']);
    assert.match(deploy.output(), /planned after the azure stack is applied/);
    assert.match(deploy.output(), /--plan: nothing was changed/);
  });

  test('a failed step stops the deploy, names it and says what to do', async () => {
    writeStandIn('azure', 'fail-apply', 'Error: creating Linux Virtual Machine: QuotaExceeded\n');
    const deploy = run(FAST);
    assert.equal(await deploy.exited, 1, deploy.output());
    assert.match(deploy.output(), /step azure \(terraform apply\) failed/);
    assert.match(deploy.output(), /next: /);
    assert.ok(!calls().some((call) => call.startsWith('services')), 'services untouched');
  });

  test('names that never resolve: a clear stop before swag, which saw no failed validation', async () => {
    const deploy = run([...FAST, '--dns-timeout', '0.02']);
    assert.equal(await deploy.exited, 1, deploy.output());
    assert.match(
      deploy.output(),
      /step dns failed: the public names do not resolve to 198\.51\.100\.20/,
    );
    assert.match(deploy.output(), /run npm run deploy again/);
    assert.ok(!calls().some((call) => call.startsWith('services')));
  });

  test('an AAAA record beside the right A record is named, and waited out', async () => {
    await dns.setAddresses({
      ...Object.fromEntries(NAMES.map((name) => [name, [ADDRESS]])),
      [NAMES[0]!]: [ADDRESS, '2001:db8::7'],
    });
    const deploy = run([...FAST, '--dns-timeout', '0.02']);
    assert.equal(await deploy.exited, 1, deploy.output());
    assert.match(deploy.output(), /also has an AAAA record \(2001:db8::7\): remove it/);
    assert.ok(!calls().some((call) => call.startsWith('services')));
  });

  test('a plan that changes only outputs is applied (a new cross-stack output reaches the state)', async () => {
    await dns.setAddresses(Object.fromEntries(NAMES.map((name) => [name, [ADDRESS]])));
    writeStandIn('azure', 'plan.json', {
      resource_changes: [],
      output_changes: { 'cross-stack-output-public_ip': { actions: ['create'] } },
    });
    const deploy = run(FAST);
    assert.equal(await deploy.exited, 0, deploy.output());
    assert.ok(calls().includes('azure apply PLAN'), calls().join('\n'));
    assert.match(deploy.output(), /outputs that change: cross-stack-output-public_ip/);
  });

  test('a migrate that failed last time is replaced, so the fixed migration deploys', async () => {
    await dns.setAddresses(Object.fromEntries(NAMES.map((name) => [name, [ADDRESS]])));
    writeStandIn('services', 'state.json', {
      values: {
        root_module: {
          resources: [
            {
              address: 'docker_container.service-migrate_container_1A2B3C4D',
              type: 'docker_container',
              values: { name: 'migrate', exit_code: 1 },
            },
            {
              address: 'docker_container.service-web_container_5E6F7A8B',
              type: 'docker_container',
              values: { name: 'web', exit_code: null },
            },
          ],
        },
      },
    });
    const deploy = run(FAST);
    assert.equal(await deploy.exited, 0, deploy.output());
    assert.ok(
      calls().includes(
        'services plan -replace=docker_container.service-migrate_container_1A2B3C4D',
      ),
      calls().join('\n'),
    );
    assert.match(deploy.output(), /replacing what failed last time/);
  });

  test('containers npm run upgrade made are removed just before the services apply, so Terraform can make them again', async () => {
    await dns.setAddresses(Object.fromEntries(NAMES.map((name) => [name, [ADDRESS]])));
    writeFileSync(join(standIn, 'upgraded'), 'worker\nweb\n');
    const deploy = run(FAST);
    assert.equal(await deploy.exited, 0, deploy.output());
    const ssh = readFileSync(join(standIn, 'ssh.log'), 'utf8');
    assert.match(
      ssh,
      /docker ps -a --filter label=io\.refresher\.deployment=refresher-ci --filter label=io\.refresher\.upgraded-from/,
    );
    assert.match(ssh, /docker rm --force worker web/);
    assert.match(deploy.output(), /worker, web came from npm run upgrade/);
    assert.ok(calls().includes('services apply PLAN'), calls().join('\n'));
  });

  test('--plan removes nothing that upgrade made', async () => {
    writeFileSync(join(standIn, 'upgraded'), 'worker\n');
    const deploy = run(['--plan', ...FAST]);
    assert.equal(await deploy.exited, 0, deploy.output());
    const ssh = existsSync(join(standIn, 'ssh.log'))
      ? readFileSync(join(standIn, 'ssh.log'), 'utf8')
      : '';
    assert.doesNotMatch(ssh, /docker rm/);
  });

  test('a swag without a certificate is reported with its logs', async () => {
    await dns.setAddresses(Object.fromEntries(NAMES.map((name) => [name, [ADDRESS]])));
    writeFileSync(join(standIn, 'swag-health'), 'starting\n');
    writeFileSync(
      join(standIn, 'swag-logs'),
      'Cert does not exist! Please see the validation error above.\n',
    );
    const deploy = run(FAST);
    assert.equal(await deploy.exited, 1, deploy.output());
    assert.match(deploy.output(), /step https failed: swag has no certificate/);
    assert.match(deploy.output(), /Cert does not exist!/);
  });

  test('the example, placeholders and a domain in use elsewhere are refused before Terraform', async () => {
    const example = run([], { config: join(REPO_ROOT, 'infra/deploy.config.example.ts') });
    assert.equal(await example.exited, 1, example.output());
    for (const pattern of [
      /committed example/,
      /domain: lab\.example\.com is reserved/,
      /certbot\.email: admin@example\.com/,
      /vm\.sshPublicKeyPath: .* the example key/,
      /vm\.sshAllowedCidrs\.0: 203\.0\.113\.7\/32 is a documentation address/,
      /nothing was created/,
    ])
      assert.match(example.output(), pattern);

    const takeover = run(['--dns-server', dns.address], {
      config: variant('takeover', { domain: 'taken.refresher-deploy-ci.net' }),
    });
    assert.equal(await takeover.exited, 1, takeover.output());
    assert.match(
      takeover.output(),
      /taken\.refresher-deploy-ci\.net is delegated today to ns1\.somewhere-else\.example/,
    );
    assert.deepEqual(calls(), [], 'terraform never ran');
  });

  test('domain-zone: the records the domain has today are named before its name servers move', async () => {
    await dns.setAddresses({ 'refresher-deploy-ci.net': ['192.0.2.80'] });
    const deploy = run(['--plan', '--dns-server', dns.address], {
      config: variant('domain-zone', {
        domain: 'refresher-deploy-ci.net',
        dns: { mode: 'domain-zone' },
      }),
    });
    assert.equal(await deploy.exited, 0, deploy.output());
    assert.match(
      deploy.output(),
      /warning: refresher-deploy-ci\.net has records today that stop resolving .*refresher-deploy-ci\.net A 192\.0\.2\.80/,
    );
  });

  test('bad flags are named', async () => {
    const deploy = run(['--dns-timeout', 'soon']);
    assert.equal(await deploy.exited, 2, deploy.output());
    assert.match(deploy.output(), /--dns-timeout must be a positive number, not "soon"/);
  });
});

describe('npm run destroy', { timeout: 120_000 }, () => {
  test('asks first: without a terminal and without --yes it destroys nothing', async () => {
    writeStandIn(
      'services',
      'plan.json',
      plan({ 'docker_volume.volume-postgres-data_1': ['delete'] }),
    );
    const destroy = run([], { script: 'scripts/destroy.ts' });
    assert.equal(await destroy.exited, 1, destroy.output());
    assert.match(destroy.output(), /Destroy every container and volume/);
    assert.match(destroy.output(), /add --yes when a script means it/);
    assert.match(
      destroy.output(),
      /to keep the data, first: npm run backup -- --host deploy@198\.51\.100\.20 \(or npm run destroy -- --backup\)/,
    );
    assert.deepEqual(calls(), [
      'services init',
      'services plan -destroy',
      'services show PLAN',
      'azure init',
      'azure output',
    ]);
  });

  test('--backup that fails destroys nothing', async () => {
    writeStandIn(
      'services',
      'plan.json',
      plan({ 'docker_volume.volume-postgres-data_1': ['delete'] }),
    );
    const destroy = run(['--yes', '--backup'], { script: 'scripts/destroy.ts' });
    assert.equal(await destroy.exited, 1, destroy.output());
    // The stand-in ssh answers nothing a backup asks: it fails as an unreachable VM would.
    assert.match(destroy.output(), /backup: ssh to deploy@198\.51\.100\.20 failed/);
    assert.match(
      destroy.output(),
      /step services failed: the backup failed \(exit 3, see above\): nothing was destroyed/,
    );
    assert.ok(!calls().some((call) => call.endsWith('apply PLAN')), calls().join('\n'));
  });

  test('--yes: services first, then azure', async () => {
    writeStandIn(
      'services',
      'plan.json',
      plan({ 'docker_volume.volume-postgres-data_1': ['delete'] }),
    );
    writeStandIn('azure', 'plan.json', plan({ 'azurerm_linux_virtual_machine.vm': ['delete'] }));
    const destroy = run(['--yes'], { script: 'scripts/destroy.ts' });
    assert.equal(await destroy.exited, 0, destroy.output());
    assert.deepEqual(calls(), [
      'services init',
      'services plan -destroy',
      'services show PLAN',
      'azure init',
      'azure output',
      'services apply PLAN',
      'azure init',
      'azure plan -destroy',
      'azure show PLAN',
      'azure apply PLAN',
    ]);
  });
});
