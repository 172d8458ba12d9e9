// Debian's nginx with stand-ins for the files SWAG provides, so the rendered site confs can be
// loaded as SWAG loads them. The stand-ins carry the same directives as SWAG's own (linuxserver's
// nginx.conf, ssl.conf, proxy.conf and the generated resolver.conf), written for this test:
//   nginx.conf     http-level settings the site confs rely on: the $connection_upgrade map,
//                  client_max_body_size 0 (SWAG's default: unlimited unless a site says otherwise),
//                  server_tokens off, and the include of proxy-confs/*.subdomain.conf
//   ssl.conf       certificate and key under keys/, TLS 1.2 and 1.3, session cache, and HSTS at the
//                  server level with `always`, as SWAG's current ssl.conf has it
//   proxy.conf     HTTP/1.1 to the upstream, timeouts, Upgrade/Connection for websockets, Host and
//                  the X-Forwarded-* and X-Real-IP headers
//   resolver.conf  a resolver line (SWAG writes Docker's 127.0.0.11 there)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { waitFor } from '../../../testing/wait.ts';

/** Debian installs nginx in /usr/sbin, which is not on every user's PATH. */
const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

export interface SwagStandIn {
  /** Use as `configRoot` of the swag renderer. */
  configRoot: string;
  /** The nginx.conf to start nginx with. */
  nginxConf: string;
  /** The self-signed certificate (PEM), for clients that verify it. */
  certificate: string;
  proxyConfs: string;
}

/** Writes SWAG-like includes and a self-signed certificate for *.`domain` under `root`. */
export function writeSwagStandIn(root: string, domain: string): SwagStandIn {
  const nginx = join(root, 'nginx');
  const proxyConfs = join(nginx, 'proxy-confs');
  const keys = join(root, 'keys');
  const temp = join(root, 'tmp');
  for (const dir of [proxyConfs, keys, temp]) mkdirSync(dir, { recursive: true });
  const openssl = spawnSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${domain}`,
      '-addext', `subjectAltName=DNS:${domain},DNS:*.${domain}`,
      '-keyout', join(keys, 'cert.key'), '-out', join(keys, 'cert.crt'),
    ], // prettier-ignore
    { encoding: 'utf8' },
  );
  if (openssl.status !== 0) throw new Error(`openssl failed: ${openssl.stderr}`);

  const files = swagIncludes(root, {
    // As root, nginx's workers would become nobody, who cannot read this private folder.
    user: process.getuid?.() === 0 ? 'root' : undefined,
    resolver: '127.0.0.1',
  });
  for (const [path, content] of Object.entries(files)) writeFileSync(join(root, path), content);
  const nginxConf = join(nginx, 'nginx.conf');
  return { configRoot: root, nginxConf, certificate: join(keys, 'cert.crt'), proxyConfs };
}

/**
 * SWAG's includes for a config root (`/config` in the container): nginx.conf, ssl.conf, proxy.conf
 * and resolver.conf, by path under the root. The certificate is `keys/cert.crt` and `keys/cert.key`
 * as in SWAG; the swag stand-in image of the stack test carries the same files.
 */
export function swagIncludes(
  root: string,
  options: { user?: string; resolver: string },
): Record<string, string> {
  const nginx = join(root, 'nginx');
  const keys = join(root, 'keys');
  const temp = join(root, 'tmp');
  const proxyConfs = join(nginx, 'proxy-confs');
  return {
    'nginx/ssl.conf': [
      `ssl_certificate ${join(keys, 'cert.crt')};`,
      `ssl_certificate_key ${join(keys, 'cert.key')};`,
      'add_header Strict-Transport-Security "max-age=63072000" always;',
      'ssl_protocols TLSv1.2 TLSv1.3;',
      'ssl_prefer_server_ciphers off;',
      'ssl_session_timeout 1d;',
      'ssl_session_cache shared:StandInSSL:1m;',
      '',
    ].join('\n'),
    'nginx/proxy.conf': [
      'proxy_next_upstream error timeout invalid_header http_500 http_502 http_503;',
      'proxy_buffers 32 4k;',
      'proxy_connect_timeout 240;',
      'proxy_headers_hash_bucket_size 128;',
      'proxy_headers_hash_max_size 1024;',
      'proxy_http_version 1.1;',
      'proxy_read_timeout 240;',
      'proxy_redirect http:// $scheme://;',
      'proxy_send_timeout 240;',
      'proxy_cache_bypass $cookie_session;',
      'proxy_no_cache $cookie_session;',
      'proxy_set_header Connection $connection_upgrade;',
      'proxy_set_header Early-Data $ssl_early_data;',
      'proxy_set_header Host $host;',
      'proxy_set_header Proxy "";',
      'proxy_set_header Upgrade $http_upgrade;',
      'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      'proxy_set_header X-Forwarded-Host $host:$server_port;',
      'proxy_set_header X-Forwarded-Method $request_method;',
      'proxy_set_header X-Forwarded-Proto $scheme;',
      'proxy_set_header X-Forwarded-Server $host;',
      'proxy_set_header X-Forwarded-Ssl on;',
      'proxy_set_header X-Forwarded-Uri $request_uri;',
      'proxy_set_header X-Original-Method $request_method;',
      'proxy_set_header X-Original-URL $scheme://$http_host$request_uri;',
      'proxy_set_header X-Real-IP $remote_addr;',
      '',
    ].join('\n'),
    'nginx/resolver.conf': `resolver ${options.resolver} valid=30s;\n`,
    'nginx/nginx.conf': [
      options.user ? `user ${options.user};` : '',
      'worker_processes 1;',
      `pid ${join(root, 'nginx.pid')};`,
      `error_log ${join(root, 'error.log')} warn;`,
      'daemon off;',
      'events { worker_connections 256; }',
      'http {',
      `  include /etc/nginx/mime.types;`,
      '  default_type application/octet-stream;',
      `  access_log ${join(root, 'access.log')};`,
      '  server_tokens off;',
      '  client_max_body_size 0;',
      '  sendfile on;',
      '  map $http_upgrade $connection_upgrade { default upgrade; "" close; }',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (kind) => `  ${kind}_temp_path ${join(temp, kind)};`,
      ),
      `  include ${join(proxyConfs, '*.subdomain.conf')};`,
      '}',
      '',
    ].join('\n'),
  };
}

/** `nginx -t` on a configuration: its exit status and what it printed. */
export function nginxCheck(standIn: SwagStandIn): { ok: boolean; output: string } {
  const result = spawnSync(
    NGINX,
    [
      '-t',
      '-p',
      standIn.configRoot,
      '-c',
      standIn.nginxConf,
      '-e',
      join(standIn.configRoot, 'error.log'),
    ],
    { encoding: 'utf8' },
  );
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

export interface RunningNginx {
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts nginx in the foreground and waits until `port` accepts connections. */
export async function startNginx(standIn: SwagStandIn, port: number): Promise<RunningNginx> {
  const child = spawn(
    NGINX,
    [
      '-p',
      standIn.configRoot,
      '-c',
      standIn.nginxConf,
      '-e',
      join(standIn.configRoot, 'error.log'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGQUIT'); // graceful: the master waits for its workers
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitFor(
      () =>
        child.exitCode === null &&
        new Promise<boolean>((resolve) => {
          const socket = connect(port, '127.0.0.1');
          socket.once('connect', () => (socket.destroy(), resolve(true)));
          socket.once('error', () => resolve(false));
        }),
      { what: `nginx on port ${port}: ${output}` },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { process: child, output: () => output, stop };
}
