// Paths more than one layer must agree on: inside the app image, in the render output, and where
// the catalogue mounts rendered files in the stock images.
import { fileURLToPath } from 'node:url';

/** The repository's root folder (scripts, tests and benches resolve files against it). */
export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The app bundle's file name in dist/ and in the image (app/Dockerfile copies it by this name). */
export const BUNDLE_FILE = 'refresher.mjs';

/** Where the Ookla CLI lives in the app image when the licence is accepted (app/Dockerfile). */
export const OOKLA_BIN_IN_IMAGE = '/usr/local/bin/speedtest';

/** Paths of the rendered files, relative to the render output directory. */
export const RENDERED = {
  swagSite: (subdomain: string) => `swag/proxy-confs/${subdomain}.subdomain.conf`,
  htpasswd: 'swag/refresher.htpasswd',
  /** swag's entry point and health check (swag/certificate-gate.py, copied by templates/swag.ts). */
  swagGate: 'swag/certificate-gate.py',
  dnsCredentials: (plugin: string) => `swag/dns-conf/${dnsCredentialsFile(plugin)}`,
  cloudInit: 'cloud-init/user-data.yaml',
  compose: 'compose/docker-compose.yml',
  composeEnv: (service: string) => `compose/secrets/${service}.env`,
  // Monitoring (templates/prometheus.ts, templates/alertmanager.ts, templates/grafana.ts).
  prometheusConfig: 'prometheus/prometheus.yml',
  prometheusRules: 'prometheus/rules/refresher.rules.yml',
  alertmanagerConfig: 'alertmanager/alertmanager.yml',
  grafanaDatasources: 'grafana/provisioning/datasources/refresher.yaml',
  grafanaDashboardProvider: 'grafana/provisioning/dashboards/refresher.yaml',
  grafanaDashboard: (name: string) => `grafana/dashboards/${name}.json`,
  grafanaReaderRole: 'postgres/grafana-reader-role.sql',
} as const;

/** Where the rendered files are mounted in the stock images. */
export const MOUNTED = {
  prometheusConfig: '/etc/prometheus/prometheus.yml',
  prometheusRules: '/etc/prometheus/rules/refresher.rules.yml',
  alertmanagerConfig: '/etc/alertmanager/alertmanager.yml',
  grafanaDatasources: '/etc/grafana/provisioning/datasources/refresher.yaml',
  grafanaDashboardProvider: '/etc/grafana/provisioning/dashboards/refresher.yaml',
  grafanaDashboards: '/etc/grafana/dashboards',
  grafanaReaderRole: '/refresher/grafana-reader-role.sql',
  swagSite: (subdomain: string) => `/config/nginx/proxy-confs/${subdomain}.subdomain.conf`,
  htpasswd: '/config/nginx/refresher.htpasswd',
  swagGate: '/refresher/certificate-gate.py',
  dnsCredentials: (plugin: string) => `/config/dns-conf/${dnsCredentialsFile(plugin)}`,
} as const;

/** SWAG's certbot reads each DNS plugin's credentials from dns-conf/<plugin>.ini (google: .json). */
function dnsCredentialsFile(plugin: string): string {
  return `${plugin}.${plugin === 'google' ? 'json' : 'ini'}`;
}
