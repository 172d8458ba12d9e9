// What the render and stack scripts share: which configuration file, which secrets file, and
// rendering a deployment into a directory (validated in full before anything is written).
import { displayPath as shown } from '../../contract/cli.ts';
import { REPO_ROOT } from '../../contract/paths.ts';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDeploymentConfig, type DeploymentConfig } from '../../templates/config.ts';
import { renderAll, writeRendered, type RenderedFile } from '../../templates/render.ts';
import { loadOrCreateSecrets } from '../../templates/secrets.ts';

/** infra/deploy.config.ts when a person has made one, else the committed example. */
export function defaultConfigFile(): string {
  const own = join(REPO_ROOT, 'infra/deploy.config.ts');
  return existsSync(own) ? own : join(REPO_ROOT, 'infra/deploy.config.example.ts');
}

/** Generated secrets of a deployment, outside git: .secrets/<name>.json. */
export function defaultSecretsFile(config: Pick<DeploymentConfig, 'name'>): string {
  return join(REPO_ROOT, '.secrets', `${config.name}.json`);
}

export interface RenderResult {
  config: DeploymentConfig;
  configFile: string;
  secretsFile: string;
  secretsCreated: boolean;
  outDir: string;
  files: RenderedFile[];
}

export async function renderDeployment(options: {
  configFile: string;
  outDir: string;
  secretsFile?: string;
}): Promise<RenderResult> {
  const config = await loadDeploymentConfig(options.configFile);
  const secretsFile = resolve(options.secretsFile ?? defaultSecretsFile(config));
  const { secrets, created } = loadOrCreateSecrets(secretsFile);
  const files = renderAll(config, secrets);
  writeRendered(options.outDir, files);
  return {
    config,
    configFile: shown(resolve(options.configFile)),
    secretsFile: shown(secretsFile),
    secretsCreated: created,
    outDir: shown(resolve(options.outDir)),
    files,
  };
}
