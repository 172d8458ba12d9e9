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
import { checkContainerApps } from './policy-container-apps.ts';
import {
  ContainerAppsStack,
  GRAFANA_CONTEXT_DIR,
  type ContainerAppsInputs,
} from './stacks/container-apps.ts';
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

/** What one target's synthesis produces inside the staging folder. */
interface TargetSynth {
  /** Stack names and the variable values synth writes beside each. */
  stacks: { name: string; variableValues: Record<string, string> }[];
  /** The policies of the target, over each stack's JSON by name. */
  violations(jsons: Record<string, TerraformJson>): string[];
  /** Files written beside a stack's JSON (build contexts), relative to stacks/. */
  extraFiles: { path: string; content: string }[];
}

function vmTarget(app: App, inputs: DeploymentInputs, target: string): TargetSynth {
  const stacks = buildStacks(app, inputs, target);
  return {
    stacks: [
      { name: stacks.azure.node.id, variableValues: {} },
      { name: stacks.services.node.id, variableValues: stacks.services.variableValues },
    ],
    violations: (jsons) =>
      checkAll({
        azure: jsons.azure!,
        services: jsons.services!,
        config: inputs.config,
        secretValues: Object.values(stacks.services.variableValues),
      }),
    extraFiles: [],
  };
}

function containerAppsTarget(app: App, inputs: ContainerAppsInputs, target: string): TargetSynth {
  const stack = new ContainerAppsStack(app, inputs, target);
  const name = stack.node.id;
  return {
    stacks: [{ name, variableValues: stack.variableValues }],
    violations: (jsons) => checkContainerApps(jsons[name]!, Object.values(stack.variableValues)),
    extraFiles: [...inputs.grafanaContext].map(([path, content]) => ({
      path: join(name, GRAFANA_CONTEXT_DIR, path),
      content,
    })),
  };
}

export function isContainerAppsInputs(
  inputs: DeploymentInputs | ContainerAppsInputs,
): inputs is ContainerAppsInputs {
  return inputs.config.target === 'container-apps';
}

export function synthesize(
  inputs: DeploymentInputs | ContainerAppsInputs,
  options: { outDir: string },
): SynthResult {
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
    const synth = isContainerAppsInputs(inputs)
      ? containerAppsTarget(app, inputs, target)
      : vmTarget(app, inputs, target);
    app.synth();

    const results: SynthResult['stacks'] = [];
    const jsons: Record<string, TerraformJson> = {};
    for (const { name } of synth.stacks) {
      const file = join('stacks', name, 'cdk.tf.json');
      const json = JSON.parse(readFileSync(join(staging, file), 'utf8')) as TerraformJson;
      jsons[name] = json;
      results.push({ name, file, resources: countResources(json) });
    }
    const violations = synth.violations(jsons);
    if (violations.length) throw new PolicyError(violations);

    for (const { name, variableValues } of synth.stacks) {
      if (!Object.keys(variableValues).length) continue;
      const tfvars = join(staging, 'stacks', name, SECRETS_TFVARS);
      writeFileSync(tfvars, `${JSON.stringify(variableValues, null, 2)}\n`, { mode: 0o600 });
      chmodSync(tfvars, 0o600);
    }
    for (const file of synth.extraFiles) {
      const path = join(staging, 'stacks', file.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.content);
    }

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
