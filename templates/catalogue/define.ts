// How a service is written: only what is particular to it; the defaults every container shares
// (no ports, no mounts, restart unless stopped, rotated logs, no added capabilities) are filled in
// here.
import type { HealthCheck, ServiceSpec } from './types.ts';

const LOGGING = { driver: 'json-file', maxSizeMb: 10, maxFiles: 3 } as const;

type Defaulted =
  | 'environment'
  | 'publicPorts'
  | 'localPorts'
  | 'listens'
  | 'volumes'
  | 'hostMounts'
  | 'files'
  | 'dependsOn'
  | 'restart'
  | 'logging'
  | 'capabilities';

export type ServiceDefinition = Omit<ServiceSpec, Defaulted> &
  Partial<Pick<ServiceSpec, Defaulted>>;

export function defineService(definition: ServiceDefinition): ServiceSpec {
  const { name, description, image, ...rest } = definition;
  return {
    name,
    description,
    image,
    environment: {},
    publicPorts: [],
    localPorts: [],
    listens: {},
    volumes: [],
    hostMounts: [],
    files: [],
    dependsOn: [],
    restart: 'unless-stopped',
    logging: LOGGING,
    capabilities: [],
    ...rest,
  };
}

export function health(test: string[], startPeriodSeconds = 10, intervalSeconds = 30): HealthCheck {
  return { test, intervalSeconds, timeoutSeconds: 5, retries: 3, startPeriodSeconds };
}

/** A GET that fails on an HTTP error, with the busybox wget the small images carry. */
export function wgetCheck(url: string): string[] {
  return ['CMD', 'wget', '-q', '-O', '/dev/null', url];
}

/** A GET that fails on an HTTP error, with the image's own Node (the app image has no curl). */
export function nodeCheck(url: string): string[] {
  return [
    'CMD',
    'node',
    '-e',
    `fetch(${JSON.stringify(url)}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
  ];
}
