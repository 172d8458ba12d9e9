// What the two stacks are built from, gathered and checked before any construct exists: the
// validated deployment configuration, its generated secrets, every rendered file (cloud-init for
// the VM, the SWAG confs the containers upload), and where the app image comes from (the bundle
// in dist/, or a registry). Nothing here imports cdktf, so a bad input fails fast and cheaply.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RENDERED } from '../contract/paths.ts';
import { loadDeploymentConfig, type DeploymentConfig } from '../templates/config.ts';
import { loadAnyDeploymentConfig, type ContainerAppsConfig } from '../templates/container-apps.ts';
import { grafanaImageContext } from '../templates/grafana.ts';
import type { ContainerAppsInputs } from './stacks/container-apps.ts';
import { renderAll, type RenderedFile } from '../templates/render.ts';
import { loadOrCreateSecrets, type Secrets } from '../templates/secrets.ts';
import { DEFAULT_DIST, readBundleManifest, type BundleManifest } from '../scripts/lib/bundle.ts';
import { REPO_ROOT } from '../contract/paths.ts';
import { defaultConfigFile, defaultSecretsFile } from '../scripts/lib/deployment.ts';

/** How the services stack gets the app image. */
export type AppImageSource =
  | {
      kind: 'build';
      /** The Docker build context (dist/), absolute here; the stack writes it relative. */
      context: string;
      dockerfile: string;
      /** Changes exactly when a file of the context does: the image is rebuilt on the VM. */
      contextDigest: string;
      version: string;
    }
  | { kind: 'pull' };

export interface DeploymentInputs {
  config: DeploymentConfig;
  secrets: Secrets;
  /** Every rendered file by path (templates/render.ts). */
  files: Map<string, RenderedFile>;
  appImage: AppImageSource;
  /** Where Terraform keeps local state (remote state off); relative paths start at the repo. */
  stateDir: string;
}

export class InputError extends Error {
  override name = 'InputError';
}

/** The app image source for a configuration: the bundle in `distDir`, unless it is pulled. */
export function appImageSource(
  config: DeploymentConfig,
  manifest: BundleManifest | undefined,
  distDir: string,
): AppImageSource {
  if (config.pullAppImage) return { kind: 'pull' };
  if (!manifest)
    throw new InputError(
      `no app bundle in ${distDir}: run \`npm run bundle\` first (\`npm run synth\` does), or set pullAppImage with images.app`,
    );
  if (!existsSync(join(distDir, 'Dockerfile')))
    throw new InputError(`${distDir} has no Dockerfile: run \`npm run bundle\` again`);
  return {
    kind: 'build',
    context: resolve(distDir),
    dockerfile: join(resolve(distDir), 'Dockerfile'),
    contextDigest: manifest.sha256,
    version: manifest.version,
  };
}

/** Builds the inputs from values already at hand (tests; synth after loading). */
export function deploymentInputs(options: {
  config: DeploymentConfig;
  secrets: Secrets;
  appImage: AppImageSource;
  stateDir?: string;
}): DeploymentInputs {
  const rendered = renderAll(options.config, options.secrets);
  const files = new Map(rendered.map((file) => [file.path, file]));
  if (!files.has(RENDERED.cloudInit)) throw new InputError('cloud-init was not rendered');
  return {
    config: options.config,
    secrets: options.secrets,
    files,
    appImage: options.appImage,
    stateDir: options.stateDir ?? join(REPO_ROOT, '.state'),
  };
}

/**
 * `npm run deploy -- --staging` (REFRESHER_CERTBOT_STAGING=true): this synth asks Let's Encrypt's
 * staging CA whatever the file says, for a first run that cannot hit the production rate limits.
 * The next deploy without it changes swag's STAGING, and SWAG replaces the staging certificate.
 */
export function withCertbotStaging(
  config: DeploymentConfig,
  env: NodeJS.ProcessEnv,
): DeploymentConfig {
  const value = env.REFRESHER_CERTBOT_STAGING;
  if (value === undefined || value === '') return config;
  if (value !== 'true' && value !== 'false')
    throw new InputError(`REFRESHER_CERTBOT_STAGING must be true or false, not "${value}"`);
  return { ...config, certbot: { ...config.certbot, staging: value === 'true' } };
}

/**
 * The inputs of `npm run synth` and `cdktf synth|deploy`: the configuration file
 * (REFRESHER_DEPLOY_CONFIG, else infra/deploy.config.ts, else the committed example), its secrets
 * (REFRESHER_SECRETS_FILE, else .secrets/<name>.json, generated when missing), the bundle
 * (REFRESHER_DIST, else dist/) and the folder of local state (REFRESHER_STATE_DIR, else .state/).
 */
export async function loadDeploymentInputs(
  env: NodeJS.ProcessEnv = process.env,
): Promise<
  DeploymentInputs & { configFile: string; secretsFile: string; secretsCreated: boolean }
> {
  const configFile = resolve(env.REFRESHER_DEPLOY_CONFIG || defaultConfigFile());
  const config = withCertbotStaging(await loadDeploymentConfig(configFile), env);
  const secretsFile = resolve(env.REFRESHER_SECRETS_FILE || defaultSecretsFile(config));
  const { secrets, created } = loadOrCreateSecrets(secretsFile, env);
  const distDir = resolve(env.REFRESHER_DIST || DEFAULT_DIST);
  const appImage = appImageSource(
    config,
    config.pullAppImage ? undefined : readBundleManifest(distDir),
    distDir,
  );
  const stateDir = env.REFRESHER_STATE_DIR ? resolve(env.REFRESHER_STATE_DIR) : undefined;
  return {
    ...deploymentInputs({ config, secrets, appImage, ...(stateDir ? { stateDir } : {}) }),
    configFile,
    secretsFile,
    secretsCreated: created,
  };
}

/** The inputs of the Container Apps stack: its configuration, secrets and the bundle it builds. */
export function containerAppsInputs(options: {
  config: ContainerAppsConfig;
  secrets: Secrets;
  manifest: BundleManifest | undefined;
  distDir: string;
  stateDir?: string;
}): ContainerAppsInputs {
  const { manifest, distDir } = options;
  // The registry builds the image from the bundle: there is no VM to build it on.
  if (!manifest)
    throw new InputError(
      `no app bundle in ${distDir}: run \`npm run bundle\` first (\`npm run synth\` does); the registry builds the app image from it`,
    );
  if (!existsSync(join(distDir, 'Dockerfile')))
    throw new InputError(`${distDir} has no Dockerfile: run \`npm run bundle\` again`);
  return {
    config: options.config,
    secrets: options.secrets,
    bundle: {
      context: resolve(distDir),
      dockerfile: join(resolve(distDir), 'Dockerfile'),
      contextDigest: manifest.sha256,
      version: manifest.version,
    },
    grafanaContext: grafanaImageContext(options.config),
    stateDir: options.stateDir ?? join(REPO_ROOT, '.state'),
  };
}

/** loadDeploymentInputs for a configuration of either target (npm run synth, the cdktf CLI). */
export async function loadAnyDeploymentInputs(env: NodeJS.ProcessEnv = process.env): Promise<
  (DeploymentInputs | ContainerAppsInputs) & {
    configFile: string;
    secretsFile: string;
    secretsCreated: boolean;
  }
> {
  const configFile = resolve(env.REFRESHER_DEPLOY_CONFIG || defaultConfigFile());
  const config = await loadAnyDeploymentConfig(configFile);
  if (config.target === 'vm') return loadDeploymentInputs(env);
  const secretsFile = resolve(env.REFRESHER_SECRETS_FILE || defaultSecretsFile(config));
  const { secrets, created } = loadOrCreateSecrets(secretsFile, env);
  const distDir = resolve(env.REFRESHER_DIST || DEFAULT_DIST);
  const stateDir = env.REFRESHER_STATE_DIR ? resolve(env.REFRESHER_STATE_DIR) : undefined;
  return {
    ...containerAppsInputs({
      config,
      secrets,
      manifest: readBundleManifest(distDir),
      distDir,
      ...(stateDir ? { stateDir } : {}),
    }),
    configFile,
    secretsFile,
    secretsCreated: created,
  };
}
