// The checks of npm run doctor, each a function that answers ✓ or ✗ with what was found and, for
// a ✗, the fix. They run in order; a check whose input is missing (no valid configuration, no
// host) is skipped with the reason, rather than failing for someone else's cause.
import { existsSync, readFileSync } from 'node:fs';
import { $ } from 'zx';
import { REPO_ROOT } from '../../contract/paths.ts';
import { CONTAINER_LABELS } from '../../templates/catalogue/index.ts';
import { publicHosts, type DeploymentConfig } from '../../templates/config.ts';
import { checkNames, makeResolver } from './dns-check.ts';
import { onHost, OpsError, type Target } from './ops.ts';
import { deployRefusals } from './preflight.ts';
import { join } from 'node:path';

export interface CheckResult {
  name: string;
  state: 'ok' | 'fail' | 'skip';
  detail: string;
  fix?: string;
}

const ok = (name: string, detail: string): CheckResult => ({ name, state: 'ok', detail });
const fail = (name: string, detail: string, fix: string): CheckResult => ({
  name,
  state: 'fail',
  detail,
  fix,
});
const skip = (name: string, detail: string): CheckResult => ({ name, state: 'skip', detail }); // prettier-ignore

/** The lowest Node.js major version package.json's engines allow. */
function lowestNode(): number {
  const engines = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines;
  return Number(/(\d+)/.exec(engines?.node ?? '>=20')?.[1] ?? 20);
} // prettier-ignore

export function checkNode(version: string = process.versions.node): CheckResult {
  const major = Number(version.split('.')[0]);
  const lowest = lowestNode();
  if (major >= lowest) return ok('node', `Node.js ${version}`);
  return fail('node', `Node.js ${version} is older than ${lowest}`, 'install Node.js 24 LTS (nvm install, which reads .nvmrc)');
} // prettier-ignore

export async function checkTerraform(): Promise<CheckResult> {
  const out = await $({ nothrow: true, quiet: true })`terraform version -json`;
  if (out.exitCode !== 0)
    return fail('terraform', out.exitCode === 127 ? 'no terraform on PATH' : `terraform version failed: ${out.stderr.trim()}`, 'install Terraform 1.5 or newer: https://developer.hashicorp.com/terraform/install'); // prettier-ignore
  try {
    const version = (JSON.parse(out.stdout) as { terraform_version: string }).terraform_version;
    const [major = 0, minor = 0] = version.split('.').map(Number);
    if (major > 1 || (major === 1 && minor >= 5)) return ok('terraform', `Terraform ${version}`);
    return fail('terraform', `Terraform ${version} is older than 1.5`, 'install Terraform 1.5 or newer: https://developer.hashicorp.com/terraform/install');
  } catch {
    return fail('terraform', `terraform version -json printed no version: ${out.stdout.slice(0, 100)}`, 'reinstall Terraform');
  }
} // prettier-ignore

export async function checkAzure(): Promise<CheckResult> {
  const out = await $({ nothrow: true, quiet: true })`az account show --output json`;
  if (out.exitCode === 127)
    return fail('azure', 'no az (the Azure CLI) on PATH', 'install the Azure CLI: https://learn.microsoft.com/cli/azure/install-azure-cli, then az login');
  if (out.exitCode !== 0)
    return fail('azure', `not signed in (${out.stderr.trim().split('\n').at(-1) ?? ''})`, 'az login, then az account set --subscription <id>');
  try {
    const account = JSON.parse(out.stdout) as { name: string; id: string; user?: { name?: string } };
    return ok('azure', `subscription "${account.name}" (${account.id}) as ${account.user?.name ?? 'unknown'}`);
  } catch {
    return fail('azure', 'az account show printed no account', 'az login');
  }
} // prettier-ignore

export function checkConfig(config: DeploymentConfig, configFile: string): CheckResult {
  const refusals = deployRefusals(config, configFile);
  if (!refusals.length) return ok('config', `${config.name}: ${config.domain}`);
  return fail('config', refusals.join('\n      '), 'make infra/deploy.config.ts your own (docs/deployment-config.md)');
} // prettier-ignore

/** The private key opens without a passphrase and matches the public one, or an agent holds it. */
export async function checkKey(config: DeploymentConfig): Promise<CheckResult> {
  const { sshPublicKeyPath: pub, sshPrivateKeyPath: privateKey } = config.vm;
  const publicWords = pub.key.split(/\s+/).slice(0, 2).join(' ');
  const agent = await $({ nothrow: true, quiet: true })`ssh-add -L`;
  const inAgent = agent.exitCode === 0 && agent.stdout.split('\n').some((line) => line.split(/\s+/).slice(0, 2).join(' ') === publicWords);
  if (inAgent) return ok('ssh key', `${pub.path}, held by ssh-agent`);
  if (privateKey === pub.path)
    return fail('ssh key', `vm.sshPrivateKeyPath is the public key (an agent-only key), and ssh-agent does not hold it`, `ssh-add the private key${process.env.SSH_AUTH_SOCK ? '' : ' (no SSH_AUTH_SOCK: start ssh-agent first, eval "$(ssh-agent)")'}`);
  if (!existsSync(privateKey)) return fail('ssh key', `no private key ${privateKey}`, 'set vm.sshPrivateKeyPath to the private half of vm.sshPublicKeyPath');
  const derived = await $({ nothrow: true, quiet: true })`ssh-keygen -y -P ${''} -f ${privateKey}`;
  if (derived.exitCode !== 0)
    return /incorrect passphrase|passphrase/i.test(derived.stderr)
      ? fail('ssh key', `${privateKey} has a passphrase and ssh-agent does not hold it (the deploy runs ssh without a prompt)`, `ssh-add ${privateKey}`)
      : fail('ssh key', `${privateKey} is not a private key ssh can read: ${derived.stderr.trim()}`, 'set vm.sshPrivateKeyPath to the private half of vm.sshPublicKeyPath');
  if (derived.stdout.trim().split(/\s+/).slice(0, 2).join(' ') !== publicWords)
    return fail('ssh key', `${privateKey} is not the private half of ${pub.path}`, 'name the matching pair in vm.sshPublicKeyPath and vm.sshPrivateKeyPath');
  return ok('ssh key', `${privateKey} matches ${pub.path}`);
} // prettier-ignore

export async function checkDns(config: DeploymentConfig, address: string | undefined, servers: string[]): Promise<CheckResult> {
  const resolver = makeResolver(servers);
  if (address) {
    const states = await checkNames(resolver, config, address);
    const wrong = states.filter((state) => state.problem);
    if (!wrong.length) return ok('dns', `${states.map((s) => s.fqdn).join(', ')} → ${address}`);
    return fail('dns', wrong.map((s) => `${s.fqdn} ${s.problem}`).join('; '), `an A record to ${address} for each name (docs/dns.md), then wait for it to propagate`);
  }
  const found: string[] = [];
  for (const host of publicHosts(config)) {
    const addresses = await resolver.resolve4(host.fqdn).catch(() => []);
    if (!addresses.length) return fail('dns', `${host.fqdn} does not resolve`, 'set the A records npm run deploy printed (docs/dns.md)');
    found.push(`${host.fqdn} → ${addresses.join(', ')}`);
  }
  return ok('dns', found.join(', '));
} // prettier-ignore

export async function checkSsh(target: Target): Promise<CheckResult> {
  const where = `${target.ssh!.user}@${target.ssh!.host}:${target.ssh!.port}`;
  try {
    const out = await onHost(target, 'true');
    if (out.exitCode !== 0) return fail('ssh', `${where}: logged in, but a command failed (exit ${out.exitCode})`, 'npm run ssh to look');
    return ok('ssh', `${where} (host from ${target.source})`);
  } catch (error) {
    if (error instanceof OpsError) return fail('ssh', error.message, 'check --host, your address in vm.sshAllowedCidrs and the key; ssh -v -p PORT USER@HOST shows the whole exchange');
    throw error;
  }
} // prettier-ignore

export async function checkDocker(target: Target): Promise<CheckResult> {
  const out = await onHost(target, `docker version --format '{{.Server.Version}}' && docker ps -q --filter label=${CONTAINER_LABELS.deployment}=${target.config.name} | wc -l`);
  if (out.exitCode !== 0)
    return fail('docker', `Docker does not answer the ${target.ssh?.user ?? 'local'} user: ${out.stderr.trim().split('\n').at(-1) ?? ''}`, 'is the VM done with cloud-init (cloud-init status --wait as the admin user), and the deploy user in the docker group?');
  const [version = '?', running = '0'] = out.stdout.trim().split('\n');
  return ok('docker', `Docker Engine ${version}, ${running.trim()} containers of ${target.config.name} running`);
} // prettier-ignore

export { skip };
