// Stack "azure": everything Azure holds for a deployment. A resource group; the VM's network
// (infra/constructs/network.ts); an Ubuntu 24.04 LTS VM that logs in with SSH keys only and turns
// itself into a Docker host from the rendered cloud-init; an optional managed data disk for
// Docker's data; the A record of each public name in an Azure DNS zone (unless DNS is external);
// tags everywhere; and a wait until the VM's Docker answers over SSH.
import {
  Aspects,
  DataResource,
  TerraformOutput,
  TerraformStack,
  type ITerraformDependable,
} from 'cdktf';
import type { Construct } from 'constructs';
import { LinuxVirtualMachine } from '@cdktf/provider-azurerm/lib/linux-virtual-machine/index.js';
import { ManagedDisk } from '@cdktf/provider-azurerm/lib/managed-disk/index.js';
import { AzurermProvider } from '@cdktf/provider-azurerm/lib/provider/index.js';
import { ResourceGroup } from '@cdktf/provider-azurerm/lib/resource-group/index.js';
import { VirtualMachineDataDiskAttachment } from '@cdktf/provider-azurerm/lib/virtual-machine-data-disk-attachment/index.js';
import { RENDERED } from '../../contract/paths.ts';
import { DEPLOY_USER } from '../../templates/cloud-init.ts';
import { publicHosts } from '../../templates/config.ts';
import { configureBackend } from '../constructs/backend.ts';
import { DnsRecords } from '../constructs/dns.ts';
import { VmNetwork } from '../constructs/network.ts';
import { stackSshOptions } from '../constructs/ssh.ts';
import { deploymentTags, TagsAspect } from '../constructs/tags.ts';
import { vmReadyScript } from '../constructs/vm-ready.ts';
import type { DeploymentInputs } from '../inputs.ts';

export const AZURE_STACK = 'azure';

/** Ubuntu 24.04 LTS (Noble), Gen2, from Canonical's marketplace offer. */
export const UBUNTU_IMAGE = {
  publisher: 'Canonical',
  offer: 'ubuntu-24_04-lts',
  sku: 'server',
  version: 'latest',
} as const;

/** Minutes the azure apply waits for first boot (packages, Docker) before giving up. */
export const VM_READY_MINUTES = 15;

export class AzureStack extends TerraformStack {
  /** The VM's static public address. */
  readonly publicIpAddress: string;
  /** Where the services stack's docker provider connects: ssh://deploy@<address>. */
  readonly dockerHost: string;

  constructor(scope: Construct, inputs: DeploymentInputs, outDir: string) {
    super(scope, AZURE_STACK);
    const { config } = inputs;
    configureBackend(this, {
      config,
      stateDir: inputs.stateDir,
      outDir,
      stackName: AZURE_STACK,
    });
    new AzurermProvider(this, 'azurerm', {
      // The subscription comes from ARM_SUBSCRIPTION_ID or the Azure CLI's current account.
      features: [{}],
    });
    Aspects.of(this).add(new TagsAspect(deploymentTags(config)));

    const name = config.name;
    const vmConfig = config.vm;
    const resourceGroup = new ResourceGroup(this, 'resource-group', {
      name: `rg-${name}`,
      location: config.azure.location,
    });
    const network = new VmNetwork(this, 'network', {
      name,
      resourceGroup,
      sshAllowedCidrs: vmConfig.sshAllowedCidrs,
    });

    const cloudInit = inputs.files.get(RENDERED.cloudInit)!.content;
    const vm = new LinuxVirtualMachine(this, 'vm', {
      name: `vm-${name}`,
      computerName: name,
      resourceGroupName: resourceGroup.name,
      location: resourceGroup.location,
      size: vmConfig.size,
      networkInterfaceIds: [network.networkInterface.id],
      adminUsername: vmConfig.adminUsername,
      adminSshKey: [{ username: vmConfig.adminUsername, publicKey: vmConfig.sshPublicKeyPath.key }],
      disablePasswordAuthentication: true,
      sourceImageReference: { ...UBUNTU_IMAGE },
      osDisk: {
        name: `osdisk-${name}`,
        caching: 'ReadWrite',
        storageAccountType: vmConfig.osDiskType,
        diskSizeGb: vmConfig.osDiskGiB,
      },
      customData: Buffer.from(cloudInit).toString('base64'),
      // Boot logs and the serial console, in a storage account Azure manages.
      bootDiagnostics: {},
      lifecycle: {
        // cloud-init runs on first boot only: a changed user-data would replace the VM (and the
        // Docker volumes on its OS disk). Replace it on purpose: terraform apply -replace in
        // cdktf.out/stacks/azure (see docs/infrastructure.md).
        ignoreChanges: ['custom_data'],
      },
    });

    const dependencies: ITerraformDependable[] = [vm, network.securityGroupAssociation];
    if (vmConfig.dataDiskGiB > 0) {
      const disk = new ManagedDisk(this, 'data-disk', {
        name: `disk-${name}-data`,
        resourceGroupName: resourceGroup.name,
        location: resourceGroup.location,
        storageAccountType: vmConfig.dataDiskType,
        createOption: 'Empty',
        diskSizeGb: vmConfig.dataDiskGiB,
      });
      // LUN 0: cloud-init waits for /dev/disk/azure/scsi1/lun0, formats it once and mounts it
      // where Docker keeps its data.
      dependencies.push(
        new VirtualMachineDataDiskAttachment(this, 'data-disk-attachment', {
          managedDiskId: disk.id,
          virtualMachineId: vm.id,
          lun: 0,
          caching: 'ReadWrite',
        }),
      );
    }

    const address = network.publicIp.ipAddress;
    const dns = new DnsRecords(this, 'dns', { config, resourceGroup, address });

    // Ready means: cloud-init has finished and the deploy user reaches Docker over SSH, which is
    // what the services stack's provider does next. Runs on the machine that deploys, with the
    // ssh options the docker provider uses (the configured key only, one shared connection);
    // accepts the new host key once. A failed first boot stops it with cloud-init's log lines.
    new DataResource(this, 'vm-ready', {
      input: { address },
      triggersReplace: { vm: vm.id },
      dependsOn: dependencies,
      provisioners: [
        {
          type: 'local-exec',
          interpreter: ['/bin/sh', '-c'],
          command: vmReadyScript({
            address: '${self.input.address}',
            adminUsername: vmConfig.adminUsername,
            sshOptions: stackSshOptions(config, outDir, AZURE_STACK),
            minutes: VM_READY_MINUTES,
          }),
        },
      ],
    });

    this.publicIpAddress = address;
    this.dockerHost = `ssh://${DEPLOY_USER}@${address}`;

    new TerraformOutput(this, 'public_ip', {
      value: address,
      description: "The VM's static public address",
    });
    new TerraformOutput(this, 'fqdns', {
      value: Object.fromEntries(publicHosts(config).map((host) => [host.site, host.fqdn])),
      description: 'The public names, each an A record to the address',
    });
    new TerraformOutput(this, 'ssh', {
      value: `ssh ${vmConfig.adminUsername}@${address}`,
      description: 'SSH as the admin (sudo) user',
    });
    new TerraformOutput(this, 'docker_host', {
      value: this.dockerHost,
      description: 'DOCKER_HOST for the Docker CLI on this machine (the deploy user: Docker only)',
    });
    if (dns.nameServers)
      new TerraformOutput(this, 'name_servers', {
        value: dns.nameServers,
        description: `The name servers of the zone ${config.domain}: NS records for it at the parent's DNS host (subdomain-zone) or at the registrar (domain-zone)`,
      });
  }
}
