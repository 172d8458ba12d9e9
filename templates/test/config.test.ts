// The deployment configuration: the committed example is valid, defaults apply, and every kind of
// mistake is reported with the field's name, all at once.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DeploymentConfigError,
  loadDeploymentConfig,
  networkPlan,
  parseDeploymentConfig,
  swapGiB,
} from '../config.ts';
import { configFixture, validInput } from './helpers/deployment.ts';

const EXAMPLE = fileURLToPath(new URL('../../infra/deploy.config.example.ts', import.meta.url));
const fixture = configFixture();
after(() => fixture.remove());

/** The fields a DeploymentConfigError names, for an input. */
function faults(input: Record<string, unknown>): Map<string, string> {
  try {
    parseDeploymentConfig(input, join(fixture.path, 'deploy.config.json'));
  } catch (error) {
    assert.ok(error instanceof DeploymentConfigError, String(error));
    return new Map(error.problems.map((p) => [p.field, p.message]));
  }
  assert.fail('expected the configuration to be refused');
}

describe('deployment configuration', () => {
  test('the committed example loads, with its key file and defaults', async () => {
    const config = await loadDeploymentConfig(EXAMPLE);
    assert.equal(config.domain, 'lab.example.com');
    assert.deepEqual(config.dns, { mode: 'subdomain-zone' });
    assert.equal(config.subdomains.speedtester, 'speed');
    assert.equal(config.subdomains.prometheus, undefined);
    assert.match(config.vm.sshPublicKeyPath.key, /^ssh-ed25519 AAAA/);
    assert.ok(
      config.vm.sshPublicKeyPath.path.endsWith('/infra/example-admin-key.pub'),
      'relative to the file',
    );
    assert.equal(config.certbot.validation, 'http');
  });

  test('defaults fill what a person may leave out', () => {
    const config = fixture.config();
    assert.equal(config.name, 'refresher-test');
    assert.equal(config.vm.adminUsername, 'azureuser');
    assert.equal(config.vm.osDiskGiB, 64);
    assert.equal(config.vm.dataDiskGiB, 0);
    assert.equal(config.speedtest.intervalMinutes, 30);
    assert.equal(config.speedtest.acceptOoklaLicense, false);
    assert.equal(config.speedtest.publicTarget, false, 'the speed test target is opt-in');
    assert.deepEqual(config.retention, { resultsDays: 365, prometheusDays: 30 });
    assert.equal(config.admin.username, 'admin');
    assert.equal(config.basicAuth.username, 'ops');
    assert.deepEqual(config.network, { subnet: '172.28.0.0/24' });
    assert.deepEqual(networkPlan(config), {
      subnet: '172.28.0.0/24',
      ipRange: '172.28.0.128/25',
      gateway: '172.28.0.1',
      swagAddress: '172.28.0.10',
    });
  });

  test('the swap file follows the VM size, or the number given', () => {
    assert.equal(swapGiB(fixture.config({ vm: { size: 'Standard_B1s' } })), 1);
    assert.equal(swapGiB(fixture.config({ vm: { size: 'Standard_B2s' } })), 2);
    assert.equal(swapGiB(fixture.config({ vm: { size: 'Standard_D4s_v5' } })), 8);
    assert.equal(swapGiB(fixture.config({ vm: { size: 'Standard_E2bds_v5', swapGiB: 3 } })), 3);
  });

  test('every bad field is named, all in one error', () => {
    const input = validInput(fixture.keyPath, {
      domain: 'Example..com',
      subdomains: { speedtester: 'speed.test', grafana: 'speed' },
      certbot: { email: 'not-an-email', validation: 'http' },
      azure: { location: 'West Europe' },
      vm: {
        size: 'B2s',
        sshPublicKeyPath: join(fixture.path, 'missing.pub'),
        sshAllowedCidrs: ['10.0.0.1/24', '0.0.0.0/0', '300.1.1.1/32', '2001:db8::1/48'],
        osDiskGiB: 10,
      },
      timezone: 'Mars/Olympus',
      speedtest: { engine: 'fast', intervalMinutes: 1, publicTarget: 'yes' },
      alerts: {
        downloadFloorMbps: 'fifty',
        uploadFloorMbps: -1,
        consecutiveBelowFloor: 0,
        pingCeilingMs: -1,
        bufferbloatCeilingMs: 60_000,
        packetLossCeilingPercent: -0.5,
      },
      images: {
        postgres: 'postgres:latest',
        redis: 'redis',
        grafana: 'Grafana/Grafana:12',
        // A moving tag: the synth policy refuses it, so the configuration does too.
        swag: 'lscr.io/linuxserver/swag:bookworm',
      },
      network: { subnet: '8.8.8.0/24' },
    });
    const found = faults(input);
    const expected = {
      domain: /domain name/,
      'subdomains.speedtester': /one lower-case DNS label/,
      'certbot.email': /e-mail/,
      'azure.location': /westeurope/,
      'vm.size': /Standard_B2s/,
      'vm.sshPublicKeyPath': /missing\.pub does not exist/,
      'vm.sshAllowedCidrs.0': /host bits are set: the network is 10\.0\.0\.0\/24/,
      'vm.sshAllowedCidrs.1': /whole internet/,
      'vm.sshAllowedCidrs.2': /CIDR notation/,
      'vm.sshAllowedCidrs.3': /host bits are set: the network is 2001:db8::\/48/,
      'vm.osDiskGiB': /at least 30/,
      timezone: /IANA time zone/,
      'speedtest.engine': /librespeed/,
      'speedtest.intervalMinutes': /at least 5/,
      'speedtest.publicTarget': /expected true or false/,
      'alerts.downloadFloorMbps': /^expected a number/,
      'alerts.uploadFloorMbps': /more than 0/,
      'alerts.consecutiveBelowFloor': /at least 1 \(tests in a row\)/,
      'alerts.pingCeilingMs': /more than 0 \(ms\)/,
      'alerts.bufferbloatCeilingMs': /at most 10000 \(ms\)/,
      'alerts.packetLossCeilingPercent': /0 or more \(percent\)/,
      'images.postgres': /"latest" is not a version/,
      'images.redis': /pinned version/,
      'images.grafana': /image reference/,
      'images.swag': /"bookworm" is not a version/,
      'network.subnet': /private IPv4 \/24/,
    };
    for (const [field, pattern] of Object.entries(expected)) {
      assert.match(
        found.get(field) ?? `(not reported; got ${[...found.keys()].join(', ')})`,
        pattern,
        field,
      );
    }
  });

  test('cross-field checks name the field to change', () => {
    const found = faults(
      validInput(fixture.keyPath, {
        subdomains: { speedtester: 'speed', grafana: 'speed' },
        vm: { size: 'Standard_E2bds_v5' },
        speedtest: { engine: 'ookla' },
      }),
    );
    assert.match(found.get('subdomains.grafana') ?? '', /also the speedtester subdomain/);
    assert.match(found.get('vm.swapGiB') ?? '', /not in the table/);
    assert.match(found.get('speedtest.acceptOoklaLicense') ?? '', /accept its licence/);
  });

  test('DNS modes: each names its fields, and a subdomain zone needs a subdomain', () => {
    const modes = [
      { mode: 'subdomain-zone' },
      { mode: 'domain-zone' },
      { mode: 'existing-zone', resourceGroup: 'rg-dns' },
      { mode: 'existing-zone', resourceGroup: 'rg-dns', zone: 'example.test' },
      { mode: 'external' },
    ];
    for (const dns of modes) {
      const domain = dns.mode === 'domain-zone' ? 'example.test' : 'lab.example.test';
      assert.deepEqual(fixture.config({ domain, dns }).dns, dns);
    }
    assert.match(
      faults(validInput(fixture.keyPath, { dns: { mode: 'subdomain-zone' } })).get('dns.mode') ??
        '',
      /a subdomain such as lab\.example\.test.*"domain-zone"/,
    );
    assert.match(
      faults(
        validInput(fixture.keyPath, {
          dns: { mode: 'existing-zone', resourceGroup: 'rg-dns', zone: 'other.test' },
        }),
      ).get('dns.zone') ?? '',
      /example\.test is not inside the zone other\.test/,
    );
    assert.match(
      faults(validInput(fixture.keyPath, { dns: { mode: 'create' } })).get('dns.mode') ?? '',
      /expected \{ mode: "subdomain-zone" \}/,
    );
    assert.match(
      faults(validInput(fixture.keyPath, { dns: { mode: 'external', zone: 'x.test' } })).get(
        'dns.zone',
      ) ?? '',
      /unknown setting/,
    );
    const missing = validInput(fixture.keyPath);
    delete missing.dns;
    assert.match(faults(missing).get('dns') ?? '', /missing/);
  });

  test('unknown settings, missing sections and wrong key files are refused', () => {
    const privateKey = join(fixture.path, 'id_ed25519');
    writeFileSync(
      privateKey,
      '-----BEGIN OPENSSH PRIVATE KEY-----\nxxx\n-----END OPENSSH PRIVATE KEY-----\n',
    );
    const input = validInput(privateKey, { vm: { sise: 'Standard_B2s' }, certbot: undefined });
    delete input.alerts;
    const found = faults(input);
    assert.match(found.get('vm.sise') ?? '', /unknown setting/);
    assert.match(found.get('alerts') ?? '', /missing/);
    assert.match(found.get('certbot') ?? '', /validation "http" or "dns"/);
    assert.match(found.get('vm.sshPublicKeyPath') ?? '', /is a private key/);

    const notAKey = join(fixture.path, 'notes.pub');
    writeFileSync(notAKey, 'hello\n');
    assert.match(
      faults(validInput(notAKey)).get('vm.sshPublicKeyPath') ?? '',
      /not one OpenSSH public key/,
    );
  });

  test('dns validation needs a known plugin and a credentials file, read into the config', () => {
    const found = faults(
      validInput(fixture.keyPath, {
        certbot: {
          email: 'a@example.test',
          validation: 'dns',
          dnsPlugin: 'bind9',
          credentialsFile: 'nope.ini',
        },
      }),
    );
    assert.match(found.get('certbot.dnsPlugin') ?? '', /DNS plugins: acmedns/);
    assert.match(found.get('certbot.credentialsFile') ?? '', /nope\.ini does not exist/);

    writeFileSync(join(fixture.path, 'azure.ini'), 'dns_azure_sp_client_id = x\n');
    const config = fixture.config({
      certbot: {
        email: 'a@example.test',
        validation: 'dns',
        dnsPlugin: 'azure',
        credentialsFile: 'azure.ini',
      },
    });
    assert.equal(
      config.certbot.validation === 'dns' && config.certbot.credentialsFile.content,
      'dns_azure_sp_client_id = x\n',
    );
  });

  test('configuration files: TypeScript default export, JSON, and clear errors for neither', async () => {
    const json = fixture.writeJson('deploy.json', validInput(fixture.keyPath));
    assert.equal((await loadDeploymentConfig(json)).domain, 'example.test');

    const ts = join(fixture.path, 'deploy.config.ts');
    writeFileSync(
      ts,
      `export default ${JSON.stringify(validInput('./admin.pub', { domain: 'from-ts.test' }))};\n`,
    );
    assert.equal((await loadDeploymentConfig(ts)).domain, 'from-ts.test');

    const noDefault = join(fixture.path, 'no-default.ts');
    writeFileSync(noDefault, 'export const config = {};\n');
    await assert.rejects(loadDeploymentConfig(noDefault), /expected a default export/);
    await assert.rejects(loadDeploymentConfig(join(fixture.path, 'absent.ts')), /does not exist/);
  });
});
