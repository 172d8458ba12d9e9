// The deployment's names: an A record for each public name, in the Azure DNS zone the
// configuration names (templates/config.ts dnsZone): a zone this stack creates (for a subdomain
// delegated from the current DNS host, or for a domain of its own; its name servers are an
// output) or a zone that exists already. With external DNS there is no zone here: the deploy
// prints the records to add and waits for them (scripts/deploy.ts, scripts/lib/dns-check.ts).
import { Construct } from 'constructs';
import { DataAzurermDnsZone } from '@cdktf/provider-azurerm/lib/data-azurerm-dns-zone/index.js';
import { DnsARecord } from '@cdktf/provider-azurerm/lib/dns-a-record/index.js';
import { DnsZone } from '@cdktf/provider-azurerm/lib/dns-zone/index.js';
import type { ResourceGroup } from '@cdktf/provider-azurerm/lib/resource-group/index.js';
import { dnsZone, publicHosts, recordName, type DeploymentConfig } from '../../templates/config.ts';

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
    const zone = dnsZone(config);
    if (!zone) {
      this.records = [];
      return;
    }
    let zoneName: string;
    let zoneResourceGroup: string;
    if (zone.created) {
      const created = new DnsZone(this, 'zone', {
        name: zone.name,
        resourceGroupName: props.resourceGroup.name,
      });
      zoneName = created.name;
      zoneResourceGroup = created.resourceGroupName;
      this.nameServers = created.nameServers;
    } else {
      const existing = new DataAzurermDnsZone(this, 'zone', {
        name: zone.name,
        resourceGroupName: zone.resourceGroup!,
      });
      zoneName = existing.name;
      zoneResourceGroup = zone.resourceGroup!;
    }
    this.records = publicHosts(config).map(
      (host) =>
        new DnsARecord(this, `a-${host.site}`, {
          name: recordName(host.fqdn, zone.name),
          zoneName,
          resourceGroupName: zoneResourceGroup,
          ttl: RECORD_TTL_SECONDS,
          records: [props.address],
        }),
    );
  }
}
