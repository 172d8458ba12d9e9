// The standing security suite: the probes of an attacker and of a careless user against the web
// role, over real HTTP on loopback with PostgreSQL and Redis behind it. What once failed (an
// anyone-can-lock-out sign-in, name enumeration, stack traces, overflowing numbers, tokens on
// portal routes, non-JSON API errors, tasks that reach into the system, revived tokens, missing
// headers) and what held (anonymous access, CSRF, tokens only in the header, escaping, injection)
// are both here, so a regression of either fails CI. Clients get addresses of their own through
// X-Forwarded-For, which the app believes from loopback (TRUST_PROXY), as behind SWAG.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../src/log.ts';
import { createTaskRegistry } from '../src/tasks/index.ts';
import { MIN_USER_INTERVAL_MS } from '../src/tasks/permissions.ts';
import { passwordVerifications } from '../src/web/auth/passwords.ts';
import { GUARD_FAILURES } from '../src/web/auth/throttle.ts';
import { createApiToken } from '../src/web/auth/tokens.ts';
import { createUser, setUserActive } from '../src/web/auth/users.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { CookieClient } from './helpers/http-client.ts';
import { serveWebApp, type ServedWebApp } from './helpers/web.ts';

const PASSWORD = 'a sufficiently long password';
// What a stack trace, a source path or a database error looks like in a body.
const LEAK = /\bat .+:\d+:\d+|node_modules|\/app\/src\/|Sequelize\w*Error|out of range for type/;

let nextAddress = 1;
/** A client with an address of its own (TEST-NET-2, as the proxy would report it). */
class Client extends CookieClient {
  readonly address = `198.51.100.${nextAddress++}`;
  override request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('x-forwarded-for', this.address);
    return super.request(path, { ...init, headers });
  }
}

/** The sign-in page's answer without what differs per request: the CSRF token, the typed name. */
const answerOf = async (response: Response) =>
  (await response.text())
    .replace(/name="_csrf" value="[^"]+"/, '')
    .replace(/name="username" value="[^"]*"/, '');

describe('security: the web role probed as an attacker would', () => {
  let env: TestEnv;
  let web: ServedWebApp;
  let base: string;
  let adminToken: string;
  let userToken: string;
  const lines: Record<string, unknown>[] = [];

  before(async () => {
    env = await createTestEnv();
    await createUser(env.db, { username: 'ivan', password: PASSWORD, isAdmin: true });
    await createUser(env.db, { username: 'uma', password: PASSWORD });
    adminToken = (await createApiToken(env.db, 1, { name: 'admin' })).token;
    userToken = (await createApiToken(env.db, 2, { name: 'user' })).token;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean))
          lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    web = await serveWebApp(env, {
      config: { ...env.config, TRUST_PROXY: 'loopback' },
      registry: createTaskRegistry(env.config, env.db),
      log: createLogger({ LOG_LEVEL: 'info' }, {}, sink),
      loginRateLimitPerMinute: 1_000,
    });
    base = web.origin;
  });
  after(async () => {
    await web?.close();
    await env?.cleanup();
  });

  const api = (path: string, token: string, init: RequestInit = {}) =>
    new Client(base).request(`/api/v1${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        ...(init.headers as Record<string, string>),
      },
    });
  const post = (path: string, token: string, body: unknown) =>
    api(path, token, { method: 'POST', body: JSON.stringify(body) });

  describe('signing in', () => {
    test('failures from many addresses do not lock the owner out: a known browser and a known address still sign in; new ones wait', async () => {
      await createUser(env.db, { username: 'olga', password: PASSWORD, isAdmin: true });
      const laptop = new Client(base);
      assert.equal((await laptop.signIn('olga', PASSWORD)).status, 303);
      assert.ok(laptop.cookies.get('refresher.device'), 'a device cookie after signing in');

      // The attack: one wrong password from each of GUARD_FAILURES addresses (no backoff hits).
      const statuses = [];
      for (let i = 0; i < GUARD_FAILURES; i++)
        statuses.push((await new Client(base).signIn('olga', `guess number ${i}`)).status);
      assert.deepEqual(new Set(statuses), new Set([401]), 'each guess is simply wrong');

      const stranger = new Client(base);
      const refused = await stranger.signIn('olga', PASSWORD);
      assert.equal(refused.status, 429, 'a new client is refused even with the right password');
      assert.match(await refused.text(), /from new devices/);
      assert.ok(Number(refused.headers.get('retry-after')) > 0);

      const signedOut = new Client(base);
      signedOut.cookies.set('refresher.device', laptop.cookies.get('refresher.device')!);
      assert.equal(
        (await signedOut.signIn('olga', PASSWORD)).status,
        303,
        'the browser that signed in before gets in (its device cookie)',
      );
      const sameAddress = Object.assign(new CookieClient(base), {});
      const fromHome = await sameAddress.request('/login', {
        headers: { 'x-forwarded-for': laptop.address },
      });
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await fromHome.text())![1]!;
      const home = await sameAddress.form(
        '/login',
        { username: 'olga', password: PASSWORD, _csrf: csrf },
        { 'x-forwarded-for': laptop.address },
      );
      assert.equal(home.status, 303, 'an address that signed in before gets in');

      // An admin lifts the guard on the Users page.
      const page = await (await laptop.request('/admin/users')).text();
      assert.match(page, /badge-guarded/);
      const olga = await env.db.models.User.findOne({ where: { username: 'olga' } });
      const token = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
      assert.equal(
        (await laptop.form(`/admin/users/${olga!.id}/unlock`, { _csrf: token })).status,
        303,
      );
      assert.equal((await new Client(base).signIn('olga', PASSWORD)).status, 303);
    });

    test('one client guessing one name waits longer after each failure, and the right password waits too; other clients do not', async () => {
      await createUser(env.db, { username: 'pete', password: PASSWORD });
      const guesser = new Client(base);
      for (let i = 0; i < 3; i++)
        assert.equal((await guesser.signIn('pete', `wrong ${i}`)).status, 401, 'three are free');
      const waiting = await guesser.signIn('pete', PASSWORD);
      assert.equal(waiting.status, 429);
      assert.match(await waiting.text(), /try again in 1 seconds?/);
      assert.equal((await new Client(base).signIn('pete', PASSWORD)).status, 303);
    });

    test('known and unknown names: the same answers, wrong and throttled, in similar time', async () => {
      const wrongKnown = await new Client(base).signIn('uma', 'not her password at all');
      const wrongUnknown = await new Client(base).signIn('nobody-here', 'not a password at all');
      assert.equal(wrongKnown.status, wrongUnknown.status);
      assert.equal(await answerOf(wrongKnown), await answerOf(wrongUnknown));

      const guarded: Response[] = [];
      for (const name of ['ursula', 'not-a-user']) {
        if (name === 'ursula') await createUser(env.db, { username: name, password: PASSWORD });
        for (let i = 0; i < GUARD_FAILURES; i++) await new Client(base).signIn(name, `x${i}`);
        guarded.push(await new Client(base).signIn(name, PASSWORD));
      }
      assert.deepEqual(
        guarded.map((r) => r.status),
        [429, 429],
      );
      assert.equal(await answerOf(guarded[0]!), await answerOf(guarded[1]!));

      // Timing: each answer that looks at a password verifies exactly one argon2 hash, real or
      // decoy (the old lockout answered without one, in a quarter of the time). Counted, since a
      // stopwatch on a shared 2-core machine cannot tell 5 ms from 20 ms reliably; the times
      // are printed for whoever reads the log.
      await createUser(env.db, { username: 'gone', password: PASSWORD });
      const gone = await env.db.models.User.findOne({ where: { username: 'gone' } });
      await setUserActive(env.db, 1, gone!.id, false);
      const times: Record<string, number> = {};
      for (const [what, name, password] of [
        ['a wrong password', 'uma', 'not her password'],
        ['an unknown name', 'ghost', 'not a password'],
        ['a deactivated user', 'gone', PASSWORD],
        ['the right password', 'uma', PASSWORD],
      ] as const) {
        const client = new Client(base);
        const csrf = await client.csrf();
        const before = passwordVerifications.count;
        const started = performance.now();
        await client.form('/login', { username: name, password, _csrf: csrf });
        times[what] = Math.round(performance.now() - started);
        assert.equal(passwordVerifications.count - before, 1, `${what}: one hash verified`);
      }
      console.log(`# sign-in answer times (ms): ${JSON.stringify(times)}`);
    });

    test('every sign-in outcome is an audit line, without the password', () => {
      const audits = lines.filter((line) => line.audit);
      const events = new Set(audits.map((line) => line.audit));
      for (const event of ['login.succeeded', 'login.failed', 'login.throttled', 'account.guarded'])
        assert.ok(events.has(event), `no ${event} line`);
      const text = JSON.stringify(audits);
      assert.doesNotMatch(text, new RegExp(PASSWORD));
      assert.doesNotMatch(text, /guess number/, 'a typed password never reaches the log');
      const success = audits.find((line) => line.audit === 'login.succeeded')!;
      assert.equal(success.username, 'olga');
      assert.match(String(success.address), /^198\.51\.100\.\d+$/);
    });
  });

  describe('errors', () => {
    test('no answer carries a stack trace, a source path or a database error', async () => {
      const anonymous = () => new Client(base);
      const probes: Array<[string, () => Promise<Response>, number]> = [
        ['a 20-digit id', () => api('/speedtests/99999999999999999999', adminToken), 400],
        [
          'a gzip body that is not gzip',
          () =>
            anonymous().request('/logout', {
              method: 'POST',
              headers: {
                'content-encoding': 'gzip',
                'content-type': 'application/x-www-form-urlencoded',
              },
              body: 'not gzip',
            }),
          400,
        ],
        [
          'a 20 KB sign-in',
          () =>
            anonymous().request('/login', {
              method: 'POST',
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
              body: `username=${'x'.repeat(20_000)}`,
            }),
          413,
        ],
        [
          'bad JSON',
          () => api('/periodic-tasks', adminToken, { method: 'POST', body: '{bad' }),
          400,
        ],
        [
          '2 MB of JSON',
          () => post('/periodic-tasks', adminToken, { name: 'x'.repeat(2_000_000) }),
          413,
        ],
        [
          'a portal form of 100 KB',
          async () => {
            const client = new Client(base);
            await client.signIn('ivan', PASSWORD);
            return client.form('/admin/periodic-tasks', { name: 'x'.repeat(100_000) });
          },
          413,
        ],
      ];
      for (const [what, probe, status] of probes) {
        const response = await probe();
        const body = await response.text();
        assert.equal(response.status, status, `${what}: ${body.slice(0, 200)}`);
        assert.doesNotMatch(body, LEAK, `${what} leaks: ${body.slice(0, 300)}`);
      }
    });

    test('a failure of the server answers "internal error" with an id, and the log has it as one JSON line', async () => {
      await env.db.sequelize.query('ALTER TABLE periodic_tasks RENAME TO periodic_tasks_away');
      try {
        const response = await api('/periodic-tasks', adminToken);
        assert.equal(response.status, 500);
        const body = (await response.json()) as { error: string; errorId: string };
        assert.match(body.error, /internal error/);
        assert.doesNotMatch(JSON.stringify(body), LEAK);
        const logged = lines.find((line) => line.errorId === body.errorId);
        assert.ok(logged, 'the error id is in the log');
        const err = logged.err as Record<string, unknown>;
        assert.match(String(err.message), /periodic_tasks/);
        assert.equal(err.sql, undefined, 'no SQL in the log line');
        assert.equal(err.parameters, undefined);

        const client = new Client(base);
        await client.signIn('ivan', PASSWORD);
        const page = await client.request('/admin/periodic-tasks');
        assert.equal(page.status, 500);
        assert.doesNotMatch(await page.text(), LEAK);
      } finally {
        await env.db.sequelize.query('ALTER TABLE periodic_tasks_away RENAME TO periodic_tasks');
      }
    });

    test('API errors are JSON in the documented shape', async () => {
      for (const response of [
        await api('/periodic-tasks', adminToken, { method: 'POST', body: '{bad' }),
        await api('/no-such-endpoint', adminToken),
        await post('/periodic-tasks', adminToken, { name: 'x'.repeat(2_000_000) }),
      ]) {
        assert.match(response.headers.get('content-type') ?? '', /application\/json/);
        const body = (await response.json()) as { error: unknown };
        assert.equal(typeof body.error, 'string');
      }
      const document = (await (await api('/openapi.json', adminToken)).json()) as {
        paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      };
      const create = document.paths['/api/v1/periodic-tasks']!.post!.responses;
      for (const status of ['400', '401', '403', '413', '500'])
        assert.ok(create[status], `POST /periodic-tasks documents ${status}`);
    });
  });

  describe('numbers and times out of range', () => {
    test('ids, cursors, intervals and times past their columns are a 400 naming the field', async () => {
      const cursor = Buffer.from(
        JSON.stringify({ at: new Date().toISOString(), id: '99999999999999999999' }),
      ).toString('base64url');
      const cases: Array<[string, () => Promise<Response>, string]> = [
        [
          'speed test cursor',
          () => api(`/speedtests?cursor=${cursor}`, adminToken),
          'query.cursor',
        ],
        [
          'task result cursor',
          () => api(`/task-results?cursor=${cursor}`, adminToken),
          'query.cursor',
        ],
        ['server id', () => api('/speedtests?serverId=3000000000', adminToken), 'query.serverId'],
        [
          'periodic task id filter',
          () => api('/task-results?periodicTaskId=3000000000', adminToken),
          'query.periodicTaskId',
        ],
        [
          'a year-275760 filter',
          () => api('/speedtests?from=%2B275760-09-13T00:00:00.000Z', adminToken),
          'query.from',
        ],
        [
          'an interval of 10^12 days',
          () =>
            post('/periodic-tasks', adminToken, {
              name: 'huge',
              task: 'speedtester.run_speedtest',
              schedule: { type: 'interval', every: 1e12, period: 'days' },
            }),
          'schedule.every',
        ],
        [
          'the same in the preview',
          () =>
            post('/schedules/preview', adminToken, {
              schedule: { type: 'interval', every: 1e12, period: 'days' },
            }),
          'schedule.every',
        ],
        [
          'an interval of 20 years',
          () =>
            post('/schedules/preview', adminToken, {
              schedule: { type: 'interval', every: 7300, period: 'days' },
            }),
          'schedule.every',
        ],
        [
          'a clocked time in year +275760',
          () =>
            post('/periodic-tasks', adminToken, {
              name: 'far',
              task: 'speedtester.run_speedtest',
              schedule: { type: 'clocked', at: '+275760-09-13T00:00:00.000Z' },
            }),
          'schedule.at',
        ],
        [
          'a token that expires in year 10000',
          () =>
            post('/periodic-tasks', adminToken, {
              name: 'late',
              task: 'speedtester.run_speedtest',
              schedule: { type: 'interval', every: 1, period: 'days' },
              expiresAt: '+010000-01-01T00:00:00.000Z',
            }),
          'expiresAt',
        ],
      ];
      for (const [what, probe, field] of cases) {
        const response = await probe();
        const body = (await response.json()) as { issues?: Array<{ path: string }> };
        assert.equal(response.status, 400, `${what}: ${JSON.stringify(body)}`);
        assert.ok(
          body.issues?.some((issue) => issue.path === field),
          `${what}: expected an issue on ${field}, got ${JSON.stringify(body)}`,
        );
      }
      const client = new Client(base);
      await client.signIn('ivan', PASSWORD);
      for (const path of [
        `/admin/speedtests?after=${cursor}`,
        `/admin/task-results?after=${cursor}`,
        '/admin/speedtests/99999999999999999999',
        '/admin/task-results/99999999999999999999',
        '/admin/speedtests?serverId=3000000000',
      ]) {
        const response = await client.request(path);
        assert.ok([200, 400, 404].includes(response.status), `${path}: ${response.status}`);
        assert.doesNotMatch(await response.text(), LEAK, path);
      }
    });
  });

  describe('who may do what', () => {
    test('a bearer token on a portal route is refused with 401 before anything happens', async () => {
      const [task] = await env.db.models.PeriodicTask.findAll({ where: { enabled: true } });
      assert.ok(task, 'a seeded, enabled schedule');
      for (const path of [`/admin/periodic-tasks/${task.id}/disable`, '/logout', '/login']) {
        const response = await new Client(base).request(path, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}` },
        });
        assert.equal(response.status, 401, path);
        assert.match(((await response.json()) as { error: string }).error, /bearer tokens are for/);
      }
      const page = await new Client(base).request('/admin/', {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      assert.equal(page.status, 401);
      await task.reload();
      assert.equal(task.enabled, true, 'the schedule is untouched');
    });

    test('tasks that reach into the system are for admins; users keep a minimum interval', async () => {
      const check = { kwargs: { url: 'http://127.0.0.1:9300/metrics' } };
      const run = await post('/tasks/system.http_check/run', userToken, check);
      assert.equal(run.status, 403);
      assert.match(((await run.json()) as { error: string }).error, /for admins only/);
      assert.equal(
        (
          await post('/tasks/maintenance.prune_results/run', userToken, {
            kwargs: { olderThanDays: 1 },
          })
        ).status,
        403,
      );
      const scheduled = await post('/periodic-tasks', userToken, {
        name: 'probe the metrics port',
        task: 'system.http_check',
        kwargs: check.kwargs,
        schedule: { type: 'interval', every: 1, period: 'hours' },
      });
      assert.equal(scheduled.status, 403);
      const servers = await post('/tasks/speedtester.run_speedtest/run', userToken, {
        kwargs: { servers: ['http://127.0.0.1:9300/'] },
      });
      assert.equal(servers.status, 403, 'a user may not point the worker at any URL');
      const often = await post('/periodic-tasks', userToken, {
        name: 'every minute',
        task: 'speedtester.run_speedtest',
        schedule: { type: 'crontab', expression: '* * * * *' },
      });
      assert.equal(often.status, 400);
      assert.match(JSON.stringify(await often.json()), /between runs/);
      const fine = await post('/periodic-tasks', userToken, {
        name: 'hourly',
        task: 'speedtester.run_speedtest',
        schedule: { type: 'interval', every: MIN_USER_INTERVAL_MS / 60_000, period: 'minutes' },
        enabled: false,
      });
      assert.equal(fine.status, 201, JSON.stringify(await fine.clone().json()));

      const [prune] = await env.db.models.PeriodicTask.findAll({
        where: { task: 'maintenance.prune_results' },
      });
      assert.ok(prune, 'the seeded prune schedule');
      assert.equal((await post(`/periodic-tasks/${prune.id}/run`, userToken, {})).status, 403);
      assert.equal(
        (await api(`/periodic-tasks/${prune.id}`, userToken, { method: 'DELETE' })).status,
        403,
      );
      const asAdmin = await post('/periodic-tasks', adminToken, {
        name: 'admin check',
        task: 'system.http_check',
        kwargs: { url: 'http://127.0.0.1:1/' },
        schedule: { type: 'interval', every: 30, period: 'seconds' },
        enabled: false,
      });
      assert.equal(asAdmin.status, 201, 'admins may');

      // The portal says the same, on the form.
      const user = new Client(base);
      await user.signIn('uma', PASSWORD);
      const form = await user.form('/admin/periodic-tasks', {
        _csrf: await user.csrf('/admin/periodic-tasks/new'),
        name: 'from the portal',
        task: 'system.http_check',
        kwargs: '{}',
        scheduleType: 'interval',
        every: '1',
        period: 'hours',
      });
      assert.equal(form.status, 403);
      assert.match(await form.text(), /for admins only/);
    });

    test("a deactivated user's tokens stay dead after reactivation", async () => {
      await createUser(env.db, { username: 'vera', password: PASSWORD });
      const vera = await env.db.models.User.findOne({ where: { username: 'vera' } });
      const { token } = await createApiToken(env.db, vera!.id, { name: 'script' });
      assert.equal((await api('/me', token)).status, 200);
      await setUserActive(env.db, 1, vera!.id, false);
      assert.equal((await api('/me', token)).status, 401);
      await setUserActive(env.db, 1, vera!.id, true);
      assert.equal((await api('/me', token)).status, 401, 'revoked, not merely suspended');
    });
  });

  describe('what held, kept', () => {
    test('anonymous: every API endpoint 401, every portal page to the sign-in page', async () => {
      const document = (await (await api('/openapi.json', adminToken)).json()) as {
        paths: Record<string, Record<string, unknown>>;
      };
      for (const [path, methods] of Object.entries(document.paths))
        for (const method of Object.keys(methods)) {
          const response = await new Client(base).request(path.replace(/\{\w+\}/g, '1'), {
            method: method.toUpperCase(),
          });
          assert.equal(response.status, 401, `${method} ${path}`);
        }
      for (const path of ['/admin/', '/admin/users', '/admin/queues', '/admin/periodic-tasks/new'])
        assert.equal((await new Client(base).request(path)).status, 303, path);
    });

    test('tokens only in the header; CSRF on every form; HTML escaped', async () => {
      assert.equal(
        (await new Client(base).request(`/api/v1/me?access_token=${adminToken}`)).status,
        401,
      );
      const client = new Client(base);
      await client.signIn('ivan', PASSWORD);
      assert.equal(
        (await client.form('/admin/users', { username: 'mallory', password: PASSWORD })).status,
        403,
        'no CSRF token',
      );
      const xss = '<script>alert(1)</script>';
      const made = await post('/periodic-tasks', adminToken, {
        name: xss,
        task: 'speedtester.run_speedtest',
        schedule: { type: 'interval', every: 1, period: 'days' },
        enabled: false,
      });
      assert.equal(made.status, 201);
      const page = await (await client.request('/admin/periodic-tasks')).text();
      assert.ok(!page.includes(xss), 'the name is escaped');
      assert.ok(page.includes('&lt;script&gt;'));
    });

    test('headers: no-store on what is signed in, no X-Powered-By anywhere, not even the queue board', async () => {
      const client = new Client(base);
      await client.signIn('ivan', PASSWORD);
      for (const path of ['/admin/', '/admin/queues', '/api/v1/me', '/login']) {
        const response = await client.request(path);
        assert.equal(response.headers.get('x-powered-by'), null, path);
        assert.match(response.headers.get('cache-control') ?? '', /no-store/, path);
      }
      const asset = await client.request('/admin/assets/admin.css');
      assert.match(asset.headers.get('cache-control') ?? '', /max-age=3600/);
    });

    test('every change through the API or the portal is an audit line; refused tokens too', async () => {
      await api('/me', 'rf_forged-token-value');
      const audits = lines.filter((line) => line.audit);
      const refused = audits.find((line) => line.audit === 'token.refused');
      assert.ok(refused);
      assert.doesNotMatch(JSON.stringify(refused), /forged-token-value/, 'only the shown prefix');
      const change = audits.find(
        (line) => line.audit === 'change' && line.path === '/api/v1/periodic-tasks',
      );
      assert.ok(change, 'an API change');
      assert.equal(change.via, 'token');
      assert.ok(
        audits.some((line) => line.audit === 'change' && String(line.path).startsWith('/admin/')),
        'a portal change',
      );
    });
  });
});
