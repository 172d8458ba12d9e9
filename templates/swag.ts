// SWAG's site configurations: one nginx server pair (port 80 redirect, port 443 proxy) per public
// subdomain. The nginx text lives in swag/<site>.subdomain.conf (sources with {{placeholders}});
// this module fills them from the deployment configuration into
// <out>/swag/proxy-confs/<subdomain>.subdomain.conf, which SWAG's
// default site includes. They use three of SWAG's own files, included by path:
//   ssl.conf       certificate paths (the Let's Encrypt certificate SWAG keeps), TLS protocols and
//                  ciphers, session cache; maintained by linuxserver.io
//   proxy.conf     the proxy headers (Host, X-Forwarded-For/-Proto/-Host, Upgrade and Connection
//                  for websockets), HTTP/1.1 upstream, timeouts
//   resolver.conf  Docker's DNS (127.0.0.11), so upstream names resolve per request and a
//                  container that restarts with a new address is found again
// and add what is specific to this service: HSTS, body-size limits, the unbuffered speed test
// target (or, unless speedtest.publicTarget, a 404 in its place), and basic auth in front of the
// queue board and Prometheus.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publicHosts, type DeploymentConfig, type PublicSite } from './config.ts';
import { RENDERED } from '../contract/paths.ts';
import { PORTS } from '../contract/ports.ts';

export interface SwagRenderOptions {
  /** SWAG's configuration root inside its container; tests point it at stand-ins. */
  configRoot?: string;
  /** `listen` arguments of the plain-HTTP and the TLS server. */
  listenHttp?: string[];
  listenHttps?: string[];
  /** Upstream host:port per site; by default the catalogue's service names and ports. */
  upstreams?: Partial<Record<PublicSite, string>>;
}

/** Largest request body nginx passes to the speed test target: the web role's own cap (256 MiB). */
export const SPEEDTEST_MAX_BODY = '256m';
/** The speed test target's path on the web role (SPEEDTEST_TARGET_PATH's default). */
export const SPEEDTEST_PATH = '/speedtest';
/** HSTS: two years, as SWAG's ssl.conf and Mozilla's guideline say; no includeSubDomains. */
export const HSTS = 'max-age=63072000';

const DEFAULT_UPSTREAMS: Record<PublicSite, string> = {
  speedtester: `web:${PORTS.web}`,
  grafana: `grafana:${PORTS.grafana}`,
  prometheus: `prometheus:${PORTS.prometheus}`,
};

/** The nginx sources, one per site, in swag/ (read once; they are part of the repository). */
const SOURCES_DIR = fileURLToPath(new URL('../swag/', import.meta.url));
const sources = new Map<PublicSite, string>();
function source(site: PublicSite): string {
  let text = sources.get(site);
  if (text === undefined) {
    text = readFileSync(join(SOURCES_DIR, `${site}.subdomain.conf`), 'utf8');
    sources.set(site, text);
  }
  return text;
}

/**
 * swag's certificate gate (its entry point and health check, docs/swag.md), as it is in
 * swag/certificate-gate.py: it reads everything it needs from the container's environment.
 */
export function renderSwagGate(): string {
  return readFileSync(join(SOURCES_DIR, 'certificate-gate.py'), 'utf8');
}

/**
 * Fills `{{name}}` placeholders. A line holding a list placeholder is repeated once per item
 * (`listen {{listen_https}};` becomes one listen line per address). A line that is only
 * `{{#flag}}` or `{{^flag}}` opens a section, kept when the boolean `flag` is true (`#`) or false
 * (`^`), which a line `{{/flag}}` closes; the three lines themselves are dropped. Unknown names,
 * a section over a value that is not a boolean, and unclosed sections are errors, so a typo in a
 * source never reaches nginx.
 */
export function fillTemplate(
  template: string,
  values: Record<string, string | string[] | boolean>,
  name: string,
): string {
  const known = (key: string) => {
    if (!(key in values)) throw new Error(`${name}: unknown placeholder {{${key}}}`);
    return values[key]!;
  };
  const open: { key: string; sigil: string; keep: boolean }[] = [];
  const lines = template.split('\n').flatMap((line) => {
    const section = /^\s*\{\{([#^/])(\w+)\}\}\s*$/.exec(line);
    if (section) {
      const [, sigil, key] = section as unknown as [string, string, string];
      if (typeof known(key) !== 'boolean')
        throw new Error(`${name}: section {{${sigil}${key}}} needs a true or false value`);
      if (sigil === '/') {
        if (open.pop()?.key !== key) throw new Error(`${name}: {{/${key}}} closes no section`);
      } else open.push({ key, sigil, keep: values[key] === (sigil === '#') });
      return [];
    }
    if (!open.every((s) => s.keep)) return [];
    const names = [...line.matchAll(/\{\{(\w+)\}\}/g)].map((match) => match[1]!);
    for (const key of names)
      if (typeof known(key) === 'boolean')
        throw new Error(`${name}: {{${key}}} is a true or false value, for sections only`);
    const list = names.find((key) => Array.isArray(values[key]));
    const fill = (item?: string) =>
      line.replace(/\{\{(\w+)\}\}/g, (_, key: string) =>
        key === list ? item! : (values[key] as string),
      );
    return list ? (values[list] as string[]).map((item) => fill(item)) : [fill()];
  });
  const unclosed = open.at(-1);
  if (unclosed)
    throw new Error(`${name}: section {{${unclosed.sigil}${unclosed.key}}} is never closed`);
  return lines.join('\n');
}

/** Renders every site conf, keyed by its path in the render output. */
export function renderSwagSites(
  config: DeploymentConfig,
  options: SwagRenderOptions = {},
): Map<string, string> {
  const files = new Map<string, string>();
  for (const host of publicHosts(config))
    files.set(RENDERED.swagSite(host.subdomain), renderSite(config, host.site, options));
  return files;
}

export function renderSite(
  config: DeploymentConfig,
  site: PublicSite,
  options: SwagRenderOptions = {},
): string {
  const sub = config.subdomains[site];
  if (sub === undefined) throw new Error(`no subdomain is configured for ${site}`);
  const upstream = options.upstreams?.[site] ?? DEFAULT_UPSTREAMS[site];
  const [upstreamHost, upstreamPort] = splitHostPort(upstream);
  return fillTemplate(
    source(site),
    {
      fqdn: `${sub}.${config.domain}`,
      listen_http: options.listenHttp ?? ['80', '[::]:80'],
      listen_https: options.listenHttps ?? ['443 ssl', '[::]:443 ssl'],
      config_root: options.configRoot ?? '/config',
      upstream_host: upstreamHost,
      upstream_port: upstreamPort,
      hsts: HSTS,
      speedtest_path: SPEEDTEST_PATH,
      speedtest_max_body: SPEEDTEST_MAX_BODY,
      speedtest_public: config.speedtest.publicTarget,
    },
    `swag/${site}.subdomain.conf`,
  );
}

function splitHostPort(value: string): [string, string] {
  const match = /^(.+):(\d+)$/.exec(value);
  if (!match) throw new Error(`expected host:port, got "${value}"`);
  return [match[1]!, match[2]!];
}
