// The CDKTF app: `npm run synth` (after `npm run bundle`) and the cdktf CLI (cdktf.json "app")
// run this file. It loads the deployment configuration, its secrets and the bundle's manifest,
// builds the stacks "azure" and "services", checks the policies, and replaces cdktf.out/ (or
// CDKTF_OUTDIR, which the cdktf CLI sets) as a whole. Any bad input stops it with a message that
// names the problem, and cdktf.out/ stays as it was.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DeploymentConfigError } from '../templates/config.ts';
import { SecretsError } from '../templates/secrets.ts';
import { displayPath as shown } from '../contract/cli.ts';
import { REPO_ROOT } from '../contract/paths.ts';
import { InputError, loadAnyDeploymentInputs } from './inputs.ts';
import { PolicyError } from './policy.ts';
import { synthesize } from './synth.ts';

async function main(): Promise<number> {
  const outDir = resolve(process.env.CDKTF_OUTDIR || resolve(REPO_ROOT, 'cdktf.out'));
  try {
    const inputs = await loadAnyDeploymentInputs();
    const result = synthesize(inputs, { outDir });
    console.error(`synth: config ${shown(inputs.configFile)}`);
    console.error(
      `synth: secrets ${shown(inputs.secretsFile)}${inputs.secretsCreated ? ' (generated now)' : ''}`,
    );
    for (const stack of result.stacks)
      console.error(`synth: stack ${stack.name}: ${stack.resources} resources (${stack.file})`);
    console.error(`synth: wrote ${shown(result.outDir)}/`);
    // bench:synth asks for this process's own figures (time since it started, peak memory).
    if (process.env.REFRESHER_SYNTH_REPORT)
      writeFileSync(
        process.env.REFRESHER_SYNTH_REPORT,
        JSON.stringify({
          seconds: performance.now() / 1000,
          maxRssKb: process.resourceUsage().maxRSS,
          resources: result.resources,
          stacks: result.stacks,
        }),
      );
    return 0;
  } catch (error) {
    if (
      error instanceof DeploymentConfigError ||
      error instanceof SecretsError ||
      error instanceof InputError ||
      error instanceof PolicyError
    ) {
      console.error(
        `synth: ${error.message}\nsynth: nothing was written; ${shown(outDir)}/ is unchanged.`,
      );
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main();
