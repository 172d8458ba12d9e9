// SWAG: nginx with certbot, the only container with public ports. Its site confs come from
// swag/ (rendered by templates/swag.ts), one per public subdomain.
import { MOUNTED, RENDERED } from '../../contract/paths.ts';
import { networkPlan, publicHosts, type DeploymentConfig } from '../config.ts';
import { defineService, health } from './define.ts';
import { image } from './images.ts';
import type { ConfigFile, ServiceSpec } from './types.ts';

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
    environment: swagEnvironment(config),
    publicPorts: [
      { host: 80, container: 80 },
      { host: 443, container: 443 },
    ],
    listens: { http: 80, https: 443 },
    volumes: [{ volume: 'swag-config', target: '/config' }],
    files: [
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
    healthcheck: health(['CMD', 'curl', '-fso', '/dev/null', 'http://127.0.0.1/'], 60),
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
