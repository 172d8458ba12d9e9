// npm run doctor on this machine: every check it has passes once and fails once, each failure
// with its message and fix. Real ssh-keygen, ssh-agent and a real DNS server (dnsmasq) for the
// names; terraform and az are stand-ins written here (no Azure), each answering as the real
// one does (terraform version -json, az account show -o json, az's "Please run 'az login'").
// SSH and Docker on a host are checked against a real sshd in the stack test (test:stack).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '../../contract/paths.ts';
import { spawnTs } from '../../testing/child.ts';
import { startDnsServer, type DnsServer } from '../../testing/dns-server.ts';
import { tempDir } from '../../testing/files.ts';
import { freePort } from '../../testing/ports.ts';
import { waitFor } from '../../testing/wait.ts';
import { validInput } from '../../templates/test/helpers/deployment.ts';
import { checkNode } from '../lib/doctor-checks.ts';

const work = tempDir('refresher-doctor-test-');
const DOMAIN = 'lab.refresher-doctor-ci.net';
const NAMES = ['speed', 'grafana', 'prometheus'].map((sub) => `${sub}.${DOMAIN}`);
let dns: DnsServer;
let agent: ChildProcess | undefined;
let closedPort = 0;

interface Check {
  name: string;
  state: 'ok' | 'fail' | 'skip';
  detail: string;
  fix?: string;
}

const file = (name: string) => join(work.path, name);

/** A folder of stand-ins on PATH: terraform and az that answer as told. */
function standIns(name: string, scripts: Record<string, string>): string {
  const dir = file(`bin-${name}`);
  mkdirSync(dir, { recursive: true });
  for (const [command, body] of Object.entries(scripts))
    writeFileSync(join(dir, command), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return dir;
}

const TERRAFORM_OK = `echo '{"terraform_version":"1.9.8","platform":"linux_amd64"}'`;
const AZ_OK = `echo '{"name":"Refresher CI","id":"00000000-0000-0000-0000-000000000001","user":{"name":"ci@refresher-doctor-ci.net"}}'`;
const good = () => standIns('good', { terraform: TERRAFORM_OK, az: AZ_OK });

function config(name: string, overrides: Record<string, unknown> = {}): string {
  const path = file(`${name}.json`);
  const vm = {
    size: 'Standard_B2s',
    sshPublicKeyPath: file('id_ok.pub'),
    sshAllowedCidrs: ['100.64.9.0/24'],
  };
  writeFileSync(path, JSON.stringify(validInput(file('id_ok.pub'), {
    name: 'refresher-doctor',
    domain: DOMAIN,
    certbot: { email: 'ops@refresher-doctor-ci.net', validation: 'http' },
    dns: { mode: 'subdomain-zone' },
    ...overrides,
    vm: { ...vm, ...(overrides.vm as object) },
  }))); // prettier-ignore
  return path;
}

/** npm run doctor with this PATH first (only system folders after it: no real terraform or az). */
async function doctor(bin: string, configFile: string, env: Record<string, string> = {}) {
  const child = spawnTs(
    'scripts/doctor.ts',
    ['--json', '--config', configFile, '--host', `127.0.0.1:${closedPort}`, '--dns-server', dns.address],
    { PATH: `${bin}:/usr/bin:/bin`, SSH_AUTH_SOCK: '', ...env },
  ); // prettier-ignore
  const code = await child.exited;
  let checks: Check[] = [];
  try {
    checks = JSON.parse(child.output().slice(child.output().indexOf('['))) as Check[];
  } catch {
    assert.fail(`doctor printed no JSON (exit ${code}):\n${child.output()}`);
  }
  return { code, checks, byName: (name: string) => checks.find((c) => c.name === name)! };
}

const keygen = (path: string, passphrase = '') =>
  new Promise<void>((resolve, reject) => {
    const child = spawn('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'doctor', '-f', path]);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ssh-keygen exited ${code}`))));
  }); // prettier-ignore

before(async () => {
  dns = await startDnsServer();
  await dns.setAddresses(Object.fromEntries(NAMES.map((name) => [name, ['127.0.0.1']])));
  closedPort = await freePort();
  await keygen(file('id_ok'));
  await keygen(file('id_other'));
  await keygen(file('id_locked'), 'a passphrase');
});

after(async () => {
  agent?.kill();
  await dns.stop();
  work.remove();
});

describe('npm run doctor', { timeout: 120_000 }, () => {
  test('a ready laptop: node, terraform, azure, config, key and DNS pass; SSH to a closed port fails with the fix and Docker is skipped', async () => {
    const run = await doctor(good(), config('ok'));
    for (const name of ['node', 'terraform', 'azure', 'config', 'ssh key', 'dns'])
      assert.equal(run.byName(name).state, 'ok', JSON.stringify(run.byName(name)));
    assert.match(run.byName('azure').detail, /subscription "Refresher CI"/);
    assert.match(run.byName('dns').detail, /speed\.lab\.refresher-doctor-ci\.net.*→ 127\.0\.0\.1/);
    assert.equal(run.byName('ssh').state, 'fail');
    assert.match(run.byName('ssh').detail, /refuses connections/);
    assert.equal(run.byName('docker').state, 'skip');
    assert.equal(run.code, 1, 'a failed check fails the run');
  });

  test('node: a version older than package.json allows fails with the fix', () => {
    assert.equal(checkNode('20.19.0').state, 'ok');
    const old = checkNode('18.20.4');
    assert.equal(old.state, 'fail');
    assert.match(old.detail, /Node\.js 18\.20\.4 is older than 20/);
    assert.match(old.fix ?? '', /nvm install/);
  });

  test('terraform: missing, or too old', async () => {
    const missing = await doctor(standIns('no-terraform', { az: AZ_OK }), config('ok'));
    assert.equal(missing.byName('terraform').state, 'fail');
    assert.match(missing.byName('terraform').detail, /no terraform on PATH/);
    assert.match(
      missing.byName('terraform').fix ?? '',
      /developer\.hashicorp\.com\/terraform\/install/,
    );
    const old = await doctor(
      standIns('old-terraform', { az: AZ_OK, terraform: `echo '{"terraform_version":"1.4.6"}'` }),
      config('ok'),
    );
    assert.match(old.byName('terraform').detail, /Terraform 1\.4\.6 is older than 1\.5/);
  });

  test('azure: not signed in, or no Azure CLI', async () => {
    const out = await doctor(
      standIns('logged-out', {
        terraform: TERRAFORM_OK,
        az: `echo "ERROR: Please run 'az login' to setup account." >&2; exit 1`,
      }),
      config('ok'),
    );
    assert.equal(out.byName('azure').state, 'fail');
    assert.match(out.byName('azure').detail, /not signed in \(ERROR: Please run 'az login'/);
    assert.match(out.byName('azure').fix ?? '', /^az login/);
    const none = await doctor(standIns('no-az', { terraform: TERRAFORM_OK }), config('ok'));
    assert.match(none.byName('azure').detail, /no az \(the Azure CLI\) on PATH/);
  });

  test('config: the example is refused, and a broken file is named with the checks that need it skipped', async () => {
    const example = await doctor(good(), join(REPO_ROOT, 'infra/deploy.config.example.ts'));
    assert.equal(example.byName('config').state, 'fail');
    assert.match(example.byName('config').detail, /this is the committed example/);
    const broken = file('broken.json');
    writeFileSync(broken, JSON.stringify({ name: 'x' }));
    const bad = await doctor(good(), broken);
    assert.equal(bad.byName('config').state, 'fail');
    assert.match(bad.byName('config').detail, /domain/);
    for (const name of ['ssh key', 'dns', 'ssh', 'docker'])
      assert.equal(bad.byName(name).state, 'skip', name);
  });

  test('ssh key: a private key that is not the pair of the public one, a missing one, one with a passphrase outside ssh-agent, and then in it', async () => {
    const mismatched = await doctor(
      good(),
      config('mismatch', { vm: { sshPrivateKeyPath: file('id_other') } }),
    );
    assert.match(mismatched.byName('ssh key').detail, /is not the private half of/);
    const missing = await doctor(
      good(),
      config('missing', { vm: { sshPrivateKeyPath: file('id_nowhere') } }),
    );
    assert.match(missing.byName('ssh key').detail, /no private key .*id_nowhere/);
    const lockedConfig = config('locked', { vm: { sshPublicKeyPath: file('id_locked.pub') } });
    const locked = await doctor(good(), lockedConfig);
    assert.match(
      locked.byName('ssh key').detail,
      /has a passphrase and ssh-agent does not hold it/,
    );
    assert.match(locked.byName('ssh key').fix ?? '', /^ssh-add /);
    // In an agent (added with the passphrase through SSH_ASKPASS), the same key passes.
    const socket = file('agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    await waitFor(() => existsSync(socket), { what: 'ssh-agent' });
    writeFileSync(file('askpass'), "#!/bin/sh\necho 'a passphrase'\n", { mode: 0o755 });
    await new Promise<void>((resolve, reject) => {
      const add = spawn('ssh-add', [file('id_locked')], { env: { ...process.env, SSH_AUTH_SOCK: socket, SSH_ASKPASS: file('askpass'), SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: 'ignore' });
      add.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ssh-add exited ${code}`))));
    }); // prettier-ignore
    const held = await doctor(good(), lockedConfig, { SSH_AUTH_SOCK: socket });
    assert.equal(held.byName('ssh key').state, 'ok', JSON.stringify(held.byName('ssh key')));
    assert.match(held.byName('ssh key').detail, /held by ssh-agent/);
  });

  test('dns: a name that resolves elsewhere, or not at all', async () => {
    await dns.setAddresses({ [NAMES[0]!]: ['127.0.0.1'], [NAMES[1]!]: ['127.0.0.2'] });
    try {
      const run = await doctor(good(), config('ok'));
      assert.equal(run.byName('dns').state, 'fail');
      assert.match(
        run.byName('dns').detail,
        new RegExp(`${NAMES[1]!.replace(/\./g, '\\.')} .*127\\.0\\.0\\.2`),
      );
      assert.match(run.byName('dns').detail, new RegExp(`${NAMES[2]!.replace(/\./g, '\\.')} `));
      assert.match(run.byName('dns').fix ?? '', /an A record to 127\.0\.0\.1/);
    } finally {
      await dns.setAddresses(Object.fromEntries(NAMES.map((name) => [name, ['127.0.0.1']])));
    }
  });

  test('bad flags are named; --help says what it checks', async () => {
    const bad = spawnTs('scripts/doctor.ts', ['--hots', 'x'], {});
    assert.equal(await bad.exited, 2);
    assert.match(bad.output(), /doctor: Unknown option '--hots'/);
    const help = spawnTs('scripts/doctor.ts', ['--help'], {});
    assert.equal(await help.exited, 0);
    assert.match(help.output(), /usage: npm run doctor/);
  });
});
