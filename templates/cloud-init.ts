// cloud-init user-data for the VM: what turns a stock Ubuntu 24.04 image into a Docker host for
// the services stack. It runs once, on first boot. Everything else (containers, configs) arrives
// later over SSH through the Docker API, so this file changes only when the machine should.
import { stringify } from 'yaml';
import { DATA_DIR, dockerDataRoot, swapGiB, type DeploymentConfig } from './config.ts';

/** The non-root user the services stack connects as (ssh://deploy@vm): Docker, nothing else. */
export const DEPLOY_USER = 'deploy';
/** Docker's apt repository signing key (https://download.docker.com/linux/ubuntu/gpg). */
export const DOCKER_APT_KEY_FINGERPRINT = '9DC858229FC7DD38854AE2D88D81803C0EBFCD88';
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
  const sshd = [
    '# Written by cloud-init from templates/cloud-init.ts: keys only, no root, named users only.',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin no',
    'PubkeyAuthentication yes',
    `AllowUsers ${vm.adminUsername} ${DEPLOY_USER}`,
    'MaxAuthTries 3',
    'LoginGraceTime 30',
    'X11Forwarding no',
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
          keyid: DOCKER_APT_KEY_FINGERPRINT,
          keyserver: 'keyserver.ubuntu.com',
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
      { path: '/etc/ssh/sshd_config.d/10-refresher.conf', permissions: '0644', content: sshd },
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
      // Check the hardened sshd configuration before applying it: a typo must not lock us out.
      ['sh', '-c', 'sshd -t && systemctl try-reload-or-restart ssh'],
      ['systemctl', 'enable', '--now', 'docker.service', 'unattended-upgrades.service'],
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
