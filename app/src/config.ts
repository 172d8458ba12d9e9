// Configuration is read from the environment once, at start, and validated with zod (12-factor).
// A bad value stops the process with a message naming the variable: failing at boot beats
// failing at 3 a.m. on the first task that needs the value. The variables themselves are declared
// in contract/env.ts, where the service catalogue reads them too; the checks that involve more
// than one variable and the error message are the app's own, here.
import type { z } from 'zod';
import { envSchema } from '../../contract/env.ts';
import './zod-words.ts';

export { envSchema };

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
