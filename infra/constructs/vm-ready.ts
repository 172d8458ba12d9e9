// The vm-ready check of the azure stack: a shell script that Terraform runs on the machine that
// deploys (local-exec), until first boot has made the VM a Docker host for the deploy user. A VM
// still booting is waited for; a first boot that failed stops the wait at once, with the failing
// module's log lines and what to do, instead of a generic message 15 minutes later.
//
// The script is Terraform template text: `${…}` would be an expression, so the shell here never
// uses that form (the host may be one, such as ${self.input.address}).
import { DEPLOY_USER, shellWords } from '../../templates/ssh.ts';

/** The remote part's exit status for "first boot failed": ssh itself uses 255, a shell 126–127. */
export const FIRST_BOOT_FAILED = 3;

export interface VmReadyOptions {
  /** The VM's address (a Terraform expression in the stack). */
  address: string;
  /** The sudo user: reads the root-only cloud-init logs when first boot failed. */
  adminUsername: string;
  /** templates/ssh.ts's options (infra/constructs/ssh.ts writes the key's path). */
  sshOptions: string[];
  /** How long to wait for first boot. */
  minutes: number;
  /** Seconds between attempts. */
  pauseSeconds?: number;
}

/**
 * Runs on the VM as the deploy user. `cloud-init status --wait` blocks until first boot ends and
 * exits 0 when it succeeded, 1 when a module failed, and (cloud-init 23.4 and later, as on Ubuntu
 * 24.04) 2 when it finished with recoverable errors. Exit FIRST_BOOT_FAILED when it failed, or
 * finished with errors and Docker does not answer; 0 when Docker answers.
 */
const REMOTE_CHECK = [
  'cloud-init status --wait >/dev/null 2>&1; boot=$?',
  `if [ $boot -eq 1 ]; then exit ${FIRST_BOOT_FAILED}; fi`,
  'if docker info --format "Docker {{.ServerVersion}} is ready"; then',
  '  if [ $boot -eq 2 ]; then echo "vm-ready: cloud-init finished with recoverable errors (cloud-init status --long on the VM lists them); Docker answers, so the deploy goes on" >&2; fi',
  '  exit 0',
  'fi',
  `if [ $boot -eq 2 ]; then exit ${FIRST_BOOT_FAILED}; fi`,
  'exit 4',
].join('\n');

/**
 * Runs on the VM as the admin user after a failed first boot: the status with its errors, the
 * WARNING and ERROR lines of cloud-init's log (the failing module names itself there), and the
 * end of the output of the commands it ran. Neither log is world-readable (mode 0640 since
 * cloud-init 23.1.2, CVE-2023-1786), hence sudo, which Azure's admin user has without a password.
 */
const REMOTE_DIAGNOSIS = [
  'cloud-init status --long',
  'if sudo -n true 2>/dev/null; then as_root="sudo -n"; else as_root=""; fi',
  'echo "--- the WARNING and ERROR lines of /var/log/cloud-init.log (the last 40):"',
  '$as_root grep -E "\\[(WARNING|ERROR|CRITICAL)\\]|Traceback" /var/log/cloud-init.log | tail -n 40',
  'echo "--- the end of /var/log/cloud-init-output.log:"',
  '$as_root tail -n 40 /var/log/cloud-init-output.log',
].join('\n');

/** The local-exec command: /bin/sh, on the machine that deploys. */
export function vmReadyScript(options: VmReadyOptions): string {
  const { address, adminUsername, minutes } = options;
  const pause = options.pauseSeconds ?? 10;
  const admin = `${adminUsername}@${address}`;
  const replace =
    'terraform -chdir=cdktf.out/stacks/azure apply -replace=azurerm_linux_virtual_machine.vm';
  // The host stays unquoted: it is an address (after Terraform has put it in).
  const ssh = (user: string, command: string) =>
    `ssh ${shellWords(options.sshOptions)} ${user}@${address} ${shellWords([command])}`;
  return [
    'errors=$(mktemp) || exit 1',
    'trap \'rm -f "$errors"\' EXIT',
    `deadline=$(( $(date +%s) + ${minutes * 60} ))`,
    'while [ "$(date +%s)" -lt "$deadline" ]; do',
    `  ${ssh(DEPLOY_USER, REMOTE_CHECK)} 2>"$errors"`,
    '  code=$?',
    '  cat "$errors" >&2',
    '  if [ $code -eq 0 ]; then exit 0; fi',
    `  if [ $code -eq ${FIRST_BOOT_FAILED} ]; then`,
    `    echo "vm-ready: first boot failed on the VM: cloud-init reports an error. Its status and log lines:" >&2`,
    `    ${ssh(adminUsername, REMOTE_DIAGNOSIS)} >&2 || echo "vm-ready: could not read them as ${adminUsername}: ssh ${admin} and read cloud-init status --long and /var/log/cloud-init.log" >&2`,
    `    echo "vm-ready: fix what the lines above name. When the cause has passed (a package mirror or the network was down), run first boot again: ssh ${admin} sudo cloud-init clean --logs --reboot, then deploy again. When the user-data is at fault, fix it and replace the VM: ${replace}" >&2`,
    '    exit 1',
    '  fi',
    '  if grep -q "REMOTE HOST IDENTIFICATION HAS CHANGED" "$errors"; then',
    `    echo "vm-ready: the VM at ${address} has a new host key (a VM replaced at the same address?): remove the old one with ssh-keygen -R ${address} and deploy again" >&2`,
    '    exit 1',
    '  fi',
    `  sleep ${pause}`,
    'done',
    `echo "vm-ready: the VM's Docker did not answer over SSH within ${minutes} min (the last error is above). Check that vm.sshPrivateKeyPath is the private half of vm.sshPublicKeyPath and that vm.sshAllowedCidrs holds this machine's address; then ssh ${admin} and read /var/log/cloud-init-output.log" >&2`,
    'exit 1',
  ].join('\n');
}
