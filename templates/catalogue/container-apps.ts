// The app's roles as Azure Container Apps run them (V2, docs/v2.md): the same image and roles as
// the VM's catalogue (app.ts), with the environment Container Apps needs. Values are typed by the
// app's own schema (contract/env.ts), as on the VM; a secret is named by its Key Vault secret,
// which the app reads through its managed identity.
import { OOKLA_BIN_IN_IMAGE } from '../../contract/paths.ts';
import { PORTS } from '../../contract/ports.ts';
import { APP_STOP_GRACE_SECONDS } from '../../contract/shutdown.ts';
import type { AppEnvName } from '../../contract/env.ts';
import { vnetPlan, type ContainerAppsConfig } from '../container-apps.ts';

/**
 * BullMQ's keys as one Redis hash tag: Azure Managed Redis is clustered, and a BullMQ script
 * touches several keys of a queue at once, which a cluster allows only within one hash slot.
 */
export const CONTAINER_APPS_QUEUE_PREFIX = '{refresher}';

/** The Redis list of a queue's waiting jobs (BullMQ's `wait` key), which KEDA's scaler reads. */
export function waitingListKey(queue: string): string {
  return `${CONTAINER_APPS_QUEUE_PREFIX}:${queue}:wait`;
}

/** The Key Vault secrets of a deployment, by the name apps refer to them with. */
export const VAULT_SECRETS = [
  'database-url',
  'redis-url',
  'redis-password',
  'session-secret',
  'admin-password',
  'postgres-password',
  'grafana-admin-password',
  'grafana-db-password',
] as const;
export type VaultSecret = (typeof VAULT_SECRETS)[number];

export type CaEnvValue = string | { vault: VaultSecret };
export type CaAppEnvironment = Partial<Record<AppEnvName, CaEnvValue>>;

export type CaRole = 'web' | 'worker' | 'scheduler' | 'migrate';

export interface CaRoleSpec {
  role: CaRole;
  /** The container app's (or job's) name in the environment: other apps reach it by it. */
  appName: string;
  description: string;
  environment: CaAppEnvironment;
  /** Seconds between SIGTERM and SIGKILL: the role's whole shutdown fits in it. */
  terminationGraceSeconds: number;
}

export function caAppName(config: ContainerAppsConfig, role: string): string {
  // Container app names: lower case, at most 32 characters.
  return `${config.name}-${role}`.slice(0, 32);
}

const COMMON: CaAppEnvironment = {
  LOG_LEVEL: 'info',
  DATABASE_URL: { vault: 'database-url' },
  // The server exists before any app: Terraform creates the database.
  DATABASE_CREATE: 'false',
  REDIS_URL: { vault: 'redis-url' },
  QUEUE_PREFIX: CONTAINER_APPS_QUEUE_PREFIX,
  // The health probes and the replica's Prometheus agent reach the metrics port on the replica's
  // own address; no ingress leads to it.
  METRICS_HOST: '0.0.0.0',
  METRICS_PORT: String(PORTS.metrics),
};

/**
 * The roles of a Container Apps deployment, migrate first. `webOrigin` is where the worker and
 * the scheduler reach the web role (its ingress, known once Azure made it; by default its name
 * inside the environment).
 */
export function containerAppRoles(
  config: ContainerAppsConfig,
  webOrigin = `http://${caAppName(config, 'web')}`,
): CaRoleSpec[] {
  const web = caAppName(config, 'web');
  const subnet = vnetPlan(config).apps;
  const { speedtest } = config;
  const grace = APP_STOP_GRACE_SECONDS;
  return [
    {
      role: 'migrate',
      appName: caAppName(config, 'migrate'),
      description: 'A job: migrates the schema before new revisions take traffic',
      environment: {
        LOG_LEVEL: 'info',
        DATABASE_URL: { vault: 'database-url' },
        DATABASE_CREATE: 'false',
        SPEEDTEST_INTERVAL_MINUTES: String(speedtest.intervalMinutes),
      },
      terminationGraceSeconds: grace,
    },
    {
      role: 'web',
      appName: web,
      description: 'The web role: admin portal, API, queue board, speed test target',
      environment: {
        ...COMMON,
        HOST: '0.0.0.0',
        PORT: String(PORTS.web),
        // The environment's ingress (Envoy) runs in the apps subnet and appends the client's
        // address to X-Forwarded-For: believe that hop only.
        TRUST_PROXY: subnet,
        // The worker's self-test comes through the public ingress like any client, within the
        // limits one honest test fits in: nothing but the replica itself is exempt.
        SPEEDTEST_TARGET_UNLIMITED_CIDRS: '127.0.0.0/8,::1/128',
        // No proxy in front to hide it: the target is served only when it may be public.
        SPEEDTEST_TARGET_ENABLED: String(speedtest.publicTarget),
        PUBLIC_STATUS_PAGE: String(speedtest.publicStatusPage),
        SESSION_SECRET: { vault: 'session-secret' },
        ADMIN_USERNAME: config.admin.username,
        ADMIN_PASSWORD: { vault: 'admin-password' },
      },
      terminationGraceSeconds: grace,
    },
    {
      role: 'worker',
      appName: caAppName(config, 'worker'),
      description: 'The worker role: runs tasks and speed tests (one at a time, across replicas)',
      environment: {
        ...COMMON,
        SPEEDTEST_ENGINE: speedtest.engine,
        SPEEDTEST_SERVERS: speedtest.servers.join(','),
        ...(speedtest.publicTarget ? { SPEEDTEST_SELF_URL: `${webOrigin}/speedtest/` } : {}),
        OOKLA_ACCEPT_LICENSE: String(speedtest.acceptOoklaLicense),
        ...(speedtest.acceptOoklaLicense ? { OOKLA_SPEEDTEST_BIN: OOKLA_BIN_IN_IMAGE } : {}),
        HEALTHCHECK_URL: `${webOrigin}/healthz`,
        RESULT_RETENTION_DAYS: String(config.retention.resultsDays),
      },
      terminationGraceSeconds: grace,
    },
    {
      role: 'scheduler',
      appName: caAppName(config, 'scheduler'),
      description: 'The scheduler role: periodic tasks in PostgreSQL -> BullMQ',
      environment: { ...COMMON, HEALTHCHECK_URL: `${webOrigin}/healthz` },
      terminationGraceSeconds: grace,
    },
  ];
}
