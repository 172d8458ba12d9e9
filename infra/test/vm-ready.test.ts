// The vm-ready check: both stacks use templates/ssh.ts's options (the configured key, written
// so that the synthesized files name no folder of this machine), and the check's script, run by
// /bin/sh against a stand-in `ssh` that runs the remote part here with stand-in `cloud-init`,
// `docker`, `sudo` and `date`, waits for a VM that boots, and stops at once, with cloud-init's
// status and log lines and what to do, for one whose first boot failed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '../../contract/paths.ts';
import { sshClientOptions, shellWords } from '../../templates/ssh.ts';
import { tempDir } from '../../testing/files.ts';
import { stackKeyPath, stackSshOptions } from '../constructs/ssh.ts';
import { vmReadyScript } from '../constructs/vm-ready.ts';
import { AZURE_STACK } from '../stacks/azure.ts';
import { SERVICES_STACK } from '../stacks/services.ts';
import {
  exampleConfig,
  OUT_DIR,
  resourcesOf,
  synthStacks,
  testInputs,
  type Synthesized,
} from './helpers.ts';

let example: Synthesized;
before(async () => {
  example = synthStacks(testInputs(await exampleConfig()));
});

describe('the stacks’ ssh options', () => {
  test('the docker provider and the vm-ready check use the same options, with the configured key', () => {
    const config = example.inputs.config;
    const provider = example.servicesJson.provider!.docker![0]!;
    const options = stackSshOptions(config, OUT_DIR, SERVICES_STACK);
    assert.deepEqual(provider.ssh_opts, options);
    for (const option of ['IdentitiesOnly=yes', 'ControlMaster=auto', 'BatchMode=yes'])
      assert.ok(options.includes(option), option);
    // The example's key lies in the checkout: relative to the stack's folder, where terraform
    // (and so ssh) runs, so the snapshot is the same in every checkout.
    assert.ok(options.includes('IdentityFile=../../../infra/example-admin-key'));
    assert.equal(
      join(OUT_DIR, 'stacks', SERVICES_STACK, '../../../infra/example-admin-key'),
      config.vm.sshPrivateKeyPath,
    );
    const [[, ready]] = resourcesOf(example.azureJson, 'terraform_data') as [
      [string, Record<string, unknown>],
    ];
    const command = (ready.provisioner as Record<string, { command: string }>[])[0]!['local-exec']!
      .command;
    assert.ok(
      command.includes(`ssh ${shellWords(stackSshOptions(config, OUT_DIR, AZURE_STACK))} deploy@`),
    );
  });

  test('a key in the home folder is written as ~/…, one elsewhere as it is', () => {
    assert.equal(
      stackKeyPath(
        '/home/me/.ssh/id_ed25519',
        '/home/me/src/refresher/cdktf.out',
        'azure',
        '/home/me',
      ),
      '~/.ssh/id_ed25519',
    );
    assert.equal(
      stackKeyPath(
        '/home/me/src/refresher/keys/id',
        '/home/me/src/refresher/cdktf.out',
        'azure',
        '/home/me',
      ),
      '../../../keys/id',
    );
    assert.equal(
      stackKeyPath('/opt/keys/id', '/srv/refresher/cdktf.out', 'azure', homedir()),
      '/opt/keys/id',
    );
  });
});

describe('the vm-ready script', () => {
  const dir = tempDir('refresher-vm-ready-');
  after(() => dir.remove());
  const bin = join(dir.path, 'bin');
  const root = join(dir.path, 'vm');
  const stub = (name: string, body: string) =>
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });

  before(() => {
    mkdirSync(bin);
    mkdirSync(join(root, 'var/log'), { recursive: true });
    // ssh: records its arguments, fails while the VM is "down", else runs the remote command
    // here, with the VM's /var/log under a folder of the test.
    stub(
      'ssh',
      [
        '{ printf "%s" "$*" | tr "\\n" " "; echo; } >> "$FAKE/ssh.log"',
        'n=$(($(cat "$FAKE/count" 2>/dev/null || echo 0) + 1)); echo $n > "$FAKE/count"',
        'while [ $# -gt 0 ]; do case $1 in -o) shift 2 ;; -*) shift ;; *) break ;; esac; done',
        'host=$1; shift',
        'if [ "$n" -le "$SSH_DOWN" ]; then echo "ssh: connect to host 192.0.2.10 port 22: Connection refused" >&2; exit 255; fi',
        'if [ -n "$HOST_KEY_CHANGED" ]; then printf "%s\\n" "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @" "Host key verification failed." >&2; exit 255; fi',
        `exec sh -c "$(printf '%s' "$*" | sed "s#/var/log/#$FAKE/vm/var/log/#g")"`,
      ].join('\n'),
    );
    stub(
      'cloud-init',
      [
        'case "$*" in',
        '  "status --wait") exit "$CLOUD_INIT_RC" ;;',
        '  "status --long") printf "%s\\n" "status: error" "extended_status: error - done" "errors:" "\\t- (\'scripts_user\', RuntimeError(\'Runparts: 1 failures (runcmd) in 1 attempted commands\'))" ;;',
        'esac',
      ].join('\n'),
    );
    stub('docker', '[ "$DOCKER_RC" -eq 0 ] && echo "Docker 28.5.1 is ready"; exit "$DOCKER_RC"');
    stub('sudo', '[ "$1" = -n ] && shift; exec "$@"');
    // date +%s: 5 s later on every call, so a 1-minute wait ends after a dozen attempts.
    stub(
      'date',
      'n=$(($(cat "$FAKE/clock" 2>/dev/null || echo 1700000000) + 5)); echo $n > "$FAKE/clock"; echo $n',
    );
    writeFileSync(
      join(root, 'var/log/cloud-init.log'),
      [
        '2026-01-01 10:00:00,000 - util.py[DEBUG]: Running command apt-get update',
        '2026-01-01 10:00:05,000 - cc_apt_configure.py[INFO]: Adding source docker.list',
        '2026-01-01 10:03:00,000 - subp.py[WARNING]: Failed running /var/lib/cloud/instance/scripts/runcmd [1]',
        '2026-01-01 10:03:00,001 - log_util.py[WARNING]: Running module scripts_user failed',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(root, 'var/log/cloud-init-output.log'),
      'Setting up docker-ce ...\nJob for docker.service failed because the control process exited with error code.\n',
    );
  });

  const script = vmReadyScript({
    address: '192.0.2.10',
    adminUsername: 'azureuser',
    sshOptions: sshClientOptions({ privateKeyPath: '/keys/id_ed25519' }),
    minutes: 1,
    pauseSeconds: 0,
  });

  function runScript(env: Record<string, string>) {
    for (const name of ['ssh.log', 'count', 'clock']) rmSync(join(dir.path, name), { force: true });
    const started = Date.now();
    const result = spawnSync('/bin/sh', ['-c', script], {
      encoding: 'utf8',
      cwd: REPO_ROOT,
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        FAKE: dir.path,
        SSH_DOWN: '0',
        CLOUD_INIT_RC: '0',
        DOCKER_RC: '0',
        ...env,
      },
      timeout: 20_000,
    });
    const log = join(dir.path, 'ssh.log');
    const calls = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
    return {
      status: result.status,
      output: `${result.stdout}${result.stderr}`,
      calls,
      seconds: (Date.now() - started) / 1000,
    };
  }

  test('a VM that is still booting is waited for, with the configured key and shared connection', () => {
    const run = runScript({ SSH_DOWN: '2' });
    assert.equal(run.status, 0, run.output);
    assert.match(run.output, /Docker 28\.5\.1 is ready/);
    assert.equal(run.calls.length, 3, 'two refused connections, then the check');
    assert.match(
      run.calls[2]!,
      /-o IdentityFile=\/keys\/id_ed25519 -o IdentitiesOnly=yes -o ControlMaster=auto/,
    );
    assert.match(run.calls[2]!, / deploy@192\.0\.2\.10 cloud-init status --wait/);
  });

  test('a failed first boot stops the wait at once, with the status, the log lines and what to do', () => {
    const run = runScript({ CLOUD_INIT_RC: '1' });
    assert.equal(run.status, 1, run.output);
    assert.ok(run.seconds < 10, `stopped after ${run.seconds} s`);
    assert.equal(
      run.calls.length,
      2,
      `the check, then one look as the admin:\n${run.calls.join('\n')}`,
    );
    assert.match(run.calls[1]!, / azureuser@192\.0\.2\.10 cloud-init status --long/);
    for (const expected of [
      /first boot failed on the VM: cloud-init reports an error/,
      /status: error/,
      /RuntimeError\('Runparts: 1 failures \(runcmd\)/,
      /subp\.py\[WARNING\]: Failed running \/var\/lib\/cloud\/instance\/scripts\/runcmd/,
      /Running module scripts_user failed/,
      /Job for docker\.service failed/,
      /ssh azureuser@192\.0\.2\.10 sudo cloud-init clean --logs --reboot/,
      /-replace=azurerm_linux_virtual_machine\.vm/,
    ])
      assert.match(run.output, expected);
    assert.doesNotMatch(
      run.output,
      /Running command apt-get update|Adding source/,
      'DEBUG and INFO lines stay out',
    );
  });

  test('recoverable errors (exit 2) go on when Docker answers, and stop when it does not', () => {
    const fine = runScript({ CLOUD_INIT_RC: '2' });
    assert.equal(fine.status, 0, fine.output);
    assert.match(fine.output, /cloud-init finished with recoverable errors/);
    const broken = runScript({ CLOUD_INIT_RC: '2', DOCKER_RC: '1' });
    assert.equal(broken.status, 1, broken.output);
    assert.match(broken.output, /first boot failed/);
    assert.match(broken.output, /Job for docker\.service failed/);
  });

  test('Docker not answering after a good first boot is waited for, then named', () => {
    const run = runScript({ DOCKER_RC: '1' });
    assert.equal(run.status, 1, run.output);
    assert.ok(run.calls.length > 3, `${run.calls.length} attempts`);
    assert.match(run.output, /did not answer over SSH within 1 min\b/);
    assert.match(run.output, /vm\.sshPrivateKeyPath is the private half of vm\.sshPublicKeyPath/);
  });

  test('a changed host key stops at once and names ssh-keygen -R', () => {
    const run = runScript({ HOST_KEY_CHANGED: '1' });
    assert.equal(run.status, 1, run.output);
    assert.equal(run.calls.length, 1);
    assert.match(run.output, /ssh-keygen -R 192\.0\.2\.10/);
  });
});
