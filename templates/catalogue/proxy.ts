// SWAG: nginx with certbot, the only container with public ports. Its site confs come from
// swag/ (rendered by templates/swag.ts), one per public subdomain. Its entry point and health check
// are the certificate gate (swag/certificate-gate.py): no certificate attempt before the public
// names resolve to the deployment's address, and a new attempt, in the same container, when
// SWAG's failed (docs/swag.md).
import { MOUNTED, RENDERED } from '../../contract/paths.ts';
import { networkPlan, publicHosts, type DeploymentConfig } from '../config.ts';
import { defineService, health } from './define.ts';
import { image } from './images.ts';
import type { ConfigFile, ServiceSpec } from './types.ts';

/** The certificate gate's variables (swag/certificate-gate.py reads them). */
export const CERTIFICATE_GATE_ENV = {
  /** The address every public name must resolve to before SWAG asks for a certificate. */
  publicAddress: 'REFRESHER_PUBLIC_ADDRESS',
  /** Seconds between certificate attempts (failed validations) at most. */
  retrySeconds: 'REFRESHER_CERT_RETRY_SECONDS',
} as const;

/**
 * One attempt per 20 minutes at most: 3 failed validations an hour, under Let's Encrypt's limit
 * of 5 per account, hostname and hour, with room for a manual try.
 */
export const CERT_RETRY_SECONDS = 1200;

export function swagService(config: DeploymentConfig): ServiceSpec {
  const certbot = config.certbot;
  const siteFiles: ConfigFile[] = publicHosts(config).map(({ subdomain }) => ({
    source: RENDERED.swagSite(subdomain),
    target: MOUNTED.swagSite(subdomain),
  }));
  return defineService({
    name: 'swag',
    description: 'SWAG: nginx with certbot, the only public entry (80 and 443)',
    image: image(config, 'swag'),
    // The gate runs first and ends by exec'ing SWAG's own entry point, /init (s6-overlay), as
    // PID 1. python3 is SWAG's (certbot and fail2ban are Python).
    entrypoint: ['python3', MOUNTED.swagGate, 'init'],
    environment: {
      ...swagEnvironment(config),
      [CERTIFICATE_GATE_ENV.retrySeconds]: String(CERT_RETRY_SECONDS),
      // SWAG's image sets it already; the gate's restart relies on it: a failed start-up step
      // stops the container (s6-overlay), and the restart policy starts it again.
      S6_BEHAVIOUR_IF_STAGE2_FAILS: '2',
    },
    // Set by the services stack from the VM's public IP; absent in compose, where the gate then
    // does not wait for DNS.
    publicAddressEnv: CERTIFICATE_GATE_ENV.publicAddress,
    publicPorts: [
      { host: 80, container: 80 },
      { host: 443, container: 443 },
    ],
    listens: { http: 80, https: 443 },
    volumes: [{ volume: 'swag-config', target: '/config' }],
    files: [
      { source: RENDERED.swagGate, target: MOUNTED.swagGate },
      ...siteFiles,
      { source: RENDERED.htpasswd, target: MOUNTED.htpasswd, secret: true },
      ...(certbot.validation === 'dns'
        ? [
            {
              source: RENDERED.dnsCredentials(certbot.dnsPlugin),
              target: MOUNTED.dnsCredentials(certbot.dnsPlugin),
              secret: true,
            },
          ]
        : []),
    ],
    // Healthy with a certificate and nginx answering on port 80; restarts a swag whose
    // certificate attempt failed once the retry is due (the check may take a DNS lookup: 10 s).
    healthcheck: {
      ...health(['CMD', 'python3', MOUNTED.swagGate, 'health'], 60),
      timeoutSeconds: 10,
    },
    // fail2ban (part of SWAG) bans with iptables, which needs NET_ADMIN in the container. Written
    // as Docker normalises it (upper case, CAP_ prefix), so the container the engine reports back
    // matches the configuration and the docker provider plans no replacement.
    capabilities: ['CAP_NET_ADMIN'],
    dependsOn: [
      { service: 'web', condition: 'started' },
      { service: 'grafana', condition: 'started' },
    ],
    memoryLimitMb: 256,
    ipv4Address: networkPlan(config).swagAddress,
    composeProfile: 'proxy',
  });
}

/**
 * SWAG's container environment (its documented variables): one certificate for the listed
 * subdomains of URL, obtained with the configured validation.
 */
export function swagEnvironment(config: DeploymentConfig): Record<string, string> {
  const certbot = config.certbot;
  return {
    PUID: '1000',
    PGID: '1000',
    TZ: config.timezone,
    URL: config.domain,
    SUBDOMAINS: publicHosts(config)
      .map((host) => host.subdomain)
      .join(','),
    ONLY_SUBDOMAINS: 'true',
    VALIDATION: certbot.validation,
    ...(certbot.validation === 'dns'
      ? {
          DNSPLUGIN: certbot.dnsPlugin,
          ...(certbot.propagationSeconds
            ? { PROPAGATION: String(certbot.propagationSeconds) }
            : {}),
        }
      : {}),
    EMAIL: certbot.email,
    STAGING: String(certbot.staging),
  };
}
