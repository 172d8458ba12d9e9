// npm run destroy: removes a deployment: the services stack (the containers, their volumes: the
// database, metrics, certificates), then the azure stack (the VM, its disks, address and DNS
// records). It shows both plans and asks before anything goes; --yes is for scripts that mean it.
//
//   npm run destroy [-- --yes] [--backup] [--config FILE] [--secrets FILE]
import { parseCommandLine, runCommand } from '../contract/cli.ts';
import { REPO_ROOT } from '../contract/paths.ts';
import { $ } from 'zx';
import { DEPLOY_USER } from '../templates/ssh.ts';
import { DeploymentConfigError } from '../templates/config.ts';
import {
  confirm,
  openRollout,
  printPlan,
  RolloutError,
  synth,
  type Rollout,
} from './lib/rollout.ts';
import { TerraformError } from './lib/terraform.ts';

const USAGE = `usage: npm run destroy [-- --yes] [--backup] [--config FILE] [--secrets FILE]
  --yes       do not ask (for scripts); without a terminal, destroy refuses unless given
  --backup    npm run backup first (into backups/); if it fails, nothing is destroyed
  --config    the deployment configuration (default: infra/deploy.config.ts)
  --secrets   the generated secrets (default: .secrets/<name>.json)`;

function log(step: string, line: string): void {
  console.error(`destroy [${step}] ${line}`);
}

/** The VM's address from the azure stack's state, when there is one to read. */
async function vmAddress(rollout: Rollout): Promise<string | undefined> {
  try {
    await rollout.azure.init();
    const ip = (await rollout.azure.outputs()).public_ip;
    return typeof ip === 'string' && ip ? ip : undefined;
  } catch {
    return undefined;
  }
}

/** npm run backup against the VM, with its output shown; a failure stops the destroy. */
async function backUp(rollout: Rollout, address: string): Promise<void> {
  const result = await $({ cwd: REPO_ROOT, env: rollout.env, nothrow: true, stdio: ['ignore', 'inherit', 'inherit'] })`${[process.execPath, '--import', 'tsx', 'scripts/backup.ts', '--config', rollout.configFile, '--host', `${DEPLOY_USER}@${address}`]}`; // prettier-ignore
  if (result.exitCode !== 0)
    throw new RolloutError(
      'services',
      `the backup failed (exit ${result.exitCode}, see above): nothing was destroyed`,
      'fix what the backup names (npm run doctor checks SSH and Docker), or destroy without --backup',
    );
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, {
    yes: { type: 'boolean' },
    backup: { type: 'boolean' },
    config: { type: 'string' },
    secrets: { type: 'string' },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const yes = values.yes ?? false;
  const rollout = await openRollout({ config: values.config, secrets: values.secrets });
  log('synth', `bundle and synth into ${rollout.outDir} (Terraform destroys what the state holds)`);
  await synth(rollout);

  // The containers go first: their provider reaches the VM that the azure stack removes.
  for (const step of ['services', 'azure'] as const) {
    const stack = rollout[step];
    await stack.init();
    const summary = await stack.plan({ destroy: true });
    printPlan((line) => log(step, line), step, summary);
    if (!summary.changed) {
      stack.forgetPlan();
      continue;
    }
    if (step === 'services') {
      const address = await vmAddress(rollout);
      if (values.backup && address) await backUp(rollout, address);
      else if (values.backup)
        throw new RolloutError('services', 'no VM address in the azure stack to back up from: nothing was destroyed', 'npm run backup -- --host deploy@<address> first, then npm run destroy without --backup');
      else log(step, `to keep the data, first: npm run backup${address ? ` -- --host ${DEPLOY_USER}@${address}` : ''} (or npm run destroy -- --backup)`);
    } // prettier-ignore
    try {
      await confirm(
        step === 'services'
          ? `Destroy every container and volume of ${rollout.config.name}: the database (every speed test and task result), metrics and certificates? There is no undo.`
          : `Destroy the VM, its disks, address and DNS records of ${rollout.config.name}?`,
        { yes, step },
      );
    } catch (error) {
      stack.forgetPlan();
      throw error;
    }
    log(step, 'terraform apply of that plan');
    await stack.apply();
  }
  console.error(`destroy: ${rollout.config.name} is gone`);
  return 0;
}

await runCommand('destroy', USAGE, () => main(process.argv.slice(2)), {
  expected: [RolloutError, TerraformError, DeploymentConfigError],
  describe: (error) => {
    if (error instanceof RolloutError)
      return `step ${error.step} failed: ${error.message}\ndestroy: next: ${error.next}`;
    if (error instanceof TerraformError)
      return `step ${error.stackName} (terraform ${error.step}) failed: ${error.message}\ndestroy: next: fix what Terraform names, then npm run destroy again (what was destroyed stays destroyed)`;
    return `step check failed: ${error.message}\ndestroy: next: fix the configuration`;
  },
});
