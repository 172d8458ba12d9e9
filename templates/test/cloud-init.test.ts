// The VM's user-data: Debian's cloud-init accepts it (`cloud-init schema`), and it holds what the
// VM needs, because the schema check alone does not reject unknown or misplaced keys.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { DOCKER_APT_KEY_FILE, DOCKER_MOUNT_DROP_IN, renderCloudInit } from '../cloud-init.ts';
import { renderSshdDropIn, SSHD_DROP_IN_PATH } from '../ssh.ts';
import { BACKUP_SCRIPT_PATH } from '../backup.ts';
import { serviceCatalogue } from '../catalogue/index.ts';
import type { DeploymentConfig } from '../config.ts';
import { configFixture } from './helpers/deployment.ts';

const fixture = configFixture();
after(() => fixture.remove());

function schemaCheck(text: string, name: string) {
  const file = join(fixture.path, name);
  writeFileSync(file, text);
  const result = spawnSync('cloud-init', ['schema', '--config-file', file], { encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

interface UserData {
  users: (string | Record<string, unknown>)[];
  groups: string[];
  write_files: { path: string; content: string; permissions: string }[];
  runcmd: string[][];
  packages: string[];
  apt: {
    sources: Record<string, { source: string; key?: string; keyid?: string; keyserver?: string }>;
  };
  swap?: { filename: string; size: number };
  mounts?: string[][];
  fs_setup?: { device: string; label: string }[];
  [key: string]: unknown;
}

function userData(config: DeploymentConfig): UserData {
  const text = renderCloudInit(config);
  assert.ok(
    text.startsWith('#cloud-config\n'),
    'cloud-init reads the file as cloud-config only with this line',
  );
  // cloud-init reads YAML 1.1, where yes/no/on/off are booleans: parse the same way.
  return parse(text, { version: '1.1' }) as UserData;
}

describe('cloud-init user-data', () => {
  test('cloud-init schema accepts it, and rejects a broken copy (the check can fail)', () => {
    for (const [name, config] of [
      ['default.yaml', fixture.config()],
      [
        'data-disk.yaml',
        fixture.config({ vm: { dataDiskGiB: 128, automaticReboot: false, swapGiB: 0 } }),
      ],
    ] as const) {
      const result = schemaCheck(renderCloudInit(config), name);
      assert.ok(result.ok, result.output);
      assert.match(result.output, /Valid cloud-config/);
    }
    const broken = renderCloudInit(fixture.config()).replace(
      'ssh_pwauth: false',
      'ssh_pwauth: [not, a, boolean]',
    );
    assert.equal(schemaCheck(broken, 'broken.yaml').ok, false);
  });

  test('Docker Engine from Docker’s apt repository, signed, plus unattended upgrades', () => {
    const data = userData(fixture.config());
    const docker = data.apt.sources['docker.list']!;
    assert.match(
      docker.source,
      /^deb \[signed-by=\$KEY_FILE\] https:\/\/download\.docker\.com\/linux\/ubuntu \$RELEASE stable$/,
    );
    // The armored key itself (its fingerprint: docker-apt-key.test.ts), so first boot needs no
    // keyserver: with keyid, cloud-init would fetch it from one.
    assert.equal(docker.key, readFileSync(DOCKER_APT_KEY_FILE, 'utf8'));
    assert.match(
      docker.key!,
      /^-----BEGIN PGP PUBLIC KEY BLOCK-----\n[\s\S]+\n-----END PGP PUBLIC KEY BLOCK-----\n$/,
    );
    assert.equal(docker.keyid, undefined);
    assert.equal(docker.keyserver, undefined);
    for (const pkg of [
      'docker-ce',
      'docker-ce-cli',
      'containerd.io',
      'docker-compose-plugin',
      'unattended-upgrades',
    ])
      assert.ok(data.packages.includes(pkg), pkg);
    assert.equal(data.package_update, true);
    const files = new Map(data.write_files.map((file) => [file.path, file.content]));
    assert.match(
      files.get('/etc/apt/apt.conf.d/20auto-upgrades') ?? '',
      /APT::Periodic::Unattended-Upgrade "1";/,
    );
    assert.match(
      files.get('/etc/apt/apt.conf.d/52refresher-unattended-upgrades') ?? '',
      /Automatic-Reboot-Time "04:30"/,
    );
    const daemon = JSON.parse(files.get('/etc/docker/daemon.json') ?? '{}');
    assert.deepEqual(daemon['log-opts'], { 'max-size': '10m', 'max-file': '3' });
    assert.ok(
      data.runcmd.some(
        (cmd) =>
          cmd.join(' ') ===
          'systemctl enable --now docker.service unattended-upgrades.service refresher-backup.timer',
      ),
    );
  });

  test('the nightly backup: the script, its service as the deploy user and a persistent timer, enabled after a reload', () => {
    const data = userData(fixture.config());
    const files = new Map(data.write_files.map((file) => [file.path, file]));
    const script = files.get(BACKUP_SCRIPT_PATH);
    assert.equal(script?.permissions, '0755');
    assert.ok(script.content.startsWith('#!/bin/bash\n'));
    const syntax = spawnSync('bash', ['-n'], { input: script.content, encoding: 'utf8' });
    assert.equal(syntax.status, 0, syntax.stderr);
    const broken = spawnSync('bash', ['-n'], {
      input: `${script.content}\nif then\n`,
      encoding: 'utf8',
    });
    assert.notEqual(broken.status, 0, 'bash -n finds a broken script (the check can fail)');
    const service = files.get('/etc/systemd/system/refresher-backup.service')?.content ?? '';
    for (const line of [
      'User=deploy',
      `ExecStart=${BACKUP_SCRIPT_PATH}`,
      'RequiresMountsFor=/srv/refresher',
      'Type=oneshot',
    ])
      assert.ok(service.split('\n').includes(line), `the service has ${line}`);
    const timer = files.get('/etc/systemd/system/refresher-backup.timer')?.content ?? '';
    for (const line of ['Persistent=true', 'WantedBy=timers.target'])
      assert.ok(timer.split('\n').includes(line), `the timer has ${line}`);
    const commands = data.runcmd.map((cmd) => cmd.join(' '));
    const reload = commands.indexOf('systemctl daemon-reload');
    const enable = commands.findIndex((cmd) => cmd.includes('refresher-backup.timer'));
    assert.ok(reload >= 0 && reload < enable, 'systemd knows the units before they are enabled');
  });

  test('a deploy user in the docker group with the admin key; SSH keys only, no root', () => {
    const config = fixture.config({ vm: { adminUsername: 'ops_admin' } });
    const data = userData(config);
    assert.ok(data.groups.includes('docker'), 'the group exists before the user is added to it');
    assert.equal(data.users[0], 'default', "keeps Azure's admin user");
    const deploy = data.users.find(
      (user) => typeof user === 'object' && user.name === 'deploy',
    ) as Record<string, unknown>;
    assert.deepEqual(deploy.groups, ['docker']);
    assert.equal(deploy.lock_passwd, true);
    assert.equal(deploy.sudo, undefined, 'deploy gets Docker, not sudo');
    assert.deepEqual(deploy.ssh_authorized_keys, [config.vm.sshPublicKeyPath.key]);
    assert.equal(data.ssh_pwauth, false);
    assert.equal(data.disable_root, true);
    const sshd = data.write_files.find((file) => file.path === SSHD_DROP_IN_PATH)!;
    assert.equal(sshd.path, '/etc/ssh/sshd_config.d/10-refresher.conf');
    // The drop-in of templates/ssh.ts, which scripts/test/stack/ssh.test.ts runs in a real sshd.
    assert.equal(sshd.content, renderSshdDropIn('ops_admin'));
    for (const line of [
      'PasswordAuthentication no',
      'PermitRootLogin no',
      'KbdInteractiveAuthentication no',
      'AllowUsers ops_admin deploy',
      'MaxAuthTries 3',
      'MaxSessions 64',
      'MaxStartups 64:30:128',
    ])
      assert.ok(sshd.content.split('\n').includes(line), line);
    // sshd -t needs its privilege separation folder, which socket activation has not made yet
    // on Ubuntu 24.04's first boot; last, so that a failure is runcmd's exit status.
    assert.deepEqual(data.runcmd.at(-1), [
      'sh',
      '-c',
      'install -d -m 0755 /run/sshd && sshd -t && systemctl try-reload-or-restart ssh',
    ]);
    assert.equal(data.timezone, 'Europe/Amsterdam');
  });

  test('swap sized for the VM, data directories, and the optional data disk', () => {
    const small = userData(fixture.config({ vm: { size: 'Standard_B1ms' } }));
    assert.deepEqual(small.swap, {
      filename: '/swapfile',
      size: 2 * 1024 ** 3,
      maxsize: 2 * 1024 ** 3,
    });
    assert.equal(small.mounts, undefined);
    assert.ok(
      small.runcmd.some(
        (cmd) =>
          cmd[0] === 'install' &&
          cmd.includes('/srv/refresher') &&
          cmd.includes('/srv/refresher/backups'),
      ),
    );

    const large = userData(
      fixture.config({ vm: { size: 'Standard_D4s_v5', dataDiskGiB: 256, swapGiB: 0 } }),
    );
    assert.equal(large.swap, undefined);
    assert.equal(large.fs_setup?.[0]?.device, '/dev/disk/azure/scsi1/lun0');
    // The disk is attached after the VM exists: first boot waits for it before disk_setup.
    const wait = (large.bootcmd as string[][] | undefined)?.[0]?.join(' ') ?? '';
    assert.match(wait, /^cloud-init-per once \S+ sh -c .*\[ -e \/dev\/disk\/azure\/scsi1\/lun0 \]/);
    assert.equal(small.bootcmd, undefined);
    assert.deepEqual(large.mounts?.[0]?.slice(0, 2), ['LABEL=refresher-data', '/srv/refresher']);
    const daemon = JSON.parse(
      large.write_files.find((file) => file.path === '/etc/docker/daemon.json')!.content,
    );
    assert.equal(daemon['data-root'], '/srv/refresher/docker');
    // dockerd must not start on an empty /srv/refresher of the OS disk when the disk (mounted
    // with nofail) is missing after a reboot: docker.service requires the mount.
    const dropIn = large.write_files.find((file) => file.path === DOCKER_MOUNT_DROP_IN);
    assert.equal(dropIn?.path, '/etc/systemd/system/docker.service.d/10-refresher-data-disk.conf');
    assert.deepEqual(
      dropIn.content.split('\n').filter((line) => line && !line.startsWith('#')),
      ['[Unit]', 'RequiresMountsFor=/srv/refresher'],
    );
    const commands = large.runcmd.map((cmd) => cmd.join(' '));
    const reload = commands.indexOf('systemctl daemon-reload');
    const enable = commands.findIndex((cmd) => cmd.startsWith('systemctl enable --now docker'));
    assert.ok(reload >= 0 && reload < enable, 'systemd reloads the drop-in before Docker starts');
    assert.equal(
      small.write_files.find((file) => file.path === DOCKER_MOUNT_DROP_IN),
      undefined,
      'without a data disk there is no mount to wait for',
    );
    // cAdvisor reads Docker's data at the path `docker info` reports: the catalogue mounts that
    // folder, not the default it would not find (found by running the stack, issue 12).
    const mountsOf = (config: DeploymentConfig) =>
      serviceCatalogue(config)
        .find((service) => service.name === 'cadvisor')!
        .hostMounts.filter((mount) => mount.target.endsWith('/docker'));
    assert.deepEqual(
      mountsOf(fixture.config({ vm: { dataDiskGiB: 256, swapGiB: 0 } })).map((m) => [
        m.source,
        m.target,
      ]),
      [['/srv/refresher/docker', '/srv/refresher/docker']],
    );
    assert.deepEqual(
      mountsOf(fixture.config({ vm: { dataDiskGiB: 0 } })).map((m) => [m.source, m.target]),
      [['/var/lib/docker', '/var/lib/docker']],
    );
  });
});
