// The VM's network: a virtual network with one subnet, a network security group that lets in
// SSH from the configured admin networks and HTTP/HTTPS from anywhere (nothing else), a static
// Standard public IP and the VM's network interface.
import { isIP } from 'node:net';
import { Construct } from 'constructs';
import { NetworkInterface } from '@cdktf/provider-azurerm/lib/network-interface/index.js';
import { NetworkSecurityGroup } from '@cdktf/provider-azurerm/lib/network-security-group/index.js';
import { NetworkSecurityRule } from '@cdktf/provider-azurerm/lib/network-security-rule/index.js';
import { PublicIp } from '@cdktf/provider-azurerm/lib/public-ip/index.js';
import type { ResourceGroup } from '@cdktf/provider-azurerm/lib/resource-group/index.js';
import { Subnet } from '@cdktf/provider-azurerm/lib/subnet/index.js';
import { SubnetNetworkSecurityGroupAssociation } from '@cdktf/provider-azurerm/lib/subnet-network-security-group-association/index.js';
import { VirtualNetwork } from '@cdktf/provider-azurerm/lib/virtual-network/index.js';

/** The VM's private address space (only the VM lives there). */
export const VNET_CIDR = '10.42.0.0/16';
export const SUBNET_CIDR = '10.42.1.0/24';

/** Ports open to the whole internet: SWAG's HTTP (certificates, redirect) and HTTPS. */
export const PUBLIC_PORTS = [80, 443] as const;

export interface VmNetworkProps {
  name: string;
  resourceGroup: ResourceGroup;
  /** Networks allowed to reach SSH; IPv4 and IPv6 get one rule each (Azure keeps them apart). */
  sshAllowedCidrs: string[];
}

export class VmNetwork extends Construct {
  readonly subnet: Subnet;
  readonly securityGroup: NetworkSecurityGroup;
  readonly publicIp: PublicIp;
  readonly networkInterface: NetworkInterface;
  readonly securityGroupAssociation: SubnetNetworkSecurityGroupAssociation;

  constructor(scope: Construct, id: string, props: VmNetworkProps) {
    super(scope, id);
    const rg = props.resourceGroup;
    const where = { resourceGroupName: rg.name, location: rg.location };

    const vnet = new VirtualNetwork(this, 'vnet', {
      ...where,
      name: `vnet-${props.name}`,
      addressSpace: [VNET_CIDR],
    });
    this.subnet = new Subnet(this, 'subnet', {
      name: `snet-${props.name}`,
      resourceGroupName: rg.name,
      virtualNetworkName: vnet.name,
      addressPrefixes: [SUBNET_CIDR],
    });

    this.securityGroup = new NetworkSecurityGroup(this, 'nsg', {
      ...where,
      name: `nsg-${props.name}`,
    });
    const rule = (id: string, priority: number, port: number, sources: string[], what: string) =>
      new NetworkSecurityRule(this, id, {
        name: id,
        description: what,
        resourceGroupName: rg.name,
        networkSecurityGroupName: this.securityGroup.name,
        priority,
        direction: 'Inbound',
        access: 'Allow',
        protocol: 'Tcp',
        sourcePortRange: '*',
        destinationPortRange: String(port),
        destinationAddressPrefix: '*',
        ...(sources.length === 1
          ? { sourceAddressPrefix: sources[0] }
          : { sourceAddressPrefixes: sources }),
      });
    const v4 = props.sshAllowedCidrs.filter((cidr) => isIP(cidr.split('/')[0]!) === 4);
    const v6 = props.sshAllowedCidrs.filter((cidr) => isIP(cidr.split('/')[0]!) === 6);
    if (v4.length) rule('allow-ssh-admins-v4', 100, 22, v4, 'SSH from the admin networks (IPv4)');
    if (v6.length) rule('allow-ssh-admins-v6', 101, 22, v6, 'SSH from the admin networks (IPv6)');
    PUBLIC_PORTS.forEach((port, index) =>
      rule(`allow-${port}-internet`, 200 + index * 10, port, ['Internet'], `SWAG on ${port}`),
    );
    // Everything else inbound meets Azure's own DenyAllInBound (priority 65500).
    this.securityGroupAssociation = new SubnetNetworkSecurityGroupAssociation(this, 'nsg-subnet', {
      subnetId: this.subnet.id,
      networkSecurityGroupId: this.securityGroup.id,
    });

    this.publicIp = new PublicIp(this, 'public-ip', {
      ...where,
      name: `pip-${props.name}`,
      sku: 'Standard',
      allocationMethod: 'Static',
      ipVersion: 'IPv4',
    });
    this.networkInterface = new NetworkInterface(this, 'nic', {
      ...where,
      name: `nic-${props.name}`,
      ipConfiguration: [
        {
          name: 'primary',
          subnetId: this.subnet.id,
          privateIpAddressAllocation: 'Dynamic',
          publicIpAddressId: this.publicIp.id,
        },
      ],
    });
  }
}
