// What a real deploy refuses that render and synth accept: the committed example configuration
// and any value that is a placeholder (a reserved example domain, a documentation address, the
// example key nobody holds the private half of). Render and synth of the example stay possible,
// for reading what a deployment would be; only `npm run deploy` stops here, before Azure is asked
// for anything.
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from '../../contract/paths.ts';
import type { DeploymentConfig } from '../../templates/config.ts';

export const EXAMPLE_CONFIG = join(REPO_ROOT, 'infra/deploy.config.example.ts');
const EXAMPLE_KEY = join(REPO_ROOT, 'infra/example-admin-key.pub');

/** Names reserved for documentation and tests (RFC 2606, RFC 6761): nobody can deploy there. */
export function isReservedDomain(domain: string): boolean {
  const name = domain.toLowerCase().replace(/\.$/, '');
  return (
    /(^|\.)example\.(com|net|org)$/.test(name) ||
    /\.(example|invalid|localhost|test)$/.test(name) ||
    ['example', 'invalid', 'localhost', 'test'].includes(name)
  );
}

/** Address ranges reserved for documentation (RFC 5737, RFC 3849): no laptop has one. */
export function isDocumentationNetwork(cidr: string): boolean {
  const [address = ''] = cidr.split('/');
  if (isIP(address) === 4)
    return ['192.0.2.', '198.51.100.', '203.0.113.'].some((prefix) => address.startsWith(prefix));
  if (isIP(address) === 6) return /^2001:0?db8(:|$)/i.test(address);
  return false;
}

/** Every reason this configuration cannot be deployed as it is; empty when it can. */
export function deployRefusals(config: DeploymentConfig, configFile: string): string[] {
  const problems: string[] = [];
  if (resolve(configFile) === EXAMPLE_CONFIG)
    problems.push(
      'this is the committed example (infra/deploy.config.example.ts): copy it and make it yours: cp infra/deploy.config.example.ts infra/deploy.config.ts',
    );
  if (isReservedDomain(config.domain))
    problems.push(
      `domain: ${config.domain} is reserved for examples: set a domain (or subdomain) of yours`,
    );
  const emailDomain = config.certbot.email.split('@')[1] ?? '';
  if (isReservedDomain(emailDomain))
    problems.push(
      `certbot.email: ${config.certbot.email} is an example address; Let's Encrypt sends expiry warnings there and refuses example domains`,
    );
  const key = config.vm.sshPublicKeyPath;
  const exampleKey = existsSync(EXAMPLE_KEY) ? readFileSync(EXAMPLE_KEY, 'utf8').trim() : '';
  if (resolve(key.path) === EXAMPLE_KEY || key.key === exampleKey)
    problems.push(
      `vm.sshPublicKeyPath: ${key.path} is the example key, whose private half nobody holds: name your own public key, e.g. ~/.ssh/id_ed25519.pub`,
    );
  for (const [index, cidr] of config.vm.sshAllowedCidrs.entries())
    if (isDocumentationNetwork(cidr))
      problems.push(
        `vm.sshAllowedCidrs.${index}: ${cidr} is a documentation address: name your own address or network (curl -s https://ifconfig.me shows the address you have now, then add /32)`,
      );
  return problems;
}
