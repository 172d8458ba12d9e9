// The managed state of a Container Apps deployment, reachable only from its virtual network:
// PostgreSQL Flexible Server with VNet integration (a delegated subnet and a private DNS zone; no
// public endpoint; TLS 1.2+ required) and Azure Managed Redis behind a private endpoint (TLS only,
// public access disabled, noeviction as BullMQ requires).
import { Construct } from 'constructs';
import { ManagedRedis } from '@cdktf/provider-azurerm/lib/managed-redis/index.js';
import { PostgresqlFlexibleServer } from '@cdktf/provider-azurerm/lib/postgresql-flexible-server/index.js';
import { PostgresqlFlexibleServerConfiguration } from '@cdktf/provider-azurerm/lib/postgresql-flexible-server-configuration/index.js';
import { PostgresqlFlexibleServerDatabase } from '@cdktf/provider-azurerm/lib/postgresql-flexible-server-database/index.js';
import { PrivateDnsZone } from '@cdktf/provider-azurerm/lib/private-dns-zone/index.js';
import { PrivateDnsZoneVirtualNetworkLink } from '@cdktf/provider-azurerm/lib/private-dns-zone-virtual-network-link/index.js';
import { PrivateEndpoint } from '@cdktf/provider-azurerm/lib/private-endpoint/index.js';
import type { ResourceGroup } from '@cdktf/provider-azurerm/lib/resource-group/index.js';
import { Subnet } from '@cdktf/provider-azurerm/lib/subnet/index.js';
import { VirtualNetwork } from '@cdktf/provider-azurerm/lib/virtual-network/index.js';
import { DATABASE_NAME, DATABASE_USER } from '../../contract/database.ts';
import { vnetPlan, type ContainerAppsConfig } from '../../templates/container-apps.ts';

/** Azure Managed Redis listens on this port, TLS only. */
export const MANAGED_REDIS_PORT = 10000;

export class CaNetwork extends Construct {
  readonly vnet: VirtualNetwork;
  readonly apps: Subnet;
  readonly postgres: Subnet;
  readonly privateEndpoints: Subnet;

  constructor(
    scope: Construct,
    id: string,
    props: { config: ContainerAppsConfig; resourceGroup: ResourceGroup },
  ) {
    super(scope, id);
    const plan = vnetPlan(props.config);
    const group = props.resourceGroup;
    this.vnet = new VirtualNetwork(this, 'vnet', {
      name: `vnet-${props.config.name}`,
      resourceGroupName: group.name,
      location: group.location,
      addressSpace: [plan.addressSpace],
    });
    const subnet = (name: string, prefix: string, service?: string) =>
      new Subnet(this, name, {
        name: `snet-${name}`,
        resourceGroupName: group.name,
        virtualNetworkName: this.vnet.name,
        addressPrefixes: [prefix],
        ...(service
          ? {
              delegation: [
                {
                  name: service.split('/')[0]!,
                  serviceDelegation: { name: service },
                },
              ],
            }
          : {}),
      });
    this.apps = subnet('apps', plan.apps, 'Microsoft.App/environments');
    this.postgres = subnet('postgres', plan.postgres, 'Microsoft.DBforPostgreSQL/flexibleServers');
    this.privateEndpoints = subnet('private-endpoints', plan.privateEndpoints);
  }

  /** A private DNS zone that resolves inside this network only, and its link to the network. */
  privateZone(
    id: string,
    name: string,
    group: ResourceGroup,
  ): { zone: PrivateDnsZone; link: PrivateDnsZoneVirtualNetworkLink } {
    const zone = new PrivateDnsZone(this, `zone-${id}`, { name, resourceGroupName: group.name });
    const link = new PrivateDnsZoneVirtualNetworkLink(this, `zone-${id}-link`, {
      name: `link-${id}`,
      resourceGroupName: group.name,
      privateDnsZoneName: zone.name,
      virtualNetworkId: this.vnet.id,
    });
    return { zone, link };
  }
}

export class CaPostgres extends Construct {
  readonly server: PostgresqlFlexibleServer;
  readonly database: PostgresqlFlexibleServerDatabase;

  constructor(
    scope: Construct,
    id: string,
    props: {
      config: ContainerAppsConfig;
      resourceGroup: ResourceGroup;
      network: CaNetwork;
      serverName: string;
      password: string;
    },
  ) {
    super(scope, id);
    const { postgres } = props.config.containerApps;
    const group = props.resourceGroup;
    const { zone, link } = props.network.privateZone(
      'postgres',
      `${props.config.name}.private.postgres.database.azure.com`,
      group,
    );
    this.server = new PostgresqlFlexibleServer(this, 'server', {
      name: props.serverName,
      resourceGroupName: group.name,
      location: group.location,
      version: postgres.version,
      skuName: postgres.sku,
      storageMb: postgres.storageGiB * 1024,
      autoGrowEnabled: true,
      backupRetentionDays: postgres.backupRetentionDays,
      geoRedundantBackupEnabled: postgres.geoRedundantBackup,
      delegatedSubnetId: props.network.postgres.id,
      privateDnsZoneId: zone.id,
      publicNetworkAccessEnabled: false,
      administratorLogin: DATABASE_USER,
      administratorPassword: props.password,
      ...(postgres.highAvailability === 'off'
        ? {}
        : { highAvailability: { mode: postgres.highAvailability } }),
      lifecycle: {
        // Azure picks the zone (and moves it on a failover); Terraform must not move it back.
        ignoreChanges: ['zone', 'high_availability[0].standby_availability_zone'],
      },
      // The server registers its name in the zone, which must already resolve in the network.
      dependsOn: [link],
    });
    // TLS is required by default on Flexible Server; said here so no one turns it off unseen.
    for (const [name, value] of [
      ['require_secure_transport', 'ON'],
      ['ssl_min_protocol_version', 'TLSv1.2'],
    ] as const)
      new PostgresqlFlexibleServerConfiguration(this, name, {
        name,
        serverId: this.server.id,
        value,
      });
    this.database = new PostgresqlFlexibleServerDatabase(this, 'database', {
      name: DATABASE_NAME,
      serverId: this.server.id,
      charset: 'UTF8',
      collation: 'en_US.utf8',
    });
  }
}

export class CaRedis extends Construct {
  readonly redis: ManagedRedis;
  /** The host name the apps connect to: the public one, resolved privately in the network. */
  readonly hostname: string;
  readonly accessKey: string;

  constructor(
    scope: Construct,
    id: string,
    props: {
      config: ContainerAppsConfig;
      resourceGroup: ResourceGroup;
      network: CaNetwork;
      name: string;
    },
  ) {
    super(scope, id);
    const { redis } = props.config.containerApps;
    const group = props.resourceGroup;
    this.redis = new ManagedRedis(this, 'redis', {
      name: props.name,
      resourceGroupName: group.name,
      location: group.location,
      skuName: redis.sku,
      highAvailabilityEnabled: redis.highAvailability,
      publicNetworkAccess: 'Disabled',
      defaultDatabase: {
        clientProtocol: 'Encrypted',
        // One endpoint behind Redis's proxy; BullMQ's keys share a hash tag (QUEUE_PREFIX), so
        // its multi-key scripts stay inside one slot.
        clusteringPolicy: 'EnterpriseCluster',
        // BullMQ's jobs must never be evicted to make room: a full Redis refuses writes instead.
        evictionPolicy: 'NoEviction',
        // Key-based auth: the key lives in Key Vault only, read by the apps' identity.
        accessKeysAuthenticationEnabled: true,
      },
    });
    const { zone } = props.network.privateZone('redis', 'privatelink.redis.azure.net', group);
    new PrivateEndpoint(this, 'endpoint', {
      name: `pe-${props.name}`,
      resourceGroupName: group.name,
      location: group.location,
      subnetId: props.network.privateEndpoints.id,
      privateServiceConnection: {
        name: `psc-${props.name}`,
        privateConnectionResourceId: this.redis.id,
        subresourceNames: ['redisEnterprise'],
        isManualConnection: false,
      },
      privateDnsZoneGroup: { name: 'redis', privateDnsZoneIds: [zone.id] },
    });
    this.hostname = this.redis.hostname;
    this.accessKey = this.redis.defaultDatabase.primaryAccessKey;
  }
}
