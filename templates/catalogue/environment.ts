// Secrets in a service's environment are named, not written: they are filled in only when a
// container's final environment is made (the compose env files, the stack's sensitive variables).
import type { Secrets } from '../secrets.ts';
import type { EnvValue, SecretEnv, ServiceSpec } from './types.ts';

/** A service's environment with the secrets filled in (what the container finally gets). */
export function resolveEnvironment(service: ServiceSpec, secrets: Secrets): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.environment).map(([name, value]) => [
      name,
      resolveEnvValue(value, secrets),
    ]),
  );
}

export function resolveEnvValue(value: EnvValue, secrets: Secrets): string {
  if (typeof value === 'string') return value;
  const secret = value.urlEncode
    ? encodeURIComponent(secrets[value.secret])
    : secrets[value.secret];
  return value.template === undefined ? secret : value.template.replace('{}', secret);
}

export function isSecretEnv(value: EnvValue): value is SecretEnv {
  return typeof value !== 'string';
}
