// What `npm run deploy` and `npm run destroy` share: the configuration and where everything is,
// the synth they start with, the two stacks' folders, the confirmation before anything is lost,
// and the failure that names the step, what failed and what to do next.
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { join, resolve } from 'node:path';
import { $ } from 'zx';
import { UsageError } from '../../contract/cli.ts';
import { REPO_ROOT } from '../../contract/paths.ts';
import { loadDeploymentConfig, type DeploymentConfig } from '../../templates/config.ts';
import { defaultConfigFile } from './deployment.ts';
import { countsLine, describeChanges, TerraformStack, type PlanSummary } from './terraform.ts';

/** A deploy or destroy that stopped: the step, what went wrong, and the person's next action. */
export class RolloutError extends Error {
  override name = 'RolloutError';
  readonly step: string;
  readonly next: string;
  constructor(step: string, what: string, next: string) {
    super(what);
    this.step = step;
    this.next = next;
  }
}

export interface Rollout {
  config: DeploymentConfig;
  configFile: string;
  /** The environment synth and Terraform run with: which files, where the output goes. */
  env: NodeJS.ProcessEnv;
  outDir: string;
  azure: TerraformStack;
  services: TerraformStack;
}

/** Loads the configuration the way synth will (--config, else REFRESHER_DEPLOY_CONFIG, else …). */
export async function openRollout(options: {
  config?: string;
  secrets?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<Rollout> {
  const base = options.env ?? process.env;
  const configFile = resolve(
    options.config ?? (base.REFRESHER_DEPLOY_CONFIG || defaultConfigFile()),
  );
  const env: NodeJS.ProcessEnv = {
    ...base,
    REFRESHER_DEPLOY_CONFIG: configFile,
    ...(options.secrets ? { REFRESHER_SECRETS_FILE: resolve(options.secrets) } : {}),
  };
  const outDir = resolve(env.CDKTF_OUTDIR || join(REPO_ROOT, 'cdktf.out'));
  const config = await loadDeploymentConfig(configFile);
  return {
    config,
    configFile,
    env,
    outDir,
    azure: new TerraformStack('azure', join(outDir, 'stacks', 'azure'), env),
    services: new TerraformStack('services', join(outDir, 'stacks', 'services'), env),
  };
}

/** Bundle and synth, as `npm run synth` does, into the rollout's output folder. */
export async function synth(rollout: Rollout, extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
  await synthStacks({ ...rollout.env, ...extraEnv }, [rollout.azure, rollout.services]);
}

/** Bundle and synth with this environment; each of `stacks` must then have its JSON. */
export async function synthStacks(env: NodeJS.ProcessEnv, stacks: TerraformStack[]): Promise<void> {
  const dist = env.REFRESHER_DIST ? ['--out', resolve(env.REFRESHER_DIST)] : [];
  const node = ['node', '--import', 'tsx'];
  for (const [what, args] of [
    ['bundle', [...node, 'scripts/bundle.ts', '--quiet', ...dist]],
    ['synth', [...node, 'infra/main.ts']],
  ] as const) {
    const result = await $({
      cwd: REPO_ROOT,
      env,
      nothrow: true,
      stdio: ['ignore', 'inherit', 'inherit'],
    })`${args}`;
    if (result.exitCode !== 0)
      throw new RolloutError(
        'synth',
        `${what} failed (exit ${result.exitCode}): its message is above`,
        'fix what it names and run the same command again; nothing in Azure was touched',
      );
  }
  for (const stack of stacks)
    if (!existsSync(join(stack.dir, 'cdk.tf.json')))
      throw new RolloutError(
        'synth',
        `synth wrote no ${stack.name} stack in ${stack.dir}`,
        'run npm run synth and read its output',
      );
}

/** Resource types whose loss loses data or names: a plan that deletes one asks first. */
const PRECIOUS = new Set([
  'azurerm_resource_group',
  'azurerm_linux_virtual_machine',
  'azurerm_managed_disk',
  'azurerm_public_ip',
  'azurerm_dns_zone',
  'docker_volume',
  // Container Apps: the data, the secrets and the images.
  'azurerm_postgresql_flexible_server',
  'azurerm_managed_redis',
  'azurerm_key_vault',
  'azurerm_container_registry',
]);

export function preciousLosses(summary: PlanSummary): string[] {
  return summary.changes
    .filter((change) => change.actions.includes('delete') && PRECIOUS.has(change.type))
    .map((change) => change.address);
}

export function printPlan(log: (line: string) => void, stack: string, summary: PlanSummary): void {
  log(`${stack}: ${summary.changed ? countsLine(summary) : 'no changes'}`);
  for (const line of describeChanges(summary)) log(line);
  if (summary.outputs.length) log(`  outputs that change: ${summary.outputs.join(', ')}`);
}

/**
 * Asks the person to type "yes" (a terminal), or goes on with --yes; without a terminal and
 * without --yes it stops, so a script never destroys by accident.
 */
export async function confirm(
  question: string,
  options: { yes: boolean; step: string },
): Promise<void> {
  if (options.yes) return;
  if (!process.stdin.isTTY)
    throw new RolloutError(
      options.step,
      `${question} (no terminal to ask on)`,
      'run it in a terminal and answer, or add --yes when a script means it',
    );
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${question} Type yes to go on: `);
    if (answer.trim() !== 'yes')
      throw new RolloutError(options.step, 'not confirmed', 'nothing was changed by this step');
  } finally {
    prompt.close();
  }
}

/** A duration flag in minutes (or seconds): a positive number, or a usage error naming the flag. */
export function positiveNumber(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0)
    throw new UsageError(`--${flag} must be a positive number, not "${value}"`);
  return number;
}
