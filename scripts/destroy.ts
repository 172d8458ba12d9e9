// npm run destroy: removes a deployment: the services stack (the containers, their volumes: the
// database, metrics, certificates), then the azure stack (the VM, its disks, address and DNS
// records). It shows both plans and asks before anything goes; --yes is for scripts that mean it.
//
//   npm run destroy [-- --yes] [--config FILE] [--secrets FILE]
import { parseCommandLine, runCommand } from '../contract/cli.ts';
import { DATABASE_NAME, DATABASE_USER } from '../contract/database.ts';
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

const USAGE = `usage: npm run destroy [-- --yes] [--config FILE] [--secrets FILE]
  --yes       do not ask (for scripts); without a terminal, destroy refuses unless given
  --config    the deployment configuration (default: infra/deploy.config.ts)
  --secrets   the generated secrets (default: .secrets/<name>.json)`;

function log(step: string, line: string): void {
  console.error(`destroy [${step}] ${line}`);
}

/** How to keep the database before it goes (until the ops scripts' backup exists). */
async function backupHint(rollout: Rollout): Promise<string> {
  let address = '<the VM address>';
  try {
    await rollout.azure.init();
    const ip = (await rollout.azure.outputs()).public_ip;
    if (typeof ip === 'string' && ip) address = ip;
  } catch {
    // no azure state to read: the placeholder stays
  }
  return `to keep the data, first: ssh ${DEPLOY_USER}@${address} docker exec postgres pg_dump -U ${DATABASE_USER} -Fc ${DATABASE_NAME} > ${DATABASE_NAME}.dump`;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, {
    yes: { type: 'boolean' },
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
    if (step === 'services') log(step, await backupHint(rollout));
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
