// The service catalogue: every container of a deployment, once. The compose renderer
// (templates/compose.ts) and the CDKTF services stack (infra/stacks/services.ts) both read this
// list, so a container cannot differ between a laptop and the VM except where the list says so
// (`localPorts`, used by compose only).
import packageJson from '../package.json' with { type: 'json' };
import { networkPlan, type DeploymentConfig, type ImageName } from './config.ts';
import type { SecretName, Secrets } from './secrets.ts';

/** Versions pinned and tried together; `images` in the deployment configuration overrides them. */
export const DEFAULT_IMAGES: Readonly<Record<ImageName, string>> = {
  /** Built on the VM (or the laptop) from app/Dockerfile; nothing is pulled. */
  app: `refresher-app:${packageJson.version}`,
  swag: 'lscr.io/linuxserver/swag:4.1.1',
  postgres: 'postgres:17.6-bookworm',
  redis: 'redis:7.4.5-bookworm',
  grafana: 'grafana/grafana:12.1.1',
  prometheus: 'prom/prometheus:v3.5.0',
  nodeExporter: 'prom/node-exporter:v1.9.1',
  cadvisor: 'gcr.io/cadvisor/cadvisor:v0.52.1',
  postgresExporter: 'quay.io/prometheuscommunity/postgres-exporter:v0.17.1',
  redisExporter: 'oliver006/redis_exporter:v1.74.0',
  alertmanager: 'prom/alertmanager:v0.28.1',
};

/** A value of the environment that holds a secret, alone or inside a template such as a URL. */
export interface SecretEnv {
  secret: SecretName;
  /** `{}` marks where the secret goes; without a template the value is the secret itself. */
  template?: string;
  /** Percent-encode the secret (inside URLs). */
  urlEncode?: boolean;
}
export type EnvValue = string | SecretEnv;

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
  /** Arguments to the image's entry point; absent: the image's own command. */
  command?: string[];
  environment: Record<string, EnvValue>;
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
  /** One-shot containers (migrations) run to completion and are not restarted. */
  restart: 'unless-stopped' | 'no';
  logging: { driver: 'json-file'; maxSizeMb: number; maxFiles: number };
  /** A fixed address on the network (swag: the app trusts exactly this proxy). */
  ipv4Address?: string;
  /** Extra settings some images need. */
  user?: string;
  privileged?: boolean;
  devices?: string[];
  /** Compose profile: started only when asked for (swag on a laptop). */
  composeProfile?: string;
}

/** Named volumes of the deployment (persistent data). */
export const VOLUMES = [
  'swag-config',
  'postgres-data',
  'redis-data',
  'grafana-data',
  'prometheus-data',
  'alertmanager-data',
] as const;

export const PORTS = {
  web: 3000,
  metrics: 9464,
  postgres: 5432,
  redis: 6379,
  grafana: 3000,
  prometheus: 9090,
  nodeExporter: 9100,
  cadvisor: 8080,
  postgresExporter: 9187,
  redisExporter: 9121,
  alertmanager: 9093,
} as const;

const LOGGING = { driver: 'json-file', maxSizeMb: 10, maxFiles: 3 } as const;

function health(test: string[], startPeriodSeconds = 10, intervalSeconds = 30): HealthCheck {
  return { test, intervalSeconds, timeoutSeconds: 5, retries: 3, startPeriodSeconds };
}

/** A GET that fails on an HTTP error, with the busybox wget the small images carry. */
function wgetCheck(url: string): string[] {
  return ['CMD', 'wget', '-q', '-O', '/dev/null', url];
}

/** A GET that fails on an HTTP error, with the image's own Node (the app image has no curl). */
function nodeCheck(url: string): string[] {
  return [
    'CMD',
    'node',
    '-e',
    `fetch(${JSON.stringify(url)}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
  ];
}

/** Where the Ookla CLI lives in the app image when the licence is accepted (issue 6's Dockerfile). */
export const OOKLA_BIN_IN_IMAGE = '/usr/local/bin/speedtest';

/** Paths of the rendered files, relative to the render output directory. */
export const RENDERED = {
  swagSite: (subdomain: string) => `swag/proxy-confs/${subdomain}.subdomain.conf`,
  htpasswd: 'swag/refresher.htpasswd',
  dnsCredentials: (plugin: string) =>
    `swag/dns-conf/${plugin}.${plugin === 'google' ? 'json' : 'ini'}`,
  cloudInit: 'cloud-init/user-data.yaml',
  compose: 'compose/docker-compose.yml',
  composeEnv: (service: string) => `compose/secrets/${service}.env`,
  // Monitoring (templates/prometheus.ts, templates/alertmanager.ts, templates/grafana.ts).
  prometheusConfig: 'prometheus/prometheus.yml',
  prometheusRules: 'prometheus/rules/refresher.rules.yml',
  alertmanagerConfig: 'alertmanager/alertmanager.yml',
  grafanaDatasources: 'grafana/provisioning/datasources/refresher.yaml',
  grafanaDashboardProvider: 'grafana/provisioning/dashboards/refresher.yaml',
  grafanaDashboard: (name: string) => `grafana/dashboards/${name}.json`,
  grafanaReaderRole: 'postgres/grafana-reader-role.sql',
} as const;

/** Where the monitoring files are mounted in the stock images. */
export const MOUNTED = {
  prometheusConfig: '/etc/prometheus/prometheus.yml',
  prometheusRules: '/etc/prometheus/rules/refresher.rules.yml',
  alertmanagerConfig: '/etc/alertmanager/alertmanager.yml',
  grafanaDatasources: '/etc/grafana/provisioning/datasources/refresher.yaml',
  grafanaDashboardProvider: '/etc/grafana/provisioning/dashboards/refresher.yaml',
  grafanaDashboards: '/etc/grafana/dashboards',
  grafanaReaderRole: '/refresher/grafana-reader-role.sql',
} as const;

/** The read-only PostgreSQL role Grafana queries with (grafana/reader-role.sql). */
export const GRAFANA_READER = 'grafana_reader';
/** The grafana container's variable holding that role's password ($__env{…} in provisioning). */
export const GRAFANA_READER_PASSWORD_ENV = 'GRAFANA_DB_PASSWORD';
/** The dashboards provisioned from grafana/dashboards (file names without .json). */
export const DASHBOARD_FILES = [
  'speedtester',
  'tasks',
  'host',
  'containers',
  'postgresql',
  'redis',
] as const;

export function image(config: DeploymentConfig, name: ImageName): string {
  return config.images[name] ?? DEFAULT_IMAGES[name];
}

/** Every container of the deployment, in start order. */
export function serviceCatalogue(config: DeploymentConfig): ServiceSpec[] {
  const net = networkPlan(config);
  const app = image(config, 'app');
  const databaseUrl: SecretEnv = {
    secret: 'postgresPassword',
    template: `postgres://refresher:{}@postgres:${PORTS.postgres}/refresher`,
    urlEncode: true,
  };
  const webUrl = `http://web:${PORTS.web}`;
  // What every app role reads (app/src/config.ts); each role adds its own below.
  const appEnv: Record<string, EnvValue> = {
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    DATABASE_CREATE: 'false', // the postgres image creates the database (POSTGRES_DB)
    REDIS_URL: `redis://redis:${PORTS.redis}`,
    QUEUE_PREFIX: 'refresher',
    METRICS_HOST: '0.0.0.0',
    METRICS_PORT: String(PORTS.metrics),
  };
  const speedtestEnv: Record<string, EnvValue> = {
    SPEEDTEST_ENGINE: config.speedtest.engine,
    SPEEDTEST_SERVERS: config.speedtest.servers.join(','),
    // The worker is not the web role: it reaches the built-in target and /healthz by name.
    SPEEDTEST_SELF_URL: `${webUrl}/speedtest/`,
    OOKLA_ACCEPT_LICENSE: String(config.speedtest.acceptOoklaLicense),
    ...(config.speedtest.acceptOoklaLicense ? { OOKLA_SPEEDTEST_BIN: OOKLA_BIN_IN_IMAGE } : {}),
  };
  const appService = (
    name: string,
    description: string,
    role: string,
    extra: Partial<ServiceSpec>,
  ): ServiceSpec => ({
    name,
    description,
    image: app,
    command: [role],
    environment: appEnv,
    publicPorts: [],
    localPorts: [],
    listens: { metrics: PORTS.metrics },
    volumes: [],
    hostMounts: [],
    files: [],
    healthcheck: health(nodeCheck(`http://127.0.0.1:${PORTS.metrics}/metrics`), 20),
    dependsOn: [
      { service: 'migrate', condition: 'completed' },
      { service: 'redis', condition: 'healthy' },
    ],
    memoryLimitMb: 384,
    restart: 'unless-stopped',
    logging: LOGGING,
    ...extra,
  });
  const siteFiles: ConfigFile[] = [
    config.subdomains.speedtester,
    config.subdomains.grafana,
    config.subdomains.prometheus,
  ]
    .filter((sub): sub is string => sub !== undefined)
    .map((sub) => ({
      source: RENDERED.swagSite(sub),
      target: `/config/nginx/proxy-confs/${sub}.subdomain.conf`,
    }));
  const certbot = config.certbot;

  return [
    {
      name: 'postgres',
      description: 'PostgreSQL: speed tests, periodic tasks, task results, users, sessions',
      image: image(config, 'postgres'),
      environment: {
        POSTGRES_USER: 'refresher',
        POSTGRES_DB: 'refresher',
        POSTGRES_PASSWORD: { secret: 'postgresPassword' },
      },
      publicPorts: [],
      localPorts: [],
      listens: { postgres: PORTS.postgres },
      volumes: [{ volume: 'postgres-data', target: '/var/lib/postgresql/data' }],
      hostMounts: [],
      files: [],
      healthcheck: health(['CMD', 'pg_isready', '-U', 'refresher', '-d', 'refresher'], 30, 10),
      dependsOn: [],
      memoryLimitMb: 1024,
      restart: 'unless-stopped',
      logging: LOGGING,
    },
    {
      name: 'redis',
      description: 'Redis: the BullMQ queues (persistent, never evicts)',
      image: image(config, 'redis'),
      // hz 100: BullMQ's delayed jobs wake up on Redis timers (p99 lateness 164 ms at the default
      // hz 10, under 100 ms at 100). noeviction: BullMQ must never lose a key to memory pressure;
      // maxmemory below the container limit turns pressure into errors instead of an OOM kill.
      command: [
        'redis-server',
        '--appendonly', 'yes',
        '--appendfsync', 'everysec',
        '--hz', '100',
        '--maxmemory', '192mb',
        '--maxmemory-policy', 'noeviction',
      ], // prettier-ignore
      environment: {},
      publicPorts: [],
      localPorts: [],
      listens: { redis: PORTS.redis },
      volumes: [{ volume: 'redis-data', target: '/data' }],
      hostMounts: [],
      files: [],
      healthcheck: health(['CMD', 'redis-cli', 'ping'], 10, 10),
      dependsOn: [],
      memoryLimitMb: 256,
      restart: 'unless-stopped',
      logging: LOGGING,
    },
    {
      ...appService(
        'migrate',
        'One-shot: creates and migrates the schema, then exits',
        'migrate',
        {},
      ),
      environment: {
        LOG_LEVEL: 'info',
        DATABASE_URL: databaseUrl,
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
    },
    appService('web', 'The web role: admin portal, API, queue board, speed test target', 'web', {
      environment: {
        ...appEnv,
        HOST: '0.0.0.0',
        PORT: String(PORTS.web),
        // Believe X-Forwarded-For/-Proto from swag's fixed address only, never from clients.
        TRUST_PROXY: net.swagAddress,
        SESSION_SECRET: { secret: 'sessionSecret' },
        ADMIN_USERNAME: config.admin.username,
        ADMIN_PASSWORD: { secret: 'appAdminPassword' },
      },
      listens: { http: PORTS.web, metrics: PORTS.metrics },
      localPorts: [{ host: 3000, container: PORTS.web }],
      healthcheck: health(nodeCheck(`http://127.0.0.1:${PORTS.web}/healthz`), 20),
    }),
    appService('worker', 'The worker role: runs tasks and speed tests (one at a time)', 'worker', {
      environment: {
        ...appEnv,
        ...speedtestEnv,
        HEALTHCHECK_URL: `${webUrl}/healthz`,
        RESULT_RETENTION_DAYS: String(config.retention.resultsDays),
      },
      dependsOn: [
        { service: 'migrate', condition: 'completed' },
        { service: 'redis', condition: 'healthy' },
        { service: 'web', condition: 'healthy' },
      ],
      memoryLimitMb: 512,
    }),
    appService(
      'scheduler',
      'The scheduler role: periodic tasks in PostgreSQL -> BullMQ',
      'scheduler',
      {
        environment: { ...appEnv, HEALTHCHECK_URL: `${webUrl}/healthz` },
        memoryLimitMb: 256,
      },
    ),
    {
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
        PGUSER: 'refresher',
        PGDATABASE: 'refresher',
        PGPASSWORD: { secret: 'postgresPassword' },
        [GRAFANA_READER_PASSWORD_ENV]: { secret: 'grafanaDbPassword' },
      },
      publicPorts: [],
      localPorts: [],
      listens: {},
      volumes: [],
      hostMounts: [],
      files: [{ source: RENDERED.grafanaReaderRole, target: MOUNTED.grafanaReaderRole }],
      healthNote: 'one-shot: it exits when the role and its grants are in place',
      // After the migrations: it grants on the app's tables.
      dependsOn: [{ service: 'migrate', condition: 'completed' }],
      memoryLimitMb: 64,
      restart: 'no',
      logging: LOGGING,
    },
    {
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
      publicPorts: [],
      localPorts: [{ host: 3001, container: PORTS.grafana }],
      listens: { http: PORTS.grafana },
      volumes: [{ volume: 'grafana-data', target: '/var/lib/grafana' }],
      hostMounts: [],
      files: [
        { source: RENDERED.grafanaDatasources, target: MOUNTED.grafanaDatasources },
        { source: RENDERED.grafanaDashboardProvider, target: MOUNTED.grafanaDashboardProvider },
        ...DASHBOARD_FILES.map((name) => ({
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
      restart: 'unless-stopped',
      logging: LOGGING,
    },
    {
      name: 'alertmanager',
      description: 'Alertmanager: groups, silences and sends the alerts Prometheus fires',
      image: image(config, 'alertmanager'),
      command: [
        `--config.file=${MOUNTED.alertmanagerConfig}`,
        '--storage.path=/alertmanager',
        // One instance: no gossip port for a cluster that does not exist.
        '--cluster.listen-address=',
      ],
      environment: {},
      publicPorts: [],
      localPorts: [{ host: 9093, container: PORTS.alertmanager }],
      listens: { http: PORTS.alertmanager, metrics: PORTS.alertmanager },
      // Silences and the notification log survive a restart.
      volumes: [{ volume: 'alertmanager-data', target: '/alertmanager' }],
      hostMounts: [],
      files: [
        {
          source: RENDERED.alertmanagerConfig,
          target: MOUNTED.alertmanagerConfig,
          // Holds the receivers' credentials when there are any.
          secret: config.alerts.receivers.length > 0,
        },
      ],
      healthcheck: health(wgetCheck(`http://127.0.0.1:${PORTS.alertmanager}/-/healthy`), 20),
      dependsOn: [],
      memoryLimitMb: 128,
      restart: 'unless-stopped',
      logging: LOGGING,
    },
    {
      name: 'prometheus',
      description: 'Prometheus: scrapes every role and exporter, evaluates the alert rules',
      image: image(config, 'prometheus'),
      command: [
        '--config.file=/etc/prometheus/prometheus.yml',
        '--storage.tsdb.path=/prometheus',
        `--storage.tsdb.retention.time=${config.retention.prometheusDays}d`,
        '--web.enable-lifecycle',
        // Links in alerts ("source") point where a person can open them.
        ...(config.subdomains.prometheus
          ? [`--web.external-url=https://${config.subdomains.prometheus}.${config.domain}/`]
          : []),
      ],
      environment: {},
      publicPorts: [],
      localPorts: [{ host: 9090, container: PORTS.prometheus }],
      // Prometheus scrapes itself too (templates/prometheus.ts: every `metrics` port is a job).
      listens: { http: PORTS.prometheus, metrics: PORTS.prometheus },
      volumes: [{ volume: 'prometheus-data', target: '/prometheus' }],
      hostMounts: [],
      files: [
        { source: RENDERED.prometheusConfig, target: MOUNTED.prometheusConfig },
        { source: RENDERED.prometheusRules, target: MOUNTED.prometheusRules },
      ],
      healthcheck: health(wgetCheck(`http://127.0.0.1:${PORTS.prometheus}/-/healthy`), 30),
      dependsOn: [{ service: 'alertmanager', condition: 'started' }],
      memoryLimitMb: 1024,
      restart: 'unless-stopped',
      logging: LOGGING,
    },
    {
      name: 'node-exporter',
      description: 'Host metrics: CPU, memory, disks, network of the VM',
      image: image(config, 'nodeExporter'),
      command: ['--path.rootfs=/host'],
      environment: {},
      publicPorts: [],
      localPorts: [],
      listens: { metrics: PORTS.nodeExporter },
      volumes: [],
      hostMounts: [{ source: '/', target: '/host', readOnly: true }],
      files: [],
      healthcheck: health(wgetCheck(`http://127.0.0.1:${PORTS.nodeExporter}/metrics`)),
      dependsOn: [],
      memoryLimitMb: 64,
      restart: 'unless-stopped',
      logging: LOGGING,
    },
    {
      name: 'cadvisor',
      description: 'Container metrics: CPU, memory, restarts of every container',
      image: image(config, 'cadvisor'),
      command: ['--docker_only=true', '--housekeeping_interval=15s'],
      environment: {},
      publicPorts: [],
      localPorts: [],
      listens: { metrics: PORTS.cadvisor },
      volumes: [],
      hostMounts: [
        { source: '/', target: '/rootfs', readOnly: true },
        { source: '/var/run', target: '/var/run', readOnly: true },
        { source: '/sys', target: '/sys', readOnly: true },
        { source: '/var/lib/docker', target: '/var/lib/docker', readOnly: true },
        { source: '/dev/disk', target: '/dev/disk', readOnly: true },
      ],
      files: [],
      healthcheck: health(wgetCheck(`http://127.0.0.1:${PORTS.cadvisor}/healthz`)),
      dependsOn: [],
      memoryLimitMb: 256,
      restart: 'unless-stopped',
      logging: LOGGING,
      privileged: true,
      devices: ['/dev/kmsg'],
    },
    {
      name: 'postgres-exporter',
      description: 'PostgreSQL metrics: connections, database size, locks',
      image: image(config, 'postgresExporter'),
      environment: {
        DATA_SOURCE_NAME: {
          secret: 'postgresPassword',
          template: `postgresql://refresher:{}@postgres:${PORTS.postgres}/refresher?sslmode=disable`,
          urlEncode: true,
        },
      },
      publicPorts: [],
      localPorts: [],
      listens: { metrics: PORTS.postgresExporter },
      volumes: [],
      hostMounts: [],
      files: [],
      healthcheck: health(wgetCheck(`http://127.0.0.1:${PORTS.postgresExporter}/`)),
      dependsOn: [{ service: 'postgres', condition: 'healthy' }],
      memoryLimitMb: 64,
      restart: 'unless-stopped',
      logging: LOGGING,
    },
    {
      name: 'redis-exporter',
      description: 'Redis metrics: memory against maxmemory, clients, keys',
      image: image(config, 'redisExporter'),
      environment: { REDIS_ADDR: `redis://redis:${PORTS.redis}` },
      publicPorts: [],
      localPorts: [],
      listens: { metrics: PORTS.redisExporter },
      volumes: [],
      hostMounts: [],
      files: [],
      healthNote: 'the image holds only the exporter binary: no shell, no client to check with',
      dependsOn: [{ service: 'redis', condition: 'healthy' }],
      memoryLimitMb: 64,
      restart: 'unless-stopped',
      logging: LOGGING,
    },
    {
      name: 'swag',
      description: 'SWAG: nginx with certbot, the only public entry (80 and 443)',
      image: image(config, 'swag'),
      environment: swagEnvironment(config),
      publicPorts: [
        { host: 80, container: 80 },
        { host: 443, container: 443 },
      ],
      localPorts: [],
      listens: { http: 80, https: 443 },
      volumes: [{ volume: 'swag-config', target: '/config' }],
      hostMounts: [],
      files: [
        ...siteFiles,
        { source: RENDERED.htpasswd, target: '/config/nginx/refresher.htpasswd', secret: true },
        ...(certbot.validation === 'dns'
          ? [
              {
                source: RENDERED.dnsCredentials(certbot.dnsPlugin),
                target: `/config/dns-conf/${RENDERED.dnsCredentials(certbot.dnsPlugin).split('/').at(-1)}`,
                secret: true,
              },
            ]
          : []),
      ],
      healthcheck: health(['CMD', 'curl', '-fso', '/dev/null', 'http://127.0.0.1/'], 60),
      dependsOn: [
        { service: 'web', condition: 'started' },
        { service: 'grafana', condition: 'started' },
      ],
      memoryLimitMb: 256,
      restart: 'unless-stopped',
      logging: LOGGING,
      ipv4Address: net.swagAddress,
      composeProfile: 'proxy',
    },
  ];
}

/**
 * SWAG's container environment (its documented variables): one certificate for the listed
 * subdomains of URL, obtained with the configured validation.
 */
export function swagEnvironment(config: DeploymentConfig): Record<string, string> {
  const subdomains = [
    config.subdomains.speedtester,
    config.subdomains.grafana,
    config.subdomains.prometheus,
  ].filter((sub): sub is string => sub !== undefined);
  const certbot = config.certbot;
  return {
    PUID: '1000',
    PGID: '1000',
    TZ: config.timezone,
    URL: config.domain,
    SUBDOMAINS: subdomains.join(','),
    ONLY_SUBDOMAINS: 'true',
    VALIDATION: certbot.validation,
    ...(certbot.validation === 'dns'
      ? {
          DNSPLUGIN: certbot.dnsPlugin,
          ...(certbot.propagationSeconds
            ? { PROPAGATION: String(certbot.propagationSeconds) }
            : {}),
        }
      : {}),
    EMAIL: certbot.email,
    STAGING: String(certbot.staging),
  };
}

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
