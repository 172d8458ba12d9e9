// The service catalogue: every container of a deployment, once. The compose renderer
// (templates/compose.ts) and the CDKTF services stack (infra/stacks/services.ts) both read this
// list, so a container cannot differ between a laptop and the VM except where the list says so
// (`localPorts`, used by compose only). A service is written in the file of its group with
// defineService (define.ts); adding one is a line in the list below.
import type { DeploymentConfig } from '../config.ts';
import { migrateService, schedulerService, webService, workerService } from './app.ts';
import { postgresService, redisService } from './data.ts';
import {
  alertmanagerService,
  cadvisorService,
  grafanaDbRoleService,
  grafanaService,
  nodeExporterService,
  postgresExporterService,
  prometheusService,
  redisExporterService,
} from './monitoring.ts';
import { swagService } from './proxy.ts';
import type { ServiceSpec } from './types.ts';

export { isSecretEnv, resolveEnvironment, resolveEnvValue } from './environment.ts';
export { DEFAULT_IMAGES, image, IMAGE_NAMES, imagePinProblem, isPinnedImage } from './images.ts';
export type { ImageName } from './images.ts';
export { CERT_RETRY_SECONDS, CERTIFICATE_GATE_ENV, swagEnvironment } from './proxy.ts';
export type * from './types.ts';

/** Named volumes of the deployment (persistent data). */
/**
 * The labels every container of a deployment carries, in compose and on the VM alike: the ops
 * scripts find a service's container by them, whatever its name (compose names it
 * <project>_<service>_1, the services stack <service>).
 */
export const CONTAINER_LABELS = {
  deployment: 'io.refresher.deployment',
  service: 'io.refresher.service',
  /** Set by npm run upgrade on a container it made, to the image the one before ran. */
  upgradedFrom: 'io.refresher.upgraded-from',
} as const;

/** The labels of one service's container. */
export function containerLabels(deployment: string, service: string): Record<string, string> {
  return { [CONTAINER_LABELS.deployment]: deployment, [CONTAINER_LABELS.service]: service };
}

export const VOLUMES = [
  'swag-config',
  'postgres-data',
  'redis-data',
  'grafana-data',
  'prometheus-data',
  'alertmanager-data',
] as const;

/** Every container of the deployment, in start order. */
export function serviceCatalogue(config: DeploymentConfig): ServiceSpec[] {
  return [
    postgresService(config),
    redisService(config),
    migrateService(config),
    webService(config),
    workerService(config),
    schedulerService(config),
    grafanaDbRoleService(config),
    grafanaService(config),
    alertmanagerService(config),
    prometheusService(config),
    nodeExporterService(config),
    cadvisorService(config),
    postgresExporterService(config),
    redisExporterService(config),
    swagService(config),
  ];
}
