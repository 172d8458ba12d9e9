// cloud-init user-data for the VM: what turns a stock Ubuntu 24.04 image into a Docker host for
// the services stack. It runs once, on first boot. Everything else (containers, configs) arrives
// later over SSH through the Docker API, so this file changes only when the machine should.
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { DATA_DIR, dockerDataRoot, swapGiB, type DeploymentConfig } from './config.ts';
import { DEPLOY_USER, renderSshdDropIn, SSHD_DROP_IN_PATH } from './ssh.ts';
import {
  BACKUP_SCRIPT_PATH,
  BACKUP_UNIT,
  renderBackupScript,
  renderBackupUnits,
} from './backup.ts';

export { DEPLOY_USER };
/** Docker's apt repository signing key (https://download.docker.com/linux/ubuntu/gpg). */
export const DOCKER_APT_KEY_FINGERPRINT = '9DC858229FC7DD38854AE2D88D81803C0EBFCD88';
/**
 * That key, ASCII-armored, embedded in the user-data: first boot needs no keyserver, whose outage
 * would leave the VM without docker-ce. templates/test/docker-apt-key.test.ts checks with gpg
 * that the file holds exactly the key of DOCKER_APT_KEY_FINGERPRINT.
 */
export const DOCKER_APT_KEY_FILE = new URL('./docker-apt-key.asc', import.meta.url);
const DOCKER_APT_KEY = readFileSync(DOCKER_APT_KEY_FILE, 'utf8');
/** Orders docker.service after the data disk's mount (written only with a data disk). */
export const DOCKER_MOUNT_DROP_IN =
  '/etc/systemd/system/docker.service.d/10-refresher-data-disk.conf';
const DATA_DISK_LABEL = 'refresher-data';
/** Azure's stable name for the first data disk (LUN 0), from the Azure udev rules in the image. */
const AZURE_DATA_DISK = '/dev/disk/azure/scsi1/lun0';
const GIB = 1024 ** 3;
/** How long first boot waits for the data disk to be attached. */
const DATA_DISK_WAIT_SECONDS = 300;

export function renderCloudInit(config: DeploymentConfig): string {
  const vm = config.vm;
  const swap = swapGiB(config);
  const dataDisk = vm.dataDiskGiB > 0;
  const dockerDaemon = {
    // Log rotation for every container, also ones started by hand.
    'log-driver': 'json-file',
    'log-opts': { 'max-size': '10m', 'max-file': '3' },
    // Containers keep running while dockerd restarts (an upgrade of docker-ce).
    'live-restore': true,
    ...(dataDisk ? { 'data-root': dockerDataRoot(config) } : {}),
  };
  const sshd = renderSshdDropIn(vm.adminUsername);
  const backupUnits = renderBackupUnits();
  // The data disk is mounted with nofail (a missing disk must not stop the VM from booting), so
  // nothing orders dockerd after it: after a reboot without the mount, dockerd would start on an
  // empty folder of the OS disk. RequiresMountsFor makes docker.service wait for the mount, and
  // not start at all without it.
  const dockerAfterMount = [
    '# Written by cloud-init from templates/cloud-init.ts: Docker keeps its data on the data disk.',
    '[Unit]',
    `RequiresMountsFor=${DATA_DIR}`,
    '',
  ].join('\n');
  const autoUpgrades = [
    'APT::Periodic::Update-Package-Lists "1";',
    'APT::Periodic::Unattended-Upgrade "1";',
    'APT::Periodic::AutocleanInterval "7";',
    '',
  ].join('\n');
  const unattended = [
    "// Security updates only (Ubuntu's 50unattended-upgrades); Docker Engine is upgraded on purpose.",
    ...(vm.automaticReboot === false
      ? ['Unattended-Upgrade::Automatic-Reboot "false";']
      : [
          '// A new kernel needs a reboot; containers come back by their restart policy.',
          'Unattended-Upgrade::Automatic-Reboot "true";',
          `Unattended-Upgrade::Automatic-Reboot-Time "${vm.automaticReboot}";`,
        ]),
    'Unattended-Upgrade::Remove-Unused-Dependencies "true";',
    '',
  ].join('\n');

  const userData: Record<string, unknown> = {
    timezone: config.timezone,
    ssh_pwauth: false,
    disable_root: true,
    // The group exists before the users module adds deploy to it; docker-ce's package keeps it.
    groups: ['docker'],
    users: [
      'default',
      {
        name: DEPLOY_USER,
        gecos: 'Refresher deployments (Docker over SSH)',
        groups: ['docker'],
        shell: '/bin/bash',
        lock_passwd: true,
        ssh_authorized_keys: [vm.sshPublicKeyPath.key],
      },
    ],
    ...(dataDisk
      ? {
          // The azure stack attaches the data disk after Azure has created the VM, so on first
          // boot it may appear a little after cloud-init starts: wait for it (once per instance)
          // before disk_setup looks, or the disk would never be formatted and mounted.
          bootcmd: [
            [
              'cloud-init-per',
              'once',
              'refresher-wait-data-disk',
              'sh',
              '-c',
              `for i in $(seq 1 ${DATA_DISK_WAIT_SECONDS}); do [ -e ${AZURE_DATA_DISK} ] && exit 0; sleep 1; done; echo "refresher: no data disk at ${AZURE_DATA_DISK} after ${DATA_DISK_WAIT_SECONDS} s" >&2`,
            ],
          ],
          disk_setup: { [AZURE_DATA_DISK]: { table_type: 'gpt', layout: true, overwrite: false } },
          fs_setup: [
            {
              label: DATA_DISK_LABEL,
              filesystem: 'ext4',
              device: AZURE_DATA_DISK,
              partition: 'auto',
            },
          ],
          mounts: [
            [
              `LABEL=${DATA_DISK_LABEL}`,
              DATA_DIR,
              'ext4',
              'defaults,nofail,x-systemd.device-timeout=30s',
              '0',
              '2',
            ],
          ],
        }
      : {}),
    ...(swap > 0 ? { swap: { filename: '/swapfile', size: swap * GIB, maxsize: swap * GIB } } : {}),
    package_update: true,
    package_upgrade: true,
    apt: {
      sources: {
        'docker.list': {
          source:
            'deb [signed-by=$KEY_FILE] https://download.docker.com/linux/ubuntu $RELEASE stable',
          // cloud-init writes it to /etc/apt/cloud-init.gpg.d/docker.gpg ($KEY_FILE).
          key: DOCKER_APT_KEY,
        },
      },
    },
    packages: [
      'docker-ce',
      'docker-ce-cli',
      'containerd.io',
      'docker-buildx-plugin',
      'docker-compose-plugin',
      'unattended-upgrades',
    ],
    write_files: [
      { path: SSHD_DROP_IN_PATH, permissions: '0644', content: sshd },
      { path: '/etc/apt/apt.conf.d/20auto-upgrades', permissions: '0644', content: autoUpgrades },
      {
        path: '/etc/apt/apt.conf.d/52refresher-unattended-upgrades',
        permissions: '0644',
        content: unattended,
      },
      {
        path: '/etc/docker/daemon.json',
        permissions: '0644',
        content: `${JSON.stringify(dockerDaemon, null, 2)}\n`,
      },
      ...(dataDisk
        ? [{ path: DOCKER_MOUNT_DROP_IN, permissions: '0644', content: dockerAfterMount }]
        : []),
      { path: BACKUP_SCRIPT_PATH, permissions: '0755', content: renderBackupScript(config) },
      {
        path: `/etc/systemd/system/${BACKUP_UNIT}.service`,
        permissions: '0644',
        content: backupUnits.service,
      },
      {
        path: `/etc/systemd/system/${BACKUP_UNIT}.timer`,
        permissions: '0644',
        content: backupUnits.timer,
      },
    ],
    runcmd: [
      [
        'install',
        '-d',
        '-m',
        '0750',
        '-o',
        DEPLOY_USER,
        '-g',
        DEPLOY_USER,
        DATA_DIR,
        `${DATA_DIR}/backups`,
      ],
      // systemd reads the mount drop-in and the backup units at every boot; the reload makes this
      // boot's systemd know them too (docker-ce's package started Docker already, after the disk
      // was mounted: the mounts module runs before packages are installed).
      ['systemctl', 'daemon-reload'],
      [
        'systemctl',
        'enable',
        '--now',
        'docker.service',
        'unattended-upgrades.service',
        `${BACKUP_UNIT}.timer`,
      ],
      // Check the hardened sshd configuration before reloading: a running sshd keeps the old one
      // if the new one is broken (the drop-in itself is checked by a real sshd in
      // scripts/test/stack/ssh.test.ts). Ubuntu 24.04 starts sshd by socket activation, so on first
      // boot its privilege separation folder (/run/sshd, made by ssh.service) may not exist yet,
      // and `sshd -t` fails without it. Last, so that a failure is runcmd's exit status, which
      // cloud-init reports as an error (and the vm-ready check shows).
      [
        'sh',
        '-c',
        'install -d -m 0755 /run/sshd && sshd -t && systemctl try-reload-or-restart ssh',
      ],
    ],
    final_message:
      'refresher: cloud-init finished after $UPTIME seconds; Docker is ready for the services stack',
  };

  const header = [
    '#cloud-config',
    `# ${config.name}: user-data for the VM (${vm.size}, ${config.azure.location}).`,
    '# Rendered from the deployment configuration by templates/cloud-init.ts; do not edit by hand.',
    '# Check it with: cloud-init schema --config-file <this file>',
    '',
  ].join('\n');
  return header + stringify(userData, { lineWidth: 0, version: '1.1' });
}
