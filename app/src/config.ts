// Configuration is read from the environment once, at start, and validated with zod (12-factor).
// A bad value stops the process with a message naming the variable: failing at boot beats
// failing at 3 a.m. on the first task that needs the value. The variables themselves are declared
// in contract/env.ts, where the service catalogue reads them too; the checks that involve more
// than one variable and the error message are the app's own, here.
import type { z } from 'zod';
import { databaseTls } from '../../contract/database-tls.ts';
import { envSchema } from '../../contract/env.ts';
import { caBundleProblem } from './tls.ts';
import './zod-words.ts';

export { envSchema };

function urlOrNull(value: unknown): URL | null {
  try {
    return typeof value === 'string' ? new URL(value) : null;
  } catch {
    return null;
  }
}

/**
 * The CA files the environment names, each readable and holding certificates. Read at start
 * rather than at the first connection: a wrong path is then a configuration error naming its
 * variable, not a retry loop of failed handshakes. Values the schema refused are left to it.
 */
function caFileIssues(env: Partial<Config>): Array<{ name: string; message: string }> {
  const issues: Array<{ name: string; message: string }> = [];
  const database = urlOrNull(env.DATABASE_URL);
  const settings = database && databaseTls(database);
  const rootCert = settings && 'tls' in settings ? settings.tls.rootCertFile : undefined;
  const rootCertProblem = rootCert && caBundleProblem(rootCert);
  if (rootCertProblem)
    issues.push({ name: 'DATABASE_URL', message: `sslrootcert: ${rootCertProblem}` });

  const redis = urlOrNull(env.REDIS_URL);
  if (redis && env.REDIS_CA_FILE?.startsWith('/')) {
    const problem =
      redis.protocol === 'rediss:'
        ? caBundleProblem(env.REDIS_CA_FILE)
        : 'set, but REDIS_URL is redis:// (no TLS): use rediss://, or unset REDIS_CA_FILE';
    if (problem) issues.push({ name: 'REDIS_CA_FILE', message: problem });
  }
  return issues;
}

/** The whole environment, with the checks that involve more than one variable. */
const environment = envSchema.superRefine((env, ctx) => {
  if (Boolean(env.ADMIN_USERNAME) !== Boolean(env.ADMIN_PASSWORD)) {
    const missing = env.ADMIN_USERNAME ? 'ADMIN_PASSWORD' : 'ADMIN_USERNAME';
    ctx.addIssue({
      code: 'custom',
      path: [missing],
      message: 'missing: set ADMIN_USERNAME and ADMIN_PASSWORD together, or neither',
    });
  }
  for (const { name, message } of caFileIssues(env)) {
    ctx.addIssue({ code: 'custom', path: [name], message });
  }
});

export type Config = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** What an error message may show of a value: never a secret, nor the password in a URL. */
function shownValue(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (/PASSWORD|SECRET|TOKEN|KEY/.test(name)) return `${value.length} characters, not shown`;
  return JSON.stringify(value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@'));
}

/** Parses the environment; throws a ConfigError naming every variable at fault. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as in most shells' `VAR= cmd` idiom.
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = environment.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      const shown = shownValue(name, env[name]);
      return `  ${name}: ${issue.message}${shown === undefined ? '' : ` (got ${shown})`}`;
    });
    throw new ConfigError(`Invalid environment:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** The seeded speed test interval, read when migration 0003 runs (see SPEEDTEST_INTERVAL_MINUTES). */
export function seededSpeedtestIntervalMinutes(env: NodeJS.ProcessEnv = process.env): number {
  return envSchema.shape.SPEEDTEST_INTERVAL_MINUTES.parse(env.SPEEDTEST_INTERVAL_MINUTES);
}

export function healthcheckUrl(config: Config): string {
  return config.HEALTHCHECK_URL ?? `http://127.0.0.1:${config.PORT}/healthz`;
}
