// Deployment configurations for tests: a throwaway SSH key, a valid configuration object with
// overrides, and the same written as a JSON file (what a person's file would hold).
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, type TempDir } from '../../../testing/files.ts';
import { parseDeploymentConfig, type DeploymentConfig } from '../../config.ts';

/** A fresh ed25519 public key in OpenSSH's one-line format (the private half is thrown away). */
export function sshPublicKey(comment = 'refresher-test'): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const field = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const blob = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}

type Json = Record<string, unknown>;

/** A valid configuration object whose key file is `keyPath`; `overrides` merge one level deep. */
export function validInput(keyPath: string, overrides: Json = {}): Json {
  const base: Json = {
    name: 'refresher-test',
    domain: 'example.test',
    subdomains: { speedtester: 'speed', grafana: 'grafana', prometheus: 'prometheus' },
    certbot: { email: 'ops@example.test', validation: 'http' },
    dns: { mode: 'domain-zone' },
    azure: { location: 'westeurope' },
    vm: {
      size: 'Standard_B2s',
      sshPublicKeyPath: keyPath,
      sshAllowedCidrs: ['203.0.113.0/24', '2001:db8::/48'],
    },
    timezone: 'Europe/Amsterdam',
    speedtest: { engine: 'librespeed' },
    alerts: { downloadFloorMbps: 50, uploadFloorMbps: 10 },
  };
  for (const [key, value] of Object.entries(overrides)) {
    const current = base[key];
    base[key] =
      value &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      current &&
      typeof current === 'object'
        ? { ...(current as Json), ...(value as Json) }
        : value;
  }
  return base;
}

/** A folder with a key file; `config()` parses a valid configuration with overrides. */
export function configFixture(): TempDir & {
  keyPath: string;
  config(overrides?: Json): DeploymentConfig;
  writeJson(name: string, input: Json): string;
} {
  const dir = tempDir();
  const keyPath = join(dir.path, 'admin.pub');
  writeFileSync(keyPath, `${sshPublicKey()}\n`);
  return {
    ...dir,
    keyPath,
    config: (overrides = {}) =>
      parseDeploymentConfig(validInput(keyPath, overrides), join(dir.path, 'deploy.config.json')),
    writeJson(name, input) {
      const path = join(dir.path, name);
      writeFileSync(path, JSON.stringify(input, null, 2));
      return path;
    },
  };
}
