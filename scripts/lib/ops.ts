// What the day-2 scripts share (doctor, status, logs, ssh, backup, restore, upgrade; speedtest-now
// takes only the errors and the progress line, it talks to the API): the same
// flags for choosing a deployment and its host, one way to run a command there (ssh as the
// deploy user with the deploy's own options, or this machine's Docker for a stack:up stack),
// finding the deployment's containers by their labels, and failures that say in one line what
// went wrong, with an exit code that tells which kind it was.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { $ } from 'zx';
import { UsageError } from '../../contract/cli.ts';
import { REPO_ROOT } from '../../contract/paths.ts';
import { CONTAINER_LABELS } from '../../templates/catalogue/index.ts';
import {
  DeploymentConfigError,
  loadDeploymentConfig,
  publicHosts,
  type DeploymentConfig,
} from '../../templates/config.ts';
import { DEPLOY_USER, shellWords, sshClientOptions } from '../../templates/ssh.ts';
import { defaultConfigFile } from './deployment.ts';

/** What each exit code of an ops script means (docs/ops-scripts.md lists them). */
export const EXIT = {
  ok: 0,
  /** The script ran and found a problem (status: something unhealthy; restore: refused). */
  problem: 1,
  usage: 2,
  /** The host does not answer, or refuses the key. */
  unreachable: 3,
  /** The host answers but the deployment's containers are not there. */
  noStack: 4,
} as const;

/** A failure a person can act on: one line, the fix, and the exit code of its kind. */
export class OpsError extends Error {
  override name = 'OpsError';
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.problem) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** The flags every ops script takes for where the deployment is. */
export const TARGET_FLAGS = {
  config: { type: 'string' },
  host: { type: 'string' },
  local: { type: 'boolean' },
} as const;

export const TARGET_USAGE = `  --config FILE   the deployment configuration (default: infra/deploy.config.ts, else the example)
  --host [USER@]HOST[:PORT]
                  where the deployment runs (default: REFRESHER_HOST, else the azure stack's
                  public_ip in .state/, else the speedtester name); user: ${DEPLOY_USER}
  --local         the stack of npm run stack:up on this machine's Docker, no ssh`;

export interface Target {
  config: DeploymentConfig;
  configFile: string;
  /** Absent for --local. */
  ssh?: { user: string; host: string; port: number };
  /** How the host was chosen, for doctor and error messages. */
  source: string;
}

/** The host from `[user@]host[:port]`; a bad one is a usage error naming it. */
export function parseHost(spec: string): { user: string; host: string; port: number } {
  const match = /^(?:([a-z_][a-z0-9_-]*)@)?(\[[0-9a-f:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(
    spec,
  );
  const port = Number(match?.[3] ?? 22);
  if (!match || port < 1 || port > 65535)
    throw new UsageError(
      `--host "${spec}" is not [USER@]HOST[:PORT] (e.g. ${DEPLOY_USER}@203.0.113.7 or vm.example.com:2222)`,
    );
  return { user: match[1] ?? DEPLOY_USER, host: match[2]!.replace(/^\[|\]$/g, ''), port };
}

/** The azure stack's public_ip from its local state file, when a deploy from here made one. */
function addressFromState(config: DeploymentConfig): string | undefined {
  if (config.azure.remoteState) return undefined;
  const file = join(REPO_ROOT, '.state', 'terraform.azure.tfstate');
  if (!existsSync(file)) return undefined;
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as {
      outputs?: Record<string, { value?: unknown }>;
    };
    const ip = state.outputs?.public_ip?.value;
    return typeof ip === 'string' && ip ? ip : undefined;
  } catch {
    return undefined;
  }
}

export async function openTarget(values: {
  config?: string;
  host?: string;
  local?: boolean;
}): Promise<Target> {
  if (values.local && values.host) throw new UsageError('--local and --host exclude each other');
  const configFile = resolve(
    values.config ?? (process.env.REFRESHER_DEPLOY_CONFIG || defaultConfigFile()),
  );
  const config = await loadDeploymentConfig(configFile);
  if (values.local) return { config, configFile, source: '--local' };
  const given = values.host ?? process.env.REFRESHER_HOST;
  if (given)
    return {
      config,
      configFile,
      ssh: parseHost(given),
      source: values.host ? '--host' : 'REFRESHER_HOST',
    };
  const address = addressFromState(config);
  if (address)
    return { config, configFile, ssh: parseHost(address), source: 'the azure stack (.state/)' };
  const speedtester = publicHosts(config).find((host) => host.site === 'speedtester')!;
  return { config, configFile, ssh: parseHost(speedtester.fqdn), source: 'the speedtester name' };
}

/** What ssh's last line of complaint means, as a person would fix it. */
function sshFailure(target: Target, stderr: string): OpsError {
  const { host, port, user } = target.ssh!;
  const where = `${user}@${host}${port === 22 ? '' : `:${port}`}`;
  const last = stderr.trim().split('\n').filter(Boolean).at(-1) ?? 'ssh failed';
  const key = target.config.vm.sshPrivateKeyPath;
  const fixes: [RegExp, string][] = [
    [/Could not resolve hostname/i, `${host} does not resolve (chosen by ${target.source}): pass --host with the VM's address`],
    [/Connection refused/i, `${where} refuses connections: is sshd up, and the port right?`],
    [/timed out|No route to host|Network is unreachable/i, `${where} does not answer (${last}): is the VM running, and your address in vm.sshAllowedCidrs?`],
    [/Permission denied/i, `${where} refused the key ${key}: is it the private half of vm.sshPublicKeyPath (and in ssh-agent if it has a passphrase)?`],
    [/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i, `${where} presents a different host key than known_hosts holds: if the VM was recreated, ssh-keygen -R ${host}`],
  ]; // prettier-ignore
  for (const [pattern, message] of fixes)
    if (pattern.test(stderr)) return new OpsError(message, EXIT.unreachable);
  return new OpsError(`ssh to ${where} failed: ${last}`, EXIT.unreachable);
}

/** ssh's options for the target: the deploy's, with a known_hosts and control path of a test's own. */
function sshArgs(target: Target, tty = false): string[] {
  const { user, host, port } = target.ssh!;
  return [
    ...sshClientOptions({
      privateKeyPath: target.config.vm.sshPrivateKeyPath,
      knownHostsFile: process.env.REFRESHER_SSH_KNOWN_HOSTS || undefined,
      controlPath: process.env.REFRESHER_SSH_CONTROL_PATH || undefined,
    }),
    ...(tty ? ['-t'] : []),
    '-p',
    String(port),
    `${user}@${host}`,
  ];
}

export interface Outcome {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs one shell command on the target's host; ssh's own failures become OpsErrors. */
export async function onHost(target: Target, command: string, input?: string): Promise<Outcome> {
  const argv = target.ssh ? ['ssh', ...sshArgs(target), command] : ['sh', '-c', command];
  const result = await $({ nothrow: true, quiet: true, input })`${argv}`;
  if (target.ssh && result.exitCode === 255) throw sshFailure(target, result.stderr);
  return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? 1 };
}

/** Like onHost, but a non-zero exit is an OpsError naming `what`. */
export async function mustOnHost(target: Target, what: string, command: string): Promise<string> {
  const result = await onHost(target, command);
  if (result.exitCode !== 0)
    throw new OpsError(
      `${what} failed on the host (exit ${result.exitCode}): ${result.stderr.trim().split('\n').at(-1) ?? ''}`,
    );
  return result.stdout;
}

/** A long-running command on the host with its streams as given (backup, restore, logs -f). */
export function spawnOnHost(
  target: Target,
  command: string,
  stdio: StdioOptions,
  tty = false,
): ChildProcess {
  return target.ssh
    ? spawn('ssh', [...sshArgs(target, tty), ...(command ? [command] : [])], { stdio })
    : spawn('sh', ['-c', command], { stdio });
}

/** The ssh failure of a spawned command that exited 255, else undefined. */
export function spawnFailure(
  target: Target,
  code: number | null,
  stderr: string,
): OpsError | undefined {
  return target.ssh && code === 255 ? sshFailure(target, stderr) : undefined;
}

export interface Container {
  service: string;
  name: string;
  id: string;
}

/** The deployment's containers by service, found by the labels both compose and the services stack set. */
export async function containers(target: Target): Promise<Map<string, Container>> {
  const format = `{{.ID}}|{{.Names}}|{{.Label "${CONTAINER_LABELS.service}"}}`;
  const out = await onHost(
    target,
    shellWords(['docker', 'ps', '-a', '--filter', `label=${CONTAINER_LABELS.deployment}=${target.config.name}`, '--format', format]),
  ); // prettier-ignore
  if (out.exitCode !== 0)
    throw new OpsError(
      `docker does not answer on the host: ${out.stderr.trim().split('\n').at(-1) ?? ''} (is the ${DEPLOY_USER} user in the docker group, is Docker running?)`,
      EXIT.noStack,
    );
  const found = new Map<string, Container>();
  for (const line of out.stdout.split('\n').filter(Boolean)) {
    const [id = '', name = '', service = ''] = line.split('|');
    // An upgrade's transient containers (the one it replaces, its migration run) are not the service's.
    if (/-(previous|upgrade)$/.test(name)) continue;
    found.set(service, { service, name, id });
  }
  if (!found.size)
    throw new OpsError(
      `no container of the deployment "${target.config.name}" on ${target.ssh?.host ?? 'this machine'}: deploy it first (npm run deploy, or npm run stack:up for --local)`,
      EXIT.noStack,
    );
  return found;
}

/** One service's container, or an OpsError naming what is missing. */
export function containerOf(found: Map<string, Container>, service: string): Container {
  const container = found.get(service);
  if (!container)
    throw new OpsError(
      `the deployment has no ${service} container (it has ${[...found.keys()].join(', ')})`,
      EXIT.noStack,
    );
  return container;
}

/** The expected failures of every ops script, for runCommand. */
/** The app version of the web container's image (its OCI version label), or null. */
export async function appVersion(target: Target, web: Container | undefined): Promise<string | null> {
  if (!web) return null;
  const out = await onHost(target, shellWords(['docker', 'inspect', '--format', '{{index .Config.Labels "org.opencontainers.image.version"}}', web.name]));
  return out.exitCode === 0 && out.stdout.trim() ? out.stdout.trim() : null;
} // prettier-ignore

export const OPS_ERRORS = [OpsError, DeploymentConfigError] as const;

/** A progress line that rewrites itself on a terminal, and prints every few seconds otherwise. */
export function progress(prefix: string): { update(text: string): void; done(text: string): void } {
  const tty = process.stderr.isTTY;
  let last = 0;
  return {
    update(text) {
      const now = Date.now();
      if (tty) process.stderr.write(`\r\x1b[K${prefix} ${text}`);
      else if (now - last > 5000) console.error(`${prefix} ${text}`);
      else return;
      last = now;
    },
    done(text) {
      if (tty) process.stderr.write('\r\x1b[K');
      console.error(`${prefix} ${text}`);
    },
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}
