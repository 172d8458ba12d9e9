// Every rendered file of a deployment, and writing them all or none. `renderAll` is pure: the
// validated configuration and the secrets in, file contents out. `writeRendered` puts them in place
// through a temporary directory next to the target, swapped in with renames, so a failure leaves
// the previous output (or nothing) behind, never half of a new one.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { RENDERED } from '../contract/paths.ts';
import { serviceCatalogue } from './catalogue/index.ts';
import { renderAlertmanagerConfig } from './alertmanager.ts';
import { renderCloudInit } from './cloud-init.ts';
import { renderCompose } from './compose.ts';
import type { DeploymentConfig } from './config.ts';
import { renderGrafana } from './grafana.ts';
import { renderPrometheus } from './prometheus.ts';
import { htpasswdLine, type Secrets } from './secrets.ts';
import { renderSwagGate, renderSwagSites } from './swag.ts';

export interface RenderedFile {
  /** Relative to the output directory, with forward slashes. */
  path: string;
  content: string;
  /** Holds secret values or credentials: mode 0600 and never printed. */
  secret: boolean;
  /** File mode on disk. Files a container's own user reads through a bind mount stay 0644. */
  mode: number;
}

/** All files of a deployment, sorted by path. */
export function renderAll(config: DeploymentConfig, secrets: Secrets): RenderedFile[] {
  const files: RenderedFile[] = [];
  const add = (path: string, content: string, secret = false, mode = secret ? 0o600 : 0o644) =>
    files.push({ path, content, secret, mode });

  for (const [path, content] of renderSwagSites(config)) add(path, content);
  add(RENDERED.swagGate, renderSwagGate());
  // A bcrypt hash, not the password; nginx's worker (SWAG's abc user) must read it: 0644, inside
  // an output directory only its owner may enter.
  add(
    RENDERED.htpasswd,
    htpasswdLine(config.basicAuth.username, secrets.basicAuthPassword),
    true,
    0o644,
  );
  if (config.certbot.validation === 'dns')
    add(
      RENDERED.dnsCredentials(config.certbot.dnsPlugin),
      config.certbot.credentialsFile.content,
      true,
    );
  add(RENDERED.cloudInit, renderCloudInit(config));
  for (const [path, content] of renderCompose(config, secrets))
    add(path, content, path.startsWith('compose/secrets/'));
  for (const [path, content] of renderPrometheus(config)) add(path, content);
  // The receivers' credentials are in it; Alertmanager runs as nobody and reads it through a bind
  // mount, so 0644 inside the private output folder (as the htpasswd).
  add(
    RENDERED.alertmanagerConfig,
    renderAlertmanagerConfig(config),
    config.alerts.receivers.length > 0,
    0o644,
  );
  for (const [path, content] of renderGrafana(config)) add(path, content);

  // Every file a container mounts must have been rendered.
  const paths = new Set(files.map((file) => file.path));
  for (const service of serviceCatalogue(config))
    for (const file of service.files)
      if (!paths.has(file.source))
        throw new Error(`${service.name} needs ${file.source}, which nothing renders`);
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Writes the files into `outDir`, replacing what was there: first everything into a temporary
 * sibling directory, then two renames. The directory is mode 0700 (it holds secrets).
 */
export function writeRendered(outDir: string, files: RenderedFile[]): void {
  const target = resolve(outDir);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = join(parent, `.${basename(target)}.rendering-${tag}`);
  const previous = join(parent, `.${basename(target)}.previous-${tag}`);
  try {
    mkdirSync(staging, { mode: 0o700 });
    for (const file of files) {
      const path = join(staging, file.path);
      if (!path.startsWith(`${staging}/`))
        throw new Error(`refusing to write outside the output: ${file.path}`);
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileSync(path, file.content, { mode: file.mode });
      chmodSync(path, file.mode);
    }
    chmodSync(staging, 0o700);
    if (existsSync(target)) renameSync(target, previous);
    renameSync(staging, target);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (existsSync(previous) && !existsSync(target)) renameSync(previous, target);
    throw error;
  }
  rmSync(previous, { recursive: true, force: true });
}
