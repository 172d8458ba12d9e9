// The SWAG site confs under Debian's nginx, with stand-ins for SWAG's own includes: `nginx -t`
// accepts them, and end to end, in front of the running web role on loopback, they redirect to
// HTTPS, send HSTS once, pass websockets, guard the queue board and Prometheus with the generated
// basic-auth credentials, stream large uploads to the speed test target only, and let the app see
// the client's scheme and address (its Secure session cookie works through the proxy). Unless the
// deployment makes the target public, nginx answers 404 for it and the web role never sees it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { spawnTs, type Child } from '../../testing/child.ts';
import { BASE_REDIS_URL, migratedDatabase, type ScratchDatabase } from '../../testing/database.ts';
import { freePort } from '../../testing/ports.ts';
import { waitFor } from '../../testing/wait.ts';
import { RENDERED } from '../../contract/paths.ts';
import { resolveEnvironment, serviceCatalogue } from '../catalogue/index.ts';
import type { DeploymentConfig, PublicSite } from '../config.ts';
import { renderAll } from '../render.ts';
import { generateSecrets, type Secrets } from '../secrets.ts';
import { fillTemplate, HSTS, renderSwagSites } from '../swag.ts';
import { configFixture } from './helpers/deployment.ts';
import {
  nginxCheck,
  startNginx,
  writeSwagStandIn,
  type RunningNginx,
  type SwagStandIn,
} from './helpers/nginx.ts';

const CLIENT_ADDRESS = '127.0.0.5'; // the "client": another loopback address than nginx's own

describe('filling the swag/ sources', () => {
  test('every placeholder is filled, list placeholders repeat their line, unknown ones are refused', () => {
    assert.equal(
      fillTemplate(
        'server {\n    listen {{listen}};\n    server_name {{fqdn}};\n}',
        { listen: ['80', '[::]:80'], fqdn: 'a.example.test' },
        't',
      ),
      'server {\n    listen 80;\n    listen [::]:80;\n    server_name a.example.test;\n}',
    );
    assert.throws(
      () => fillTemplate('x {{nope}}', {}, 'swag/x.conf'),
      /swag\/x\.conf: unknown placeholder \{\{nope\}\}/,
    );
  });

  test('sections keep their lines for true ({{#flag}}) or false ({{^flag}}); mistakes are refused', () => {
    const source = 'a\n  {{#on}}\n  b {{x}}\n  {{/on}}\n  {{^on}}\n  c\n  {{/on}}\nd';
    assert.equal(fillTemplate(source, { on: true, x: 'X' }, 't'), 'a\n  b X\nd');
    assert.equal(fillTemplate(source, { on: false, x: 'X' }, 't'), 'a\n  c\nd');
    assert.throws(() => fillTemplate('{{#nope}}\n{{/nope}}', {}, 't'), /unknown placeholder/);
    assert.throws(() => fillTemplate('{{#x}}\n{{/x}}', { x: 'X' }, 't'), /needs a true or false/);
    assert.throws(
      () => fillTemplate('{{#on}}\nb', { on: true }, 't'),
      /\{\{#on\}\} is never closed/,
    );
    assert.throws(() => fillTemplate('{{/on}}', { on: true }, 't'), /closes no section/);
    assert.throws(() => fillTemplate('b {{on}}', { on: true }, 't'), /for sections only/);
  });

  test('no unfilled placeholder is left in any site, with the target public or not', () => {
    const fixture = configFixture();
    try {
      for (const publicTarget of [false, true]) {
        const config = fixture.config({ speedtest: { engine: 'librespeed', publicTarget } });
        for (const content of renderSwagSites(config).values())
          assert.doesNotMatch(content, /\{\{|\}\}/);
      }
    } finally {
      fixture.remove();
    }
  });
});

describe('nginx -t on the rendered site confs', () => {
  const fixture = configFixture();
  after(() => fixture.remove());

  test('accepts every site as rendered for SWAG (only the config root points at the stand-ins)', () => {
    for (const [name, config] of [
      ['all-sites', fixture.config()],
      [
        'two-sites',
        fixture.config({
          subdomains: { speedtester: 'speedtest', grafana: 'dash', prometheus: undefined },
        }),
      ],
      [
        'public-target',
        fixture.config({ speedtest: { engine: 'librespeed', publicTarget: true } }),
      ],
    ] as const) {
      const root = join(fixture.path, name);
      const standIn = writeSwagStandIn(root, config.domain);
      const sites = renderSwagSites(config, { configRoot: root });
      assert.equal(sites.size, config.subdomains.prometheus ? 3 : 2);
      for (const [path, content] of sites) {
        assert.ok(content.includes(`include ${root}/nginx/ssl.conf;`));
        writeFileSync(join(standIn.proxyConfs, path.split('/').at(-1)!), content);
      }
      const result = nginxCheck(standIn);
      assert.ok(result.ok, result.output);
      assert.match(result.output, /syntax is ok/);
    }
  });

  test('the production render differs only in the config root, and a broken conf fails (the check can fail)', () => {
    const config = fixture.config();
    const production = renderSwagSites(config);
    const root = join(fixture.path, 'broken');
    for (const [path, content] of renderSwagSites(config, { configRoot: root }))
      assert.equal(content.replaceAll(`${root}/`, '/config/'), production.get(path));
    assert.match(
      production.get(RENDERED.swagSite('speed'))!,
      /include \/config\/nginx\/proxy\.conf;/,
    );

    const standIn = writeSwagStandIn(root, config.domain);
    const speed = renderSwagSites(config, { configRoot: root }).get(RENDERED.swagSite('speed'))!;
    // Without SWAG's nginx.conf map, $connection_upgrade (used by proxy.conf) is unknown.
    writeFileSync(
      join(standIn.proxyConfs, 'speed.subdomain.conf'),
      speed.replace('proxy_pass', 'proxy_passs'),
    );
    assert.equal(nginxCheck(standIn).ok, false);
  });
});

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

describe('end to end: nginx with a self-signed certificate in front of the web role', () => {
  const fixture = configFixture();
  let config: DeploymentConfig;
  let secrets: Secrets;
  let database: ScratchDatabase | undefined;
  let standIn: SwagStandIn;
  let web: Child | undefined;
  let nginx: RunningNginx | undefined;
  let upstream: Server | undefined;
  let httpPort: number;
  let httpsPort: number;
  const seenByUpstream: IncomingHttpHeaders[] = [];
  /** Set by the sign-in test, used by the queue board test. */
  let sessionCookie = '';

  before(async () => {
    // The target public, so its location is proxied (the default, not public, is tested below).
    config = fixture.config({ speedtest: { engine: 'librespeed', publicTarget: true } });
    secrets = generateSecrets();
    database = await migratedDatabase();
    const [webPort, metricsPort, upstreamPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    httpPort = await freePort();
    httpsPort = await freePort();

    // The web role with the environment the catalogue gives it; only addresses are local.
    const catalogueEnv = resolveEnvironment(
      serviceCatalogue(config).find((s) => s.name === 'web')!,
      secrets,
    );
    web = spawnTs('app/src/main.ts', ['web'], {
      ...catalogueEnv,
      LOG_LEVEL: 'warn',
      DATABASE_URL: database.url,
      REDIS_URL: BASE_REDIS_URL,
      QUEUE_PREFIX: database.queuePrefix,
      HOST: '127.0.0.1',
      PORT: String(webPort),
      METRICS_HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      // In production: swag's fixed address. Here nginx connects from 127.0.0.1.
      TRUST_PROXY: '127.0.0.1',
    });

    // Stands in for Grafana and Prometheus: echoes what it received, and speaks websocket upgrades.
    upstream = createServer((request, response) => {
      seenByUpstream.push(request.headers);
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ url: request.url, headers: request.headers }));
    });
    upstream.on('upgrade', (request, socket) => {
      const accept = createHash('sha1')
        .update(`${request.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      socket.pipe(socket); // echo
    });
    await new Promise<void>((resolve) => upstream!.listen(upstreamPort, '127.0.0.1', resolve));

    const root = join(fixture.path, 'swag');
    mkdirSync(root);
    standIn = writeSwagStandIn(root, config.domain);
    const upstreams: Record<PublicSite, string> = {
      speedtester: `127.0.0.1:${webPort}`,
      grafana: `127.0.0.1:${upstreamPort}`,
      prometheus: `127.0.0.1:${upstreamPort}`,
    };
    const sites = renderSwagSites(config, {
      configRoot: root,
      listenHttp: [`127.0.0.1:${httpPort}`],
      listenHttps: [`127.0.0.1:${httpsPort} ssl`],
      upstreams,
    });
    for (const [path, content] of sites)
      writeFileSync(join(standIn.proxyConfs, path.split('/').at(-1)!), content);
    // The htpasswd exactly as the deployment renders it.
    const htpasswd = renderAll(config, secrets).find((file) => file.path === RENDERED.htpasswd)!;
    writeFileSync(join(root, 'nginx', 'refresher.htpasswd'), htpasswd.content);

    await waitFor(
      async () =>
        web!.process.exitCode === null && (await fetch(`http://127.0.0.1:${webPort}/healthz`)).ok,
      { timeoutMs: 30_000, what: `the web role on port ${webPort}: ${web.output()}` },
    );
    assert.equal(web.process.exitCode, null, web.output());
    nginx = await startNginx(standIn, httpsPort);
  });

  after(async () => {
    await nginx?.stop();
    if (web && web.process.exitCode === null) {
      web.process.kill('SIGTERM');
      await web.exited;
    }
    await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
    await database?.drop();
    fixture.remove();
  });

  const fqdn = (site: PublicSite) => `${config.subdomains[site]}.${config.domain}`;

  function send(
    site: PublicSite,
    path: string,
    options: {
      method?: string;
      headers?: Record<string, string>;
      body?: Buffer | string;
      tls?: boolean;
    } = {},
  ): Promise<Reply> {
    const tls = options.tls ?? true;
    const host = fqdn(site);
    const params = {
      host: '127.0.0.1',
      port: tls ? httpsPort : httpPort,
      localAddress: CLIENT_ADDRESS,
      method: options.method ?? 'GET',
      path,
      headers: { host, ...options.headers },
      ...(tls ? { servername: host, ca: readFileSync(standIn.certificate) } : {}),
    };
    return new Promise((resolve, reject) => {
      const request = (tls ? httpsRequest : httpRequest)(params, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            rawHeaders: response.rawHeaders,
            body,
          }),
        );
      });
      request.on('error', reject);
      request.end(options.body);
    });
  }

  const basic = (user: string, password: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  });
  const cookieOf = (reply: Reply) =>
    ([] as string[])
      .concat(reply.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('refresher.sid='));

  test('plain HTTP redirects to HTTPS, for every site', async () => {
    for (const site of ['speedtester', 'grafana', 'prometheus'] as const) {
      const reply = await send(site, '/login?next=%2Fadmin', { tls: false });
      assert.equal(reply.status, 301, site);
      assert.equal(reply.headers.location, `https://${fqdn(site)}/login?next=%2Fadmin`);
    }
  });

  test('HTTPS with the certificate; HSTS exactly once, also on errors and on upstream pages', async () => {
    for (const [site, path] of [
      ['speedtester', '/healthz'],
      ['speedtester', '/no-such-page'],
      ['speedtester', '/admin/queues'],
      ['grafana', '/api/health'],
      ['prometheus', '/-/healthy'],
    ] as const) {
      const reply = await send(site, path);
      const hsts = reply.rawHeaders.filter(
        (_, i) => i % 2 === 0 && reply.rawHeaders[i]!.toLowerCase() === 'strict-transport-security',
      );
      assert.equal(hsts.length, 1, `${site} ${path}: ${reply.rawHeaders.join(' ')}`);
      assert.equal(reply.headers['strict-transport-security'], HSTS);
    }
    const health = await send('speedtester', '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
  });

  test('the app sees the client address, not the proxy’s, and a forged X-Forwarded-For changes nothing', async () => {
    const reply = await send('speedtester', '/speedtest/getIP');
    assert.equal(reply.status, 200, reply.body);
    assert.equal(JSON.parse(reply.body).processedString, CLIENT_ADDRESS);
    const forged = await send('speedtester', '/speedtest/getIP', {
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    assert.equal(JSON.parse(forged.body).processedString, CLIENT_ADDRESS);
  });

  test('sign in through the proxy: the session cookie is Secure and carries the session', async () => {
    const page = await send('speedtester', '/login');
    assert.equal(page.status, 200);
    const first = cookieOf(page);
    assert.match(first ?? '', /; Secure/, 'the app saw https through X-Forwarded-Proto');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
    assert.ok(csrf, 'the sign-in form has a CSRF token');
    const signIn = await send('speedtester', '/login', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: first!.split(';')[0]!,
      },
      body: new URLSearchParams({
        username: config.admin.username,
        password: secrets.appAdminPassword,
        _csrf: csrf,
        next: '/admin',
      }).toString(),
    });
    assert.equal(signIn.status, 303, signIn.body);
    assert.equal(signIn.headers.location, '/admin');
    const session = cookieOf(signIn);
    assert.match(session ?? '', /; Secure/);
    const me = await send('speedtester', '/api/v1/me', {
      headers: { cookie: session!.split(';')[0]! },
    });
    assert.equal(me.status, 200, me.body);
    assert.equal(JSON.parse(me.body).username, config.admin.username);
    sessionCookie = session!.split(';')[0]!;
  });

  test('the queue board asks for basic auth, accepts the generated credentials, and the app never sees them', async () => {
    for (const path of [
      '/admin/queues',
      '/admin/queues/api/queues',
      '/ADMIN/Queues',
      '/admin//queues',
    ]) {
      const anonymous = await send('speedtester', path);
      assert.equal(anonymous.status, 401, path);
      assert.match(
        String(anonymous.headers['www-authenticate']),
        /^Basic realm="Refresher queue board"/,
      );
    }
    const wrong = await send('speedtester', '/admin/queues', {
      headers: basic(config.basicAuth.username, 'not the password'),
    });
    assert.equal(wrong.status, 401);
    // Past the proxy, the app's own sign-in applies: an anonymous visitor goes to /login. Had nginx
    // passed "Authorization: Basic" on, the app would answer 401 (not a bearer token) instead.
    const right = await send('speedtester', '/admin/queues', {
      headers: basic(config.basicAuth.username, secrets.basicAuthPassword),
    });
    assert.ok([302, 303].includes(right.status), `${right.status} ${right.body}`);
    assert.match(String(right.headers.location), /^\/login\?next=/);
    // Signed in as well, the app serves the board (or its 404 until the board exists), not a 401.
    const signedIn = await send('speedtester', '/admin/queues', {
      headers: {
        ...basic(config.basicAuth.username, secrets.basicAuthPassword),
        cookie: sessionCookie,
      },
    });
    assert.ok(![401, 302, 303].includes(signedIn.status), `${signedIn.status} ${signedIn.body}`);
    // Other admin pages are the app's business alone: no basic auth asked.
    assert.ok([302, 303].includes((await send('speedtester', '/admin')).status));
  });

  test('Prometheus sits wholly behind basic auth; the credentials stop at the proxy', async () => {
    assert.equal((await send('prometheus', '/graph')).status, 401);
    seenByUpstream.length = 0;
    const reply = await send('prometheus', '/api/v1/query?query=up', {
      headers: basic(config.basicAuth.username, secrets.basicAuthPassword),
    });
    assert.equal(reply.status, 200, reply.body);
    const seen = JSON.parse(reply.body) as { url: string; headers: IncomingHttpHeaders };
    assert.equal(seen.url, '/api/v1/query?query=up');
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-real-ip'], CLIENT_ADDRESS);
    assert.equal(seen.headers.host, fqdn('prometheus'));
    // Grafana has its own sign-in: no basic auth there.
    assert.equal((await send('grafana', '/login')).status, 200);
  });

  test('a websocket upgrade passes to Grafana and carries data both ways', async () => {
    const socket = tlsConnect({
      socket: tcpConnect({ host: '127.0.0.1', port: httpsPort, localAddress: CLIENT_ADDRESS }),
      servername: fqdn('grafana'),
      ca: readFileSync(standIn.certificate),
    });
    try {
      await new Promise<void>((resolve, reject) =>
        socket.once('secureConnect', resolve).once('error', reject),
      );
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (received += chunk));
      socket.write(
        [
          'GET /api/live/ws HTTP/1.1',
          `Host: ${fqdn('grafana')}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Version: 13',
          '',
          '',
        ].join('\r\n'),
      );
      await waitUntil(() => received.includes('\r\n\r\n'));
      assert.match(received, /^HTTP\/1\.1 101 /);
      assert.match(received, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
      const headersEnd = received.indexOf('\r\n\r\n') + 4;
      socket.write('ping through the tunnel');
      await waitUntil(() => received.slice(headersEnd).includes('ping through the tunnel'));
    } finally {
      socket.destroy();
    }
  });

  test('large uploads stream to the speed test target only; elsewhere the proxy stops them', async () => {
    const fiveMiB = Buffer.alloc(5 * 1024 * 1024, 7);
    const upload = await send('speedtester', '/speedtest/empty', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: fiveMiB,
    });
    assert.equal(upload.status, 200, upload.body);
    const elsewhere = await send('speedtester', '/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.alloc(2 * 1024 * 1024, 97),
    });
    assert.equal(elsewhere.status, 413);
    const download = await send('speedtester', '/speedtest/garbage?ckSize=4');
    assert.equal(download.status, 200);
    assert.equal(Buffer.byteLength(download.body, 'latin1') > 0, true);
  });
});

describe('the speed test target not public (the default): nginx answers 404 for it', () => {
  const fixture = configFixture();
  const seen: string[] = [];
  let standIn: SwagStandIn;
  let nginx: RunningNginx | undefined;
  let upstream: Server | undefined;
  let httpsPort: number;

  before(async () => {
    const config = fixture.config();
    assert.equal(config.speedtest.publicTarget, false);
    const upstreamPort = await freePort();
    httpsPort = await freePort();
    upstream = createServer((request, response) => {
      seen.push(request.url ?? '');
      response.end('from the web role');
    });
    await new Promise<void>((resolve) => upstream!.listen(upstreamPort, '127.0.0.1', resolve));
    standIn = writeSwagStandIn(join(fixture.path, 'swag'), config.domain);
    const sites = renderSwagSites(config, {
      configRoot: standIn.configRoot,
      listenHttp: [`127.0.0.1:${await freePort()}`],
      listenHttps: [`127.0.0.1:${httpsPort} ssl`],
      upstreams: { speedtester: `127.0.0.1:${upstreamPort}` },
    });
    const speed = sites.get(RENDERED.swagSite('speed'))!;
    assert.doesNotMatch(speed, /proxy_request_buffering/, 'no proxied target location');
    writeFileSync(join(standIn.proxyConfs, 'speed.subdomain.conf'), speed);
    nginx = await startNginx(standIn, httpsPort);
  });

  after(async () => {
    await nginx?.stop();
    await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
    fixture.remove();
  });

  function get(path: string): Promise<Reply> {
    const host = 'speed.example.test';
    return new Promise((resolve, reject) => {
      const request = httpsRequest(
        {
          host: '127.0.0.1',
          port: httpsPort,
          localAddress: CLIENT_ADDRESS,
          path,
          headers: { host },
          servername: host,
          ca: readFileSync(standIn.certificate),
        },
        (response) => {
          let body = '';
          response.setEncoding('latin1');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              rawHeaders: response.rawHeaders,
              body,
            }),
          );
        },
      );
      request.on('error', reject);
      request.end();
    });
  }

  test('every spelling of the target path is 404 with HSTS, and never reaches the web role', async () => {
    for (const path of [
      '/speedtest/garbage?ckSize=4',
      '/speedtest/garbage.php?ckSize=4',
      '/speedtest/empty',
      '/speedtest/getIP',
      '/speedtest',
      '/SpeedTest/garbage',
      '//speedtest/garbage',
      '/speed%74est/garbage',
      '/admin/../speedtest/garbage',
    ]) {
      const reply = await get(path);
      assert.equal(reply.status, 404, `${path}: ${reply.body}`);
      assert.equal(reply.headers['strict-transport-security'], HSTS, path);
    }
    assert.deepEqual(seen, []);
    // Everything else is proxied as before.
    const health = await get('/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.body, 'from the web role');
    assert.deepEqual(seen, ['/healthz']);
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
