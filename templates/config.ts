// The deployment configuration: one typed file a person edits (infra/deploy.config.ts, copied from
// infra/deploy.config.example.ts), validated here with zod before anything is rendered or written.
// It lives in templates/ rather than infra/ because the renderers need it and templates must not
// import infra (infra -> templates -> sources); infra/ re-uses it from here.
//
// Everything a renderer needs is in the parsed value, including the contents of the files the
// configuration points at (the SSH public key, DNS credentials), so the renderers stay pure.
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { IMAGE_NAMES, imagePinProblem, type ImageName } from './catalogue/images.ts';
import { receiverSchema } from './receivers.ts';

/** Certbot DNS plugins SWAG ships (its DNSPLUGIN values; credentials go in dns-conf/<plugin>.ini). */
export const SWAG_DNS_PLUGINS = [
  'acmedns', 'aliyun', 'azure', 'bunny', 'cloudflare', 'cloudxns', 'cpanel', 'desec',
  'digitalocean', 'directadmin', 'dnsimple', 'dnsmadeeasy', 'dnspod', 'do', 'domeneshop',
  'dreamhost', 'duckdns', 'dynu', 'freedns', 'gandi', 'gehirn', 'glesys', 'godaddy', 'google',
  'google-domains', 'he', 'hetzner', 'hetzner-cloud', 'infomaniak', 'inwx', 'ionos', 'linode',
  'loopia', 'luadns', 'mijn-host', 'namecheap', 'netcup', 'njalla', 'nsone', 'ovh', 'pdns',
  'porkbun', 'rfc2136', 'route53', 'sakuracloud', 'transip', 'vultr',
] as const; // prettier-ignore

// ---------------------------------------------------------------------------------------------
// Field types
// ---------------------------------------------------------------------------------------------

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

const domainName = z
  .string()
  .trim()
  .refine(
    (value) => {
      const labels = value.split('.');
      return (
        value.length <= 253 &&
        labels.length >= 2 &&
        labels.every((label) => LABEL.test(label)) &&
        /^[a-z]{2,63}$/.test(labels.at(-1)!)
      );
    },
    { message: 'expected a lower-case domain name such as example.com (labels of a-z, 0-9, -)' },
  );

const subdomain = z
  .string()
  .trim()
  .regex(LABEL, 'expected one lower-case DNS label such as "speed" (a-z, 0-9, -; no dots)');

/** An IPv4 or IPv6 network in CIDR notation, with no host bits set (what Azure NSGs expect). */
function checkCidr(value: string): string | undefined {
  const [address, prefix, ...rest] = value.split('/');
  const version = isIP(address ?? '');
  if (!address || prefix === undefined || rest.length || !version || !/^\d{1,3}$/.test(prefix))
    return 'expected a network in CIDR notation such as 203.0.113.0/24 or 2001:db8::/48 (one address: 203.0.113.7/32)';
  const bits = Number(prefix);
  const max = version === 4 ? 32 : 128;
  if (bits > max) return `expected a prefix length from 0 to ${max}`;
  if (bits === 0) return 'refusing to open SSH to the whole internet: name your own networks';
  const value128 = addressToBigInt(address, version);
  const hostMask = (1n << BigInt(max - bits)) - 1n;
  if ((value128 & hostMask) !== 0n)
    return `host bits are set: the network is ${bigIntToAddress(value128 & ~hostMask, version)}/${bits}`;
  return undefined;
}

function addressToBigInt(address: string, version: number): bigint {
  if (version === 4)
    return address.split('.').reduce((sum, part) => (sum << 8n) + BigInt(part), 0n);
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part ? part.split(':') : []);
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return all.reduce((sum, group) => (sum << 16n) + BigInt(parseInt(group, 16)), 0n);
}

function bigIntToAddress(value: bigint, version: number): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((shift) => (value >> shift) & 255n).join('.');
  const groups = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n)
    groups.push(((value >> shift) & 0xffffn).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

const cidr = z
  .string()
  .trim()
  .superRefine((value, ctx) => {
    const problem = checkCidr(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A private IPv4 /24 for the containers' network; swag gets the fixed address .10 in it. */
const privateSubnet24 = z
  .string()
  .trim()
  .refine(
    (value) =>
      /^(10\.\d{1,3}|172\.(1[6-9]|2\d|3[01])|192\.168)\.\d{1,3}\.0\/24$/.test(value) &&
      value
        .split(/[./]/)
        .slice(0, 4)
        .every((part) => Number(part) <= 255),
    {
      message: 'expected a private IPv4 /24 such as 172.28.0.0/24 (10/8, 172.16/12 or 192.168/16)',
    },
  );

function validTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
    return /^[A-Za-z]/.test(value);
  } catch {
    return false;
  }
}

const timeZone = z
  .string()
  .trim()
  .refine(validTimeZone, { message: 'expected an IANA time zone such as Europe/Amsterdam or UTC' });

/** An image override: a reference pinned to a version (templates/catalogue/images.ts). */
const imageRef = z
  .string()
  .trim()
  .superRefine((value, ctx) => {
    const problem = imagePinProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A path in the configuration: `~` is the home directory, relative paths start at the file. */
function resolvePath(value: string, baseDir: string): string {
  if (value === '~' || value.startsWith('~/')) return resolve(homedir(), value.slice(2));
  return isAbsolute(value) ? value : resolve(baseDir, value);
}

function readSmallFile(path: string, what: string): { text?: string; problem?: string } {
  try {
    const stat = statSync(path);
    if (!stat.isFile()) return { problem: `${what} ${path} is not a file` };
    if (stat.size > 64 * 1024) return { problem: `${what} ${path} is larger than 64 KiB` };
    return { text: readFileSync(path, 'utf8') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      problem:
        code === 'ENOENT'
          ? `${what} ${path} does not exist`
          : `${what} ${path} cannot be read (${code ?? (error as Error).message})`,
    };
  }
}

const SSH_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;

function sshPublicKeyFile(baseDir: string) {
  return z
    .string()
    .trim()
    .min(1, 'expected the path of an SSH public key such as ~/.ssh/id_ed25519.pub')
    .transform((value, ctx) => {
      const path = resolvePath(value, baseDir);
      const { text, problem } = readSmallFile(path, 'SSH public key');
      if (problem !== undefined || text === undefined) {
        ctx.addIssue({ code: 'custom', message: problem ?? 'unreadable' });
        return z.NEVER;
      }
      const key = text.trim();
      if (key.includes('PRIVATE KEY')) {
        ctx.addIssue({
          code: 'custom',
          message: `${path} is a private key: name the .pub file next to it (and keep the private one private)`,
        });
        return z.NEVER;
      }
      if (key.includes('\n') || !SSH_KEY.test(key)) {
        ctx.addIssue({
          code: 'custom',
          message: `${path} is not one OpenSSH public key line (ssh-ed25519 AAAA… comment)`,
        });
        return z.NEVER;
      }
      return { path, key };
    });
}

function credentialsFile(baseDir: string) {
  return z
    .string()
    .trim()
    .min(1, 'expected the path of the DNS plugin credentials file')
    .transform((value, ctx) => {
      const path = resolvePath(value, baseDir);
      const { text, problem } = readSmallFile(path, 'DNS credentials file');
      if (problem !== undefined || text === undefined) {
        ctx.addIssue({ code: 'custom', message: problem ?? 'unreadable' });
        return z.NEVER;
      }
      return { path, content: text };
    });
}

/** An Azure resource group name: 1 to 90 of letters, digits, _ - . ( ), not ending in a period. */
const resourceGroupName = z
  .string()
  .trim()
  .regex(
    /^[-\w.()]{0,89}[-\w()]$/,
    'expected a resource group name (letters, digits, _ - . ( ); not ending in a period)',
  );

/** Managed disk types a VM's disks can use. */
export const DISK_TYPES = [
  'Standard_LRS',
  'StandardSSD_LRS',
  'StandardSSD_ZRS',
  'Premium_LRS',
  'Premium_ZRS',
] as const;
const diskType = z.enum(DISK_TYPES, { error: `expected one of ${DISK_TYPES.join(', ')}` });

const VM_SIZE = /^Standard_[A-Z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*$/;

/**
 * Memory in GiB of common Azure sizes, for sizing the swap file. Other sizes are fine too; they
 * need `vm.swapGiB` set explicitly.
 */
export const VM_MEMORY_GIB: Readonly<Record<string, number>> = {
  Standard_B1s: 1,
  Standard_B1ms: 2,
  Standard_B2s: 4,
  Standard_B2ms: 8,
  Standard_B2ls_v2: 4,
  Standard_B2s_v2: 8,
  Standard_B2ats_v2: 1,
  Standard_B2als_v2: 4,
  Standard_B2as_v2: 8,
  Standard_B4ms: 16,
  Standard_D2s_v5: 8,
  Standard_D2as_v5: 8,
  Standard_D2ls_v5: 4,
  Standard_D4s_v5: 16,
  Standard_D4as_v5: 16,
  Standard_D2s_v6: 8,
  Standard_D2as_v6: 8,
  Standard_D4s_v6: 16,
};

const positiveNumber = (what: string) =>
  z.number({ error: `expected a number (${what})` }).positive(`expected more than 0 (${what})`);
/** An alert ceiling: above 0 (a ceiling of 0 would always fire), bounded against unit mix-ups. */
const ceiling = (unit: string, max: number) =>
  positiveNumber(unit).max(max, `expected at most ${max} (${unit})`);
export const wholeNumber = (min: number, max: number, what: string) =>
  z
    .number({ error: `expected a whole number (${what})` })
    .int(`expected a whole number (${what})`)
    .min(min, `expected at least ${min} (${what})`)
    .max(max, `expected at most ${max} (${what})`);

// ---------------------------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------------------------

/**
 * The fields every target shares (the VM and Azure Container Apps), as one object a target's
 * schema spreads into its own.
 */
export function sharedFields(baseDir: string) {
  return {
    /** Names the compose project, the Azure resources and the secrets file. */
    name: z
      .string()
      .trim()
      .regex(
        /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/,
        'expected 3 to 24 characters: a-z, 0-9 and -, starting with a letter',
      )
      .default('refresher'),
    domain: domainName,
    subdomains: z.strictObject({
      /** The web role: admin portal, API, speed test target. */
      speedtester: subdomain.default('speed'),
      grafana: subdomain.default('grafana'),
      /** Prometheus's own UI, behind basic auth; leave out to keep it private. */
      prometheus: subdomain.optional(),
    }),
    /**
     * Who answers for the public names (docs/dns.md): an Azure zone the deployment creates and
     * you delegate to (a subdomain of a domain hosted elsewhere, or a domain of its own), a zone
     * you already have in Azure, or your current DNS host (you add the A records the deploy
     * prints).
     */
    dns: z.discriminatedUnion(
      'mode',
      [
        z.strictObject({ mode: z.literal('subdomain-zone') }),
        z.strictObject({ mode: z.literal('domain-zone') }),
        z.strictObject({
          mode: z.literal('existing-zone'),
          resourceGroup: resourceGroupName,
          /** The zone's name when `domain` lies inside it (lab.example.com in example.com). */
          zone: domainName.optional(),
        }),
        z.strictObject({ mode: z.literal('external') }),
      ],
      {
        error:
          'expected { mode: "subdomain-zone" }, { mode: "domain-zone" }, { mode: "existing-zone", resourceGroup: "…" } or { mode: "external" }',
      },
    ),
    azure: z.strictObject({
      location: z
        .string()
        .trim()
        .regex(
          /^[a-z][a-z0-9]{2,30}$/,
          'expected an Azure region name such as westeurope (lower case, no spaces)',
        ),
      /**
       * Terraform state in an Azure storage account (made beforehand, see docs/infrastructure.md)
       * instead of local files under .state/. Off unless set.
       */
      remoteState: z
        .strictObject({
          resourceGroup: resourceGroupName,
          storageAccount: z
            .string()
            .trim()
            .regex(/^[a-z0-9]{3,24}$/, 'expected 3 to 24 lower-case letters and digits'),
          container: z
            .string()
            .trim()
            .regex(
              /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/,
              'expected 3 to 63 characters: a-z, 0-9 and single hyphens',
            ),
        })
        .optional(),
      /** Tags added to every Azure resource, beside `project` and `managed-by`. */
      tags: z
        .record(
          z.string().regex(/^[^<>%&\\?/]{1,512}$/, 'expected a tag name without < > % & \\ ? /'),
          z.string().max(256, 'expected at most 256 characters'),
          { error: 'expected an object of tag names and values' },
        )
        .default({}),
    }),
    timezone: timeZone.default('UTC'),
    speedtest: z.strictObject({
      engine: z
        .enum(['librespeed', 'ookla'], { error: 'expected "librespeed" or "ookla"' })
        .default('librespeed'),
      /**
       * Minutes between scheduled tests. The app seeds "Process Speed Test" every 30 minutes;
       * the alert "no successful speed test for two periods" uses this value.
       */
      intervalMinutes: wholeNumber(5, 1440, 'minutes').default(30),
      /** LibreSpeed backend URLs or Ookla server ids; empty: the engine's own choice. */
      servers: z
        .array(
          z
            .string()
            .trim()
            .regex(/^[^,\s]+$/, 'expected one URL or server id, without commas or spaces'),
        )
        .default([]),
      /** Accepts Ookla's licence, terms and GDPR notice on your behalf (OOKLA_ACCEPT_LICENSE). */
      acceptOoklaLicense: z.boolean({ error: 'expected true or false' }).default(false),
      /**
       * Whether swag proxies the built-in speed test target (/speedtest/) from the internet, so
       * anyone may measure against this VM; false: it answers 404 there. The worker's self-test
       * reaches the web container directly and works either way. Every byte a visitor's test
       * downloads is egress the VM's owner pays for, hence opt-in (limits: docs/speedtest.md).
       */
      publicTarget: z.boolean({ error: 'expected true or false' }).default(false),
      /**
       * A public, read-only status page at https://<speedtester name>/status: the latest result,
       * the last seven days and a chart, no admin data (PUBLIC_STATUS_PAGE). Off by default:
       * it tells anyone how this line performs.
       */
      publicStatusPage: z.boolean({ error: 'expected true or false' }).default(false),
    }),
    alerts: z.strictObject({
      /** A speed test measuring less than this fires SpeedtestBelowFloor (prometheus/rules.ts). */
      downloadFloorMbps: positiveNumber('Mbit/s'),
      uploadFloorMbps: positiveNumber('Mbit/s'),
      /**
       * How many tests against a server in a row must be below a floor before SpeedtestBelowFloor
       * fires; 1: the latest test alone. Judged over the last N - 1/2 schedule periods
       * (docs/monitoring.md says exactly how).
       */
      consecutiveBelowFloor: wholeNumber(1, 20, 'tests in a row').default(1),
      /** The latest test's idle ping above this fires SpeedtestPingHigh; unset: no such alert. */
      pingCeilingMs: ceiling('ms', 10_000).optional(),
      /** The latest test's idle jitter above this fires SpeedtestJitterHigh; unset: none. */
      jitterCeilingMs: ceiling('ms', 10_000).optional(),
      /**
       * The latest test's packet loss above this fires SpeedtestPacketLossHigh (only Ookla
       * measures loss); 0 alerts on any loss; unset: none.
       */
      packetLossCeilingPercent: z
        .number({ error: 'expected a number (percent)' })
        .min(0, 'expected 0 or more (percent)')
        .lt(100, 'expected less than 100 (percent)')
        .optional(),
      /**
       * How much latency may rise under load (the bufferbloat the grade reads: A+ under 5 ms,
       * A 30, B 60, C 200, D 400) before SpeedtestBufferbloatHigh fires; unset: none.
       */
      bufferbloatCeilingMs: ceiling('ms', 10_000).optional(),
      /**
       * Where Alertmanager sends notifications (templates/receivers.ts); empty: alerts are only
       * listed in Alertmanager and Prometheus.
       */
      receivers: z
        .array(receiverSchema(baseDir), { error: 'expected a list of receivers' })
        .default([]),
      /** Hours before a notification about a still-firing alert is sent again. */
      repeatHours: wholeNumber(1, 168, 'hours').default(4),
    }),
    retention: z
      .strictObject({
        /** Task results and speed tests older than this are pruned (RESULT_RETENTION_DAYS). */
        resultsDays: wholeNumber(1, 3650, 'days').default(365),
        prometheusDays: wholeNumber(1, 3650, 'days').default(30),
      })
      .default({ resultsDays: 365, prometheusDays: 30 }),
    /** The app's first admin (ADMIN_USERNAME); the password is generated. */
    admin: z
      .strictObject({
        username: z
          .string()
          .trim()
          .regex(/^[a-z][a-z0-9._-]{2,31}$/, 'expected 3 to 32 characters: a-z, 0-9, . _ -')
          .default('admin'),
      })
      .default({ username: 'admin' }),
    /** Image overrides; unset names use the versions pinned in templates/catalogue/images.ts. */
    images: z
      .strictObject(
        Object.fromEntries(IMAGE_NAMES.map((name) => [name, imageRef.optional()])) as Record<
          ImageName,
          z.ZodOptional<typeof imageRef>
        >,
      )
      .default({}),
  };
}

/** What every target's configuration has (the VM's and Container Apps'). */
export type SharedConfig = z.output<z.ZodObject<ReturnType<typeof sharedFields>>>;

/** The checks across fields that every target's configuration must pass. */
export function checkShared(config: SharedConfig, ctx: z.RefinementCtx): void {
  const names = Object.entries(config.subdomains).filter(([, value]) => value !== undefined);
  const seen = new Map<string, string>();
  for (const [key, value] of names) {
    const other = seen.get(value!);
    if (other)
      ctx.addIssue({
        code: 'custom',
        path: ['subdomains', key],
        message: `"${value}" is also the ${other} subdomain`,
      });
    seen.set(value!, key);
  }
  for (const [key, value] of names) {
    if (`${value}.${config.domain}`.length > 253)
      ctx.addIssue({
        code: 'custom',
        path: ['subdomains', key],
        message: 'the full name is longer than 253 characters',
      });
  }
  if (config.dns.mode === 'subdomain-zone' && config.domain.split('.').length < 3)
    ctx.addIssue({
      code: 'custom',
      path: ['dns', 'mode'],
      message: `"subdomain-zone" makes a zone for a subdomain such as lab.${config.domain}, delegated from ${config.domain}'s DNS host: set domain to that subdomain, or use "domain-zone" to hand all of ${config.domain} to Azure DNS`,
    });
  if (
    config.dns.mode === 'existing-zone' &&
    config.dns.zone !== undefined &&
    config.domain !== config.dns.zone &&
    !config.domain.endsWith(`.${config.dns.zone}`)
  )
    ctx.addIssue({
      code: 'custom',
      path: ['dns', 'zone'],
      message: `${config.domain} is not inside the zone ${config.dns.zone}`,
    });
  if (config.speedtest.engine === 'ookla' && !config.speedtest.acceptOoklaLicense) {
    ctx.addIssue({
      code: 'custom',
      path: ['speedtest', 'acceptOoklaLicense'],
      message:
        'the ookla engine runs only when you accept its licence: set acceptOoklaLicense: true, or use librespeed',
    });
  }
}

/** The schema; file paths in it are resolved against `baseDir` (the configuration file's folder). */
export function deploymentSchema(baseDir: string) {
  const certbot = z.discriminatedUnion(
    'validation',
    [
      z.strictObject({
        email: z.email('expected an e-mail address (Let’s Encrypt sends expiry warnings there)'),
        /** Port 80 must reach the VM from the internet (the NSG allows it). */
        validation: z.literal('http'),
        /** Let's Encrypt's staging CA: untrusted certificates, generous rate limits. */
        staging: z.boolean().default(false),
      }),
      z.strictObject({
        email: z.email('expected an e-mail address (Let’s Encrypt sends expiry warnings there)'),
        validation: z.literal('dns'),
        dnsPlugin: z.enum(SWAG_DNS_PLUGINS, {
          error: `expected one of SWAG's certbot DNS plugins: ${SWAG_DNS_PLUGINS.join(', ')}`,
        }),
        /** The plugin's credentials (an .ini, or .json for google), never committed. */
        credentialsFile: credentialsFile(baseDir),
        /** Seconds certbot waits for the TXT record to reach the DNS servers. */
        propagationSeconds: wholeNumber(10, 3600, 'seconds').optional(),
        staging: z.boolean().default(false),
      }),
    ],
    { error: 'expected validation "http" or "dns"' },
  );

  return z
    .strictObject({
      /** Where it runs: one VM (the default), or Azure Container Apps (templates/container-apps.ts). */
      target: z.literal('vm', { error: 'expected "vm" or "container-apps"' }).default('vm'),
      ...sharedFields(baseDir),
      certbot,
      vm: z.strictObject({
        size: z
          .string()
          .trim()
          .regex(VM_SIZE, 'expected an Azure VM size such as Standard_B2s or Standard_D2s_v5'),
        /** The admin user Azure creates (sudo); both users get the same key. */
        adminUsername: z
          .string()
          .trim()
          .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'expected a Linux user name (a-z, 0-9, _ and -)')
          .refine((value) => !['root', 'admin', 'administrator', 'deploy'].includes(value), {
            message:
              'expected another name: root, admin, administrator and deploy are taken or refused by Azure',
          })
          .default('azureuser'),
        sshPublicKeyPath: sshPublicKeyFile(baseDir),
        /**
         * The private half, which the deploy's ssh uses (IdentityFile); default: the public key's
         * path without ".pub". Only its path is read here: render and synth need no private key.
         */
        sshPrivateKeyPath: z
          .string()
          .trim()
          .min(1, 'expected the path of an SSH private key such as ~/.ssh/id_ed25519')
          .transform((value) => resolvePath(value, baseDir))
          .optional(),
        /** Networks allowed to reach SSH (port 22); 80 and 443 are open to everyone. */
        sshAllowedCidrs: z
          .array(cidr, { error: 'expected a list of CIDRs such as ["203.0.113.7/32"]' })
          .min(1, 'expected at least one network: otherwise nobody can reach SSH'),
        osDiskGiB: wholeNumber(30, 4095, 'GiB').default(64),
        /** Managed disk type of the OS disk (Premium needs a size with an "s", such as B2s). */
        osDiskType: diskType.default('StandardSSD_LRS'),
        /** A managed data disk for Docker's data (volumes); 0 keeps everything on the OS disk. */
        dataDiskGiB: wholeNumber(0, 4095, 'GiB').default(0),
        dataDiskType: diskType.default('StandardSSD_LRS'),
        /** Swap file size; "auto" derives it from the size's memory (known sizes only). */
        swapGiB: z.union([z.literal('auto'), wholeNumber(0, 64, 'GiB')]).default('auto'),
        /** When unattended upgrades may reboot (for a new kernel), local time; false: never. */
        automaticReboot: z
          .union([
            z.literal(false),
            z
              .string()
              .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time such as "04:30", or false'),
          ])
          .default('04:30'),
      }),
      network: z
        .strictObject({ subnet: privateSubnet24.default('172.28.0.0/24') })
        .default({ subnet: '172.28.0.0/24' }),
      /** The user name of the proxy's basic auth (queue board, Prometheus); the password is generated. */
      basicAuth: z
        .strictObject({
          username: z
            .string()
            .trim()
            .regex(/^[A-Za-z0-9._-]{3,32}$/, 'expected 3 to 32 characters: letters, digits, . _ -')
            .default('ops'),
        })
        .default({ username: 'ops' }),
      /**
       * Pull `images.app` from its registry instead of building the app image on the VM from the
       * bundle (the services stack then needs no local bundle).
       */
      pullAppImage: z.boolean({ error: 'expected true or false' }).default(false),
    })
    .superRefine((config, ctx) => {
      checkShared(config, ctx);
      if (config.vm.swapGiB === 'auto' && VM_MEMORY_GIB[config.vm.size] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['vm', 'swapGiB'],
          message: `the memory of ${config.vm.size} is not in the table (templates/config.ts VM_MEMORY_GIB): set swapGiB to a number`,
        });
      }
      if (config.pullAppImage && !config.images.app?.includes('/')) {
        ctx.addIssue({
          code: 'custom',
          path: ['images', 'app'],
          message:
            'pullAppImage needs the image to pull: a registry reference such as ghcr.io/you/refresher:1.2.3',
        });
      }
    })
    .transform((config, ctx) => {
      const { sshPublicKeyPath, sshPrivateKeyPath } = config.vm;
      // Named as the public key on purpose: a key that only an agent holds (1Password,
      // Secretive, a hardware key); ssh then asks the agent for that key (IdentitiesOnly).
      const privateKey = sshPrivateKeyPath ?? sshPublicKeyPath.path.replace(/\.pub$/, '');
      if (privateKey === sshPublicKeyPath.path && !sshPrivateKeyPath) {
        ctx.addIssue({
          code: 'custom',
          path: ['vm', 'sshPublicKeyPath'],
          message: `${sshPublicKeyPath.path} does not end in .pub: name the private key with vm.sshPrivateKeyPath (or this same file, when only your ssh-agent holds the key)`,
        });
        return z.NEVER;
      }
      return { ...config, vm: { ...config.vm, sshPrivateKeyPath: privateKey } };
    });
}

/** What a person writes (defaults may be left out). */
export type DeploymentConfigInput = z.input<ReturnType<typeof deploymentSchema>>;
/** The validated configuration with defaults applied and referenced files read. */
export type DeploymentConfig = z.output<ReturnType<typeof deploymentSchema>>;

/** Types the configuration file's object literal: completion and checks in the editor. */
export function defineDeployment(config: DeploymentConfigInput): DeploymentConfigInput {
  return config;
}

export class DeploymentConfigError extends Error {
  override name = 'DeploymentConfigError';
  readonly file: string;
  readonly problems: { field: string; message: string }[];
  constructor(file: string, problems: { field: string; message: string }[]) {
    super(
      `Invalid deployment configuration ${file}:\n${problems.map((p) => `  ${p.field}: ${p.message}`).join('\n')}`,
    );
    this.file = file;
    this.problems = problems;
  }
}

function fieldName(path: PropertyKey[], keys?: string[]): string {
  const base = path.map(String).join('.');
  if (keys?.length) return keys.map((key) => (base ? `${base}.${key}` : key)).join(', ');
  return base || '(the whole file)';
}

/** What zod found wrong, as fields and messages a person can act on. */
export function configProblems(error: z.ZodError): { field: string; message: string }[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys')
      return { field: fieldName(issue.path, issue.keys), message: 'unknown setting (a typo?)' };
    if (issue.code === 'invalid_type' && issue.input === undefined)
      return {
        field: fieldName(issue.path),
        message: `missing: ${issue.message.replace(/^Invalid input: /, '')}`,
      };
    return { field: fieldName(issue.path), message: issue.message };
  });
}

/** The deployment targets; each has its own schema (container-apps: templates/container-apps.ts). */
export const TARGETS = ['vm', 'container-apps'] as const;
export type Target = (typeof TARGETS)[number];

/** The target a configuration object names, before it is validated; a bad one is refused. */
export function targetOf(input: unknown, file: string): Target {
  const target = (input as { target?: unknown } | null)?.target ?? 'vm';
  if (TARGETS.includes(target as Target)) return target as Target;
  throw new DeploymentConfigError(file, [
    {
      field: 'target',
      message: `expected "vm" or "container-apps", not ${JSON.stringify(target)}`,
    },
  ]);
}

/** Validates a VM configuration object; throws a DeploymentConfigError naming every field at fault. */
export function parseDeploymentConfig(input: unknown, file: string): DeploymentConfig {
  if (targetOf(input, file) !== 'vm')
    throw new DeploymentConfigError(file, [
      {
        field: 'target',
        message:
          'is "container-apps": this command works on a VM deployment; docs/v2.md says what to use on Container Apps (npm run synth and npm run deploy take both targets)',
      },
    ]);
  const parsed = deploymentSchema(dirname(file)).safeParse(input, { reportInput: true });
  if (parsed.success) return parsed.data;
  throw new DeploymentConfigError(file, configProblems(parsed.error));
}

/**
 * Reads a configuration file: a TypeScript or JavaScript module whose default export is the
 * configuration object (see infra/deploy.config.example.ts), or a JSON file. Not yet validated.
 */
export async function readDeploymentInput(file: string): Promise<{ path: string; input: unknown }> {
  const path = resolve(file);
  let input: unknown;
  try {
    if (path.endsWith('.json')) input = JSON.parse(readFileSync(path, 'utf8'));
    else input = ((await import(pathToFileURL(path).href)) as { default?: unknown }).default;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT' || code === 'ERR_MODULE_NOT_FOUND'
        ? 'the file does not exist'
        : `the file cannot be loaded: ${(error as Error).message}`;
    throw new DeploymentConfigError(path, [{ field: '(the whole file)', message }]);
  }
  if (input === undefined)
    throw new DeploymentConfigError(path, [
      {
        field: '(the whole file)',
        message: 'expected a default export: export default defineDeployment({ … })',
      },
    ]);
  return { path, input };
}

/** Loads and validates a VM deployment's configuration file. */
export async function loadDeploymentConfig(file: string): Promise<DeploymentConfig> {
  const { path, input } = await readDeploymentInput(file);
  return parseDeploymentConfig(input, path);
}

// ---------------------------------------------------------------------------------------------
// Derived values every renderer agrees on
// ---------------------------------------------------------------------------------------------

export type PublicSite = 'speedtester' | 'grafana' | 'prometheus';

/** The public host names, in a fixed order. */
export function publicHosts(
  config: Pick<SharedConfig, 'subdomains' | 'domain'>,
): { site: PublicSite; subdomain: string; fqdn: string }[] {
  const sites: PublicSite[] = ['speedtester', 'grafana', 'prometheus'];
  return sites.flatMap((site) => {
    const sub = config.subdomains[site];
    return sub === undefined ? [] : [{ site, subdomain: sub, fqdn: `${sub}.${config.domain}` }];
  });
}

/**
 * The Azure DNS zone that holds the public names' A records: one the deployment creates (named
 * after `domain`), one that exists already, or none (external DNS: you add the records).
 */
export function dnsZone(
  config: Pick<SharedConfig, 'dns' | 'domain'>,
): { name: string; created: boolean; resourceGroup?: string } | undefined {
  const dns = config.dns;
  if (dns.mode === 'external') return undefined;
  if (dns.mode === 'existing-zone')
    return { name: dns.zone ?? config.domain, created: false, resourceGroup: dns.resourceGroup };
  return { name: config.domain, created: true };
}

/** A public name relative to its zone: "speed" in lab.example.com, "speed.lab" in example.com. */
export function recordName(fqdn: string, zone: string): string {
  if (!fqdn.endsWith(`.${zone}`)) throw new Error(`${fqdn} is not inside the zone ${zone}`);
  return fqdn.slice(0, -zone.length - 1);
}

/** Swap size in GiB: as much as memory up to 2 GiB, then half of it, at most 8 GiB. */
export function swapGiB(config: DeploymentConfig): number {
  if (config.vm.swapGiB !== 'auto') return config.vm.swapGiB;
  const memory = VM_MEMORY_GIB[config.vm.size] ?? 0;
  return Math.min(8, memory <= 2 ? memory : Math.ceil(memory / 2));
}

/** The VM's folder for the project's data (backups; Docker's data on a data disk). */
export const DATA_DIR = '/srv/refresher';

/**
 * Where the VM's Docker keeps its data: on the data disk when there is one (cloud-init sets
 * dockerd's data-root), else Docker's default. cAdvisor reads this folder at the path Docker
 * reports, so the catalogue mounts it at the same path.
 */
export function dockerDataRoot(config: DeploymentConfig): string {
  return config.vm.dataDiskGiB > 0 ? `${DATA_DIR}/docker` : '/var/lib/docker';
}

/** The containers' network: a /24, dynamic addresses from its upper half, swag fixed at .10. */
export function networkPlan(config: DeploymentConfig): {
  subnet: string;
  ipRange: string;
  gateway: string;
  swagAddress: string;
} {
  const base = config.network.subnet.split('/')[0]!.split('.').slice(0, 3).join('.');
  return {
    subnet: config.network.subnet,
    ipRange: `${base}.128/25`,
    gateway: `${base}.1`,
    swagAddress: `${base}.10`,
  };
}
