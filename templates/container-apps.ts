// The configuration of the second deployment target, V2 (docs/v2.md): the same service on Azure
// Container Apps, with PostgreSQL Flexible Server and Azure Managed Redis as managed state. It
// shares every field that is not about the VM with templates/config.ts (the names, DNS, Azure,
// speed tests, alerts, retention, admin, images) and replaces the VM, its proxy and its
// certificates with what Container Apps needs: replicas, sizes and the managed services' SKUs.
import { dirname } from 'node:path';
import { z } from 'zod';
import {
  checkShared,
  configProblems,
  DeploymentConfigError,
  parseDeploymentConfig,
  readDeploymentInput,
  sharedFields,
  targetOf,
  wholeNumber,
  type DeploymentConfig,
} from './config.ts';

/**
 * vCPUs a Consumption-profile container may have; its memory is twice that in GiB, the profile's
 * fixed ratio. Each app also runs a Prometheus agent beside it (0.25 vCPU), and an app's total
 * must stay within 4 vCPU.
 */
export const CONSUMPTION_CPUS = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5] as const;
const cpu = z
  .number({ error: 'expected vCPUs such as 0.5' })
  .refine((value) => (CONSUMPTION_CPUS as readonly number[]).includes(value), {
    message: `expected one of ${CONSUMPTION_CPUS.join(', ')} vCPUs (the memory is twice that in GiB)`,
  });

/** PostgreSQL Flexible Server storage sizes Azure offers, in GiB. */
export const POSTGRES_STORAGE_GIB = [32, 64, 128, 256, 512, 1024, 2048, 4096] as const;

/** A private IPv4 /16 for the virtual network; the subnets are carved from it (vnetPlan). */
const privateNetwork16 = z
  .string()
  .trim()
  .refine(
    (value) =>
      /^(10\.\d{1,3}|172\.(1[6-9]|2\d|3[01])|192\.168)\.0\.0\/16$/.test(value) &&
      Number(value.split('.')[1]) <= 255,
    { message: 'expected a private IPv4 /16 such as 10.40.0.0/16 (10/8, 172.16/12 or 192.168/16)' },
  );

const app = (defaults: { cpu: number }) => ({ cpu: cpu.default(defaults.cpu) });

function containerAppsFields() {
  return z
    .strictObject({
      network: z
        .strictObject({ addressSpace: privateNetwork16.default('10.40.0.0/16') })
        .prefault({}),
      /** The web role: at least two replicas, so a restart or a zone failure serves on. */
      web: z
        .strictObject({
          ...app({ cpu: 0.5 }),
          minReplicas: wholeNumber(2, 30, 'replicas').default(2),
          maxReplicas: wholeNumber(2, 300, 'replicas').default(6),
          /** Concurrent requests per replica before another one starts (the HTTP scale rule). */
          concurrentRequests: wholeNumber(1, 1000, 'requests').default(50),
        })
        .prefault({}),
      /**
       * Workers, scaled by KEDA's Redis scaler on the waiting list's length. At least one: the
       * worker also runs the probes, and starting from zero adds KEDA's polling interval and a
       * cold start to every scheduled task (docs/v2.md).
       */
      worker: z
        .strictObject({
          ...app({ cpu: 0.5 }),
          minReplicas: wholeNumber(1, 30, 'replicas').default(1),
          maxReplicas: wholeNumber(1, 300, 'replicas').default(4),
          /** Waiting jobs per replica before another one starts. */
          waitingJobsPerReplica: wholeNumber(1, 10_000, 'jobs').default(100),
        })
        .prefault({}),
      /** Two schedulers are safe (a run cannot be doubled) and survive one replica's loss. */
      scheduler: z
        .strictObject({ ...app({ cpu: 0.25 }), replicas: wholeNumber(1, 5, 'replicas').default(2) })
        .prefault({}),
      grafana: z.strictObject({ ...app({ cpu: 0.5 }) }).prefault({}),
      postgres: z
        .strictObject({
          /** B_ burstable, GP_ general purpose, MO_ memory optimised. */
          sku: z
            .string()
            .trim()
            .regex(
              /^(B|GP|MO)_Standard_[A-Z][A-Za-z0-9]*(_v\d)?$/,
              'expected a Flexible Server SKU such as B_Standard_B1ms or GP_Standard_D2ds_v5',
            )
            .default('B_Standard_B1ms'),
          /** 17 as the VM's image: a V1 backup restores into it (pg_restore cannot go back a version). */
          version: z.enum(['16', '17'], { error: 'expected "16" or "17"' }).default('17'),
          storageGiB: z
            .union(
              POSTGRES_STORAGE_GIB.map((size) => z.literal(size)),
              { error: `expected one of ${POSTGRES_STORAGE_GIB.join(', ')} GiB` },
            )
            .default(32),
          backupRetentionDays: wholeNumber(7, 35, 'days').default(7),
          geoRedundantBackup: z.boolean({ error: 'expected true or false' }).default(false),
          /** A standby server: in the same zone, or in another zone of the region. */
          highAvailability: z
            .enum(['off', 'SameZone', 'ZoneRedundant'], {
              error: 'expected "off", "SameZone" or "ZoneRedundant"',
            })
            .default('off'),
        })
        .prefault({}),
      redis: z
        .strictObject({
          sku: z
            .string()
            .trim()
            .regex(
              /^(Balanced|ComputeOptimized|MemoryOptimized|FlashOptimized)_[A-Z]\d+$/,
              'expected an Azure Managed Redis SKU such as Balanced_B0 or Balanced_B1',
            )
            .default('Balanced_B0'),
          /** A replica in another zone; off halves the price and loses the queue on a failure. */
          highAvailability: z.boolean({ error: 'expected true or false' }).default(false),
        })
        .prefault({}),
      registry: z
        .strictObject({
          sku: z
            .enum(['Basic', 'Standard', 'Premium'], {
              error: 'expected "Basic", "Standard" or "Premium"',
            })
            .default('Basic'),
        })
        .prefault({}),
    })
    .prefault({});
}

/** Receiver types an Azure Monitor action group can deliver to (it posts its own formats). */
export const ACTION_GROUP_RECEIVERS = ['email', 'webhook'] as const;

export function containerAppsSchema(baseDir: string) {
  return z
    .strictObject({
      target: z.literal('container-apps'),
      ...sharedFields(baseDir),
      containerApps: containerAppsFields(),
    })
    .superRefine((config, ctx) => {
      checkShared(config, ctx);
      const ca = config.containerApps;
      for (const role of ['web', 'worker'] as const)
        if (ca[role].minReplicas > ca[role].maxReplicas)
          ctx.addIssue({
            code: 'custom',
            path: ['containerApps', role, 'maxReplicas'],
            message: `is below minReplicas (${ca[role].minReplicas})`,
          });
      if (ca.postgres.highAvailability !== 'off' && ca.postgres.sku.startsWith('B_'))
        ctx.addIssue({
          code: 'custom',
          path: ['containerApps', 'postgres', 'highAvailability'],
          message: `burstable servers (${ca.postgres.sku}) have no high availability: choose a GP_ or MO_ SKU, or "off"`,
        });
      if (
        config.speedtest.engine === 'librespeed' &&
        !config.speedtest.publicTarget &&
        !config.speedtest.servers.length
      )
        ctx.addIssue({
          code: 'custom',
          path: ['speedtest', 'servers'],
          message:
            'is empty and publicTarget is false: on Container Apps no proxy keeps the built-in target private, so it is off and the worker has nothing to measure against; name LibreSpeed servers, or set publicTarget: true',
        });
      if (config.dns.mode === 'external')
        ctx.addIssue({
          code: 'custom',
          path: ['dns', 'mode'],
          message:
            'Container Apps proves each name through CNAME and TXT records this deployment makes in an Azure DNS zone: use "subdomain-zone", "domain-zone" or "existing-zone"',
        });
      if (config.subdomains.prometheus !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['subdomains', 'prometheus'],
          message:
            'Container Apps deployments keep metrics in Azure Monitor, which has no UI to publish: query it from Grafana',
        });
      for (const [index, receiver] of config.alerts.receivers.entries())
        if (!(ACTION_GROUP_RECEIVERS as readonly string[]).includes(receiver.type))
          ctx.addIssue({
            code: 'custom',
            path: ['alerts', 'receivers', index, 'type'],
            message: `"${receiver.type}" cannot be reached from an Azure Monitor action group, which posts only its own e-mail and webhook formats: use email or webhook`,
          });
    });
}

export type ContainerAppsConfigInput = z.input<ReturnType<typeof containerAppsSchema>>;
export type ContainerAppsConfig = z.output<ReturnType<typeof containerAppsSchema>>;
/** A validated configuration of either target. */
export type AnyDeploymentConfig = DeploymentConfig | ContainerAppsConfig;

/** Types a Container Apps configuration file's object literal (as defineDeployment does). */
export function defineContainerAppsDeployment(
  config: ContainerAppsConfigInput,
): ContainerAppsConfigInput {
  return config;
}

export function parseContainerAppsConfig(input: unknown, file: string): ContainerAppsConfig {
  const parsed = containerAppsSchema(dirname(file)).safeParse(input, { reportInput: true });
  if (parsed.success) return parsed.data;
  throw new DeploymentConfigError(file, configProblems(parsed.error));
}

/** Loads a configuration file of either target (synth and deploy; the ops scripts are VM-only). */
export async function loadAnyDeploymentConfig(file: string): Promise<AnyDeploymentConfig> {
  const { path, input } = await readDeploymentInput(file);
  return targetOf(input, path) === 'container-apps'
    ? parseContainerAppsConfig(input, path)
    : parseDeploymentConfig(input, path);
}

/** The subnets of the virtual network, from its /16 (docs/v2.md draws them). */
export function vnetPlan(config: ContainerAppsConfig): {
  addressSpace: string;
  apps: string;
  postgres: string;
  privateEndpoints: string;
} {
  const [a, b] = config.containerApps.network.addressSpace.split('.');
  const prefix = `${a}.${b}`;
  return {
    addressSpace: config.containerApps.network.addressSpace,
    // A workload-profiles environment needs a /27 at least; a /23 leaves room for many replicas.
    apps: `${prefix}.0.0/23`,
    postgres: `${prefix}.2.0/24`,
    privateEndpoints: `${prefix}.3.0/24`,
  };
}
