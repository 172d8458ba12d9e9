// What a container of the deployment is, as both the compose renderer and the CDKTF services
// stack read it.
import type { AppEnvName } from '../../contract/env.ts';
import type { SecretName } from '../secrets.ts';

/** A value of the environment that holds a secret, alone or inside a template such as a URL. */
export interface SecretEnv {
  secret: SecretName;
  /** `{}` marks where the secret goes; without a template the value is the secret itself. */
  template?: string;
  /** Percent-encode the secret (inside URLs). */
  urlEncode?: boolean;
}
export type EnvValue = string | SecretEnv;

/** The environment of an app role's container: only variables the app reads (contract/env.ts). */
export type AppEnvironment = Partial<Record<AppEnvName, EnvValue>>;

export interface HealthCheck {
  /** Docker's exec form: ["CMD", …] or ["CMD-SHELL", "…"]. */
  test: string[];
  intervalSeconds: number;
  timeoutSeconds: number;
  retries: number;
  startPeriodSeconds: number;
}

/** A rendered file a container needs, by its path in the render output. */
export interface ConfigFile {
  /** Path relative to the render output directory (see templates/render.ts). */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  /** Holds a secret: mode 0600 on disk, never printed. */
  secret?: boolean;
}

export interface ServiceSpec {
  /** Container name, service name and host name on the network. */
  name: string;
  /** What it is for, one line (compose comments, docs). */
  description: string;
  image: string;
  /**
   * Replaces the image's entry point (swag: the certificate gate, which ends by exec'ing SWAG's
   * own /init); absent: the image's own.
   */
  entrypoint?: string[];
  /** Arguments to the image's entry point; absent: the image's own command. */
  command?: string[];
  environment: Record<string, EnvValue>;
  /**
   * A variable set to the deployment's public address where it has one: the services stack sets
   * it to the azure stack's public IP; the compose file leaves it out (a laptop has none).
   */
  publicAddressEnv?: string;
  /**
   * Ports published on the VM's public address (swag only). Everything else is reached over the
   * containers' network by service name.
   */
  publicPorts: { host: number; container: number }[];
  /** Ports published on 127.0.0.1 by the compose file only, for a laptop's browser. */
  localPorts: { host: number; container: number }[];
  /** Ports the container listens on inside the network, by purpose (Prometheus scrapes `metrics`). */
  listens: Partial<Record<'http' | 'https' | 'metrics' | 'postgres' | 'redis', number>>;
  /** Named volumes (persistent) and read-only host paths (exporters). */
  volumes: { volume: string; target: string }[];
  hostMounts: { source: string; target: string; readOnly: true }[];
  files: ConfigFile[];
  /** Absent only where the image has nothing to run a check with; `healthNote` says why. */
  healthcheck?: HealthCheck;
  healthNote?: string;
  dependsOn: { service: string; condition: 'started' | 'healthy' | 'completed' }[];
  memoryLimitMb: number;
  /**
   * Seconds Docker waits after SIGTERM before it kills the container; absent: Docker's 10 s.
   * The app roles need longer to drain (contract/shutdown.ts).
   */
  stopGraceSeconds?: number;
  /** One-shot containers (migrations) run to completion and are not restarted. */
  restart: 'unless-stopped' | 'no';
  logging: { driver: 'json-file'; maxSizeMb: number; maxFiles: number };
  /** A fixed address on the network (swag: the app trusts exactly this proxy). */
  ipv4Address?: string;
  /** Extra settings some images need. */
  user?: string;
  privileged?: boolean;
  /** Linux capabilities added to Docker's default set (swag: NET_ADMIN, for fail2ban's bans). */
  capabilities: string[];
  devices?: string[];
  /** Compose profile: started only when asked for (swag on a laptop). */
  composeProfile?: string;
}
