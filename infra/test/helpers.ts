// Stacks for tests: inputs from a configuration with fixed secrets and a fixed app image source
// (so the synthesized JSON names no machine-specific path and no random value), synthesized once
// per test file with cdktf's Testing helpers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testing, testingMatchers } from 'cdktf';
import { loadDeploymentConfig, type DeploymentConfig } from '../../templates/config.ts';
import { SECRET_NAMES, type Secrets } from '../../templates/secrets.ts';
import { REPO_ROOT } from '../../contract/paths.ts';
import { buildStacks, type Stacks } from '../app.ts';
import { deploymentInputs, type AppImageSource, type DeploymentInputs } from '../inputs.ts';
import type { TerraformJson } from '../policy.ts';

export const EXAMPLE_CONFIG = join(REPO_ROOT, 'infra/deploy.config.example.ts');

/** Begins every test secret; written here, so it is in the repository. */
export const TEST_SECRET_PREFIX = 'fixed-test-secret-';

/**
 * Secrets for tests, the same on every run (the snapshots hold no random value), made from a
 * prefix that is in the repository: none of it may reach the synthesized JSON.
 */
export const TEST_SECRETS = Object.fromEntries(
  SECRET_NAMES.map((name) => [name, `${TEST_SECRET_PREFIX}${name}-0123456789`]),
) as Secrets;

/** An app image built from the bundle in the checkout's dist/, with a fixed digest. */
export const TEST_BUILD: AppImageSource = {
  kind: 'build',
  context: join(REPO_ROOT, 'dist'),
  dockerfile: join(REPO_ROOT, 'dist', 'Dockerfile'),
  contextDigest: 'b'.repeat(64),
  version: '0.1.0',
};

export const OUT_DIR = join(REPO_ROOT, 'cdktf.out');

export function testInputs(
  config: DeploymentConfig,
  options: { secrets?: Secrets; appImage?: AppImageSource } = {},
): DeploymentInputs {
  return deploymentInputs({
    config,
    secrets: options.secrets ?? TEST_SECRETS,
    appImage: options.appImage ?? (config.pullAppImage ? { kind: 'pull' } : TEST_BUILD),
    stateDir: join(REPO_ROOT, '.state'),
  });
}

export async function exampleConfig(): Promise<DeploymentConfig> {
  return loadDeploymentConfig(EXAMPLE_CONFIG);
}

export interface Synthesized {
  stacks: Stacks;
  inputs: DeploymentInputs;
  /** Testing.synth output (JSON text, metadata removed) of each stack. */
  azure: string;
  services: string;
  azureJson: TerraformJson;
  servicesJson: TerraformJson;
}

/** Both stacks of a deployment, synthesized with cdktf's Testing helpers. */
export function synthStacks(inputs: DeploymentInputs, outDir = OUT_DIR): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'refresher-infra-test-'));
  try {
    const app = Testing.app({ outdir, stackTraces: false });
    const stacks = buildStacks(app, inputs, outDir);
    // A full synth first: it wires the cross-stack reference (an output of "azure", a remote
    // state lookup in "services") that Testing.synth of one stack alone would not.
    app.synth();
    const azure = Testing.synth(stacks.azure);
    const services = Testing.synth(stacks.services);
    return {
      stacks,
      inputs,
      azure,
      services,
      azureJson: JSON.parse(azure) as TerraformJson,
      servicesJson: JSON.parse(services) as TerraformJson,
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

type Constructor = { tfResourceType: string };

/** Asserts a resource of the type with (at least) these properties, with cdktf's own message. */
export function assertResource(
  synthesized: string,
  type: Constructor,
  properties: Record<string, unknown>,
): void {
  const result = testingMatchers.getToHaveResourceWithProperties()(synthesized, type, properties);
  assert.ok(result.pass, result.message);
}

export function assertDataSource(
  synthesized: string,
  type: Constructor,
  properties: Record<string, unknown>,
): void {
  const result = testingMatchers.getToHaveDataSourceWithProperties()(synthesized, type, properties);
  assert.ok(result.pass, result.message);
}

/** The resources of a type, by name. */
export function resourcesOf(
  json: TerraformJson,
  type: string,
): [string, Record<string, unknown>][] {
  return Object.entries(json.resource?.[type] ?? {});
}

/** A deep copy to break in policy tests. */
export function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
