// The probe: checks over real sockets on loopback, the outage logic of a monitor, the prober in
// the worker against real PostgreSQL and Redis (a server that goes away and comes back), and the
// API over HTTP. The link outage made with `ip link set down` on a shaped link is in
// latency-netns.test.ts and bench:latency.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { QueryTypes } from 'sequelize';
import { createMetrics } from '../src/metrics/registry.ts';
import { checkTarget, type CheckResult } from '../src/probe/check.ts';
import { ProbeMonitor, type MonitoredProbe } from '../src/probe/monitor.ts';
import { startProber } from '../src/probe/runner.ts';
import { Queues } from '../src/queue/queues.ts';
import { createRedis } from '../src/queue/redis.ts';
import { publishWorkerSources } from '../src/speedtest/worker-sources.ts';
import { createTaskRegistry } from '../src/tasks/index.ts';
import { createApiToken } from '../src/web/auth/tokens.ts';
import { createUser } from '../src/web/auth/users.ts';
import { freePort } from '../../testing/ports.ts';
import { waitFor } from '../../testing/wait.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { CookieClient } from './helpers/http-client.ts';
import { serveWebApp, type ServedWebApp } from './helpers/web.ts';

async function listening<T extends Server | TcpServer>(server: T): Promise<number> {
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return port;
}

function closed(server: Server | TcpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('checks', () => {
  const servers: Array<Server | TcpServer> = [];
  after(() => servers.forEach((server) => server.close()));

  test('tcp: the time to connect; refused and timed out are failures with the reason', async () => {
    const tcp = createTcpServer((socket) => socket.destroy());
    servers.push(tcp);
    const port = await listening(tcp);
    const ok = await checkTarget('tcp', `127.0.0.1:${port}`, { timeoutMs: 1_000 });
    assert.ok(ok.ok && ok.ms > 0 && ok.ms < 100, JSON.stringify(ok));
    const refused = await checkTarget('tcp', `127.0.0.1:${await freePort()}`, { timeoutMs: 1_000 });
    assert.deepEqual(refused, { ok: false, error: 'ECONNREFUSED' });
    const bound = await checkTarget('tcp', `127.0.0.1:${port}`, {
      timeoutMs: 1_000,
      source: { localAddress: '127.0.0.1', family: 4 },
    });
    assert.ok(bound.ok);
  });

  test('http: the time to the status line; a 5xx and a silent server are failures', async () => {
    let status = 204;
    const http = createServer((request, response) => {
      if (request.url === '/silent') return; // never answers
      response.writeHead(status).end();
    });
    servers.push(http);
    const port = await listening(http);
    const ok = await checkTarget('http', `http://127.0.0.1:${port}/`, { timeoutMs: 1_000 });
    assert.ok(ok.ok, JSON.stringify(ok));
    status = 503;
    assert.deepEqual(await checkTarget('http', `http://127.0.0.1:${port}/`, { timeoutMs: 1_000 }), {
      ok: false,
      error: 'HTTP 503',
    });
    const started = Date.now();
    assert.deepEqual(
      await checkTarget('http', `http://127.0.0.1:${port}/silent`, { timeoutMs: 300 }),
      { ok: false, error: 'no answer within 300 ms' },
    );
    assert.ok(Date.now() - started < 1_000);
    http.closeAllConnections();
  });
});

describe('a monitor', () => {
  const probe = (overrides: Partial<MonitoredProbe> = {}): MonitoredProbe => ({
    id: 1,
    name: 'link',
    kind: 'tcp',
    targets: ['a:1', 'b:1'],
    periodSeconds: 0.05,
    timeoutMs: 20,
    failuresForOutage: 2,
    ...overrides,
  });

  /** A monitor over a scripted checker: `up(target)` says whether that target answers now. */
  function scripted(up: (target: string) => boolean, overrides: Partial<MonitoredProbe> = {}) {
    const log: string[] = [];
    const rounds: Array<{ at: Date; ok: boolean[] }> = [];
    const monitor = new ProbeMonitor(
      probe(overrides),
      {
        round: (_p, at, results) => rounds.push({ at, ok: results.map((r) => r.result.ok) }),
        outageStarted: (_p, since, failed) =>
          log.push(`down since round at ${since.getTime()} after ${failed}`),
        outageEnded: (_p, at, more) => log.push(`up at ${at.getTime()} (+${more})`),
      },
      {
        check: async (_kind, target): Promise<CheckResult> =>
          up(target) ? { ok: true, ms: 1 } : { ok: false, error: 'ECONNREFUSED' },
      },
    );
    return { monitor, log, rounds };
  }

  test('an outage is every target failing for N rounds, dated from the first; one answer ends it', async () => {
    let a = true;
    let b = true;
    const { monitor, log, rounds } = scripted((t) => (t === 'a:1' ? a : b));
    monitor.start();
    await waitFor(() => rounds.length >= 2);
    a = false; // one target down is not an outage
    await waitFor(() => rounds.length >= 5);
    assert.equal(monitor.down, false);
    assert.deepEqual(log, []);
    b = false;
    const firstFailed = await waitFor(() => rounds.find((r) => r.ok.every((ok) => !ok)));
    await waitFor(() => monitor.down);
    assert.equal(log[0], `down since round at ${firstFailed.at.getTime()} after 2`);
    const failedBefore = rounds.filter((r) => r.ok.every((ok) => !ok)).length;
    await waitFor(() => rounds.filter((r) => r.ok.every((ok) => !ok)).length >= failedBefore + 2);
    b = true;
    await waitFor(() => !monitor.down);
    await monitor.stop();
    const failed = rounds.filter((r) => r.ok.every((ok) => !ok)).length;
    const firstBack = rounds.find((r) => r.at > firstFailed.at && r.ok.some(Boolean))!;
    assert.equal(log[1], `up at ${firstBack.at.getTime()} (+${failed - 2})`);
  });

  test('after a restart in an outage, the first answer ends the outage already open', async () => {
    const since = new Date(Date.now() - 60_000);
    const log: string[] = [];
    const monitor = new ProbeMonitor(
      probe(),
      {
        round: () => undefined,
        outageStarted: () => log.push('started'),
        outageEnded: (_p, _at, more) => log.push(`ended +${more}`),
      },
      { check: async () => ({ ok: true, ms: 1 }), openOutageSince: since },
    );
    assert.equal(monitor.down, true);
    monitor.start();
    await waitFor(() => log.length > 0);
    await monitor.stop();
    assert.deepEqual(log, ['ended +0']);
  });

  test('a round still running when the next is due is not doubled up', async () => {
    let running = 0;
    let most = 0;
    let skipped = 0;
    const monitor = new ProbeMonitor(
      probe({ periodSeconds: 0.02, targets: ['a:1'] }),
      {
        round: () => undefined,
        outageStarted: () => undefined,
        outageEnded: () => undefined,
        skipped: () => skipped++,
      },
      {
        check: async () => {
          most = Math.max(most, ++running);
          await new Promise((resolve) => setTimeout(resolve, 70));
          running--;
          return { ok: true, ms: 70 };
        },
      },
    );
    monitor.start();
    await waitFor(() => skipped >= 3);
    await monitor.stop();
    assert.equal(most, 1);
  });
});

describe('the prober in the worker, and the API', () => {
  let env: TestEnv;
  let web: ServedWebApp;
  let adminToken: string;
  let userToken: string;
  const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');

  before(async () => {
    env = await createTestEnv();
    const admin = await createUser(env.db, {
      username: 'ada',
      password: 'a long enough password',
      isAdmin: true,
    });
    const user = await createUser(env.db, { username: 'kim', password: 'a long enough password' });
    adminToken = (await createApiToken(env.db, admin.id, { name: 'tests' })).token;
    userToken = (await createApiToken(env.db, user.id, { name: 'tests' })).token;
    // The service's own tasks: the schedules below are speed tests.
    web = await serveWebApp(env, { registry: createTaskRegistry(env.config, env.db) });
  });
  after(async () => {
    await web.close();
    redis.disconnect();
    await env.cleanup();
  });

  async function call(method: string, path: string, body?: unknown, token = adminToken) {
    const response = await fetch(`${web.origin}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      json: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
    };
  }
  const issues = (json: Record<string, unknown>) =>
    Object.fromEntries(
      (json.issues as Array<{ path: string; message: string }>).map((i) => [i.path, i.message]),
    );

  test('bad probes are refused naming the field, and only admins write', async () => {
    const bad = await call('POST', '/probes', {
      name: 'bad',
      kind: 'tcp',
      targets: ['1.1.1.1', '[2001:db8::1]:443'],
      periodSeconds: 2,
      timeoutMs: 500,
      family: 4,
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(issues(bad.json), {
      periodSeconds: 'must be at least 5 seconds',
    });
    const crossField = await call('POST', '/probes', {
      name: 'bad',
      kind: 'tcp',
      targets: ['1.1.1.1', '[2001:db8::1]:443'],
      periodSeconds: 5,
      timeoutMs: 5_000,
      family: 4,
      sourceAddress: '::1',
    });
    assert.deepEqual(issues(crossField.json), {
      'targets.0':
        '"1.1.1.1" is not host:port (e.g. 1.1.1.1:443, example.com:443, [2606:4700::1111]:443)',
      'targets.1': '"[2001:db8::1]:443" is an IPv6 address, and the probe is IPv4 only',
      timeoutMs: 'must be shorter than the period (5 s): a round ends before the next begins',
      family: 'is 4, but the source address ::1 is IPv6',
    });
    const http = await call('POST', '/probes', {
      name: 'bad',
      kind: 'http',
      targets: ['ftp://example.com/', 'http://user:pw@example.com/'],
      periodSeconds: 10,
    });
    assert.deepEqual(issues(http.json), {
      'targets.0': '"ftp://example.com/" is not an http:// or https:// URL',
      'targets.1': '"http://user:pw@example.com/": no credentials in a probe URL',
    });
    const byUser = await call(
      'POST',
      '/probes',
      { name: 'mine', kind: 'tcp', targets: ['127.0.0.1:1'], periodSeconds: 10 },
      userToken,
    );
    assert.equal(byUser.status, 403);
    assert.equal(await env.db.models.Probe.count(), 0, 'nothing saved');
  });

  test('an outage is detected within two periods, recorded, ended, and a speed test queued', async () => {
    const tcp = createTcpServer((socket) => socket.destroy());
    const port = await listening(tcp);
    const created = await call('POST', '/probes', {
      name: 'loopback',
      kind: 'tcp',
      targets: [`127.0.0.1:${port}`],
      periodSeconds: 5,
      timeoutMs: 1_000,
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const id = created.json.id as number;
    const duplicate = await call('POST', '/probes', {
      name: 'loopback',
      kind: 'tcp',
      targets: ['127.0.0.1:1'],
      periodSeconds: 10,
    });
    assert.deepEqual(issues(duplicate.json), { name: 'a probe named "loopback" exists' });

    const metrics = createMetrics('worker');
    const registry = createTaskRegistry(env.config, env.db, metrics);
    const queues = new Queues(redis, env.config.QUEUE_PREFIX, env.log);
    const deps = { config: env.config, log: env.log, db: env.db, redis, queues, registry, metrics };
    const prober = await startProber({ ...deps, refreshMs: 500, leaseMs: 2_000 });
    const second = await startProber({ ...deps, refreshMs: 500, leaseMs: 2_000 });
    try {
      assert.equal(prober.active, true);
      assert.equal(second.active, false, 'one worker probes at a time');
      await waitFor(async () => (await metrics.probeRounds.get()).values.length > 0, {
        what: 'a first round',
      });

      await closed(tcp);
      const wentDown = Date.now();
      const outage = await waitFor(
        () => env.db.models.ProbeOutage.findOne({ where: { probeId: id } }),
        { timeoutMs: 15_000, what: 'the outage' },
      );
      const detectedAfter = Date.now() - wentDown;
      assert.ok(detectedAfter <= 2 * 5_000 + 1_000, `detected after ${detectedAfter} ms`);
      assert.ok(outage.startedAt.getTime() >= wentDown - 100, 'dated from the first failed round');
      assert.match(outage.lastError, /ECONNREFUSED/);
      assert.equal(
        (await call('GET', `/probes/${id}`)).json.downSince,
        outage.startedAt.toISOString(),
      );
      const up = await metrics.probeUp.get();
      assert.deepEqual(
        up.values.map((v) => [v.labels.probe, v.value]),
        [['loopback', 0]],
      );

      const back = createTcpServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => back.listen(port, '127.0.0.1', resolve));
      const cameBack = Date.now();
      const ended = await waitFor(
        async () => {
          await outage.reload();
          return outage.endedAt;
        },
        { timeoutMs: 10_000, what: 'the end of the outage' },
      );
      assert.ok(ended.getTime() - cameBack <= 5_000 + 1_000, 'ended within a period');
      const [queued] = await env.db.sequelize.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM task_results WHERE task = 'speedtester.run_speedtest'`,
        { type: QueryTypes.SELECT },
      );
      assert.equal(queued?.n, 1, 'a speed test was queued when the link came back');
      back.close();
    } finally {
      await prober.close();
      await second.close();
    }
    assert.deepEqual(
      (await metrics.probeUp.get()).values,
      [],
      'a probe nobody runs any more reports nothing (not a last 0)',
    );
    // The minutes were written at the end: every round is in one of them.
    const [minutes] = await env.db.sequelize.query<{ sent: number; lost: number }>(
      'SELECT sum(sent)::int AS sent, sum(lost)::int AS lost FROM probe_minutes WHERE probe_id = $1',
      { bind: [id], type: QueryTypes.SELECT },
    );
    assert.ok((minutes?.sent ?? 0) >= 4 && (minutes?.lost ?? 0) >= 2, JSON.stringify(minutes));

    const summary = await call('GET', `/probes/${id}/summary`);
    assert.equal(summary.json.outages, 1);
    assert.ok((summary.json.uptimePercent as number) < 100);
    assert.equal(summary.json.sent, minutes?.sent);
    const series = await call('GET', `/probes/${id}/series`);
    assert.equal(series.json.bucketSeconds, 300);
    const outages = await call('GET', `/probes/${id}/outages`);
    assert.equal((outages.json.items as unknown[]).length, 1);
    assert.equal(
      (await call('GET', `/probes/${id}/summary?from=2031-01-02&to=2031-01-01`)).status,
      400,
    );
    assert.equal((await call('DELETE', `/probes/${id}`, undefined, userToken)).status, 403);
    assert.equal((await call('DELETE', `/probes/${id}`)).status, 204);
    assert.equal(await env.db.models.ProbeOutage.count(), 0, 'its outages went with it');
  });

  test('the portal: a list with state and uptime, a page per probe, and the form (admins)', async () => {
    const admin = new CookieClient(web.origin);
    const user = new CookieClient(web.origin);
    assert.equal((await admin.signIn('ada', 'a long enough password')).status, 303);
    assert.equal((await user.signIn('kim', 'a long enough password')).status, 303);
    const text = async (client: CookieClient, path: string) =>
      (await (await client.request(path)).text()).replace(/\s+/g, ' ');

    const refused = await admin.form('/admin/probes', {
      _csrf: await admin.csrf('/admin/probes'),
      name: 'web',
      kind: 'http',
      targets: 'https://example.com/\nexample.com:443',
      periodSeconds: '3',
      timeoutMs: '2000',
      failuresForOutage: '2',
      enabled: 'on',
    });
    assert.equal(refused.status, 400);
    const form = (await refused.text()).replace(/\s+/g, ' ');
    assert.match(form, /must be at least 5 seconds/);
    assert.match(
      form,
      /line 2: &quot;example\.com:443&quot; is not an http:\/\/ or https:\/\/ URL/,
    );
    assert.match(form, /value="web"/, 'what was typed stays');
    assert.equal(await env.db.models.Probe.count({ where: { name: 'web' } }), 0);

    const added = await admin.form('/admin/probes', {
      _csrf: await admin.csrf('/admin/probes'),
      name: 'web',
      kind: 'http',
      targets: 'http://127.0.0.1:9/\nhttp://[::1]:9/',
      periodSeconds: '30',
      timeoutMs: '2000',
      failuresForOutage: '3',
      family: '',
      sourceAddress: '',
      enabled: 'on',
    });
    assert.equal(added.status, 303, await added.text());
    const row = await env.db.models.Probe.findOne({ where: { name: 'web' } });
    assert.deepEqual(
      [row?.targets, row?.periodSeconds, row?.failuresForOutage, row?.speedtestOnRecovery],
      [['http://127.0.0.1:9/', 'http://[::1]:9/'], 30, 3, false],
    );
    await env.db.models.ProbeOutage.create({
      probeId: row!.id,
      startedAt: new Date(Date.now() - 90_000),
    });
    const list = await text(user, '/admin/probes');
    assert.match(list, /<a href="\/admin\/probes\/\d+">web<\/a>/);
    assert.match(list, /badge-down/);
    assert.match(list, /Admins add and change probes/);
    const page = await text(user, `/admin/probes/${row!.id}`);
    assert.match(page, /going on/);
    assert.match(page, /http:\/\/\[::1\]:9\//);
    assert.doesNotMatch(page, /Delete probe/, 'no admin form for a user');
    const byUser = await user.form(`/admin/probes/${row!.id}/delete`, {
      _csrf: await user.csrf('/admin/probes'),
    });
    assert.equal(byUser.status, 403);
    const deleted = await admin.form(`/admin/probes/${row!.id}/delete`, {
      _csrf: await admin.csrf(`/admin/probes/${row!.id}`),
    });
    assert.equal(deleted.status, 303);
    assert.equal(await env.db.models.Probe.count({ where: { name: 'web' } }), 0);
    assert.equal((await user.request('/admin/probes/999999')).status, 404);
  });

  test("a source no worker's host has is refused when saved, once a worker has said what it has", async () => {
    const schedule = (kwargs: Record<string, unknown>) =>
      call('POST', '/periodic-tasks', {
        name: `from ${JSON.stringify(kwargs)}`,
        task: 'speedtester.run_speedtest',
        kwargs,
        schedule: { type: 'interval', every: 1, period: 'hours' },
      });
    // No worker has published yet: nothing can be known, the run itself will check.
    const unknowable = await schedule({ sourceAddress: '192.0.2.77' });
    assert.equal(unknowable.status, 201, JSON.stringify(unknowable.json));
    const sources = await publishWorkerSources(redis, env.config.QUEUE_PREFIX);
    try {
      const address = await schedule({ sourceAddress: '192.0.2.78' });
      assert.equal(address.status, 400);
      assert.match(
        issues(address.json)['kwargs.sourceAddress']!,
        /^no worker's host has the address 192\.0\.2\.78 \(they have .*127\.0\.0\.1/,
      );
      const device = await schedule({ interface: 'nope0' });
      assert.match(
        issues(device.json)['kwargs.interface']!,
        /^no worker's host has an interface nope0 \(they have .*\blo\b/,
      );
      assert.equal((await schedule({ interface: 'lo', family: 4 })).status, 201);
      const probe = await call('POST', '/probes', {
        name: 'from elsewhere',
        kind: 'tcp',
        targets: ['127.0.0.1:9'],
        periodSeconds: 10,
        sourceAddress: '192.0.2.78',
      });
      assert.equal(probe.status, 400);
      assert.match(
        issues(probe.json).sourceAddress!,
        /no worker's host has the address 192\.0\.2\.78/,
      );
    } finally {
      await sources.stop();
    }
  });

  test('uptime over a range counts only the part of each outage inside it', async () => {
    const probe = await env.db.models.Probe.create({
      name: 'synthetic',
      kind: 'tcp',
      targets: ['127.0.0.1:1'],
      periodSeconds: 10,
      timeoutMs: 1_000,
      enabled: false,
      createdAt: new Date('2026-01-01T00:00:00Z'),
    });
    // One hour down across the start of a day, and 15 minutes inside it.
    await env.db.models.ProbeOutage.bulkCreate([
      {
        probeId: probe.id,
        startedAt: new Date('2026-06-01T23:30:00Z'),
        endedAt: new Date('2026-06-02T00:30:00Z'),
      },
      {
        probeId: probe.id,
        startedAt: new Date('2026-06-02T12:00:00Z'),
        endedAt: new Date('2026-06-02T12:15:00Z'),
      },
    ]);
    await env.db.sequelize.query(
      `INSERT INTO probe_minutes (probe_id, target, minute, sent, lost, rtt_sum_ms, rtt_min_ms, rtt_max_ms, jitter_sum_ms, jitter_n)
       VALUES ($1, '127.0.0.1:1', '2026-06-02T10:00:00Z', 6, 1, 50, 8, 12, 8, 4),
              ($1, '127.0.0.1:1', '2026-06-02T10:01:00Z', 6, 0, 66, 9, 14, 4, 4)`,
      { bind: [probe.id] },
    );
    const summary = await call(
      'GET',
      `/probes/${probe.id}/summary?from=2026-06-02T00:00:00Z&to=2026-06-03T00:00:00Z`,
    );
    // 30 + 15 minutes of 1440: 96.875 %.
    assert.equal(summary.json.uptimePercent, 96.875);
    assert.equal(summary.json.downSeconds, 45 * 60);
    assert.equal(summary.json.outages, 2);
    assert.equal(summary.json.sent, 12);
    assert.equal(summary.json.lost, 1);
    assert.equal(summary.json.latencyMs, 116 / 11);
    assert.equal(summary.json.jitterMs, 12 / 8);
  });
});
