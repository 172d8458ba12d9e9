// "Send a test notification" end to end: Debian's Alertmanager on a loopback port with the
// alertmanager.yml `npm run render` writes for a deployment with two webhook receivers (one of
// them for critical alerts only), both pointing at a small HTTP server here; an admin presses the
// button in the portal and both receivers get RefresherTestNotification. Around it: a non-admin
// and a post without the CSRF token are refused, an unset ALERTMANAGER_URL is named on the page
// (and a malformed one at start), an error answer is shown with its status, and a stopped
// Alertmanager is "unreachable".
//
// The app's tests may not import templates/ (the layer graph), so the configuration is rendered
// by the command a person runs; only its waits are shortened, as the monitoring tests do.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runTs } from '../../testing/child.ts';
import { tempDir } from '../../testing/files.ts';
import { freePort } from '../../testing/ports.ts';
import { waitFor } from '../../testing/wait.ts';
import { loadConfig } from '../src/config.ts';
import { TEST_ALERT_NAME } from '../src/web/admin/notifications.ts';
import { createUser } from '../src/web/auth/users.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { CookieClient } from './helpers/http-client.ts';
import { serveWebApp, type ServedWebApp } from './helpers/web.ts';

const PASSWORD = 'a sufficiently long password';
const PAGE = '/admin/notifications';

interface Delivery {
  path: string;
  body: {
    receiver: string;
    status: string;
    alerts: {
      status: string;
      labels: Record<string, string>;
      annotations: Record<string, string>;
      startsAt: string;
      endsAt: string;
    }[];
  };
}

/** A one-line OpenSSH ed25519 public key (the deployment configuration needs one to render). */
function sshPublicKey(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const field = (bytes: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes]);
  const blob = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} notifications-test`;
}

describe('Send a test notification', () => {
  const work = tempDir('refresher-notifications-');
  const deliveries: Delivery[] = [];
  let env: TestEnv;
  let receiver: Server;
  let alertmanager: ChildProcess | undefined;
  let alertmanagerOutput = '';
  let alertmanagerUrl = '';
  const webs: ServedWebApp[] = [];
  let web: ServedWebApp;
  let admin: CookieClient;
  let viewer: CookieClient;

  const signedIn = async (served: ServedWebApp, username: string) => {
    const client = new CookieClient(served.origin);
    assert.equal((await client.signIn(username, PASSWORD)).status, 303);
    return client;
  };
  const serve = async (url: string | undefined) => {
    const served = await serveWebApp(env, {
      config: { ...env.config, ALERTMANAGER_URL: url },
      loginRateLimitPerMinute: 100,
    });
    webs.push(served);
    return served;
  };
  /** A failed wait with what the receivers got and what Alertmanager logged. */
  const explained = <T>(waiting: Promise<T>): Promise<T> =>
    waiting.catch((error: Error) => {
      throw new Error(
        `${error.message}\nreceived: ${JSON.stringify(deliveries).slice(0, 1500)}\nalertmanager:\n${alertmanagerOutput}`,
        { cause: error },
      );
    });
  const csrfOf = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)![1]!;
  /** The alerts Alertmanager holds now, from its own API. */
  const held = async () =>
    (await (await fetch(`${alertmanagerUrl}/api/v2/alerts`)).json()) as {
      labels: Record<string, string>;
      startsAt: string;
      endsAt: string;
    }[];

  before(async () => {
    env = await createTestEnv();
    await createUser(env.db, { username: 'ada', password: PASSWORD, isAdmin: true });
    await createUser(env.db, { username: 'vic', password: PASSWORD });

    // The receivers' side: every webhook call, by path. /broken stands in for an Alertmanager
    // that refuses what it is sent.
    const receiverPort = await freePort();
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (request.url?.startsWith('/broken/')) {
          response.writeHead(400, { 'content-type': 'application/json' });
          response.end('{"code":400,"message":"labels are not valid"}');
          return;
        }
        deliveries.push({ path: request.url ?? '', body: JSON.parse(body) as Delivery['body'] });
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(receiverPort, '127.0.0.1', resolve));
    const receiverUrl = `http://127.0.0.1:${receiverPort}`;

    // A deployment with two webhook receivers, rendered as `npm run render` renders it.
    const keyPath = join(work.path, 'admin.pub');
    writeFileSync(keyPath, `${sshPublicKey()}\n`);
    for (const name of ['everything', 'critical-only'])
      writeFileSync(join(work.path, name), `${receiverUrl}/${name}\n`);
    const configPath = join(work.path, 'deploy.config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        name: 'refresher-test',
        domain: 'example.test',
        subdomains: { speedtester: 'speed', grafana: 'grafana' },
        certbot: { email: 'ops@example.test', validation: 'http' },
        dns: { mode: 'domain-zone' },
        azure: { location: 'westeurope' },
        vm: {
          size: 'Standard_B2s',
          sshPublicKeyPath: keyPath,
          sshAllowedCidrs: ['203.0.113.0/24'],
        },
        speedtest: { engine: 'librespeed' },
        alerts: {
          downloadFloorMbps: 50,
          uploadFloorMbps: 10,
          receivers: [
            { type: 'webhook', urlFile: join(work.path, 'everything') },
            { type: 'webhook', urlFile: join(work.path, 'critical-only'), minSeverity: 'critical' },
          ],
        },
      }),
    );
    const out = join(work.path, 'render');
    const rendered = runTs(
      'scripts/render.ts',
      ['--out', out, '--config', configPath, '--secrets', join(work.path, 'secrets.json')],
      {},
    );
    assert.equal(rendered.status, 0, `${rendered.stdout}${rendered.stderr}`);
    const deployed = readFileSync(join(out, 'alertmanager/alertmanager.yml'), 'utf8');
    const shortened = deployed
      .replace('group_wait: 30s', 'group_wait: 1s')
      .replace('group_interval: 5m', 'group_interval: 1s');
    assert.equal(shortened.match(/group_(wait|interval): 1s/g)?.length, 2, deployed);
    const amConfig = join(work.path, 'alertmanager.yml');
    writeFileSync(amConfig, shortened);

    const amPort = await freePort();
    alertmanagerUrl = `http://127.0.0.1:${amPort}`;
    alertmanager = spawn(
      'prometheus-alertmanager',
      [
        `--config.file=${amConfig}`,
        `--storage.path=${join(work.path, 'alertmanager-data')}`,
        `--web.listen-address=127.0.0.1:${amPort}`,
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (chunk: Buffer) =>
      (alertmanagerOutput = (alertmanagerOutput + chunk.toString()).slice(-10_000));
    alertmanager.stdout!.on('data', keep);
    alertmanager.stderr!.on('data', keep);
    await explained(
      waitFor(
        async () => (await fetch(`${alertmanagerUrl}/-/ready`).catch(() => null))?.ok ?? false,
        { timeoutMs: 20_000, what: 'Alertmanager ready' },
      ),
    );

    web = await serve(alertmanagerUrl);
    admin = await signedIn(web, 'ada');
    viewer = await signedIn(web, 'vic');
  });

  after(async () => {
    for (const served of webs) await served.close();
    if (alertmanager && alertmanager.exitCode === null && alertmanager.signalCode === null) {
      const exited = new Promise((resolve) => alertmanager!.once('exit', resolve));
      alertmanager.kill('SIGTERM');
      await exited;
    }
    await new Promise((resolve) => receiver?.close(resolve));
    await env?.cleanup();
    work.remove();
  });

  test('an admin presses the button and both webhook receivers get RefresherTestNotification', async () => {
    const form = await admin.request(PAGE);
    const body = await form.text();
    assert.equal(form.status, 200, body);
    assert.match(body, /<a href="\/admin\/notifications"[^>]*aria-current="page"/);
    assert.match(body, new RegExp(`Alertmanager: <code>${alertmanagerUrl}</code>`));
    assert.match(body, />Send a test notification</);

    const before = Date.now();
    const sent = await admin.form(PAGE, { _csrf: csrfOf(body) });
    assert.equal(sent.status, 303, await sent.text());
    assert.equal(sent.headers.get('location'), PAGE);
    const result = await (await admin.request(PAGE)).text();
    assert.match(
      result,
      /class="notice" role="status">Sent: Alertmanager accepted the test notification at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/,
    );

    const delivered = (path: string) =>
      explained(
        waitFor(
          () =>
            deliveries.find(
              (d) =>
                d.path === path &&
                d.body.alerts.some((a) => a.labels.alertname === TEST_ALERT_NAME),
            ),
          { timeoutMs: 20_000, what: `${TEST_ALERT_NAME} at ${path}` },
        ),
      );
    for (const path of ['/everything', '/critical-only']) {
      const delivery = await delivered(path);
      assert.equal(delivery.body.receiver, 'notify-critical');
      assert.equal(delivery.body.status, 'firing');
      const alert = delivery.body.alerts.find((a) => a.labels.alertname === TEST_ALERT_NAME)!;
      assert.equal(alert.labels.severity, 'critical');
      assert.equal(alert.labels.sent_by, 'ada');
      assert.match(
        alert.annotations.summary!,
        /^Test notification sent by ada from the admin portal at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/,
      );
      assert.match(alert.annotations.description!, /^Nothing is wrong: ada pressed/);
      const startsAt = Date.parse(alert.startsAt);
      assert.ok(startsAt >= before - 1000 && startsAt <= Date.now(), alert.startsAt);
    }
    // It ends by itself, five minutes after it was sent (the webhook payload of a firing alert
    // carries no end; Alertmanager's own API does).
    const stored = (await held()).find((a) => a.labels.alertname === TEST_ALERT_NAME)!;
    assert.equal(Date.parse(stored.endsAt) - Date.parse(stored.startsAt), 5 * 60_000);
  });

  test('a user who is not an admin is refused, and has no Notifications link', async () => {
    const home = await (await viewer.request('/admin')).text();
    assert.doesNotMatch(home, /href="\/admin\/notifications"/);
    const page = await viewer.request(PAGE);
    assert.equal(page.status, 403);
    assert.match(await page.text(), /Only admins can send test notifications/);
    const post = await viewer.form(PAGE, { _csrf: csrfOf(home) });
    assert.equal(post.status, 403);
    assert.match(await post.text(), /Only admins can send test notifications/);
    assert.ok(!(await held()).some((alert) => alert.labels.sent_by === 'vic'));
  });

  test('a post without the CSRF token is refused and sends nothing', async () => {
    const count = (await held()).filter((a) => a.labels.alertname === TEST_ALERT_NAME).length;
    const post = await admin.form(PAGE, {});
    assert.equal(post.status, 403);
    assert.match(await post.text(), /CSRF token/);
    const wrong = await admin.form(PAGE, { _csrf: 'not-the-token' });
    assert.equal(wrong.status, 403);
    assert.equal(
      (await held()).filter((a) => a.labels.alertname === TEST_ALERT_NAME).length,
      count,
    );
  });

  test('without ALERTMANAGER_URL the page says no Alertmanager is configured and names the variable', async () => {
    const unset = await serve(undefined);
    const client = await signedIn(unset, 'ada');
    const page = await client.request(PAGE);
    const body = await page.text();
    assert.equal(page.status, 200);
    assert.match(body, /No Alertmanager is configured: set <code>ALERTMANAGER_URL<\/code>/);
    assert.doesNotMatch(body, />Send a test notification</);
    const post = await client.form(PAGE, { _csrf: csrfOf(body) });
    assert.equal(post.status, 503);
    assert.match(await post.text(), /No Alertmanager is configured/);
  });

  test('an Alertmanager that refuses the alert: the page shows its status and words', async () => {
    const receiverPort = (receiver.address() as { port: number }).port;
    const refusing = await serve(`http://127.0.0.1:${receiverPort}/broken`);
    const client = await signedIn(refusing, 'ada');
    const body = await (await client.request(PAGE)).text();
    const post = await client.form(PAGE, { _csrf: csrfOf(body) });
    const answer = await post.text();
    assert.equal(post.status, 502, answer);
    assert.match(answer, /Not sent: Alertmanager answered\s+400: <code>\{&quot;code&quot;:400/);
  });

  test('a bad ALERTMANAGER_URL stops the process at start, naming the variable', () => {
    assert.throws(
      () => loadConfig({ ALERTMANAGER_URL: 'alertmanager:9093' }),
      /ALERTMANAGER_URL: expected a URL starting with http:\/\/ or https:\/\/ \(got "alertmanager:9093"\)/,
    );
    assert.equal(
      loadConfig({ ALERTMANAGER_URL: 'http://alertmanager:9093' }).ALERTMANAGER_URL,
      'http://alertmanager:9093',
    );
    assert.equal(loadConfig({ ALERTMANAGER_URL: '' }).ALERTMANAGER_URL, undefined);
  });

  test('Alertmanager down: the page says it is unreachable', async () => {
    const exited = new Promise((resolve) => alertmanager!.once('exit', resolve));
    alertmanager!.kill('SIGTERM');
    await exited;
    const body = await (await admin.request(PAGE)).text();
    const post = await admin.form(PAGE, { _csrf: csrfOf(body) });
    const answer = await post.text();
    assert.equal(post.status, 502, answer);
    assert.match(
      answer,
      new RegExp(
        `Not sent: Alertmanager at <code>${alertmanagerUrl}</code> is unreachable\\s+\\(ECONNREFUSED\\)`,
      ),
    );
    // Still a page of the portal, with the button to try again.
    assert.match(answer, />Send a test notification</);
  });
});
