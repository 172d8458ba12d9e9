// One container of the service catalogue (templates/catalogue/) as a docker_container: the
// same image, command, environment, health check, memory limit, restart policy, log rotation,
// volumes and config files as the compose file has, plus what only the VM needs: the public
// ports (swag), the VM's public address (swag's certificate gate), Terraform's waiting for health
// and for one-shot containers to finish.
import { Construct } from 'constructs';
import { Fn, type ITerraformDependable } from 'cdktf';
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import type { Network } from '@cdktf/provider-docker/lib/network/index.js';
import type { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import {
  containerLabels,
  isSecretEnv,
  type EnvValue,
  type ServiceSpec,
} from '../../templates/catalogue/index.ts';
import type { RenderedFile } from '../../templates/render.ts';
import type { SecretName } from '../../templates/secrets.ts';

export interface ServiceContainerProps {
  service: ServiceSpec;
  deployment: string;
  imageId: string;
  /** Whether the image brings a HEALTHCHECK of its own (the app image does). */
  imageHasHealthcheck: boolean;
  network: Network;
  volumes: Map<string, Volume>;
  /** Rendered files by path, and the Terraform expression of each secret one's content. */
  files: Map<string, RenderedFile>;
  secretFileContent: (path: string) => string;
  /** The Terraform expression of a secret's value (a sensitive variable). */
  secret: (name: SecretName) => string;
  /** Containers this one waits for, with the condition. */
  dependsOn: ITerraformDependable[];
  /** Others wait for this one to be healthy: Terraform waits for it at creation. */
  waitHealthy: boolean;
  /** The VM's public address (a Terraform expression), for the service's publicAddressEnv. */
  publicAddress?: string;
}

const seconds = (value: number) => `${value}s`;

/** An environment value as Terraform builds it: secrets from variables, never literals. */
function envValue(value: EnvValue, secret: (name: SecretName) => string): string {
  if (!isSecretEnv(value)) return value;
  const raw = secret(value.secret);
  const inserted = value.urlEncode ? Fn.urlencode(raw) : raw;
  return value.template === undefined ? inserted : value.template.replace('{}', inserted);
}

export class ServiceContainer extends Construct {
  readonly container: Container;

  constructor(scope: Construct, id: string, props: ServiceContainerProps) {
    super(scope, id);
    const { service } = props;
    const check = service.healthcheck;
    const oneShot = service.restart === 'no';
    const waitSeconds = check
      ? check.startPeriodSeconds + check.intervalSeconds * (check.retries + 1) + 30
      : undefined;

    this.container = new Container(this, 'container', {
      name: service.name,
      hostname: service.name,
      image: props.imageId,
      ...(service.entrypoint ? { entrypoint: service.entrypoint } : {}),
      ...(service.command ? { command: service.command } : {}),
      env: [
        ...Object.entries(service.environment).map(
          ([name, value]) => `${name}=${envValue(value, props.secret)}`,
        ),
        ...(service.publicAddressEnv && props.publicAddress
          ? [`${service.publicAddressEnv}=${props.publicAddress}`]
          : []),
      ],
      restart: service.restart,
      memory: service.memoryLimitMb,
      // `docker stop` and a replacement on deploy both wait this long before killing it.
      ...(service.stopGraceSeconds
        ? { stopTimeout: service.stopGraceSeconds, destroyGraceSeconds: service.stopGraceSeconds }
        : {}),
      logDriver: service.logging.driver,
      logOpts: {
        'max-size': `${service.logging.maxSizeMb}m`,
        'max-file': String(service.logging.maxFiles),
      },
      ...(check
        ? {
            healthcheck: {
              test: check.test,
              interval: seconds(check.intervalSeconds),
              timeout: seconds(check.timeoutSeconds),
              retries: check.retries,
              startPeriod: seconds(check.startPeriodSeconds),
            },
          }
        : props.imageHasHealthcheck && oneShot
          ? // A one-shot role serves nothing the image's check could reach.
            { healthcheck: { test: ['NONE'] } }
          : {}),
      networksAdvanced: [
        {
          name: props.network.name,
          aliases: [service.name],
          ...(service.ipv4Address ? { ipv4Address: service.ipv4Address } : {}),
        },
      ],
      ...(service.publicPorts.length
        ? {
            ports: service.publicPorts.map((port) => ({
              internal: port.container,
              external: port.host,
              protocol: 'tcp',
            })),
          }
        : {}),
      volumes: service.volumes.map((mount) => {
        const volume = props.volumes.get(mount.volume);
        if (!volume)
          throw new Error(`${service.name} mounts ${mount.volume}, which is not a volume`);
        return { volumeName: volume.name, containerPath: mount.target };
      }),
      mounts: service.hostMounts.map((mount) => ({
        type: 'bind',
        source: mount.source,
        target: mount.target,
        readOnly: mount.readOnly,
      })),
      upload: service.files.map((file) => {
        const rendered = props.files.get(file.source);
        if (!rendered)
          throw new Error(`${service.name} needs ${file.source}, which nothing renders`);
        return {
          file: file.target,
          content: rendered.secret ? props.secretFileContent(file.source) : rendered.content,
          permissions: `0${rendered.mode.toString(8)}`,
        };
      }),
      ...(service.privileged ? { privileged: true } : {}),
      ...(service.capabilities.length ? { capabilities: { add: service.capabilities } } : {}),
      ...(service.devices
        ? { devices: service.devices.map((path) => ({ hostPath: path, containerPath: path })) }
        : {}),
      ...(service.user ? { user: service.user } : {}),
      labels: Object.entries(containerLabels(props.deployment, service.name)).map(
        ([label, value]) => ({ label, value }),
      ),
      ...(oneShot
        ? {
            // Run to completion during apply, keep the logs in state, and stay stopped.
            mustRun: false,
            attach: true,
            logs: true,
            lifecycle: {
              postcondition: [
                {
                  condition: '${self.exit_code == 0}',
                  errorMessage: `${service.name} failed: read container_logs in the state, or docker logs ${service.name} on the VM`,
                },
              ],
            },
          }
        : {}),
      ...(props.waitHealthy && waitSeconds ? { wait: true, waitTimeout: waitSeconds } : {}),
      dependsOn: props.dependsOn,
    });
  }
}
