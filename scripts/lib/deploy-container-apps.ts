// npm run deploy for a configuration with target 'container-apps' (V2, docs/v2.md): one stack,
// so one plan and one apply. The apply itself builds the app image in the registry, runs the
// migrations job before any app gets a new revision, and binds each name's managed certificate
// (infra/constructs/az-step.ts); all of that needs the Azure CLI signed in, which is checked first.
// The steps print as the VM's deploy does; a failure names the step and what to do.
import { join, resolve } from 'node:path';
import { $, which } from 'zx';
import { REPO_ROOT } from '../../contract/paths.ts';
import { publicHosts } from '../../templates/config.ts';
import type { ContainerAppsConfig } from '../../templates/container-apps.ts';
import { isReservedDomain } from './preflight.ts';
import { confirm, preciousLosses, printPlan, RolloutError, synthStacks } from './rollout.ts';
import { TerraformStack } from './terraform.ts';

export const CA_STEPS = ['check', 'synth', 'container-apps', 'names'] as const;
type Step = (typeof CA_STEPS)[number];

function log(step: Step, line: string): void {
  console.error(`deploy [${CA_STEPS.indexOf(step) + 1}/${CA_STEPS.length} ${step}] ${line}`);
}

/** The committed example of this target: read and synthesized, never deployed as it is. */
export const CA_EXAMPLE_CONFIG = join(REPO_ROOT, 'infra/deploy.config.container-apps.example.ts');

async function check(config: ContainerAppsConfig, configFile: string): Promise<void> {
  const problems: string[] = [];
  if (resolve(configFile) === CA_EXAMPLE_CONFIG)
    problems.push(
      'this is the committed example: copy it and make it yours: cp infra/deploy.config.container-apps.example.ts infra/deploy.config.ts',
    );
  if (isReservedDomain(config.domain))
    problems.push(
      `domain: ${config.domain} is reserved for examples: set a domain (or subdomain) of yours`,
    );
  if (!(await which('terraform', { nothrow: true })))
    problems.push(
      'terraform is not installed: https://developer.hashicorp.com/terraform/install (1.5 or later)',
    );
  if (!(await which('az', { nothrow: true })))
    problems.push(
      'the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli; the apply builds images and runs jobs with it',
    );
  else {
    const account = await $({
      nothrow: true,
      quiet: true,
    })`az account show --output json`;
    const { name = '', id = '' } =
      account.exitCode === 0 ? (JSON.parse(account.stdout) as { name?: string; id?: string }) : {};
    const wanted = process.env.ARM_SUBSCRIPTION_ID;
    if (account.exitCode !== 0)
      problems.push(
        'the Azure CLI is not signed in: run az login (and az account set --subscription …)',
      );
    else if (wanted && wanted !== id)
      // Terraform would build in one subscription while the CLI steps act in another.
      problems.push(
        `ARM_SUBSCRIPTION_ID is ${wanted}, but the Azure CLI uses ${id} (${name}): az account set --subscription ${wanted}, or unset ARM_SUBSCRIPTION_ID`,
      );
    else log('check', `Azure subscription: ${name} (${id})`);
  }
  if (problems.length)
    throw new RolloutError(
      'check',
      `${configFile} cannot be deployed yet:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      'fix these and run npm run deploy again; nothing was created',
    );
  log(
    'check',
    `${configFile}: ${config.name} on Container Apps, ${publicHosts(config)
      .map((h) => h.fqdn)
      .join(', ')}`,
  );
}

export async function deployContainerApps(options: {
  config: ContainerAppsConfig;
  configFile: string;
  secrets?: string;
  plan: boolean;
  yes: boolean;
}): Promise<number> {
  const { config, configFile } = options;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REFRESHER_DEPLOY_CONFIG: configFile,
    ...(options.secrets ? { REFRESHER_SECRETS_FILE: resolve(options.secrets) } : {}),
  };
  const outDir = resolve(env.CDKTF_OUTDIR || join(REPO_ROOT, 'cdktf.out'));
  const stack = new TerraformStack('container-apps', join(outDir, 'stacks', 'container-apps'), env);
  await check(config, configFile);

  log('synth', `bundle and synth into ${outDir}`);
  await synthStacks(env, [stack]);

  await stack.init();
  const plan = await stack.plan();
  printPlan((line) => log('container-apps', line), 'container-apps', plan);
  if (options.plan) {
    stack.forgetPlan();
    console.error('deploy: --plan: nothing was changed');
    return 0;
  }
  // The saved plan holds the secrets: it never outlives this run unapplied.
  if (!plan.changed) stack.forgetPlan();
  else {
    const losses = preciousLosses(plan);
    if (losses.length)
      try {
        await confirm(`This plan deletes ${losses.join(', ')}, and what they hold.`, {
          yes: options.yes,
          step: 'container-apps',
        });
      } catch (error) {
        stack.forgetPlan();
        throw error;
      }
    log(
      'container-apps',
      'apply (images, migrations, apps, certificates: a first one takes 20 to 40 minutes)',
    );
    await stack.apply();
  }
  const outputs = await stack.outputs();
  if (Array.isArray(outputs.name_servers))
    log(
      'names',
      `the zone ${config.domain} answers once its parent delegates to: ${outputs.name_servers.join(' ')}`,
    );
  for (const host of publicHosts(config)) {
    const url = outputs[`url-${host.site}`];
    if (typeof url === 'string') log('names', `${host.site}: ${url}/`);
  }
  console.error('deploy: done');
  return 0;
}
