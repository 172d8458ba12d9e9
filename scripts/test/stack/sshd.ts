// A real sshd on a free 127.0.0.1 port for the tests that take the deploy's SSH path (ssh.test.ts,
// and the ops scripts in stack.test.ts): Debian's OpenSSH server with the drop-in cloud-init
// writes on the VM first (it wins, as on Ubuntu), then the test's own port, host key, pid file and
// authorized keys, all in the test's folder; and the deploy user as cloud-init makes it, in the
// docker group. Needs root (sshd switches to the deploy user) and openssh-server.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEPLOY_USER } from '../../../templates/ssh.ts';
import { freePort } from '../../../testing/ports.ts';
import { waitFor } from '../../../testing/wait.ts';
import { must, run } from './docker.ts';

export const SSHD = '/usr/sbin/sshd';

export interface Server {
  name: string;
  port: number;
  config: string;
  log: string;
  process: ChildProcess;
}

/** A new ed25519 key pair without a passphrase. */
export const keygen = (comment: string, path: string) =>
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);

/**
 * Starts sshd in `dir` (which must hold host_ed25519 and authorized_keys, readable by the deploy
 * user) and adds its host key to `dir`/known_hosts. The caller stops `process`.
 */
export async function startTestSshd(dir: string, name: string, dropIn: string): Promise<Server> {
  const file = (base: string) => join(dir, base);
  const port = await freePort();
  const config = file(`sshd-${name}.conf`);
  writeFileSync(
    config,
    [
      dropIn,
      '# The test: its own port, host key, pid file and authorized keys, all in a temporary folder.',
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${file('host_ed25519')}`,
      `PidFile ${file(`sshd-${name}.pid`)}`,
      `AuthorizedKeysFile ${file('authorized_keys')}`,
      // No PAM here: sshd checks the account itself (see ensureDeployUser).
      'UsePAM no',
      // The temporary folder lies under /tmp, which is world-writable: StrictModes would refuse
      // the authorized keys file for that.
      'StrictModes no',
      // Logs "no more sessions" and "past MaxStartups", which the checks count.
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  await must(SSHD, ['-t', '-f', config]);
  const log = file(`sshd-${name}.log`);
  writeFileSync(log, '');
  const child = spawn(SSHD, ['-D', '-e', '-f', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (chunk: Buffer) => writeFileSync(log, chunk, { flag: 'a' }));
  await waitFor(() => readFileSync(log, 'utf8').includes('Server listening'), {
    timeoutMs: 10_000,
    what: `sshd (${name}) listening on 127.0.0.1:${port} (log: ${log})`,
  });
  // The VM's host key was accepted once by the vm-ready check; here it is written down.
  const hostKey = readFileSync(file('host_ed25519.pub'), 'utf8').trim().split(' ');
  writeFileSync(file('known_hosts'), `[127.0.0.1]:${port} ${hostKey[0]} ${hostKey[1]}\n`, {
    flag: 'a',
  });
  return { name, port, config, log, process: child };
}

/** Stops an sshd started above and waits for it. */
export async function stopTestSshd(server: Server): Promise<void> {
  const child = server.process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** The deploy user as cloud-init makes it: in the docker group, no usable password. */
export async function ensureDeployUser(): Promise<void> {
  if ((await run('id', ['-u', DEPLOY_USER])).code !== 0) {
    if ((await run('getent', ['group', 'docker'])).code !== 0)
      throw new Error('there is no docker group: install docker.io (bash .ci/run does)');
    // '*' rather than useradd's locked '!': without PAM, sshd refuses locked accounts even for
    // keys (on the VM, PAM is on and cloud-init's lock_passwd does not get in the way).
    await must('useradd', [
      '--create-home',
      '--shell',
      '/bin/sh',
      '--groups',
      'docker',
      '--password',
      '*',
      DEPLOY_USER,
    ]);
    console.log(`# created the user ${DEPLOY_USER} (in the docker group); later runs reuse it`);
  }
  const groups = (await must('id', ['-nG', DEPLOY_USER])).trim().split(/\s+/);
  if (!groups.includes('docker'))
    throw new Error(
      `the user ${DEPLOY_USER} exists but is not in the docker group: usermod -aG docker ${DEPLOY_USER}, or remove the user and let this test make it`,
    );
  // sshd's own check without PAM: a password field that starts with "!" is a locked account.
  if ((await must('getent', ['shadow', DEPLOY_USER])).split(':')[1]!.startsWith('!'))
    throw new Error(
      `the user ${DEPLOY_USER} is locked, which sshd without PAM refuses even for keys: usermod -p '*' ${DEPLOY_USER}`,
    );
}

/** sshd's privilege separation folder; returns whether this call made it (then remove it after). */
export async function ensureRunSshd(): Promise<boolean> {
  if (existsSync('/run/sshd')) return false;
  await must('install', ['-d', '-m', '0755', '/run/sshd']);
  return true;
}

/** A folder the deploy user can read (sshd reads the authorized keys as that user). */
export function openToDeployUser(dir: string): void {
  chmodSync(dir, 0o755);
}
