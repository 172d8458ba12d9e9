// Policies over the synthesized Container Apps stack (V2), checked by synth like the VM stacks'
// (infra/policy.ts) and tested against broken copies (infra/test/container-apps.test.ts):
// no public database or Redis endpoint, TLS only, identities rather than keys or passwords for
// the registry and the secrets, health probes and resource limits on every app, no `latest` tag.
import { checkNoSecretLiterals, list, resources, type TerraformJson } from './policy.ts';

type Json = Record<string, unknown>;

/** Environment names that hold a credential: their value must come from a secret. */
const SECRET_ENV = /PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL|PASSPHRASE|_URL$/i;
/** Variables ending in _URL that name no credential (addresses the apps are given openly). */
const OPEN_URLS = new Set([
  'HEALTHCHECK_URL',
  'SPEEDTEST_SELF_URL',
  'SPEEDTEST_SERVER_LIST_URL',
  'OOKLA_SERVER_LIST_URL',
  'ALERTMANAGER_URL',
  'GF_SERVER_ROOT_URL',
  'REFRESHER_PROMETHEUS_URL',
]);

function first(value: unknown): Json | undefined {
  return list(value)[0] as Json | undefined;
}

/** An image reference's tag, or undefined when it has none (which means latest). */
function tagOf(reference: string): string | undefined {
  const last = reference.split('/').at(-1) ?? '';
  if (last.includes('@sha256:')) return 'digest';
  const colon = last.lastIndexOf(':');
  return colon < 0 ? undefined : last.slice(colon + 1);
}

function checkData(json: TerraformJson): string[] {
  const violations: string[] = [];
  const servers = resources(json, 'azurerm_postgresql_flexible_server');
  if (!servers.length) violations.push('no azurerm_postgresql_flexible_server in the stack');
  for (const [name, server] of servers) {
    if (server.public_network_access_enabled !== false)
      violations.push(`PostgreSQL ${name} has a public endpoint (public_network_access_enabled)`);
    if (!server.delegated_subnet_id)
      violations.push(`PostgreSQL ${name} is not in a delegated subnet of the network`);
  }
  for (const [name] of resources(json, 'azurerm_postgresql_flexible_server_firewall_rule'))
    violations.push(`PostgreSQL firewall rule ${name} opens the server to addresses outside`);
  const settings = new Map(
    resources(json, 'azurerm_postgresql_flexible_server_configuration').map(([, c]) => [
      String(c.name),
      String(c.value),
    ]),
  );
  if (settings.get('require_secure_transport')?.toUpperCase() !== 'ON')
    violations.push('PostgreSQL does not require TLS (require_secure_transport ON)');
  if (!/^TLSv1\.[23]$/.test(settings.get('ssl_min_protocol_version') ?? ''))
    violations.push('PostgreSQL accepts TLS older than 1.2 (ssl_min_protocol_version)');

  const redises = resources(json, 'azurerm_managed_redis');
  if (!redises.length) violations.push('no azurerm_managed_redis in the stack');
  for (const [name, redis] of redises) {
    if (redis.public_network_access !== 'Disabled')
      violations.push(`Redis ${name} has a public endpoint (public_network_access)`);
    const database = first(redis.default_database) ?? {};
    if (database.client_protocol !== 'Encrypted')
      violations.push(`Redis ${name} accepts plain-text connections (client_protocol)`);
    if (database.eviction_policy !== 'NoEviction')
      violations.push(`Redis ${name} may evict BullMQ's keys (eviction_policy must be NoEviction)`);
  }
  // Azure Cache for Redis is being retired, and its non-TLS port is one setting away.
  for (const [name] of resources(json, 'azurerm_redis_cache'))
    violations.push(`azurerm_redis_cache ${name}: use Azure Managed Redis (azurerm_managed_redis)`);
  const privateRedis = resources(json, 'azurerm_private_endpoint').some(([, endpoint]) =>
    list(first(endpoint.private_service_connection)?.subresource_names).includes('redisEnterprise'),
  );
  if (redises.length && !privateRedis) violations.push('Redis has no private endpoint');
  return violations;
}

function checkIdentities(json: TerraformJson): string[] {
  const violations: string[] = [];
  for (const [name, registry] of resources(json, 'azurerm_container_registry')) {
    if (registry.admin_enabled !== false)
      violations.push(`registry ${name} has its admin user (a password) enabled`);
    if (registry.anonymous_pull_enabled === true)
      violations.push(`registry ${name} lets anyone pull`);
  }
  for (const [name, vault] of resources(json, 'azurerm_key_vault')) {
    if (vault.rbac_authorization_enabled !== true)
      violations.push(`Key Vault ${name} uses access policies, not RBAC`);
    if (vault.purge_protection_enabled !== true)
      violations.push(`Key Vault ${name} can be purged (purge_protection_enabled)`);
  }
  for (const type of ['azurerm_container_app', 'azurerm_container_app_job'])
    for (const [name, app] of resources(json, type)) {
      const identity = first(app.identity);
      if (!identity) violations.push(`${name} has no managed identity`);
      for (const registry of list(app.registry) as Json[])
        if (!registry.identity || registry.password_secret_name || registry.username)
          violations.push(
            `${name} pulls from ${String(registry.server)} with a password, not its identity`,
          );
      for (const secret of list(app.secret) as Json[])
        if (secret.value !== undefined || !secret.key_vault_secret_id || !secret.identity)
          violations.push(
            `${name} secret ${String(secret.name)} is not a Key Vault reference read by an identity`,
          );
    }
  return violations;
}

interface Container {
  where: string;
  container: Json;
  job: boolean;
}

function containers(json: TerraformJson): Container[] {
  return (['azurerm_container_app', 'azurerm_container_app_job'] as const).flatMap((type) =>
    resources(json, type).flatMap(([name, app]) =>
      (list(first(app.template)?.container) as Json[]).map((container) => ({
        where: `${name}/${String(container.name)}`,
        container,
        job: type === 'azurerm_container_app_job',
      })),
    ),
  );
}

function checkContainers(json: TerraformJson): string[] {
  const violations: string[] = [];
  for (const { where, container, job } of containers(json)) {
    if (container.cpu === undefined || container.memory === undefined)
      violations.push(`${where} has no CPU or memory limit`);
    // A job runs to its end; a probe would only restart it.
    if (!job && (!list(container.liveness_probe).length || !list(container.readiness_probe).length))
      violations.push(`${where} has no liveness or readiness probe`);
    const tag = tagOf(String(container.image));
    if (tag === undefined || tag === 'latest')
      violations.push(`${where} runs ${String(container.image)}: pin a version, not latest`);
    for (const entry of list(container.env) as Json[]) {
      const envName = String(entry.name);
      if (entry.value !== undefined && SECRET_ENV.test(envName) && !OPEN_URLS.has(envName))
        violations.push(`${where} ${envName} is a plain value: a credential comes from a secret`);
    }
  }
  for (const [name, app] of resources(json, 'azurerm_container_app')) {
    const ingress = first(app.ingress);
    if (ingress && ingress.allow_insecure_connections !== false)
      violations.push(`${name} ingress accepts plain HTTP (allow_insecure_connections)`);
  }
  const vaultSecrets = new Map(
    resources(json, 'azurerm_key_vault_secret').map(([, secret]) => [
      String(secret.name),
      String(secret.value),
    ]),
  );
  if (!vaultSecrets.get('database-url')?.includes('sslmode=verify-full'))
    violations.push('the database URL does not verify the server (sslmode=verify-full)');
  if (!vaultSecrets.get('redis-url')?.startsWith('rediss://'))
    violations.push('the Redis URL is not TLS (rediss://)');
  return violations;
}

export function checkContainerApps(json: TerraformJson, secretValues: string[]): string[] {
  return [
    ...checkData(json),
    ...checkIdentities(json),
    ...checkContainers(json),
    ...checkNoSecretLiterals({ 'container-apps': json }, secretValues),
  ];
}
