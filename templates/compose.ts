// The docker-compose file for running the whole stack on a laptop, generated from the service
// catalogue: the same images, commands, health checks, limits and config files as on the VM.
// Differences, on purpose: swag is in the "proxy" profile (it needs public DNS and ports 80/443 to
// get a certificate, so `docker compose up` leaves it out unless asked), and a few services publish
// a port on 127.0.0.1 so a browser on the laptop reaches them; and swag gets no public address to
// wait for (publicAddressEnv is left out: its certificate gate then does not wait for DNS).
//
// Secrets never appear in the compose file: each service that needs one reads an env file from
// compose/secrets/ (mode 0600), so the compose file itself is the same for everyone.
import { stringify } from 'yaml';
import { networkPlan, type DeploymentConfig } from './config.ts';
import { RENDERED } from '../contract/paths.ts';
import {
  containerLabels,
  isSecretEnv,
  resolveEnvValue,
  serviceCatalogue,
  VOLUMES,
  type ServiceSpec,
} from './catalogue/index.ts';
import type { Secrets } from './secrets.ts';

const CONDITIONS = {
  started: 'service_started',
  healthy: 'service_healthy',
  completed: 'service_completed_successfully',
} as const;

/** The compose directory's files: the compose file and one env file per service with secrets. */
export function renderCompose(config: DeploymentConfig, secrets: Secrets): Map<string, string> {
  const services = serviceCatalogue(config);
  const files = new Map<string, string>();
  files.set(RENDERED.compose, renderComposeFile(config, services));
  for (const service of services) {
    const secretEntries = Object.entries(service.environment).filter(([, value]) =>
      isSecretEnv(value),
    );
    if (!secretEntries.length) continue;
    const lines = secretEntries.map(
      ([name, value]) => `${name}=${resolveEnvValue(value, secrets)}`,
    );
    files.set(RENDERED.composeEnv(service.name), `${lines.join('\n')}\n`);
  }
  return files;
}

/** A path in the render output, as seen from the compose file's directory. */
function fromComposeDir(source: string): string {
  return `../${source}`;
}

function composeService(service: ServiceSpec, deployment: string): Record<string, unknown> {
  const plainEnv = Object.fromEntries(
    Object.entries(service.environment).filter(([, value]) => !isSecretEnv(value)),
  ) as Record<string, string>;
  const hasSecrets = Object.values(service.environment).some(isSecretEnv);
  const ports = [
    ...service.publicPorts.map((port) => `${port.host}:${port.container}`),
    ...service.localPorts.map((port) => `127.0.0.1:${port.host}:${port.container}`),
  ];
  const volumes = [
    ...service.volumes.map((volume) => `${volume.volume}:${volume.target}`),
    ...service.hostMounts.map((mount) => `${mount.source}:${mount.target}:ro`),
    ...service.files.map((file) => `${fromComposeDir(file.source)}:${file.target}:ro`),
  ];
  const check = service.healthcheck;
  return {
    ...(service.composeProfile ? { profiles: [service.composeProfile] } : {}),
    image: service.image,
    ...(service.entrypoint ? { entrypoint: service.entrypoint } : {}),
    ...(service.command ? { command: service.command } : {}),
    ...(Object.keys(plainEnv).length ? { environment: plainEnv } : {}),
    ...(hasSecrets ? { env_file: [`secrets/${service.name}.env`] } : {}),
    ...(ports.length ? { ports } : {}),
    ...(volumes.length ? { volumes } : {}),
    ...(service.privileged ? { privileged: true } : {}),
    ...(service.capabilities.length ? { cap_add: service.capabilities } : {}),
    ...(service.devices ? { devices: service.devices } : {}),
    ...(check
      ? {
          healthcheck: {
            test: check.test,
            interval: `${check.intervalSeconds}s`,
            timeout: `${check.timeoutSeconds}s`,
            retries: check.retries,
            start_period: `${check.startPeriodSeconds}s`,
          },
        }
      : {}),
    ...(service.dependsOn.length
      ? {
          depends_on: Object.fromEntries(
            service.dependsOn.map((dep) => [dep.service, { condition: CONDITIONS[dep.condition] }]),
          ),
        }
      : {}),
    ...(service.ipv4Address
      ? { networks: { default: { ipv4_address: service.ipv4Address } } }
      : {}),
    labels: containerLabels(deployment, service.name),
    mem_limit: `${service.memoryLimitMb}m`,
    ...(service.stopGraceSeconds ? { stop_grace_period: `${service.stopGraceSeconds}s` } : {}),
    restart: service.restart,
    logging: {
      driver: service.logging.driver,
      options: {
        'max-size': `${service.logging.maxSizeMb}m`,
        'max-file': String(service.logging.maxFiles),
      },
    },
  };
}

function renderComposeFile(config: DeploymentConfig, services: ServiceSpec[]): string {
  const net = networkPlan(config);
  const document = {
    services: Object.fromEntries(
      services.map((service) => [service.name, composeService(service, config.name)]),
    ),
    networks: {
      default: {
        name: config.name,
        ipam: { config: [{ subnet: net.subnet, ip_range: net.ipRange, gateway: net.gateway }] },
      },
    },
    volumes: Object.fromEntries(VOLUMES.map((volume) => [volume, {}])),
  };
  const header = [
    `# ${config.name}: the whole stack for a laptop, generated from templates/catalogue/ by`,
    '# templates/compose.ts; do not edit by hand. Secrets come from secrets/*.env next to this file.',
    `#   docker compose -p ${config.name} -f docker-compose.yml up -d             # everything but swag`,
    `#   docker compose -p ${config.name} -f docker-compose.yml --profile proxy up -d   # with swag`,
    '# Local-only ports: web http://127.0.0.1:3000, grafana :3001, prometheus :9090.',
    '',
  ].join('\n');
  return header + stringify(document, { lineWidth: 0, version: '1.1' });
}
