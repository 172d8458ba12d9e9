// The deployment's names: an A record for each public subdomain, in the DNS zone of the domain,
// which the stack either creates (and outputs its name servers for the registrar) or finds.
import { Construct } from 'constructs';
import { DataAzurermDnsZone } from '@cdktf/provider-azurerm/lib/data-azurerm-dns-zone/index.js';
import { DnsARecord } from '@cdktf/provider-azurerm/lib/dns-a-record/index.js';
import { DnsZone } from '@cdktf/provider-azurerm/lib/dns-zone/index.js';
import type { ResourceGroup } from '@cdktf/provider-azurerm/lib/resource-group/index.js';
import { publicHosts, type DeploymentConfig } from '../../templates/config.ts';

/** Short, so a new address (a rebuilt VM) reaches clients within minutes. */
export const RECORD_TTL_SECONDS = 300;

export class DnsRecords extends Construct {
  /** The zone's name servers when this stack created the zone. */
  readonly nameServers?: string[];
  readonly records: DnsARecord[];

  constructor(
    scope: Construct,
    id: string,
    props: { config: DeploymentConfig; resourceGroup: ResourceGroup; address: string },
  ) {
    super(scope, id);
    const { config } = props;
    const mode = config.azure.dnsZone;
    let zoneName: string;
    let zoneResourceGroup: string;
    if (mode.mode === 'create') {
      const zone = new DnsZone(this, 'zone', {
        name: config.domain,
        resourceGroupName: props.resourceGroup.name,
      });
      zoneName = zone.name;
      zoneResourceGroup = zone.resourceGroupName;
      this.nameServers = zone.nameServers;
    } else {
      const zone = new DataAzurermDnsZone(this, 'zone', {
        name: config.domain,
        resourceGroupName: mode.resourceGroup,
      });
      zoneName = zone.name;
      zoneResourceGroup = mode.resourceGroup;
    }
    this.records = publicHosts(config).map(
      (host) =>
        new DnsARecord(this, `a-${host.site}`, {
          name: host.subdomain,
          zoneName,
          resourceGroupName: zoneResourceGroup,
          ttl: RECORD_TTL_SECONDS,
          records: [props.address],
        }),
    );
  }
}
