// Stack "azure" with cdktf's Testing helpers: the resources and the properties that matter (who
// reaches which port, how the VM boots and who logs in, the names in DNS, tags, outputs), for
// the committed example and for a configuration that turns on every option.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DataAzurermDnsZone } from '@cdktf/provider-azurerm/lib/data-azurerm-dns-zone/index.js';
import { DnsARecord } from '@cdktf/provider-azurerm/lib/dns-a-record/index.js';
import { DnsZone } from '@cdktf/provider-azurerm/lib/dns-zone/index.js';
import { LinuxVirtualMachine } from '@cdktf/provider-azurerm/lib/linux-virtual-machine/index.js';
import { ManagedDisk } from '@cdktf/provider-azurerm/lib/managed-disk/index.js';
import { NetworkSecurityRule } from '@cdktf/provider-azurerm/lib/network-security-rule/index.js';
import { PublicIp } from '@cdktf/provider-azurerm/lib/public-ip/index.js';
import { VirtualMachineDataDiskAttachment } from '@cdktf/provider-azurerm/lib/virtual-machine-data-disk-attachment/index.js';
import { RENDERED } from '../../contract/paths.ts';
import type { DeploymentConfig } from '../../templates/config.ts';
import { configFixture } from '../../templates/test/helpers/deployment.ts';
import { UNTAGGABLE } from '../policy.ts';
import { UBUNTU_IMAGE } from '../stacks/azure.ts';
import {
  assertDataSource,
  assertResource,
  exampleConfig,
  resourcesOf,
  synthStacks,
  testInputs,
  type Synthesized,
} from './helpers.ts';

const fixture = configFixture();
after(() => fixture.remove());

let example: Synthesized;
let exampleCfg: DeploymentConfig;
/** Everything on: a data disk, Prometheus published, an existing zone, remote state, tags. */
let full: Synthesized;
let fullCfg: DeploymentConfig;

before(async () => {
  exampleCfg = await exampleConfig();
  example = synthStacks(testInputs(exampleCfg));
  fullCfg = fixture.config({
    dns: { mode: 'existing-zone', resourceGroup: 'rg-dns' },
    azure: {
      location: 'northeurope',
      remoteState: {
        resourceGroup: 'rg-tfstate',
        storageAccount: 'refreshertfstate',
        container: 'tfstate',
      },
      tags: { owner: 'ops@example.test', 'cost-center': '42' },
    },
    vm: {
      size: 'Standard_D2s_v5',
      adminUsername: 'operator',
      sshPublicKeyPath: fixture.keyPath,
      sshAllowedCidrs: ['198.51.100.0/24', '203.0.113.7/32', '2001:db8::/48'],
      osDiskGiB: 128,
      osDiskType: 'Premium_LRS',
      dataDiskGiB: 256,
      dataDiskType: 'Premium_LRS',
    },
  });
  full = synthStacks(testInputs(fullCfg));
});

describe('stack "azure"', () => {
  test('SSH only from the admin networks, 80 and 443 from the internet, nothing else', () => {
    const rules = resourcesOf(example.azureJson, 'azurerm_network_security_rule').map(
      ([, rule]) => rule,
    );
    assert.deepEqual(
      rules
        .map((rule) => ({
          port: rule.destination_port_range,
          from: rule.source_address_prefix ?? rule.source_address_prefixes,
          access: rule.access,
          direction: rule.direction,
          protocol: rule.protocol,
        }))
        .sort((a, b) => Number(a.port) - Number(b.port)),
      [
        {
          port: '22',
          from: '203.0.113.7/32',
          access: 'Allow',
          direction: 'Inbound',
          protocol: 'Tcp',
        },
        { port: '80', from: 'Internet', access: 'Allow', direction: 'Inbound', protocol: 'Tcp' },
        { port: '443', from: 'Internet', access: 'Allow', direction: 'Inbound', protocol: 'Tcp' },
      ],
    );
    // IPv4 and IPv6 networks get a rule each (Azure does not mix families in one rule).
    assertResource(full.azure, NetworkSecurityRule, {
      name: 'allow-ssh-admins-v4',
      destination_port_range: '22',
      source_address_prefixes: ['198.51.100.0/24', '203.0.113.7/32'],
    });
    assertResource(full.azure, NetworkSecurityRule, {
      name: 'allow-ssh-admins-v6',
      destination_port_range: '22',
      source_address_prefix: '2001:db8::/48',
    });
    // The group guards the subnet the VM's interface is in.
    assert.equal(
      resourcesOf(example.azureJson, 'azurerm_subnet_network_security_group_association').length,
      1,
    );
  });

  test('a static Standard public IP', () => {
    assertResource(example.azure, PublicIp, {
      name: 'pip-refresher',
      sku: 'Standard',
      allocation_method: 'Static',
      ip_version: 'IPv4',
    });
  });

  test('the VM: Ubuntu 24.04 LTS, keys only, the rendered cloud-init, disks from the config', () => {
    assertResource(example.azure, LinuxVirtualMachine, {
      name: 'vm-refresher',
      size: exampleCfg.vm.size,
      admin_username: 'azureuser',
      disable_password_authentication: true,
      admin_ssh_key: [{ username: 'azureuser', public_key: exampleCfg.vm.sshPublicKeyPath.key }],
      source_image_reference: { ...UBUNTU_IMAGE },
      os_disk: {
        caching: 'ReadWrite',
        disk_size_gb: 64,
        storage_account_type: 'StandardSSD_LRS',
        name: 'osdisk-refresher',
      },
      boot_diagnostics: {},
    });
    const [, vm] = resourcesOf(example.azureJson, 'azurerm_linux_virtual_machine')[0]!;
    assert.equal(vm.admin_password, undefined);
    assert.equal(
      Buffer.from(String(vm.custom_data), 'base64').toString('utf8'),
      example.inputs.files.get(RENDERED.cloudInit)!.content,
      'custom data is the rendered user-data, base64-encoded',
    );
    assert.deepEqual((vm.lifecycle as { ignore_changes: string[] }).ignore_changes, [
      'custom_data',
    ]);
    assertResource(full.azure, LinuxVirtualMachine, {
      size: 'Standard_D2s_v5',
      admin_username: 'operator',
      os_disk: { disk_size_gb: 128, storage_account_type: 'Premium_LRS' },
    });
  });

  test('an optional managed data disk on LUN 0, where cloud-init looks for it', () => {
    assert.equal(resourcesOf(example.azureJson, 'azurerm_managed_disk').length, 0);
    assertResource(full.azure, ManagedDisk, {
      create_option: 'Empty',
      disk_size_gb: 256,
      storage_account_type: 'Premium_LRS',
    });
    assertResource(full.azure, VirtualMachineDataDiskAttachment, { lun: 0, caching: 'ReadWrite' });
    assert.match(full.inputs.files.get(RENDERED.cloudInit)!.content, /scsi1\/lun0/);
  });

  test('DNS: a created zone with its name servers as output, or an existing one', () => {
    assertResource(example.azure, DnsZone, { name: 'lab.example.com' });
    for (const sub of ['speed', 'grafana'])
      assertResource(example.azure, DnsARecord, {
        name: sub,
        ttl: 300,
        records: ['${azurerm_public_ip.network_public-ip_C35206F5.ip_address}'],
      });
    assert.equal(resourcesOf(example.azureJson, 'azurerm_dns_a_record').length, 2);
    assert.ok(example.azureJson.output?.name_servers);

    assert.equal(resourcesOf(full.azureJson, 'azurerm_dns_zone').length, 0);
    assertDataSource(full.azure, DataAzurermDnsZone, {
      name: 'example.test',
      resource_group_name: 'rg-dns',
    });
    assertResource(full.azure, DnsARecord, { name: 'prometheus', resource_group_name: 'rg-dns' });
    assert.equal(resourcesOf(full.azureJson, 'azurerm_dns_a_record').length, 3);
    assert.equal(full.azureJson.output?.name_servers, undefined);
  });

  test('DNS: a subdomain inside an existing zone, and external DNS with no zone at all', () => {
    const inside = synthStacks(
      testInputs(
        fixture.config({
          domain: 'lab.example.test',
          dns: { mode: 'existing-zone', resourceGroup: 'rg-dns', zone: 'example.test' },
        }),
      ),
    );
    assertDataSource(inside.azure, DataAzurermDnsZone, { name: 'example.test' });
    assertResource(inside.azure, DnsARecord, { name: 'speed.lab', resource_group_name: 'rg-dns' });

    const external = synthStacks(testInputs(fixture.config({ dns: { mode: 'external' } })));
    for (const type of ['azurerm_dns_zone', 'azurerm_dns_a_record'])
      assert.equal(resourcesOf(external.azureJson, type).length, 0, type);
    assert.equal(external.azureJson.data?.azurerm_dns_zone, undefined);
    assert.equal(external.azureJson.output?.name_servers, undefined);
    assert.ok(external.azureJson.output?.fqdns, 'the names are still an output');
  });

  test('tags on every resource that takes them', () => {
    for (const [synth, config] of [
      [example, exampleCfg],
      [full, fullCfg],
    ] as const) {
      let tagged = 0;
      for (const [type, byName] of Object.entries(synth.azureJson.resource ?? {})) {
        if (!type.startsWith('azurerm_') || UNTAGGABLE.has(type)) continue;
        for (const [name, resource] of Object.entries(byName)) {
          assert.deepEqual(
            resource.tags,
            { ...config.azure.tags, project: config.name, 'managed-by': 'cdktf' },
            `${type}.${name}`,
          );
          tagged++;
        }
      }
      assert.ok(tagged >= 8, `${tagged} tagged resources`);
    }
  });

  test('outputs: the address, the names, SSH; local state by default, Azure storage when set', () => {
    const outputs = example.azureJson.output!;
    assert.deepEqual(outputs.fqdns!.value, {
      speedtester: 'speed.lab.example.com',
      grafana: 'grafana.lab.example.com',
    });
    assert.match(
      String(outputs.ssh!.value),
      /^ssh azureuser@\$\{azurerm_public_ip\.[^}]+\.ip_address\}$/,
    );
    assert.match(String(outputs.public_ip!.value), /^\$\{azurerm_public_ip\./);
    assert.match(String(outputs.docker_host!.value), /^ssh:\/\/deploy@\$\{azurerm_public_ip\./);
    assert.deepEqual(example.azureJson.terraform!.backend, {
      local: { path: '../../../.state/terraform.azure.tfstate' },
    });
    assert.deepEqual(full.azureJson.terraform!.backend, {
      azurerm: {
        resource_group_name: 'rg-tfstate',
        storage_account_name: 'refreshertfstate',
        container_name: 'tfstate',
        key: 'refresher-test.azure.tfstate',
        use_azuread_auth: true,
      },
    });
  });

  test('deploy waits until the VM runs Docker for the deploy user over SSH', () => {
    const [[, ready]] = resourcesOf(example.azureJson, 'terraform_data') as [
      [string, Record<string, unknown>],
    ];
    const exec = (ready.provisioner as Record<string, { command: string }>[])[0]!['local-exec']!;
    assert.match(
      exec.command,
      /ssh .*-o StrictHostKeyChecking=accept-new .*deploy@\$\{self\.input\.address\}/,
    );
    assert.match(exec.command, /cloud-init status --wait/);
    assert.match(exec.command, /docker info/);
    assert.ok(
      (ready.depends_on as string[]).some((dep) =>
        dep.startsWith('azurerm_linux_virtual_machine.'),
      ),
    );
    const fullReady = resourcesOf(full.azureJson, 'terraform_data')[0]![1];
    assert.ok(
      (fullReady.depends_on as string[]).some((dep) =>
        dep.startsWith('azurerm_virtual_machine_data_disk_attachment.'),
      ),
      'with a data disk, ready waits for its attachment too',
    );
  });
});
