// Synthesis into cdktf.out/, all or nothing: the app synthesizes into a temporary sibling folder,
// the policies (infra/policy.ts) check both stacks, the secrets' variable file is written beside
// the services stack, and only then does the new folder replace the old one with two renames. A
// configuration error, a policy violation or a crash leaves the previous cdktf.out/ as it was.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { App } from 'cdktf';
import { buildStacks } from './app.ts';
import type { DeploymentInputs } from './inputs.ts';
import { checkAll, PolicyError, type TerraformJson } from './policy.ts';
import { SECRETS_TFVARS } from './stacks/services.ts';

export interface SynthResult {
  outDir: string;
  stacks: { name: string; file: string; resources: number }[];
  resources: number;
}

/** Files Terraform keeps in a stack's folder between runs (providers, their lock): carried over. */
const KEPT = ['.terraform', '.terraform.lock.hcl'];

export function countResources(json: TerraformJson): number {
  return Object.values(json.resource ?? {}).reduce(
    (sum, byName) => sum + Object.keys(byName).length,
    0,
  );
}

export function synthesize(inputs: DeploymentInputs, options: { outDir: string }): SynthResult {
  const target = resolve(options.outDir);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = join(parent, `.${basename(target)}.synth-${tag}`);
  const previous = join(parent, `.${basename(target)}.previous-${tag}`);
  // Local state lives outside cdktf.out/ and holds every secret: a folder only its owner enters.
  if (!inputs.config.azure.remoteState)
    mkdirSync(inputs.stateDir, { recursive: true, mode: 0o700 });
  try {
    mkdirSync(staging, { mode: 0o700 });
    const app = new App({ outdir: staging, stackTraces: false });
    const stacks = buildStacks(app, inputs, target);
    app.synth();

    const results: SynthResult['stacks'] = [];
    const jsons: Record<string, TerraformJson> = {};
    for (const stack of [stacks.azure, stacks.services]) {
      const name = stack.node.id;
      const file = join('stacks', name, 'cdk.tf.json');
      const json = JSON.parse(readFileSync(join(staging, file), 'utf8')) as TerraformJson;
      jsons[name] = json;
      results.push({ name, file, resources: countResources(json) });
    }
    const violations = checkAll({
      azure: jsons.azure!,
      services: jsons.services!,
      config: inputs.config,
      secretValues: Object.values(stacks.services.variableValues),
    });
    if (violations.length) throw new PolicyError(violations);

    const tfvars = join(staging, 'stacks', 'services', SECRETS_TFVARS);
    writeFileSync(tfvars, `${JSON.stringify(stacks.services.variableValues, null, 2)}\n`, {
      mode: 0o600,
    });
    chmodSync(tfvars, 0o600);

    for (const { name } of results) {
      for (const kept of KEPT) {
        const from = join(target, 'stacks', name, kept);
        if (existsSync(from)) renameSync(from, join(staging, 'stacks', name, kept));
      }
    }
    chmodSync(staging, 0o700);
    if (existsSync(target)) renameSync(target, previous);
    renameSync(staging, target);
    rmSync(previous, { recursive: true, force: true });
    return {
      outDir: target,
      stacks: results,
      resources: results.reduce((sum, stack) => sum + stack.resources, 0),
    };
  } catch (error) {
    // Anything carried over goes back before the staging folder goes away.
    if (existsSync(join(staging, 'stacks')) && existsSync(target)) {
      for (const name of readdirSync(join(staging, 'stacks'), { withFileTypes: true })) {
        for (const kept of KEPT) {
          const from = join(staging, 'stacks', name.name, kept);
          const to = join(target, 'stacks', name.name, kept);
          if (existsSync(from) && !existsSync(to)) renameSync(from, to);
        }
      }
    }
    rmSync(staging, { recursive: true, force: true });
    if (existsSync(previous) && !existsSync(target)) renameSync(previous, target);
    throw error;
  }
}
