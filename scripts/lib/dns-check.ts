// Whether the internet sees the deployment's public names yet, and what a person must set when it
// does not. The deploy waits on this between the azure stack and the services stack, because swag
// asks Let's Encrypt for its certificate as soon as it starts: a validation before the names point
// at the VM fails, and Let's Encrypt limits failures (5 per name per hour).
import { Resolver } from 'node:dns/promises';
import { dnsZone, publicHosts, recordName, type DeploymentConfig } from '../../templates/config.ts';

/** Name servers of Azure DNS zones are ns1-NN.azure-dns.com, .net, .org and .info. */
const AZURE_NAME_SERVER = /\.azure-dns\.(com|net|org|info)\.?$/i;

export interface NameState {
  fqdn: string;
  /** The A records the resolver returned (empty: none). */
  addresses: string[];
  /** Why the name is not right yet; undefined when it resolves to the VM's address only. */
  problem?: string;
}

export interface DnsFacts {
  /** The VM's public address (the azure stack's public_ip output). */
  address: string;
  /** The created zone's name servers (its name_servers output), when the stack made a zone. */
  nameServers?: string[];
}

/** A resolver for these servers ("1.1.1.1", "127.0.0.1:5353"), or the system's when empty. */
export function makeResolver(servers: string[] = []): Resolver {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  if (servers.length) resolver.setServers(servers);
  return resolver;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/** What the resolver says about each public name, compared with the VM's address. */
export async function checkNames(
  resolver: Resolver,
  config: DeploymentConfig,
  address: string,
): Promise<NameState[]> {
  return Promise.all(
    publicHosts(config).map(async ({ fqdn }): Promise<NameState> => {
      try {
        const addresses = (await resolver.resolve4(fqdn)).sort();
        // The VM has no IPv6 address, and Let's Encrypt tries an AAAA record first.
        const v6 = await resolver.resolve6(fqdn).catch(() => [] as string[]);
        if (v6.length)
          return {
            fqdn,
            addresses,
            problem: `also has an AAAA record (${v6.sort().join(', ')}): remove it, the VM has no IPv6 address and Let's Encrypt would validate there`,
          };
        if (addresses.length === 1 && addresses[0] === address) return { fqdn, addresses };
        const others = addresses.filter((found) => found !== address);
        return {
          fqdn,
          addresses,
          problem: addresses.includes(address)
            ? `also resolves to ${others.join(', ')}`
            : `resolves to ${addresses.join(', ')}, not ${address}`,
        };
      } catch (error) {
        const code = errorCode(error);
        const problem =
          code === 'ENOTFOUND'
            ? 'does not exist yet (NXDOMAIN)'
            : code === 'ENODATA'
              ? 'has no A record yet'
              : `cannot be resolved now (${code})`;
        return { fqdn, addresses: [], problem };
      }
    }),
  );
}

/**
 * Refuses a subdomain zone that name servers elsewhere answer for already: the subdomain is
 * delegated to someone else, and delegating it again would take it away from them. Returns the
 * problem, if any. (A whole domain always has name servers, its registrar's at least: see
 * recordsInUse for domain-zone.)
 */
export async function zoneTakeoverProblem(
  resolver: Resolver,
  config: DeploymentConfig,
): Promise<string | undefined> {
  if (config.dns.mode !== 'subdomain-zone') return undefined;
  let servers: string[];
  try {
    servers = await resolver.resolveNs(config.domain);
  } catch {
    return undefined; // not delegated anywhere yet: the NS records will only add it
  }
  const elsewhere = servers.filter((server) => !AZURE_NAME_SERVER.test(server));
  if (!elsewhere.length) return undefined;
  return [
    `${config.domain} is delegated today to ${elsewhere.sort().join(', ')}: an Azure zone for it`,
    `would hold only this deployment's A records, and delegating to it would drop every other record`,
    `under it. Use another subdomain (domain: 'speed-lab.${config.domain.split('.').slice(1).join('.')}'), the zone`,
    `where it lives (dns: { mode: 'existing-zone', … }), or keep your DNS host and add the A records`,
    `yourself (dns: { mode: 'external' }).`,
  ].join('\n');
}

/**
 * For domain-zone: the records the domain has today (mail, the apex, www) that stop resolving once
 * its name servers point at the new Azure zone, unless they are made there too.
 */
export async function recordsInUse(
  resolver: Resolver,
  config: DeploymentConfig,
): Promise<string[]> {
  if (config.dns.mode !== 'domain-zone') return [];
  const { domain } = config;
  const found = await Promise.all([
    resolver.resolveMx(domain).then(
      (mx) => mx.map((record) => `${domain} MX ${record.priority} ${record.exchange}`),
      () => [],
    ),
    resolver.resolve4(domain).then(
      (a) => a.map((ip) => `${domain} A ${ip}`),
      () => [],
    ),
    resolver.resolve4(`www.${domain}`).then(
      (a) => a.map((ip) => `www.${domain} A ${ip}`),
      () => [],
    ),
  ]);
  return found.flat();
}

/** What a person must set at their DNS host or registrar so the names reach the VM. */
export function dnsInstructions(config: DeploymentConfig, facts: DnsFacts): string[] {
  const hosts = publicHosts(config);
  const zone = dnsZone(config);
  const aRecords = hosts.map(({ fqdn }) => `  ${fqdn}.  300  IN  A  ${facts.address}`);
  const ns = facts.nameServers?.length
    ? facts.nameServers.map((server) => server.replace(/\.?$/, '.'))
    : ['(the name_servers output: terraform -chdir=cdktf.out/stacks/azure output name_servers)'];
  switch (config.dns.mode) {
    case 'external':
      return [`Add these A records at the DNS host of ${config.domain}:`, ...aRecords];
    case 'subdomain-zone': {
      const parent = config.domain.split('.').slice(1).join('.');
      const label = config.domain.split('.')[0]!;
      return [
        `Azure DNS answers for ${config.domain} once ${parent} delegates it. Add these NS records`,
        `at the DNS host of ${parent} (name "${label}", once; every other record of ${parent} stays):`,
        ...ns.map((server) => `  ${config.domain}.  3600  IN  NS  ${server}`),
      ];
    }
    case 'domain-zone':
      return [
        `Set the name servers of ${config.domain} at its registrar to (once):`,
        ...ns.map((server) => `  ${server}`),
        `The Azure zone then answers for all of ${config.domain}: recreate there any record it had.`,
      ];
    case 'existing-zone':
      return [
        `The azure stack wrote these records in the zone ${zone!.name} (resource group ${zone!.resourceGroup}):`,
        ...hosts.map(
          ({ fqdn }) => `  ${recordName(fqdn, zone!.name)}  A  ${facts.address}  (${fqdn})`,
        ),
        `If they do not resolve, the zone is not the one the internet sees: check that ${zone!.name}`,
        `is delegated to that zone's name servers (az network dns zone show --query nameServers).`,
      ];
  }
}
