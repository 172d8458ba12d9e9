// Monitoring: Grafana (and the read-only database role it queries with), Prometheus, Alertmanager
// and the exporters Prometheus scrapes.
import { DASHBOARD_NAMES } from '../../contract/dashboards.ts';
import {
  DATABASE_NAME,
  DATABASE_USER,
  GRAFANA_READER,
  GRAFANA_READER_PASSWORD_ENV,
} from '../../contract/database.ts';
import { MOUNTED, RENDERED } from '../../contract/paths.ts';
import { PORTS } from '../../contract/ports.ts';
import { dockerDataRoot, type DeploymentConfig } from '../config.ts';
import { REDIS_URL } from './data.ts';
import { defineService, health, wgetCheck } from './define.ts';
import { image } from './images.ts';
import type { ServiceSpec } from './types.ts';

export function grafanaDbRoleService(config: DeploymentConfig): ServiceSpec {
  return defineService({
    name: 'grafana-db-role',
    description:
      'One-shot: creates or updates the read-only PostgreSQL role Grafana queries with, then exits',
    image: image(config, 'postgres'),
    // The image's entry point runs any command other than postgres as it is.
    command: [
      'psql',
      '-v',
      'ON_ERROR_STOP=1',
      '-v',
      `reader=${GRAFANA_READER}`,
      '-f',
      MOUNTED.grafanaReaderRole,
    ],
    environment: {
      PGHOST: 'postgres',
      PGPORT: String(PORTS.postgres),
      PGUSER: DATABASE_USER,
      PGDATABASE: DATABASE_NAME,
      PGPASSWORD: { secret: 'postgresPassword' },
      [GRAFANA_READER_PASSWORD_ENV]: { secret: 'grafanaDbPassword' },
    },
    files: [{ source: RENDERED.grafanaReaderRole, target: MOUNTED.grafanaReaderRole }],
    healthNote: 'one-shot: it exits when the role and its grants are in place',
    // After the migrations: it grants on the app's tables.
    dependsOn: [{ service: 'migrate', condition: 'completed' }],
    memoryLimitMb: 64,
    restart: 'no',
  });
}

export function grafanaService(config: DeploymentConfig): ServiceSpec {
  return defineService({
    name: 'grafana',
    description: 'Grafana: dashboards over PostgreSQL and Prometheus',
    image: image(config, 'grafana'),
    environment: {
      GF_SERVER_ROOT_URL: `https://${config.subdomains.grafana}.${config.domain}/`,
      GF_SECURITY_ADMIN_USER: 'admin',
      GF_SECURITY_ADMIN_PASSWORD: { secret: 'grafanaAdminPassword' },
      GF_SECURITY_COOKIE_SECURE: 'true',
      GF_USERS_ALLOW_SIGN_UP: 'false',
      GF_ANALYTICS_REPORTING_ENABLED: 'false',
      GF_ANALYTICS_CHECK_FOR_UPDATES: 'false',
      GF_DEFAULT_TIMEZONE: config.timezone,
      // Expanded by the datasource provisioning file ($__env{GRAFANA_DB_PASSWORD}).
      [GRAFANA_READER_PASSWORD_ENV]: { secret: 'grafanaDbPassword' },
    },
    localPorts: [{ host: 3001, container: PORTS.grafana }],
    listens: { http: PORTS.grafana },
    volumes: [{ volume: 'grafana-data', target: '/var/lib/grafana' }],
    files: [
      { source: RENDERED.grafanaDatasources, target: MOUNTED.grafanaDatasources },
      { source: RENDERED.grafanaDashboardProvider, target: MOUNTED.grafanaDashboardProvider },
      ...DASHBOARD_NAMES.map((name) => ({
        source: RENDERED.grafanaDashboard(name),
        target: `${MOUNTED.grafanaDashboards}/${name}.json`,
      })),
    ],
    healthcheck: health(wgetCheck(`http://127.0.0.1:${PORTS.grafana}/api/health`), 30),
    dependsOn: [
      { service: 'postgres', condition: 'healthy' },
      { service: 'grafana-db-role', condition: 'completed' },
    ],
    memoryLimitMb: 384,
  });
}

export function alertmanagerService(config: DeploymentConfig): ServiceSpec {
  return defineService({
    name: 'alertmanager',
    description: 'Alertmanager: groups, silences and sends the alerts Prometheus fires',
    image: image(config, 'alertmanager'),
    command: [
      `--config.file=${MOUNTED.alertmanagerConfig}`,
      '--storage.path=/alertmanager',
      // One instance: no gossip port for a cluster that does not exist.
      '--cluster.listen-address=',
    ],
    localPorts: [{ host: 9093, container: PORTS.alertmanager }],
    listens: { http: PORTS.alertmanager, metrics: PORTS.alertmanager },
    // Silences and the notification log survive a restart.
    volumes: [{ volume: 'alertmanager-data', target: '/alertmanager' }],
    files: [
      {
        source: RENDERED.alertmanagerConfig,
        target: MOUNTED.alertmanagerConfig,
        // Holds the receivers' credentials when there are any.
        secret: config.alerts.receivers.length > 0,
      },
    ],
    healthcheck: health(wgetCheck(`http://127.0.0.1:${PORTS.alertmanager}/-/healthy`), 20),
    memoryLimitMb: 128,
  });
}

export function prometheusService(config: DeploymentConfig): ServiceSpec {
  return defineService({
    name: 'prometheus',
    description: 'Prometheus: scrapes every role and exporter, evaluates the alert rules',
    image: image(config, 'prometheus'),
    command: [
      `--config.file=${MOUNTED.prometheusConfig}`,
      '--storage.tsdb.path=/prometheus',
      `--storage.tsdb.retention.time=${config.retention.prometheusDays}d`,
      '--web.enable-lifecycle',
      // Links in alerts ("source") point where a person can open them.
      ...(config.subdomains.prometheus
        ? [`--web.external-url=https://${config.subdomains.prometheus}.${config.domain}/`]
        : []),
    ],
    localPorts: [{ host: 9090, container: PORTS.prometheus }],
    // Prometheus scrapes itself too (templates/prometheus.ts: every `metrics` port is a job).
    listens: { http: PORTS.prometheus, metrics: PORTS.prometheus },
    volumes: [{ volume: 'prometheus-data', target: '/prometheus' }],
    files: [
      { source: RENDERED.prometheusConfig, target: MOUNTED.prometheusConfig },
      { source: RENDERED.prometheusRules, target: MOUNTED.prometheusRules },
    ],
    healthcheck: health(wgetCheck(`http://127.0.0.1:${PORTS.prometheus}/-/healthy`), 30),
    dependsOn: [{ service: 'alertmanager', condition: 'started' }],
    memoryLimitMb: 1024,
  });
}

export function nodeExporterService(config: DeploymentConfig): ServiceSpec {
  return defineService({
    name: 'node-exporter',
    description: 'Host metrics: CPU, memory, disks, network of the VM',
    image: image(config, 'nodeExporter'),
    command: ['--path.rootfs=/host'],
    listens: { metrics: PORTS.nodeExporter },
    hostMounts: [{ source: '/', target: '/host', readOnly: true }],
    healthcheck: health(wgetCheck(`http://127.0.0.1:${PORTS.nodeExporter}/metrics`)),
    memoryLimitMb: 64,
  });
}

export function cadvisorService(config: DeploymentConfig): ServiceSpec {
  return defineService({
    name: 'cadvisor',
    description: 'Container metrics: CPU, memory, restarts of every container',
    image: image(config, 'cadvisor'),
    command: ['--docker_only=true', '--housekeeping_interval=15s'],
    listens: { metrics: PORTS.cadvisor },
    hostMounts: [
      { source: '/', target: '/rootfs', readOnly: true },
      { source: '/var/run', target: '/var/run', readOnly: true },
      { source: '/sys', target: '/sys', readOnly: true },
      // Docker's data root, wherever cloud-init put it, at the path `docker info` reports.
      { source: dockerDataRoot(config), target: dockerDataRoot(config), readOnly: true },
      { source: '/dev/disk', target: '/dev/disk', readOnly: true },
    ],
    healthcheck: health(wgetCheck(`http://127.0.0.1:${PORTS.cadvisor}/healthz`)),
    memoryLimitMb: 256,
    privileged: true,
    devices: ['/dev/kmsg'],
  });
}

export function postgresExporterService(config: DeploymentConfig): ServiceSpec {
  return defineService({
    name: 'postgres-exporter',
    description: 'PostgreSQL metrics: connections, database size, locks',
    image: image(config, 'postgresExporter'),
    environment: {
      DATA_SOURCE_NAME: {
        secret: 'postgresPassword',
        template: `postgresql://${DATABASE_USER}:{}@postgres:${PORTS.postgres}/${DATABASE_NAME}?sslmode=disable`,
        urlEncode: true,
      },
    },
    listens: { metrics: PORTS.postgresExporter },
    healthcheck: health(wgetCheck(`http://127.0.0.1:${PORTS.postgresExporter}/`)),
    dependsOn: [{ service: 'postgres', condition: 'healthy' }],
    memoryLimitMb: 64,
  });
}

export function redisExporterService(config: DeploymentConfig): ServiceSpec {
  return defineService({
    name: 'redis-exporter',
    description: 'Redis metrics: memory against maxmemory, clients, keys',
    image: image(config, 'redisExporter'),
    environment: { REDIS_ADDR: REDIS_URL },
    listens: { metrics: PORTS.redisExporter },
    healthNote: 'the image holds only the exporter binary: no shell, no client to check with',
    dependsOn: [{ service: 'redis', condition: 'healthy' }],
    memoryLimitMb: 64,
  });
}
