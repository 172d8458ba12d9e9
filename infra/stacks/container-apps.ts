// Stack "container-apps": the second deployment target (V2, docs/v2.md), everything in one stack.
// A resource group and a virtual network; PostgreSQL Flexible Server and Azure Managed Redis,
// private to it (infra/constructs/ca-data.ts); a registry the images are built and imported into;
// a Key Vault holding every secret; one managed identity that pulls the images, reads the vault
// and writes metrics; a Container Apps environment in the network with the roles of the service
// catalogue (templates/catalogue/container-apps.ts): web behind HTTPS ingress on its custom domain,
// workers scaled by KEDA on BullMQ's waiting list, two schedulers, the migrations as a job that
// runs before any new revision; Grafana on its own domain; Azure Monitor managed Prometheus with
// the project's alert rules (infra/constructs/ca-monitoring.ts). The steps azurerm cannot take
// (building images, running the jobs, binding managed certificates) run the Azure CLI
// (infra/constructs/az-step.ts).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { Aspects, Fn, TerraformOutput, TerraformStack, TerraformVariable } from 'cdktf';
import type { Construct } from 'constructs';
import {
  ContainerApp,
  type ContainerAppSecret,
  type ContainerAppTemplateContainer,
} from '@cdktf/provider-azurerm/lib/container-app/index.js';
import { ContainerAppCustomDomain } from '@cdktf/provider-azurerm/lib/container-app-custom-domain/index.js';
import { ContainerAppEnvironment } from '@cdktf/provider-azurerm/lib/container-app-environment/index.js';
import { ContainerAppJob } from '@cdktf/provider-azurerm/lib/container-app-job/index.js';
import { ContainerRegistry } from '@cdktf/provider-azurerm/lib/container-registry/index.js';
import { DataAzurermClientConfig } from '@cdktf/provider-azurerm/lib/data-azurerm-client-config/index.js';
import { DataAzurermDnsZone } from '@cdktf/provider-azurerm/lib/data-azurerm-dns-zone/index.js';
import { DnsCnameRecord } from '@cdktf/provider-azurerm/lib/dns-cname-record/index.js';
import { DnsTxtRecord } from '@cdktf/provider-azurerm/lib/dns-txt-record/index.js';
import { DnsZone } from '@cdktf/provider-azurerm/lib/dns-zone/index.js';
import { KeyVault } from '@cdktf/provider-azurerm/lib/key-vault/index.js';
import { KeyVaultSecret } from '@cdktf/provider-azurerm/lib/key-vault-secret/index.js';
import { LogAnalyticsWorkspace } from '@cdktf/provider-azurerm/lib/log-analytics-workspace/index.js';
import { AzurermProvider } from '@cdktf/provider-azurerm/lib/provider/index.js';
import { ResourceGroup } from '@cdktf/provider-azurerm/lib/resource-group/index.js';
import { RoleAssignment } from '@cdktf/provider-azurerm/lib/role-assignment/index.js';
import { UserAssignedIdentity } from '@cdktf/provider-azurerm/lib/user-assigned-identity/index.js';
import {
  DATABASE_NAME,
  DATABASE_USER,
  GRAFANA_READER,
  GRAFANA_READER_PASSWORD_ENV,
} from '../../contract/database.ts';
import { PORTS } from '../../contract/ports.ts';
import {
  caAppName,
  containerAppRoles,
  waitingListKey,
  type CaEnvValue,
  type CaRoleSpec,
  type VaultSecret,
} from '../../templates/catalogue/container-apps.ts';
import { image } from '../../templates/catalogue/images.ts';
import { dnsZone, publicHosts, recordName } from '../../templates/config.ts';
import type { ContainerAppsConfig } from '../../templates/container-apps.ts';
import { CA_GRAFANA_ENV } from '../../templates/grafana.ts';
import { SECRET_NAMES, type SecretName, type Secrets } from '../../templates/secrets.ts';
import {
  ACR_BUILD,
  ACR_IMPORT,
  AzStep,
  BIND_HOSTNAME,
  RUN_JOB,
  WAIT_FOR_CNAME,
} from '../constructs/az-step.ts';
import { configureBackend } from '../constructs/backend.ts';
import { CaNetwork, CaPostgres, CaRedis, MANAGED_REDIS_PORT } from '../constructs/ca-data.ts';
import { agentConfig, CaMonitoring } from '../constructs/ca-monitoring.ts';
import { RECORD_TTL_SECONDS } from '../constructs/dns.ts';
import { deploymentTags, TagsAspect } from '../constructs/tags.ts';
import { secretVariableName } from './services.ts';

export const CONTAINER_APPS_STACK = 'container-apps';
/** The Grafana image's build context, written by synth beside the stack's JSON. */
export const GRAFANA_CONTEXT_DIR = 'grafana-image';

export interface ContainerAppsInputs {
  config: ContainerAppsConfig;
  secrets: Secrets;
  /** The app bundle (npm run bundle) that `az acr build` sends to the registry. */
  bundle: { context: string; dockerfile: string; contextDigest: string; version: string };
  /** The Grafana image's build context (templates/grafana.ts grafanaImageContext), by path. */
  grafanaContext: Map<string, string>;
  stateDir: string;
}

/** The reader role's SQL, the same the VM's grafana-db-role one-shot runs. */
const READER_SQL = readFileSync(new URL('../../grafana/reader-role.sql', import.meta.url), 'utf8');

/** Minutes a certificate step waits for its name to resolve (a new zone's delegation). */
export const DNS_WAIT_MINUTES = 60;
/** Minutes the apply waits for the migrations job before failing. */
export const MIGRATE_MINUTES = 15;
/** The identity's roles, by what each is for (docs/v2.md lists them). */
const ROLES = {
  pull: 'AcrPull',
  secrets: 'Key Vault Secrets User',
  metrics: 'Monitoring Metrics Publisher',
  query: 'Monitoring Data Reader',
  deployerSecrets: 'Key Vault Secrets Officer',
} as const;

/** Resources per container: a Consumption container has twice its vCPUs in GiB. */
function size(cpu: number): { cpu: number; memory: string } {
  return { cpu, memory: `${cpu * 2}Gi` };
}
/** The Prometheus agent beside each app replica. */
const AGENT_CPU = 0.25;

function digest(files: Map<string, string>): string {
  const hash = createHash('sha256');
  for (const [path, content] of [...files].sort(([a], [b]) => (a < b ? -1 : 1)))
    hash.update(`${path}\0${content}\0`);
  return hash.digest('hex');
}

/** Where `az acr import` finds a pinned image: Docker Hub's official ones are under library/. */
export function dockerHubSource(reference: string): string {
  const [first, ...rest] = reference.split('/');
  if (rest.length && /[.:]/.test(first!)) return reference;
  return `docker.io/${rest.length ? reference : `library/${reference}`}`;
}

/**
 * The name an imported image has in the registry, without the source registry's path:
 * grafana/grafana:12.1.1 -> grafana:12.1.1; one pinned by digest gets the digest as its tag
 * (name@sha256:abc… -> name:sha256-abc…), since `az acr import --image` wants a name and a tag.
 */
export function repositoryTag(reference: string): string {
  const last = reference.split('/').at(-1)!;
  const [name, digest] = last.split('@sha256:');
  return digest ? `${name!.split(':')[0]}:sha256-${digest.slice(0, 32)}` : last;
}

export class ContainerAppsStack extends TerraformStack {
  /** Values of the sensitive variables, by name: what synth writes to the tfvars file. */
  readonly variableValues: Record<string, string> = {};

  constructor(scope: Construct, inputs: ContainerAppsInputs, outDir: string) {
    super(scope, CONTAINER_APPS_STACK);
    const { config } = inputs;
    const name = config.name;
    const ca = config.containerApps;
    configureBackend(this, {
      config,
      stateDir: inputs.stateDir,
      outDir,
      stackName: CONTAINER_APPS_STACK,
    });
    new AzurermProvider(this, 'azurerm', {
      features: [{ keyVault: [{ purgeSoftDeleteOnDestroy: false }] }],
    });
    Aspects.of(this).add(new TagsAspect(deploymentTags(config)));
    const stackDir = `${outDir}/stacks/${CONTAINER_APPS_STACK}`;

    const secretVariables = new Map<SecretName, TerraformVariable>();
    for (const secret of SECRET_NAMES) {
      const variableName = secretVariableName(secret);
      secretVariables.set(
        secret,
        new TerraformVariable(this, variableName, {
          type: 'string',
          sensitive: true,
          nullable: false,
          description: `Generated secret ${secret} (templates/secrets.ts)`,
        }),
      );
      this.variableValues[variableName] = inputs.secrets[secret];
    }
    const secret = (secretName: SecretName) => secretVariables.get(secretName)!.stringValue;

    const client = new DataAzurermClientConfig(this, 'client', {});
    // Names Azure wants unique worldwide get a suffix from the subscription: stable across
    // applies, different between subscriptions.
    const suffix = Fn.substr(Fn.sha1(client.subscriptionId), 0, 6);
    const compact = name.replace(/-/g, '');

    const resourceGroup = new ResourceGroup(this, 'resource-group', {
      name: `rg-${name}`,
      location: config.azure.location,
    });
    const group = resourceGroup.name;
    const location = resourceGroup.location;
    const network = new CaNetwork(this, 'network', { config, resourceGroup });

    const identity = new UserAssignedIdentity(this, 'identity', {
      name: `id-${name}-apps`,
      resourceGroupName: group,
      location,
    });
    const grant = (id: string, role: string, scopeId: string, principalId = identity.principalId) =>
      new RoleAssignment(this, `role-${id}`, {
        scope: scopeId,
        roleDefinitionName: role,
        principalId,
        principalType: principalId === identity.principalId ? 'ServicePrincipal' : undefined,
      });

    // The registry: no admin user, no anonymous pull; the identity pulls.
    const registry = new ContainerRegistry(this, 'registry', {
      name: `cr${compact}${suffix}`,
      resourceGroupName: group,
      location,
      sku: ca.registry.sku,
      adminEnabled: false,
      anonymousPullEnabled: false,
    });
    const pull = grant('acr-pull', ROLES.pull, registry.id);

    // The vault: RBAC only, purge protection, soft delete; the deployer writes, the identity reads.
    const vault = new KeyVault(this, 'vault', {
      name: `kv-${compact.slice(0, 14)}-${suffix}`,
      resourceGroupName: group,
      location,
      tenantId: client.tenantId,
      skuName: 'standard',
      rbacAuthorizationEnabled: true,
      purgeProtectionEnabled: true,
      softDeleteRetentionDays: 7,
    });
    const deployerCanWrite = grant(
      'vault-deployer',
      ROLES.deployerSecrets,
      vault.id,
      client.objectId,
    );
    const readSecrets = grant('vault-read', ROLES.secrets, vault.id);

    const postgres = new CaPostgres(this, 'postgres', {
      config,
      resourceGroup,
      network,
      serverName: `psql-${name}-${suffix}`,
      password: secret('postgresPassword'),
    });
    const redis = new CaRedis(this, 'redis', {
      config,
      resourceGroup,
      network,
      name: `redis-${name}-${suffix}`,
    });
    const monitoring = new CaMonitoring(this, 'monitoring', { config, resourceGroup });
    for (const [variableName, value] of Object.entries(monitoring.variableValues))
      this.variableValues[variableName] = value;
    const writeMetrics = grant('metrics-write', ROLES.metrics, monitoring.collectionRule.id);
    const queryMetrics = grant('metrics-query', ROLES.query, monitoring.workspace.id);

    // Every secret the apps read, in the vault only. The URLs are composed here from what Azure
    // made; verify-full: the app checks the server's certificate chain and its name.
    const pgHost = postgres.server.fqdn;
    const vaultValues: Record<VaultSecret, string> = {
      'database-url': `postgres://${DATABASE_USER}:${Fn.urlencode(secret('postgresPassword'))}@${pgHost}:${PORTS.postgres}/${DATABASE_NAME}?sslmode=verify-full`,
      'redis-url': `rediss://:${Fn.urlencode(redis.accessKey)}@${redis.hostname}:${MANAGED_REDIS_PORT}`,
      'redis-password': redis.accessKey,
      'session-secret': secret('sessionSecret'),
      'admin-password': secret('appAdminPassword'),
      'postgres-password': secret('postgresPassword'),
      'grafana-admin-password': secret('grafanaAdminPassword'),
      'grafana-db-password': secret('grafanaDbPassword'),
    };
    const vaultSecrets = new Map<string, KeyVaultSecret>();
    const putSecret = (secretName: string, value: string) => {
      const stored = new KeyVaultSecret(this, `secret-${secretName}`, {
        name: secretName,
        value,
        keyVaultId: vault.id,
        contentType: 'text/plain',
        dependsOn: [deployerCanWrite],
      });
      vaultSecrets.set(secretName, stored);
      return stored;
    };
    for (const [secretName, value] of Object.entries(vaultValues)) putSecret(secretName, value);
    const agentSecret = (role: string) => `prometheus-agent-${role}`;
    for (const role of ['web', 'worker', 'scheduler'])
      putSecret(
        agentSecret(role),
        agentConfig({
          role,
          deployment: name,
          remoteWriteUrl: monitoring.remoteWriteUrl,
          identityClientId: identity.clientId,
        }),
      );
    const secretRef = (secretName: string): ContainerAppSecret => ({
      name: secretName,
      keyVaultSecretId: vaultSecrets.get(secretName)!.versionlessId,
      identity: identity.id,
    });

    // Images: the app built from the bundle, the rest imported at their pinned versions.
    const appTag = `refresher:${inputs.bundle.version}-${inputs.bundle.contextDigest.slice(0, 12)}`;
    const grafanaBase = repositoryTag(image(config, 'grafana'));
    const grafanaTag = `refresher-grafana:${digest(inputs.grafanaContext).slice(0, 12)}`;
    const imports = ['prometheus', 'postgres', 'grafana'] as const;
    const imported = imports.map(
      (imageName) =>
        new AzStep(this, `import-${imageName}`, {
          description: `import ${image(config, imageName)} into the registry`,
          script: ACR_IMPORT,
          environment: {
            REGISTRY: registry.name,
            SOURCE: dockerHubSource(image(config, imageName)),
            IMAGE: repositoryTag(image(config, imageName)),
          },
          triggers: { image: image(config, imageName), registry: registry.id },
        }).resource,
    );
    const buildApp = new AzStep(this, 'build-app', {
      description: 'build the app image from the bundle in the registry',
      script: ACR_BUILD,
      environment: {
        REGISTRY: registry.name,
        IMAGE: appTag,
        CONTEXT: relative(stackDir, inputs.bundle.context) || '.',
        DOCKERFILE: relative(stackDir, inputs.bundle.dockerfile),
        BASE: '',
      },
      triggers: { image: appTag, registry: registry.id },
    }).resource;
    const buildGrafana = new AzStep(this, 'build-grafana', {
      description: 'build the Grafana image with the provisioning and dashboards',
      script: ACR_BUILD,
      environment: {
        REGISTRY: registry.name,
        IMAGE: grafanaTag,
        CONTEXT: GRAFANA_CONTEXT_DIR,
        DOCKERFILE: `${GRAFANA_CONTEXT_DIR}/Dockerfile`,
        BASE: `${registry.loginServer}/${grafanaBase}`,
      },
      triggers: { image: grafanaTag, base: grafanaBase, registry: registry.id },
      dependsOn: imported,
    }).resource;
    const server = registry.loginServer;
    const ref = (tag: string) => `${server}/${tag}`;

    const logs = new LogAnalyticsWorkspace(this, 'logs', {
      name: `log-${name}`,
      resourceGroupName: group,
      location,
      sku: 'PerGB2018',
      retentionInDays: 30,
    });
    const environment = new ContainerAppEnvironment(this, 'environment', {
      name: `cae-${name}`,
      resourceGroupName: group,
      location,
      logAnalyticsWorkspaceId: logs.id,
      infrastructureSubnetId: network.apps.id,
      internalLoadBalancerEnabled: false,
      workloadProfile: [{ name: 'Consumption', workloadProfileType: 'Consumption' }],
    });

    const roles = new Map(containerAppRoles(config).map((role) => [role.role, role]));
    // Once web exists: the other roles reach it through its HTTPS ingress (plain HTTP to an app
    // that refuses insecure connections is redirected, which would turn the self-test's uploads
    // into GETs).
    const rolesReaching = (origin: string) =>
      new Map(containerAppRoles(config, origin).map((role) => [role.role, role]));
    const ready = [pull, readSecrets, buildApp, ...imported];

    const env = (spec: CaRoleSpec) =>
      Object.entries(spec.environment).map(([key, value]: [string, CaEnvValue | undefined]) =>
        typeof value === 'object' ? { name: key, secretName: value.vault } : { name: key, value },
      );
    const vaultNames = (spec: CaRoleSpec) => [
      ...new Set(
        Object.values(spec.environment).flatMap((value) =>
          typeof value === 'object' ? [value.vault] : [],
        ),
      ),
    ];
    const probes = (path: string, port: number) => ({
      livenessProbe: [
        { transport: 'HTTP', path, port, intervalSeconds: 10, failureCountThreshold: 3 },
      ],
      readinessProbe: [
        { transport: 'HTTP', path, port, intervalSeconds: 5, failureCountThreshold: 3 },
      ],
      startupProbe: [
        { transport: 'HTTP', path, port, intervalSeconds: 2, failureCountThreshold: 30 },
      ],
    });
    const agent = (role: string): ContainerAppTemplateContainer => ({
      name: 'prometheus-agent',
      image: ref(repositoryTag(image(config, 'prometheus'))),
      ...size(AGENT_CPU),
      args: [
        '--agent',
        `--config.file=/etc/prometheus-agent/${agentSecret(role)}`,
        '--storage.agent.path=/tmp/prometheus-agent',
        '--web.listen-address=:9095',
      ],
      volumeMounts: [{ name: 'agent-config', path: '/etc/prometheus-agent' }],
      ...probes('/-/healthy', 9095),
    });

    // Every app and job: in the environment, run as the identity, pulling from the registry by it.
    const inEnvironment = {
      resourceGroupName: group,
      containerAppEnvironmentId: environment.id,
      workloadProfileName: 'Consumption',
      identity: { type: 'UserAssigned', identityIds: [identity.id] },
      registry: [{ server, identity: identity.id }],
    };
    // A job the apply starts once and waits for (RUN_JOB): one replica, one retry.
    const runOnce = {
      replicaRetryLimit: 1,
      manualTriggerConfig: { parallelism: 1, replicaCompletionCount: 1 },
    };

    // The migrations, then the Grafana reader role: each a job the apply runs to its end before
    // any app gets a new revision.
    const migrateSpec = roles.get('migrate')!;
    const migrate = new ContainerAppJob(this, 'job-migrate', {
      name: migrateSpec.appName,
      location,
      ...inEnvironment,
      secret: vaultNames(migrateSpec).map(secretRef),
      replicaTimeoutInSeconds: MIGRATE_MINUTES * 60,
      ...runOnce,
      template: {
        container: [
          {
            name: migrateSpec.appName,
            image: ref(appTag),
            // The image's entry point (tini, then the bundle) takes the role as its argument.
            args: ['migrate'],
            ...size(0.5),
            env: env(migrateSpec),
          },
        ],
      },
      dependsOn: [...ready, postgres.database],
    });
    const runMigrate = new AzStep(this, 'run-migrate', {
      description: 'run the migrations job to its end',
      script: RUN_JOB,
      environment: {
        JOB: migrate.name,
        GROUP: group,
        MINUTES: String(MIGRATE_MINUTES),
        POLL_SECONDS: '5',
      },
      triggers: { image: appTag, job: migrate.id },
      dependsOn: [migrate],
    }).resource;

    const readerRole = new ContainerAppJob(this, 'job-grafana-db-role', {
      name: caAppName(config, 'grafana-db-role'),
      location,
      ...inEnvironment,
      secret: ['postgres-password', 'grafana-db-password'].map(secretRef),
      replicaTimeoutInSeconds: 300,
      ...runOnce,
      template: {
        container: [
          {
            name: caAppName(config, 'grafana-db-role'),
            image: ref(repositoryTag(image(config, 'postgres'))),
            // The SQL of the VM's one-shot (grafana/reader-role.sql), from the environment.
            command: [
              'sh',
              '-c',
              'printf "%s" "$READER_SQL" | psql -v ON_ERROR_STOP=1 -v reader=$READER -f -',
            ],
            ...size(0.25),
            env: [
              { name: 'PGHOST', value: pgHost },
              { name: 'PGPORT', value: String(PORTS.postgres) },
              { name: 'PGUSER', value: DATABASE_USER },
              { name: 'PGDATABASE', value: DATABASE_NAME },
              { name: 'PGSSLMODE', value: 'verify-full' },
              { name: 'PGSSLROOTCERT', value: 'system' },
              { name: 'PGPASSWORD', secretName: 'postgres-password' },
              { name: GRAFANA_READER_PASSWORD_ENV, secretName: 'grafana-db-password' },
              { name: 'READER', value: GRAFANA_READER },
              { name: 'READER_SQL', value: READER_SQL },
            ],
          },
        ],
      },
      dependsOn: [...ready, postgres.database],
    });
    const runReaderRole = new AzStep(this, 'run-grafana-db-role', {
      description: 'run the Grafana reader role job to its end',
      script: RUN_JOB,
      environment: { JOB: readerRole.name, GROUP: group, MINUTES: '5', POLL_SECONDS: '5' },
      triggers: { image: appTag, job: readerRole.id },
      dependsOn: [readerRole, runMigrate],
    }).resource;

    const appCommon = (spec: CaRoleSpec, extraSecrets: string[] = []) => ({
      ...inEnvironment,
      revisionMode: 'Single',
      secret: [...vaultNames(spec), agentSecret(spec.role), ...extraSecrets].map(secretRef),
      dependsOn: [...ready, runMigrate, writeMetrics],
    });
    const roleContainer = (
      spec: CaRoleSpec,
      cpu: number,
      probePath: string,
      probePort: number,
    ) => ({
      name: spec.role,
      image: ref(appTag),
      args: [spec.role],
      ...size(cpu),
      env: env(spec),
      ...probes(probePath, probePort),
    });
    // A secret volume holds every secret of the app as a file (azurerm cannot pick one); it is
    // mounted in the agent only, which serves no files, and the app already has them in its env.
    const agentVolume = { name: 'agent-config', storageType: 'Secret' };

    const webSpec = roles.get('web')!;
    const web = new ContainerApp(this, 'app-web', {
      name: webSpec.appName,
      ...appCommon(webSpec),
      ingress: {
        externalEnabled: true,
        targetPort: PORTS.web,
        transport: 'http',
        allowInsecureConnections: false,
        trafficWeight: [{ latestRevision: true, percentage: 100 }],
      },
      template: {
        minReplicas: ca.web.minReplicas,
        maxReplicas: ca.web.maxReplicas,
        terminationGracePeriodSeconds: webSpec.terminationGraceSeconds,
        httpScaleRule: [
          { name: 'concurrency', concurrentRequests: String(ca.web.concurrentRequests) },
        ],
        container: [
          {
            ...roleContainer(webSpec, ca.web.cpu, '/healthz', PORTS.web),
            // Ready: PostgreSQL and Redis answer (the migrations ran before this revision).
            readinessProbe: [
              {
                transport: 'HTTP',
                path: '/readyz',
                port: PORTS.web,
                intervalSeconds: 5,
                failureCountThreshold: 3,
              },
            ],
          },
          agent('web'),
        ],
        volume: [agentVolume],
      },
    });

    const reachingWeb = rolesReaching(`https://${web.ingress.fqdn}`);
    const workerSpec = reachingWeb.get('worker')!;
    new ContainerApp(this, 'app-worker', {
      name: workerSpec.appName,
      ...appCommon(workerSpec, ['redis-password']),
      template: {
        minReplicas: ca.worker.minReplicas,
        maxReplicas: ca.worker.maxReplicas,
        terminationGracePeriodSeconds: workerSpec.terminationGraceSeconds,
        customScaleRule: [
          {
            name: 'waiting-jobs',
            customRuleType: 'redis',
            metadata: {
              address: `${redis.hostname}:${MANAGED_REDIS_PORT}`,
              listName: waitingListKey('default'),
              listLength: String(ca.worker.waitingJobsPerReplica),
              enableTLS: 'true',
            },
            authentication: [{ secretName: 'redis-password', triggerParameter: 'password' }],
          },
        ],
        container: [
          roleContainer(workerSpec, ca.worker.cpu, '/metrics', PORTS.metrics),
          agent('worker'),
        ],
        volume: [agentVolume],
      },
    });

    const schedulerSpec = reachingWeb.get('scheduler')!;
    new ContainerApp(this, 'app-scheduler', {
      name: schedulerSpec.appName,
      ...appCommon(schedulerSpec),
      template: {
        // A fixed count: the schedulers coordinate through Redis, so more add only resilience.
        minReplicas: ca.scheduler.replicas,
        maxReplicas: ca.scheduler.replicas,
        terminationGracePeriodSeconds: schedulerSpec.terminationGraceSeconds,
        container: [
          roleContainer(schedulerSpec, ca.scheduler.cpu, '/metrics', PORTS.metrics),
          agent('scheduler'),
        ],
        volume: [agentVolume],
      },
    });

    const grafana = new ContainerApp(this, 'app-grafana', {
      name: caAppName(config, 'grafana'),
      ...inEnvironment,
      revisionMode: 'Single',
      secret: ['grafana-admin-password', 'grafana-db-password'].map(secretRef),
      ingress: {
        externalEnabled: true,
        targetPort: PORTS.grafana,
        transport: 'http',
        allowInsecureConnections: false,
        trafficWeight: [{ latestRevision: true, percentage: 100 }],
      },
      template: {
        // Its own state is disposable (everything is provisioned): one replica is enough.
        minReplicas: 1,
        maxReplicas: 1,
        container: [
          {
            name: 'grafana',
            image: ref(grafanaTag),
            ...size(ca.grafana.cpu),
            env: [
              { name: 'GF_SECURITY_ADMIN_USER', value: 'admin' },
              { name: 'GF_SECURITY_ADMIN_PASSWORD', secretName: 'grafana-admin-password' },
              { name: GRAFANA_READER_PASSWORD_ENV, secretName: 'grafana-db-password' },
              { name: CA_GRAFANA_ENV.postgresAddress, value: `${pgHost}:${PORTS.postgres}` },
              { name: CA_GRAFANA_ENV.prometheusUrl, value: monitoring.workspace.queryEndpoint },
              { name: 'GF_AUTH_AZURE_AUTH_ENABLED', value: 'true' },
              { name: 'GF_AZURE_MANAGED_IDENTITY_ENABLED', value: 'true' },
              { name: 'GF_AZURE_MANAGED_IDENTITY_CLIENT_ID', value: identity.clientId },
              {
                name: 'GF_SERVER_ROOT_URL',
                value: `https://${config.subdomains.grafana}.${config.domain}`,
              },
              { name: 'GF_USERS_ALLOW_SIGN_UP', value: 'false' },
              { name: 'GF_AUTH_ANONYMOUS_ENABLED', value: 'false' },
              { name: 'GF_ANALYTICS_REPORTING_ENABLED', value: 'false' },
              { name: 'GF_DATE_FORMATS_DEFAULT_TIMEZONE', value: config.timezone },
            ],
            ...probes('/api/health', PORTS.grafana),
          },
        ],
      },
      dependsOn: [pull, readSecrets, queryMetrics, buildGrafana, runReaderRole],
    });

    // The public names: a CNAME to each app and the TXT record that proves the domain is ours;
    // then a managed certificate bound to each.
    // Container Apps validates each name through public DNS: the records live in an Azure zone.
    const zone = dnsZone(config)!;
    let zoneName: string;
    let zoneGroup: string;
    let delegationHint: string;
    if (zone.created) {
      const created = new DnsZone(this, 'dns-zone', { name: zone.name, resourceGroupName: group });
      zoneName = created.name;
      zoneGroup = group;
      delegationHint = `the parent of ${zone.name} must have NS records for it: ${Fn.join(' ', created.nameServers)}`;
      new TerraformOutput(this, 'name_servers', {
        value: created.nameServers,
        description: `The name servers of the zone ${config.domain}: NS records for it at the parent's DNS host or the registrar`,
      });
    } else {
      zoneName = new DataAzurermDnsZone(this, 'dns-zone', {
        name: zone.name,
        resourceGroupName: zone.resourceGroup!,
      }).name;
      zoneGroup = zone.resourceGroup!;
      delegationHint = `the zone ${zone.name} in ${zoneGroup} must be the one the internet asks`;
    }
    const apps = { speedtester: web, grafana } as const;
    const hosts = publicHosts(config).filter(
      (host): host is typeof host & { site: keyof typeof apps } => host.site in apps,
    );
    for (const host of hosts) {
      const app = apps[host.site];
      const relativeName = recordName(host.fqdn, zone.name);
      const records = [
        new DnsCnameRecord(this, `cname-${host.site}`, {
          name: relativeName,
          zoneName,
          resourceGroupName: zoneGroup,
          ttl: RECORD_TTL_SECONDS,
          record: app.ingress.fqdn,
        }),
        new DnsTxtRecord(this, `txt-${host.site}`, {
          name: `asuid.${relativeName}`,
          zoneName,
          resourceGroupName: zoneGroup,
          ttl: RECORD_TTL_SECONDS,
          record: [{ value: app.customDomainVerificationId }],
        }),
      ];
      const domain = new ContainerAppCustomDomain(this, `domain-${host.site}`, {
        name: host.fqdn,
        containerAppId: app.id,
        lifecycle: {
          // The managed certificate is bound by the step below, which Terraform does not see.
          ignoreChanges: ['certificate_binding_type', 'container_app_environment_certificate_id'],
        },
        dependsOn: records,
      });
      new AzStep(this, `certificate-${host.site}`, {
        description: `bind a managed certificate to ${host.fqdn}`,
        script: BIND_HOSTNAME,
        environment: {
          DOMAIN_NAME: host.fqdn,
          APP: app.name,
          GROUP: group,
          ENVIRONMENT: environment.name,
          MINUTES: String(DNS_WAIT_MINUTES),
          HINT: delegationHint,
          WAIT_FOR_CNAME,
        },
        triggers: { hostname: host.fqdn, app: app.id },
        dependsOn: [domain],
      });
      new TerraformOutput(this, `url-${host.site}`, {
        value: `https://${host.fqdn}`,
        description: `The ${host.site} on its own name`,
      });
    }

    new TerraformOutput(this, 'registry_server', {
      value: server,
      description: 'The registry the images are in',
    });
    new TerraformOutput(this, 'app_image', {
      value: ref(appTag),
      description: 'The app image the roles run',
    });
    new TerraformOutput(this, 'postgres_host', {
      value: pgHost,
      description: 'PostgreSQL, private to the network',
    });
    new TerraformOutput(this, 'prometheus_query_url', {
      value: monitoring.workspace.queryEndpoint,
      description: 'Azure Monitor managed Prometheus (queried with an Entra ID token)',
    });
  }
}
