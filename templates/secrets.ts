// Generated secrets. They are made once per deployment, kept outside the repository (a git-ignored
// file, mode 0600, or environment variables that win over it), and reach the containers only
// through their environment or mounted files. Renderers take them as an argument, so the same
// configuration and the same secrets always give the same bytes.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import bcrypt from 'bcryptjs';
import { z } from 'zod';

export const SECRET_NAMES = [
  /** PostgreSQL's `refresher` role (the app, migrations, the exporter). */
  'postgresPassword',
  /** Grafana's `admin` user. */
  'grafanaAdminPassword',
  /** Signs the web role's session cookies (SESSION_SECRET). */
  'sessionSecret',
  /** The app's first admin (ADMIN_PASSWORD). */
  'appAdminPassword',
  /** The proxy's basic auth in front of the queue board and Prometheus. */
  'basicAuthPassword',
  /** PostgreSQL's read-only `grafana_reader` role, Grafana's PostgreSQL datasource. */
  'grafanaDbPassword',
] as const;
export type SecretName = (typeof SECRET_NAMES)[number];
export type Secrets = Record<SecretName, string>;

/** The environment variable that overrides a secret: postgresPassword -> REFRESHER_POSTGRES_PASSWORD. */
export function secretEnvName(name: SecretName): string {
  return `REFRESHER_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

const secretValue = z
  .string()
  .min(24, 'expected at least 24 characters')
  .max(200, 'expected at most 200 characters')
  // Safe unquoted in env files (compose v1 and v2 read quotes, # and $ differently) and in URLs
  // once percent-encoded.
  .regex(/^[A-Za-z0-9._~+/=:@%^*!,-]+$/, 'expected letters, digits and ._~+/=:@%^*!,- only');

const secretsSchema = z.strictObject(
  Object.fromEntries(SECRET_NAMES.map((name) => [name, secretValue])) as Record<
    SecretName,
    typeof secretValue
  >,
);

export class SecretsError extends Error {
  override name = 'SecretsError';
}

/** Fresh random secrets: 32 random bytes each, base64url (URL- and shell-safe). */
export function generateSecrets(): Secrets {
  return Object.fromEntries(
    SECRET_NAMES.map((name) => [name, randomBytes(32).toString('base64url')]),
  ) as Secrets;
}

function check(values: Record<string, unknown>, source: string): Secrets {
  const parsed = secretsSchema.safeParse(values);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `  ${issue.path.map(String).join('.') || issue.path}: ${issue.message}`,
    );
    throw new SecretsError(`Invalid secrets in ${source} (values not shown):\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** Writes the secrets file: mode 0600, through a temporary file and a rename. */
function writeSecretsFile(file: string, secrets: Secrets): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}

/**
 * The deployment's secrets: read from `file` when it exists, otherwise generated and written there
 * (mode 0600, through a temporary file and a rename). Environment variables named by
 * `secretEnvName()` override single values and are never written to the file.
 */
export function loadOrCreateSecrets(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): { secrets: Secrets; created: boolean } {
  let stored: Secrets;
  let created = false;
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text === undefined) {
    stored = generateSecrets();
    writeSecretsFile(file, stored);
    created = true;
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new SecretsError(`${file} is not JSON`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new SecretsError(`${file} is not a JSON object`);
    // A secret added to SECRET_NAMES after the file was made is generated now and kept; the
    // others are never replaced (a new database password would not match the volume).
    const missing = SECRET_NAMES.filter((name) => !(name in (parsed as object)));
    if (missing.length) {
      const fresh = generateSecrets();
      parsed = {
        ...(parsed as Record<string, unknown>),
        ...Object.fromEntries(missing.map((name) => [name, fresh[name]])),
      };
      stored = check(parsed as Record<string, unknown>, file);
      writeSecretsFile(file, stored);
    } else stored = check(parsed as Record<string, unknown>, file);
  }
  const overrides = Object.fromEntries(
    SECRET_NAMES.flatMap((name) => {
      const value = env[secretEnvName(name)];
      return value ? [[name, value]] : [];
    }),
  );
  return {
    secrets: check({ ...stored, ...overrides }, `${file} and the REFRESHER_* environment`),
    created,
  };
}

/**
 * One htpasswd line with a bcrypt hash (what `htpasswd -B` writes; nginx checks it through the C
 * library's crypt(), which glibc and musl both implement for $2b$). The salt is derived from the
 * password, so the same secrets render the same file; it is still unique per generated password.
 */
export function htpasswdLine(username: string, password: string): string {
  const digest = createHash('sha256').update(`htpasswd salt:${password}`).digest();
  const salt = `$2b$10$${bcrypt.encodeBase64(digest.subarray(0, 16), 16)}`;
  return `${username}:${bcrypt.hashSync(password, salt)}\n`;
}
