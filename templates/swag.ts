// SWAG's site configurations: one nginx server pair (port 80 redirect, port 443 proxy) per public
// subdomain, written to swag/proxy-confs/<subdomain>.subdomain.conf, which SWAG's default site
// includes. They use three of SWAG's own files, included by path:
//   ssl.conf       certificate paths (the Let's Encrypt certificate SWAG keeps), TLS protocols and
//                  ciphers, session cache; maintained by linuxserver.io
//   proxy.conf     the proxy headers (Host, X-Forwarded-For/-Proto/-Host, Upgrade and Connection
//                  for websockets), HTTP/1.1 upstream, timeouts
//   resolver.conf  Docker's DNS (127.0.0.11), so upstream names resolve per request and a
//                  container that restarts with a new address is found again
// and add what is specific to this service: HSTS, body-size limits, the unbuffered speed test
// target, and basic auth in front of the queue board and Prometheus.
import { publicHosts, type DeploymentConfig, type PublicSite } from './config.ts';
import { PORTS, RENDERED } from './catalogue.ts';

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

const REALMS: Record<PublicSite, string> = {
  speedtester: 'Refresher queue board',
  grafana: 'Grafana',
  prometheus: 'Refresher Prometheus',
};

class Lines {
  private lines: string[] = [];
  private depth = 0;
  add(...lines: string[]): this {
    for (const line of lines)
      this.lines.push(line === '' ? '' : `${'    '.repeat(this.depth)}${line}`);
    return this;
  }
  block(head: string, body: () => void): this {
    this.add(`${head} {`);
    this.depth++;
    body();
    this.depth--;
    return this.add('}');
  }
  toString(): string {
    return `${this.lines.join('\n')}\n`;
  }
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
  const root = options.configRoot ?? '/config';
  const listenHttp = options.listenHttp ?? ['80', '[::]:80'];
  const listenHttps = options.listenHttps ?? ['443 ssl', '[::]:443 ssl'];
  const upstream = options.upstreams?.[site] ?? DEFAULT_UPSTREAMS[site];
  const [upstreamHost, upstreamPort] = splitHostPort(upstream);
  const sub = config.subdomains[site];
  if (sub === undefined) throw new Error(`no subdomain is configured for ${site}`);
  const fqdn = `${sub}.${config.domain}`;
  const htpasswd = `${root}/nginx/refresher.htpasswd`;
  const out = new Lines();

  // Everything a proxied location needs. proxy_pass takes variables, as in SWAG's samples: nginx
  // then resolves the name when a request comes (resolver.conf), not once at start, so it starts
  // while a container is down and follows it to a new address.
  const proxy = (extra: () => void = () => undefined) => {
    out.add(`include ${root}/nginx/proxy.conf;`, `include ${root}/nginx/resolver.conf;`);
    out.add(`set $upstream_app ${upstreamHost};`, `set $upstream_port ${upstreamPort};`);
    extra();
    // One HSTS header, ours: a location with add_header of its own inherits none from the server
    // (ssl.conf's), and the app's copy (helmet) is dropped so clients do not get two.
    out.add(`proxy_hide_header Strict-Transport-Security;`);
    out.add(`add_header Strict-Transport-Security "${HSTS}" always;`);
    out.add('proxy_pass http://$upstream_app:$upstream_port;');
  };
  const basicAuth = () => {
    out.add(`auth_basic "${REALMS[site]}";`, `auth_basic_user_file ${htpasswd};`);
    // The app would read "Authorization: Basic" as a bad API token; the upstream never needs it.
    out.add('proxy_set_header Authorization "";');
  };

  out.add(
    `# ${fqdn} -> ${upstream}`,
    `# Rendered from the deployment configuration by templates/swag.ts; do not edit by hand.`,
    '',
  );
  out.block('server', () => {
    for (const listen of listenHttp) out.add(`listen ${listen};`);
    out.add(`server_name ${fqdn};`, 'server_tokens off;', '');
    out.add('# Plain HTTP only ever redirects: cookies and credentials travel over TLS.');
    out.block('location /', () => out.add('return 301 https://$host$request_uri;'));
  });
  out.add('');
  out.block('server', () => {
    for (const listen of listenHttps) out.add(`listen ${listen};`);
    out.add(`server_name ${fqdn};`, 'server_tokens off;', '');
    out.add(`include ${root}/nginx/ssl.conf;`, '');
    if (site === 'speedtester') {
      out.add('# Forms and the API take at most 1 MiB; only the speed test target gets more.');
      out.add('client_max_body_size 1m;', '');
      out.add(
        '# The speed test target: uploads stream straight to the web role, which counts and caps them;',
      );
      out.add(
        '# downloads stream straight back. Buffering either side would measure nginx, not the link.',
      );
      out.block(`location ${SPEEDTEST_PATH}/`, () => {
        out.add(`client_max_body_size ${SPEEDTEST_MAX_BODY};`);
        out.add('proxy_request_buffering off;', 'proxy_buffering off;', 'gzip off;');
        proxy();
      });
      out.add('');
      out.add(
        '# The queue board: basic auth at the proxy on top of the app sign-in. Case-insensitive,',
      );
      out.add('# because Express routes /ADMIN/QUEUES to the same handler.');
      out.block('location ~* ^/admin/queues(?:/|$)', () => proxy(basicAuth));
      out.add('');
      out.block('location /', () => proxy());
    } else if (site === 'grafana') {
      out.add(
        '# Dashboards and their JSON imports; Grafana Live uses a websocket (proxy.conf upgrades it).',
      );
      out.add('client_max_body_size 8m;', '');
      out.block('location /', () => proxy());
    } else {
      out.add('# Prometheus has no authentication of its own: all of it sits behind basic auth.');
      out.add('client_max_body_size 1m;', '');
      out.block('location /', () => proxy(basicAuth));
    }
  });
  return out.toString();
}

function splitHostPort(value: string): [string, string] {
  const match = /^(.+):(\d+)$/.exec(value);
  if (!match) throw new Error(`expected host:port, got "${value}"`);
  return [match[1]!, match[2]!];
}
