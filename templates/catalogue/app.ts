// The app's roles, one container each, all from the one app image (app/Dockerfile). Their
// environment is typed by the app's own schema (contract/env.ts): a variable the app does not
// read does not compile.
import { DEFAULT_QUEUE_PREFIX } from '../../contract/queues.ts';
import { OOKLA_BIN_IN_IMAGE } from '../../contract/paths.ts';
import { PORTS } from '../../contract/ports.ts';
import { APP_STOP_GRACE_SECONDS } from '../../contract/shutdown.ts';
import { networkPlan, type DeploymentConfig } from '../config.ts';
import { DATABASE_URL, REDIS_URL } from './data.ts';
import { defineService, health, nodeCheck, type ServiceDefinition } from './define.ts';
import { image } from './images.ts';
import type { AppEnvironment, ServiceSpec } from './types.ts';

const WEB_URL = `http://web:${PORTS.web}`;

/** What every long-running role reads (app/src/config.ts); each role adds its own. */
const ROLE_ENV: AppEnvironment = {
  LOG_LEVEL: 'info',
  DATABASE_URL,
  DATABASE_CREATE: 'false', // the postgres image creates the database (POSTGRES_DB)
  REDIS_URL,
  QUEUE_PREFIX: DEFAULT_QUEUE_PREFIX,
  METRICS_HOST: '0.0.0.0',
  METRICS_PORT: String(PORTS.metrics),
};

type RoleDefinition = Omit<
  ServiceDefinition,
  'image' | 'command' | 'environment' | 'memoryLimitMb'
> & {
  role: string;
  environment: AppEnvironment;
  memoryLimitMb?: number;
};

function appRole(config: DeploymentConfig, { role, ...definition }: RoleDefinition): ServiceSpec {
  return defineService({
    image: image(config, 'app'),
    command: [role],
    listens: { metrics: PORTS.metrics },
    // Every 10 s rather than 30: Docker reports a (re)started role healthy only at its first
    // check, which upgrade and restore wait for one role at a time; the check is one local GET.
    healthcheck: health(nodeCheck(`http://127.0.0.1:${PORTS.metrics}/metrics`), 20, 10),
    dependsOn: [
      { service: 'migrate', condition: 'completed' },
      { service: 'redis', condition: 'healthy' },
    ],
    memoryLimitMb: 384,
    stopGraceSeconds: APP_STOP_GRACE_SECONDS,
    ...definition,
  });
}

export function migrateService(config: DeploymentConfig): ServiceSpec {
  return appRole(config, {
    name: 'migrate',
    description: 'One-shot: creates and migrates the schema, then exits',
    role: 'migrate',
    environment: {
      LOG_LEVEL: 'info',
      DATABASE_URL,
      DATABASE_CREATE: 'false',
      // Seeds "Process Speed Test" on a fresh database; afterwards the portal owns the schedule.
      SPEEDTEST_INTERVAL_MINUTES: String(config.speedtest.intervalMinutes),
    },
    listens: {},
    healthcheck: undefined,
    healthNote: 'one-shot: it exits when the migrations are applied',
    dependsOn: [{ service: 'postgres', condition: 'healthy' }],
    memoryLimitMb: 256,
    restart: 'no',
  });
}

export function webService(config: DeploymentConfig): ServiceSpec {
  const net = networkPlan(config);
  return appRole(config, {
    name: 'web',
    description: 'The web role: admin portal, API, queue board, speed test target',
    role: 'web',
    environment: {
      ...ROLE_ENV,
      HOST: '0.0.0.0',
      PORT: String(PORTS.web),
      // Believe X-Forwarded-For/-Proto from swag's fixed address only, never from clients.
      TRUST_PROXY: net.swagAddress,
      // The worker's self-test comes straight from its container (the worker's SPEEDTEST_SELF_URL)
      // with an address from the network's dynamic range: exempt from the target's per-client
      // limits, so it measures at full speed. Internet clients come through swag, and the app
      // sees their own addresses (TRUST_PROXY); swag's .10 and the gateway's .1 are outside the
      // range too, so nothing from outside is exempt.
      SPEEDTEST_TARGET_UNLIMITED_CIDRS: `127.0.0.0/8,::1/128,${net.ipRange}`,
      PUBLIC_STATUS_PAGE: String(config.speedtest.publicStatusPage),
      SESSION_SECRET: { secret: 'sessionSecret' },
      ADMIN_USERNAME: config.admin.username,
      ADMIN_PASSWORD: { secret: 'appAdminPassword' },
      ALERTMANAGER_URL: `http://alertmanager:${PORTS.alertmanager}`,
    },
    listens: { http: PORTS.web, metrics: PORTS.metrics },
    localPorts: [{ host: 3000, container: PORTS.web }],
    healthcheck: health(nodeCheck(`http://127.0.0.1:${PORTS.web}/healthz`), 20),
  });
}

export function workerService(config: DeploymentConfig): ServiceSpec {
  const { speedtest } = config;
  return appRole(config, {
    name: 'worker',
    description: 'The worker role: runs tasks and speed tests (one at a time)',
    role: 'worker',
    environment: {
      ...ROLE_ENV,
      SPEEDTEST_ENGINE: speedtest.engine,
      SPEEDTEST_SERVERS: speedtest.servers.join(','),
      // The worker is not the web role: it reaches the built-in target and /healthz by name.
      SPEEDTEST_SELF_URL: `${WEB_URL}/speedtest/`,
      OOKLA_ACCEPT_LICENSE: String(speedtest.acceptOoklaLicense),
      ...(speedtest.acceptOoklaLicense ? { OOKLA_SPEEDTEST_BIN: OOKLA_BIN_IN_IMAGE } : {}),
      HEALTHCHECK_URL: `${WEB_URL}/healthz`,
      RESULT_RETENTION_DAYS: String(config.retention.resultsDays),
    },
    dependsOn: [
      { service: 'migrate', condition: 'completed' },
      { service: 'redis', condition: 'healthy' },
      { service: 'web', condition: 'healthy' },
    ],
    memoryLimitMb: 512,
  });
}

export function schedulerService(config: DeploymentConfig): ServiceSpec {
  return appRole(config, {
    name: 'scheduler',
    description: 'The scheduler role: periodic tasks in PostgreSQL -> BullMQ',
    role: 'scheduler',
    environment: { ...ROLE_ENV, HEALTHCHECK_URL: `${WEB_URL}/healthz` },
    memoryLimitMb: 256,
  });
}
