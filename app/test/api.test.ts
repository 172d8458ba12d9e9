// The REST API over real HTTP and PostgreSQL: every endpoint's happy path and bad input, 404s,
// pagination, CSV, and the OpenAPI document generated from the same schemas.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { storeSpeedtest } from '../src/speedtest/store.ts';
import type { SpeedtestResult, SpeedtestServer } from '../src/speedtest/engine.ts';
import { createApiToken } from '../src/web/auth/tokens.ts';
import { createUser } from '../src/web/auth/users.ts';
import {
  pingedServer,
  speedtestResult,
  speedtestServer,
  taskResultRow,
} from './helpers/builders.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { serveWebApp, type ServedWebApp } from './helpers/web.ts';

type Json = Record<string, unknown> & {
  items?: Array<Record<string, unknown>>;
  issues?: unknown[];
};

describe('REST API', () => {
  let env: TestEnv;
  let web: ServedWebApp;
  let base: string;
  let token: string;

  before(async () => {
    env = await createTestEnv();
    await env.db.models.PeriodicTask.destroy({ where: {} });
    const user = await createUser(env.db, { username: 'kim', password: 'a long enough password' });
    token = (await createApiToken(env.db, user.id, { name: 'tests' })).token;
    web = await serveWebApp(env);
    base = `${web.origin}/api/v1`;
  });
  after(async () => {
    await web.close();
    await env.cleanup();
  });

  async function call(
    method: string,
    path: string,
    body?: unknown,
    auth = true,
  ): Promise<{ status: number; json: Json; text: string; headers: Headers }> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(auth ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json: Json = {};
    try {
      json = JSON.parse(text) as Json;
    } catch {
      // CSV and empty answers
    }
    return { status: response.status, json, text, headers: response.headers };
  }
  const issuePaths = (json: Json) =>
    (json.issues as Array<{ path: string }>).map((issue) => issue.path);

  test('the OpenAPI document lists every endpoint, and anonymous calls to any of them are refused', async () => {
    const { status, json } = await call('GET', '/openapi.json');
    assert.equal(status, 200);
    assert.equal(json.openapi, '3.1.0');
    const paths = json.paths as Record<
      string,
      Record<string, { parameters: Array<{ name: string }> }>
    >;
    for (const expected of [
      '/api/v1/periodic-tasks',
      '/api/v1/periodic-tasks/{id}',
      '/api/v1/periodic-tasks/{id}/run',
      '/api/v1/schedules/preview',
      '/api/v1/tasks',
      '/api/v1/tasks/{name}/run',
      '/api/v1/task-results',
      '/api/v1/task-results/{id}',
      '/api/v1/speedtests',
      '/api/v1/speedtests.csv',
      '/api/v1/speedtests/summary',
      '/api/v1/speedtests/{id}',
      '/api/v1/servers',
      '/api/v1/clients',
      '/api/v1/probes',
      '/api/v1/probes/{id}',
      '/api/v1/probes/{id}/summary',
      '/api/v1/probes/{id}/series',
      '/api/v1/probes/{id}/outages',
    ]) {
      assert.ok(paths[expected], `${expected} is documented`);
    }
    assert.deepEqual(
      paths['/api/v1/speedtests']!.get!.parameters.map((p) => p.name),
      ['from', 'to', 'engine', 'serverId', 'country', 'family', 'source', 'limit', 'cursor'],
    );
    assert.deepEqual(
      paths['/api/v1/probes/{id}/summary']!.get!.parameters.map((p) => p.name),
      ['id', 'from', 'to'],
    );
    for (const [path, methods] of Object.entries(paths)) {
      for (const method of Object.keys(methods)) {
        const concrete = path
          .replace('/api/v1', '')
          .replace('{id}', '1')
          .replace('{name}', 'test.echo');
        const anonymous = await call(
          method.toUpperCase(),
          concrete,
          method === 'get' ? undefined : {},
          false,
        );
        assert.equal(anonymous.status, 401, `${method} ${path} without credentials`);
      }
    }
    assert.equal((await call('GET', '/openapi.json', undefined, false)).status, 401);
  });

  test('periodic tasks: create, read, change, run now, preview, delete; bad input names the field', async () => {
    const created = await call('POST', '/periodic-tasks', {
      name: 'mornings',
      task: 'test.echo',
      schedule: { type: 'crontab', expression: '0 9 * * *', timezone: 'Europe/Paris' },
    });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id as number;
    assert.equal((created.json.nextRuns as string[]).length, 5);
    assert.equal((created.json.schedule as { timezone: string }).timezone, 'Europe/Paris');

    const bad = await call('POST', '/periodic-tasks', {
      name: 'bad',
      task: 'test.echo',
      schedule: { type: 'crontab', expression: '0 25 * * *' },
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(issuePaths(bad.json), ['schedule.expression']);
    const unknownTask = await call('POST', '/periodic-tasks', {
      name: 'x',
      task: 'nope',
      schedule: { type: 'interval', every: 1, period: 'days' },
    });
    assert.deepEqual(issuePaths(unknownTask.json), ['task']);

    const disabled = await call('PATCH', `/periodic-tasks/${id}`, { enabled: false });
    assert.equal(disabled.status, 200);
    assert.equal(disabled.json.enabled, false);
    assert.deepEqual(disabled.json.nextRuns, []);
    const badPatch = await call('PATCH', `/periodic-tasks/${id}`, {
      schedule: { type: 'interval', every: 0, period: 'hours' },
    });
    assert.deepEqual(issuePaths(badPatch.json), ['schedule.every']);
    assert.equal(
      (await call('GET', `/periodic-tasks/${id}`)).json.enabled,
      false,
      'unchanged after a refused patch',
    );

    const run = await call('POST', `/periodic-tasks/${id}/run`);
    assert.equal(run.status, 202);
    const queued = await env.db.models.TaskResult.findOne({
      where: { jobId: run.json.jobId as string },
    });
    assert.equal(queued?.periodicTaskId, id);

    const list = await call('GET', '/periodic-tasks');
    assert.deepEqual(
      list.json.items?.map((item) => item.name),
      ['mornings'],
    );
    const preview = await call('POST', '/schedules/preview', {
      schedule: { type: 'interval', every: 2, period: 'hours' },
      startTime: '2030-01-01T00:00:00Z',
      count: 3,
    });
    assert.deepEqual(preview.json.nextRuns, [
      '2030-01-01T00:00:00.000Z',
      '2030-01-01T02:00:00.000Z',
      '2030-01-01T04:00:00.000Z',
    ]);
    assert.equal(preview.json.description, 'Every 2 hours');
    // An existing task's preview counts from its last run, as the scheduler does.
    const after = await call('POST', '/schedules/preview', {
      schedule: { type: 'interval', every: 2, period: 'hours' },
      lastRunAt: '2030-01-01T01:00:00Z',
      startTime: '2030-01-01T00:00:00Z',
      count: 1,
    });
    assert.deepEqual(after.json.nextRuns, ['2030-01-01T03:00:00.000Z']);
    const cron = await call('POST', '/schedules/preview', {
      schedule: { type: 'crontab', expression: '30 6 * * 1', timezone: 'Europe/Amsterdam' },
      startTime: '2030-01-01T00:00:00Z',
      count: 2,
    });
    assert.equal(cron.json.description, 'At 06:30, only on Monday (Europe/Amsterdam)');
    // 06:30 in Amsterdam is 05:30 UTC in winter; 2030-01-07 is the first Monday.
    assert.deepEqual(cron.json.nextRuns, ['2030-01-07T05:30:00.000Z', '2030-01-14T05:30:00.000Z']);

    assert.equal((await call('DELETE', `/periodic-tasks/${id}`)).status, 204);
    assert.equal((await call('GET', `/periodic-tasks/${id}`)).status, 404);
    assert.equal((await call('GET', '/periodic-tasks/abc')).status, 400);
    // Ids too long for their column are refused by the same schema, before any query runs.
    assert.equal((await call('GET', '/periodic-tasks/12345678901')).status, 400);
    assert.equal((await call('GET', '/speedtests/99999999999999999999')).status, 400);
    assert.equal((await call('GET', '/task-results/99999999999999999999')).status, 400);
  });

  test('tasks: the catalogue with kwargs schemas, and ad-hoc runs', async () => {
    const tasks = await call('GET', '/tasks');
    const sleep = tasks.json.items?.find((item) => item.name === 'test.sleep');
    assert.deepEqual((sleep?.kwargsSchema as { required: string[] }).required, ['ms']);
    const bad = await call('POST', '/tasks/test.sleep/run', { kwargs: { ms: 'soon' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(issuePaths(bad.json), ['kwargs.ms']);
    assert.equal((await call('POST', '/tasks/no.such/run', { kwargs: {} })).status, 404);
    const ok = await call('POST', '/tasks/test.echo/run', { kwargs: { value: 1 } });
    assert.equal(ok.status, 202);
    assert.match(ok.json.jobId as string, /^[0-9a-f-]{36}$/);
  });

  test('task results: filters, cursor pagination without gaps or repeats, detail, 404', async () => {
    const base = Date.parse('2030-06-01T00:00:00Z');
    for (let i = 0; i < 7; i++) {
      await env.db.models.TaskResult.create(
        taskResultRow({
          jobId: `page-${i}`,
          task: 'test.echo',
          status: i % 2 ? 'failed' : 'succeeded',
          queuedAt: new Date(base + (i < 4 ? 0 : i) * 1000), // four share one instant: ties broken by id
          error: i % 2 ? `failure ${i}` : null,
        }),
      );
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(
        'GET',
        `/task-results?task=test.echo&from=2030-01-01T00:00:00Z&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      assert.equal(page.status, 200, page.text);
      seen.push(...(page.json.items ?? []).map((item) => item.jobId as string));
      cursor = page.json.nextCursor as string | null;
    } while (cursor);
    assert.deepEqual(seen, ['page-6', 'page-5', 'page-4', 'page-3', 'page-2', 'page-1', 'page-0']);
    const failed = await call('GET', '/task-results?status=failed&from=2030-01-01T00:00:00Z');
    assert.deepEqual(
      failed.json.items?.map((item) => item.jobId),
      ['page-5', 'page-3', 'page-1'],
    );
    const one = failed.json.items![0]!;
    const detail = await call('GET', `/task-results/${one.id as string}`);
    assert.equal(detail.json.error, 'failure 5');
    assert.equal((await call('GET', '/task-results/999999')).status, 404);
    const bad = await call('GET', '/task-results?limit=0&status=exploded');
    assert.equal(bad.status, 400);
    assert.deepEqual(issuePaths(bad.json).sort(), ['query.limit', 'query.status']);
  });

  test('speedtests: filters, pages, summary, detail with pinged servers, CSV, servers and clients', async () => {
    const other = speedtestServer({
      id: 'other',
      name: '=HYPERLINK("x")',
      countryCode: 'BE',
      lat: null,
    });
    const result = (i: number, server: SpeedtestServer): SpeedtestResult =>
      speedtestResult({
        engine: i % 3 ? 'librespeed' : 'ookla',
        startedAt: new Date(Date.parse('2031-01-01T00:00:00Z') + i * 60_000),
        downloadBps: 100e6 + i * 1e6,
        pingMs: 10 + i,
        server,
        pinged: [
          pingedServer({ server, latencyMs: 10 + i, chosen: true }),
          pingedServer({ server: other, latencyMs: null, chosen: false }),
        ],
        client: { ip: '192.0.2.7', isp: 'Example ISP' },
        // Odd tests ran over IPv6 from a second interface.
        source:
          i % 2
            ? { address: '2001:db8::7', interface: 'eth1', family: 6 }
            : { address: '192.0.2.7', interface: null, family: 4 },
      });
    const nl = speedtestServer({ id: 'nl-1', name: 'Amsterdam', countryCode: 'NL', lat: 52.1 });
    const de = speedtestServer({
      id: 'de-1',
      name: 'Berlin, "Mitte"',
      countryCode: 'DE',
      lat: 52.1,
    });
    for (let i = 0; i < 6; i++) await storeSpeedtest(env.db, result(i, i < 4 ? nl : de));

    const all = await call('GET', '/speedtests?from=2031-01-01T00:00:00Z&limit=4');
    assert.equal(all.json.items?.length, 4);
    const rest = await call(
      'GET',
      `/speedtests?from=2031-01-01T00:00:00Z&limit=4&cursor=${all.json.nextCursor as string}`,
    );
    assert.equal(rest.json.items?.length, 2);
    assert.equal(rest.json.nextCursor, null);
    const germany = await call('GET', '/speedtests?country=de');
    assert.deepEqual(
      germany.json.items?.map((item) => item.serverName),
      ['Berlin, "Mitte"', 'Berlin, "Mitte"'],
    );
    const ookla = await call('GET', '/speedtests?engine=ookla&from=2031-01-01T00:00:00Z');
    assert.equal(ookla.json.items?.length, 2);

    const summary = await call('GET', '/speedtests/summary?from=2031-01-01T00:00:00Z&country=NL');
    assert.equal(summary.json.count, 4);
    assert.deepEqual(summary.json.downloadBps, { min: 100e6, max: 103e6, avg: 101.5e6 });
    assert.deepEqual(summary.json.pingMs, { min: 10, max: 13, avg: 11.5 });
    assert.equal((summary.json.latest as { pingMs: number }).pingMs, 13);

    const v6 = await call('GET', '/speedtests?family=6&from=2031-01-01T00:00:00Z');
    assert.deepEqual(
      v6.json.items?.map((item) => [item.ipFamily, item.sourceAddress, item.sourceInterface]),
      Array(3).fill([6, '2001:db8::7', 'eth1']),
    );
    const fromAddress = await call('GET', '/speedtests?source=192.0.2.7&from=2031-01-01T00:00:00Z');
    assert.equal(fromAddress.json.items?.length, 3);
    // speedtest_daily has no family: such a summary is counted from the tests themselves.
    const v6Summary = await call(
      'GET',
      '/speedtests/summary?from=2030-12-31T00:00:00Z&country=NL&family=6',
    );
    assert.equal(v6Summary.json.count, 2);

    const id = all.json.items![0]!.id as string;
    const detail = await call('GET', `/speedtests/${id}`);
    // The newest test (ping 15 ms) loaded to 31.9 ms down and 29.2 ms up: +15.55 ms on average.
    assert.equal(detail.json.downloadLatencyMs, 31.9);
    assert.equal(detail.json.uploadJitterMs, 3.1);
    const bloat = detail.json.bufferbloat as { increaseMs: number; grade: string };
    assert.equal(bloat.grade, 'A');
    assert.ok(Math.abs(bloat.increaseMs - 15.55) < 1e-9, String(bloat.increaseMs));
    assert.deepEqual(detail.json.client, {
      ip: '192.0.2.7',
      isp: 'Example ISP',
      countryCode: null,
    });
    assert.deepEqual(
      (detail.json.pinged as Array<{ chosen: boolean; lat: number | null }>).map((p) => [
        p.chosen,
        p.lat,
      ]),
      [
        [true, 52.1],
        [false, null],
      ],
    );
    assert.equal((await call('GET', '/speedtests/987654321')).status, 404);

    const csv = await call('GET', '/speedtests.csv?country=DE');
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    const lines = csv.text.trim().split('\r\n');
    assert.equal(
      lines[0],
      'id,startedAt,engine,downloadBps,uploadBps,pingMs,jitterMs,packetLoss,downloadLatencyMs,downloadJitterMs,uploadLatencyMs,uploadJitterMs,bufferbloatMs,bufferbloatGrade,sourceAddress,sourceInterface,ipFamily,resultUrl,selfTest,serverId,serverName,countryCode',
    );
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, /,"Berlin, ""Mitte""",DE$/);

    const servers = await call('GET', '/servers');
    const names = servers.json.items?.map((item) => item.name);
    assert.ok(names?.includes('Amsterdam') && names.includes('Berlin, "Mitte"'));
    const clients = await call('GET', '/clients');
    assert.deepEqual(
      clients.json.items?.map((item) => item.ip),
      ['192.0.2.7'],
    );
    const bad = await call('GET', '/speedtests?country=Germany&engine=fast&family=5&source=eth0');
    assert.deepEqual(issuePaths(bad.json).sort(), [
      'query.country',
      'query.engine',
      'query.family',
      'query.source',
    ]);
  });
});
