// The SSH facts the VM and the machine that deploys must agree on, in one place: the sshd drop-in
// cloud-init writes on the VM, and the options of every ssh the deploy runs against it (the
// vm-ready check of the azure stack, the docker provider of the services stack). The limits of
// the one fit the habits of the other; scripts/test/stack/ssh.test.ts runs both against a real
// sshd and Docker Engine on loopback.
import type { DeploymentConfig } from './config.ts';

/** The non-root user the services stack connects as (ssh://deploy@vm): Docker, nothing else. */
export const DEPLOY_USER = 'deploy';

/** Where cloud-init writes the drop-in (Ubuntu's sshd_config includes sshd_config.d/*.conf first). */
export const SSHD_DROP_IN_PATH = '/etc/ssh/sshd_config.d/10-refresher.conf';

/**
 * sshd's limits, sized for the client below from what scripts/test/stack/ssh.test.ts measures
 * against Debian's OpenSSH 9.2 on 2 cores (docs/vm.md has the figures):
 *
 * - MaxSessions: the client multiplexes (ControlMaster), so parallel commands are sessions of
 *   one connection. At sshd's default of 10, the 11th is refused ("no more sessions"), and the
 *   client does not fail: it falls back to a connection of its own ("disabling multiplexing"),
 *   which MaxStartups may drop (30 sessions at once: 20 refused, 2–4 of those then dropped).
 *   50 parallel `docker -H ssh://` commands held 50 sessions at once; terraform runs at most 10
 *   operations at once (-parallelism), each a session or two. 64 takes the test's 50 with room
 *   to spare.
 * - MaxStartups: connections not yet authenticated. The default 10:30:100 (Ubuntu's too) drops
 *   30 % of them beyond 10 pending: 11–15 of 50 parallel logins without sharing failed
 *   (kreuzwerker/terraform-provider-docker#262). Even the multiplexed client opens 6–10 at once
 *   when no master is up (they race to become it), and every refused session adds one.
 *   64:30:128 lets a whole burst of 50 in (0 dropped); the NSG still admits only
 *   `vm.sshAllowedCidrs`, and LoginGraceTime bounds how long each may wait.
 */
export const SSHD_LIMITS = { maxSessions: 64, maxStartups: '64:30:128' } as const;

/** The drop-in: keys only, no root, the two users only, and limits that fit the client. */
export function renderSshdDropIn(adminUsername: string): string {
  return [
    '# Written by cloud-init from templates/ssh.ts: keys only, no root, named users only.',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin no',
    'PubkeyAuthentication yes',
    `AllowUsers ${adminUsername} ${DEPLOY_USER}`,
    '# Three tries per connection: the client offers only the configured key (IdentitiesOnly).',
    'MaxAuthTries 3',
    'LoginGraceTime 30',
    'X11Forwarding no',
    '# The deploy runs its commands as sessions of one connection (ControlMaster): 50 at once',
    '# in the tests. Past the default 10, sshd refuses them and each opens a connection of its own.',
    `MaxSessions ${SSHD_LIMITS.maxSessions}`,
    '# Unauthenticated connections: up to 64 are let in, beyond that 30 % are dropped (the',
    '# default 10:30:100 dropped 11-15 of 50 parallel logins). Port 22 is open to sshAllowedCidrs only.',
    `MaxStartups ${SSHD_LIMITS.maxStartups}`,
    '',
  ].join('\n');
}

/**
 * Where the client keeps the master connection's socket. %C is a 40-character hash of the local
 * host, the remote host, port and user, so the path stays short: a Unix socket path holds at most
 * 104 bytes on macOS and 108 on Linux, and ssh binds to this path plus 17 characters first.
 */
export const CONTROL_PATH = '~/.ssh/cm-%C';
/** How long an idle master connection stays up: spans the pauses between terraform runs. */
export const CONTROL_PERSIST_SECONDS = 300;
/** A keepalive every 30 s; after 3 unanswered (ssh's default) a dead link ends the connection. */
export const SERVER_ALIVE_SECONDS = 30;
export const CONNECT_TIMEOUT_SECONDS = 10;

export interface SshClientOptions {
  /** The private half of `vm.sshPublicKeyPath` (config.vm.sshPrivateKeyPath). */
  privateKeyPath: string;
  /** Defaults to CONTROL_PATH; tests use a folder of their own. */
  controlPath?: string;
  /** Defaults to ssh's own (~/.ssh/known_hosts); tests use a file of their own. */
  knownHostsFile?: string;
}

/** A value of an -o option: quoted for ssh's own parser when it holds spaces. */
function optionValue(value: string): string {
  if (value.includes('"')) throw new Error(`an ssh option cannot hold a double quote: ${value}`);
  return /\s/.test(value) ? `"${value}"` : value;
}

/**
 * The client's options, as arguments of ssh (`-o Name=value` pairs), the same for every ssh of
 * a deploy:
 *
 * - BatchMode: nobody is there to answer a prompt (a key with a passphrase must be in ssh-agent);
 * - StrictHostKeyChecking=accept-new: trust on first use of a new VM, refuse a changed key;
 * - IdentityFile + IdentitiesOnly: offer only the configured key, never every key of the agent
 *   (MaxAuthTries 3 closes the connection after three wrong ones; an agent key that matches the
 *   file is still used, so a passphrase-protected key works from the agent);
 * - ControlMaster=auto + ControlPath + ControlPersist: parallel commands share one connection
 *   (one handshake instead of one per command, and no burst of unauthenticated connections);
 * - ServerAliveInterval: a dead link is noticed instead of hanging a terraform run;
 * - ConnectTimeout: an unreachable VM fails in seconds (the vm-ready check retries).
 */
export function sshClientOptions(options: SshClientOptions): string[] {
  const pairs: [string, string][] = [
    ['BatchMode', 'yes'],
    ['StrictHostKeyChecking', 'accept-new'],
    ...(options.knownHostsFile
      ? [['UserKnownHostsFile', options.knownHostsFile] satisfies [string, string]]
      : []),
    ['IdentityFile', options.privateKeyPath],
    ['IdentitiesOnly', 'yes'],
    ['ControlMaster', 'auto'],
    ['ControlPath', options.controlPath ?? CONTROL_PATH],
    ['ControlPersist', String(CONTROL_PERSIST_SECONDS)],
    ['ServerAliveInterval', String(SERVER_ALIVE_SECONDS)],
    ['ConnectTimeout', String(CONNECT_TIMEOUT_SECONDS)],
  ];
  return pairs.flatMap(([name, value]) => ['-o', `${name}=${optionValue(value)}`]);
}

/** The options for the deployment's own key: what `npm run deploy` passes to every ssh it runs. */
export function sshClientArgs(config: Pick<DeploymentConfig, 'vm'>): string[] {
  return sshClientOptions({ privateKeyPath: config.vm.sshPrivateKeyPath });
}

/** Arguments as one line of POSIX shell: words that need it in single quotes. */
export function shellWords(args: readonly string[]): string {
  return args
    .map((arg) => (/^[A-Za-z0-9_./=:,%+@-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}
