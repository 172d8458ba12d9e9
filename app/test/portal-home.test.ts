// The portal's Home: the time range (24 h, 7 d, 30 d, 1 y, whole days chosen) behind the figures
// and the charts, with a refused range named in a 400; the chart's points capped by averaging
// time buckets; "Run a speed test now" (CSRF, the job queued for the signed-in user, its task
// result, a Redis that refuses); and in Chromium the two charts from zero, drag-zoom and Reset,
// the legend's latest values, the range picker, a phone's width, and a run followed to its test.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Queues } from '../src/queue/queues.ts';
import { createRedis } from '../src/queue/redis.ts';
import { storeSpeedtest } from '../src/speedtest/store.ts';
import { createTaskRegistry } from '../src/tasks/index.ts';
import { CHART_POINTS } from '../src/web/admin/speedtests.ts';
import { createUser } from '../src/web/auth/users.ts';
import { launchBrowser, type Browser } from './helpers/browser.ts';
import { speedtestResult, speedtestServer } from './helpers/builders.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { CookieClient } from './helpers/http-client.ts';
import { serveWebApp, type ServedWebApp } from './helpers/web.ts';
import { signInInBrowser, startPortalProcess } from './helpers/portal-process.ts';
import type { Child } from '../../testing/child.ts';
import { startRedisServer } from '../../testing/redis-server.ts';

const PASSWORD = 'a sufficiently long password';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Test number k: k × 100 Mbit/s down, k × 20 up, k × 10 ms ping, k ms jitter. */
function numbered(k: number, startedAt: Date) {
  return speedtestResult({
    startedAt,
    downloadBps: k * 100e6,
    uploadBps: k * 20e6,
    pingMs: k * 10,
    jitterMs: k,
  });
}

interface ChartJson {
  ids: Array<string | null>;
  t: number[];
  download: Array<number | null>;
  window: [number, number] | null;
  bucketSeconds: number | null;
}

function chartOf(body: string): ChartJson {
  const match = /<script type="application\/json" class="chart-data">([\s\S]*?)<\/script>/.exec(
    body,
  );
  assert.ok(match, 'a chart block');
  return JSON.parse(match[1]!) as ChartJson;
}

/** Each figure card's value and its min/avg/max line, by label. */
function figuresOf(body: string): Record<string, { value: string; stats: string }> {
  return Object.fromEntries(
    [
      ...body.matchAll(
        /<span class="label">(\w+)<\/span><strong>([^<]*)<\/strong><small>([^<]*)<\/small>/g,
      ),
    ].map((m) => [m[1], { value: m[2]!, stats: m[3]! }]),
  );
}

const csrfOf = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)![1]!;

describe('Home over HTTP', () => {
  let env: TestEnv;
  let web: ServedWebApp;
  let viewer: CookieClient;
  const now = Date.now();

  before(async () => {
    env = await createTestEnv();
    await createUser(env.db, { username: 'vic', password: PASSWORD });
    web = await serveWebApp(env, {
      registry: createTaskRegistry(env.config, env.db),
      loginRateLimitPerMinute: 100,
    });
    viewer = new CookieClient(web.origin);
    assert.equal((await viewer.signIn('vic', PASSWORD)).status, 303);
    const at = [
      [1, now - HOUR],
      [2, now - 2 * DAY],
      [3, now - 10 * DAY],
      [4, now - 100 * DAY],
      [5, now - 400 * DAY],
      // A chosen period, 2021-03-10 to 2021-03-12, and a test just outside each of its ends.
      [6, Date.parse('2021-03-10T12:00:00Z')],
      [7, Date.parse('2021-03-12T06:00:00Z')],
      [8, Date.parse('2021-03-13T00:00:00Z')],
      [9, Date.parse('2021-03-09T23:59:59Z')],
    ] as const;
    for (const [k, time] of at) await storeSpeedtest(env.db, numbered(k, new Date(time)));
  });
  after(async () => {
    await web?.close();
    await env?.cleanup();
  });

  const page = async (path: string, expected = 200) => {
    const response = await viewer.request(path);
    const body = await response.text();
    assert.equal(response.status, expected, `${path}: ${body.slice(0, 800)}`);
    return body;
  };

  test("each range's figures and chart hold the tests of that range, and no others", async () => {
    const cases = [
      { path: '/admin', words: '2 tests in the last 7 days', tests: [1, 2] },
      { path: '/admin?range=24h', words: '1 test in the last 24 hours', tests: [1] },
      { path: '/admin?range=7d', words: '2 tests in the last 7 days', tests: [1, 2] },
      { path: '/admin?range=30d', words: '3 tests in the last 30 days', tests: [1, 2, 3] },
      { path: '/admin?range=1y', words: '4 tests in the last year', tests: [1, 2, 3, 4] },
      {
        path: '/admin?range=custom&from=2021-03-10&until=2021-03-12',
        words: '2 tests from 2021-03-10 to 2021-03-12',
        tests: [6, 7],
      },
      // Without range=, days mean a chosen period.
      {
        path: '/admin?from=2021-03-12&until=2021-03-12',
        words: '1 test on 2021-03-12',
        tests: [7],
      },
    ];
    for (const { path, words, tests } of cases) {
      const body = await page(path);
      assert.ok(body.replace(/\s+/g, ' ').includes(words), `${path}: "${words}"`);
      const newest = Math.min(...tests);
      const stats = (scale: number, unit: string) => {
        const values = tests.map((k) => k * scale);
        const avg = values.reduce((a, b) => a + b, 0) / values.length;
        const f = (v: number) => `${v.toFixed(1)} ${unit}`;
        return `min ${f(Math.min(...values))} · avg ${f(avg)} · max ${f(Math.max(...values))}`;
      };
      // The newest test of the range ("Latest"), and min/avg/max over the range's tests.
      const newestInRange = path.includes('2021') ? Math.max(...tests) : newest;
      assert.deepEqual(
        figuresOf(body),
        {
          Download: { value: `${newestInRange * 100}.0 Mbit/s`, stats: stats(100, 'Mbit/s') },
          Upload: { value: `${newestInRange * 20}.0 Mbit/s`, stats: stats(20, 'Mbit/s') },
          Ping: { value: `${newestInRange * 10}.0 ms`, stats: stats(10, 'ms') },
        },
        path,
      );
      const chart = chartOf(body);
      assert.deepEqual(
        chart.download,
        tests.map((k) => k * 100).sort((a, b) => (path.includes('2021') ? a - b : b - a)),
        `${path}: the chart's points, oldest first`,
      );
      assert.equal(chart.bucketSeconds, null, `${path}: every test, no averages`);
      assert.ok(chart.ids.every((id) => id !== null));
    }
    // The chosen days are whole UTC days, Until included; the preset ends now.
    const custom = chartOf(await page('/admin?range=custom&from=2021-03-10&until=2021-03-12'));
    assert.deepEqual(custom.window, [
      Date.parse('2021-03-10T00:00:00Z') / 1000,
      Date.parse('2021-03-13T00:00:00Z') / 1000,
    ]);
    const day = chartOf(await page('/admin?range=24h')).window!;
    assert.ok(Math.abs(day[1] - day[0] - 86_400) < 1, `24 h wide: ${day[1] - day[0]} s`);
    assert.ok(Math.abs(day[1] * 1000 - Date.now()) < 60_000, 'ending now');

    // The current range is marked, the custom form keeps the days, the list link carries them.
    const marked = await page('/admin?range=30d');
    assert.match(marked, /<a\s+href="\/admin\?range=30d"\s+aria-current="true"/);
    assert.equal(marked.match(/aria-current="true"/g)?.length, 1, 'one range is current');
    const kept = await page('/admin?range=custom&from=2021-03-10&until=2021-03-12');
    assert.match(kept, /name="from" value="2021-03-10"/);
    assert.match(kept, /name="until" value="2021-03-12"/);
    assert.match(
      kept,
      /href="\/admin\/speedtests\?from=2021-03-10T00%3A00%3A00.000Z&amp;to=2021-03-13T00%3A00%3A00.000Z"/,
    );
  });

  test('a range that cannot be shown is a 400 naming the parameter, never a 500', async () => {
    const cases = [
      ['/admin?range=2w', 'range', 'expected one of 24h, 7d, 30d, 1y, custom'],
      [
        '/admin?range=custom&from=yesterday&until=2021-03-01',
        'from',
        'expected a day as YYYY-MM-DD',
      ],
      [
        '/admin?range=custom&from=2021-02-30&until=2021-03-01',
        'from',
        'expected a day of the calendar',
      ],
      [
        '/admin?range=custom&from=2021-03-12&until=2021-03-10',
        'until',
        'expected a day on or after From',
      ],
      ['/admin?range=custom&until=2021-03-10', 'from', 'expected the first day of the range'],
      ['/admin?range=7d&from=2021-03-10', 'from', 'a day goes with range=custom, not range=7d'],
      ['/admin?range=1y&range=7d', 'range', ''],
      ['/admin?days=7', 'days', 'unknown field'],
    ] as const;
    for (const [path, field, message] of cases) {
      const body = await page(path, 400);
      assert.match(body, /This range cannot be shown/, path);
      assert.ok(body.includes(`<code>${field}</code>: ${message}`), `${path}: names ${field}`);
      assert.ok(!body.includes('class="chart-data"'), `${path}: no figures or chart`);
      // The picker is still there, to choose again.
      assert.match(body, /href="\/admin\?range=24h"/, path);
    }
  });

  test(`a range of more than ${CHART_POINTS} tests is drawn as averages of time buckets`, async () => {
    // 1,500 tests every 10 minutes from 2020-01-01: six to an hour, 0..5 Mbit/s, 2.5 on average.
    await env.db.sequelize.query(`
      INSERT INTO speedtests (started_at, engine, download_bps, upload_bps, ping_ms, jitter_ms)
      SELECT timestamptz '2020-01-01T00:00:00Z' + i * interval '10 minutes', 'librespeed',
             (i % 6) * 1e6, 1e6, 10, 1
        FROM generate_series(0, 1499) AS i`);
    const body = await page('/admin?range=custom&from=2020-01-01&until=2020-01-31');
    assert.ok(body.includes('1500 tests from 2020-01-01 to 2020-01-31'));
    const chart = chartOf(body);
    // 31 days in at most CHART_POINTS points: one-hour buckets, 250 of them with tests.
    assert.equal(chart.bucketSeconds, 3600);
    assert.equal(chart.t.length, 250);
    assert.ok(chart.ids.every((id) => id === null));
    assert.deepEqual(new Set(chart.download), new Set([2.5]));
    assert.ok(
      chart.t.every((t, i) => t >= Date.parse('2020-01-01T00:00:00Z') / 1000 + i * 3600),
      'each point inside its hour',
    );
    assert.match(
      body.replace(/\s+/g, ' '),
      /Each point is the average of the tests in 1 hour \(1,500 tests in 250 points\)/,
    );
    // The figures still count every test (from speedtest_daily and the partial days' rows).
    assert.equal(
      figuresOf(body).Download!.stats,
      'min 0.0 Mbit/s · avg 2.5 Mbit/s · max 5.0 Mbit/s',
    );
  });

  test('"Run a speed test now" needs the CSRF token, queues the job and opens its result', async () => {
    const home = await page('/admin');
    assert.match(home, /<form method="post" action="\/admin\/speedtests\/run"/);
    const before = await env.db.models.TaskResult.count();
    const forged = await viewer.form('/admin/speedtests/run', {});
    assert.equal(forged.status, 403);
    assert.equal(await env.db.models.TaskResult.count(), before, 'nothing queued without it');

    // vic is no admin: users may run speed tests with the configured defaults.
    const posted = await viewer.form('/admin/speedtests/run', { _csrf: csrfOf(home) });
    assert.equal(posted.status, 303);
    const location = posted.headers.get('location') ?? '';
    const match = /^\/admin\/task-results\/(\d+)\?then=speedtest$/.exec(location);
    assert.ok(match, `redirected to the run's result: ${location}`);
    const row = await env.db.models.TaskResult.findByPk(match[1]!);
    assert.ok(row);
    assert.equal(row.task, 'speedtester.run_speedtest');
    assert.equal(row.status, 'queued');
    assert.deepEqual(row.kwargs, {});
    const job = await web.queues.get('speedtests').getJob(row.jobId);
    assert.ok(job, 'the job is in Redis');
    assert.equal(job.name, 'speedtester.run_speedtest');
    assert.deepEqual(job.data.kwargs, {});

    const result = await page(location);
    assert.match(result, /Queued a speed test \(job [0-9a-f-]+\)/);
    assert.match(result, /data-refresh-seconds="2"/, 'the page follows the run');
  });

  test('when Redis refuses the job, the page says so: 503, no stack, nothing left queued', async () => {
    const redis = await startRedisServer();
    const connection = createRedis(redis.url, { failFast: true });
    const queues = new Queues(connection, env.config.QUEUE_PREFIX);
    const other = await serveWebApp(env, {
      registry: createTaskRegistry(env.config, env.db),
      queues,
      loginRateLimitPerMinute: 100,
    });
    try {
      // The queue was reachable once (as when the web role started), then Redis went away.
      await queues.get('speedtests').waitUntilReady();
      await redis.stop();
      const client = new CookieClient(other.origin);
      assert.equal((await client.signIn('vic', PASSWORD)).status, 303);
      const home = await (await client.request('/admin')).text();
      const before = await env.db.models.TaskResult.count();
      const started = Date.now();
      const posted = await client.form('/admin/speedtests/run', { _csrf: csrfOf(home) });
      const body = await posted.text();
      assert.equal(posted.status, 503, body.slice(0, 500));
      assert.ok(Date.now() - started < 5_000, 'at once, not after a timeout');
      assert.match(body, /The task queue \(Redis\) did not accept the job/);
      assert.match(body, /error id [0-9a-f-]{36}/);
      assert.ok(!/at .*\.ts:\d+/.test(body), 'no stack');
      assert.equal(await env.db.models.TaskResult.count(), before, 'no task result left behind');
    } finally {
      await other.close().catch(() => undefined);
      connection.disconnect();
      await redis.stop();
    }
  });
});

describe('Home in Chromium', () => {
  const ADMIN = { username: 'admin', password: 'correct horse battery staple' };
  let env: TestEnv;
  let app: Child;
  let browser: Browser;
  let base: string;

  before(async () => {
    env = await createTestEnv();
    // Nothing runs on its own: the charts show what this test stored.
    await env.db.models.PeriodicTask.update({ enabled: false }, { where: {} });
    const now = Date.now();
    // Six tests in the last day (the newest 30 minutes ago), four 3 to 6 days ago, two 20 days ago.
    const at = [
      ...[0, 1, 2, 3, 4, 5].map((i) => now - 30 * 60_000 - i * 3 * HOUR),
      ...[3, 4, 5, 6].map((d) => now - d * DAY),
      now - 20 * DAY,
      now - 20 * DAY - HOUR,
    ];
    for (const [i, time] of at.entries()) {
      await storeSpeedtest(
        env.db,
        speedtestResult({
          startedAt: new Date(time),
          // The newest: 123.4 / 23.4 Mbit/s, 12.3 ms ping, 2.3 ms jitter; older ones lower.
          downloadBps: i === 0 ? 123.4e6 : 60e6 + i * 1e6,
          uploadBps: i === 0 ? 23.4e6 : 10e6 + i * 0.5e6,
          pingMs: i === 0 ? 12.3 : 20 + i,
          jitterMs: i === 0 ? 2.3 : 4 + i * 0.1,
          // Every other test against a second server: the per-server charts compare the two.
          ...(i % 2
            ? (() => {
                const server = speedtestServer({ id: 'rtm-1', name: 'Rotterdam' });
                return { server, pinged: [{ server, latencyMs: 20 + i, chosen: true }] };
              })()
            : {}),
        }),
      );
    }
    ({ app, base } = await startPortalProcess(env, {
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      SPEEDTEST_DURATION_MS: '1000',
      SPEEDTEST_STREAMS: '2',
    }));
    browser = await launchBrowser();
    await signInInBrowser(browser.page, base, ADMIN);
  });
  after(async () => {
    await browser?.close();
    app?.process.kill('SIGTERM');
    await app?.exited;
    await env?.cleanup();
  });

  const pane = (name: 'speeds' | 'latency') =>
    browser.page.locator(`[data-pane="${name}"][data-drawn]`);
  /** What a chart's box says it shows: its time range (s) and its y-axis. */
  const scales = async (name: 'speeds' | 'latency') => {
    const box = pane(name);
    const read = async (attribute: string) => Number(await box.getAttribute(attribute));
    return {
      xMin: await read('data-x-min'),
      xMax: await read('data-x-max'),
      yMin: await read('data-y-min'),
      yMax: await read('data-y-max'),
    };
  };
  const legend = (name: 'speeds' | 'latency') =>
    pane(name).locator('.u-legend .u-series .u-value').allTextContents();
  /** Polled from here: page.waitForFunction() evaluates a string in the page, which the CSP forbids. */
  const until = async <T>(read: () => Promise<T>, done: (value: T) => boolean, what: string) => {
    for (let tries = 0; ; tries++) {
      const value = await read();
      if (done(value)) return value;
      assert.ok(tries < 100, `${what}: ${JSON.stringify(value)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  test('two charts, speeds and latency, each from zero over the last 7 days', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${base}/admin`);
    for (const name of ['speeds', 'latency'] as const) {
      await pane(name).waitFor();
      assert.equal(await pane(name).getAttribute('data-drawn'), '10', `${name}: 10 tests in 7 d`);
      assert.equal(await pane(name).locator('canvas').count(), 1);
      const { xMin, xMax, yMin, yMax } = await scales(name);
      assert.equal(yMin, 0, `${name}: the y-axis starts at zero`);
      assert.ok(yMax > (name === 'speeds' ? 123.4 : 12.3), `${name}: up to ${yMax}`);
      assert.ok(Math.abs(xMax - xMin - 7 * 86_400) < 5, `${name}: 7 days wide`);
    }
    assert.match((await pane('speeds').locator('.u-title').textContent()) ?? '', /Download/);
    assert.match((await pane('latency').locator('.u-title').textContent()) ?? '', /Ping/);
    await browser.screenshot('home-charts');
  });

  test('with two servers in the range, download and ping per server, one series each', async () => {
    for (const [name, title] of [
      ['serverSpeeds', /Download by server/],
      ['serverPing', /Ping by server/],
    ] as const) {
      const box = browser.page.locator(`[data-pane="${name}"][data-drawn]`);
      await box.waitFor();
      assert.equal(await box.getAttribute('data-series'), 'Amsterdam|Rotterdam');
      assert.equal(await box.getAttribute('data-drawn'), '10', 'every test in 7 days');
      assert.match((await box.locator('.u-title').textContent()) ?? '', title);
    }
    // The newest test (Amsterdam): its value, and none for Rotterdam at that time.
    const values = await browser.page
      .locator('[data-pane="serverSpeeds"] .u-legend .u-series .u-value')
      .allTextContents();
    assert.deepEqual(values.slice(1), ['123.4 Mbit/s', '–']);
  });

  test('the legends show the newest values until the pointer is over a chart', async () => {
    const { page } = browser;
    // Latency: ping, jitter, and the builder's latency while downloading and uploading.
    const latest = {
      speeds: ['123.4 Mbit/s', '23.4 Mbit/s'],
      latency: ['12.3 ms', '2.3 ms', '31.9 ms', '29.2 ms'],
    };
    for (const name of ['speeds', 'latency'] as const)
      assert.deepEqual((await legend(name)).slice(1), latest[name], name);
    // Over the oldest stretch of the week: an older test's values, in both charts.
    const over = (await pane('speeds').locator('.u-over').boundingBox())!;
    await page.mouse.move(over.x + over.width * 0.05, over.y + over.height / 2);
    await until(
      () => legend('speeds'),
      (values) => values[1] !== latest.speeds[0],
      'an older test under the pointer',
    );
    assert.notEqual((await legend('latency'))[1], latest.latency[0], 'the other chart follows');
    await page.mouse.move(2, 2);
    for (const name of ['speeds', 'latency'] as const)
      await until(
        async () => (await legend(name)).slice(1),
        (values) => values.join() === latest[name].join(),
        `${name}: the newest values again`,
      );
  });

  test('a drag zooms both charts in; Reset zoom shows the whole range again', async () => {
    const { page } = browser;
    const reset = page.getByRole('button', { name: 'Reset zoom' });
    assert.equal(await reset.isVisible(), false, 'no Reset before a zoom');
    const full = await scales('speeds');
    const over = (await pane('speeds').locator('.u-over').boundingBox())!;
    const y = over.y + over.height / 2;
    await page.mouse.move(over.x + over.width * 0.3, y);
    await page.mouse.down();
    await page.mouse.move(over.x + over.width * 0.7, y, { steps: 8 });
    await page.mouse.up();
    await reset.waitFor({ state: 'visible' });
    const zoomed = await scales('speeds');
    const span = full.xMax - full.xMin;
    assert.ok(Math.abs(zoomed.xMin - (full.xMin + 0.3 * span)) < span * 0.02, 'from 30 %');
    assert.ok(Math.abs(zoomed.xMax - (full.xMin + 0.7 * span)) < span * 0.02, 'to 70 %');
    const latency = await scales('latency');
    assert.deepEqual([latency.xMin, latency.xMax], [zoomed.xMin, zoomed.xMax], 'both zoomed');
    assert.equal(zoomed.yMin, 0, 'still from zero');
    assert.equal(new URL(page.url()).pathname, '/admin', 'the drag opened no test');
    await browser.screenshot('home-zoomed');

    await reset.click();
    await reset.waitFor({ state: 'hidden' });
    for (const name of ['speeds', 'latency'] as const) {
      const back = await scales(name);
      assert.deepEqual([back.xMin, back.xMax], [full.xMin, full.xMax], `${name}: the whole week`);
    }
  });

  test('the range picker changes what is drawn', async () => {
    const { page } = browser;
    await page.getByRole('link', { name: '24 h', exact: true }).click();
    await page.waitForURL(/\?range=24h$/);
    await pane('speeds').waitFor();
    assert.equal(await pane('speeds').getAttribute('data-drawn'), '6');
    const day = await scales('latency');
    assert.ok(Math.abs(day.xMax - day.xMin - 86_400) < 5, 'one day wide');
    assert.equal(
      await page.getByRole('link', { name: '24 h', exact: true }).getAttribute('aria-current'),
      'true',
    );
    await page.getByRole('link', { name: '30 d', exact: true }).click();
    await page.waitForURL(/\?range=30d$/);
    await pane('speeds').waitFor();
    assert.equal(await pane('speeds').getAttribute('data-drawn'), '12');

    // Whole days chosen: the day of the two tests 20 days ago.
    const day20 = new Date(Date.now() - 20 * DAY - HOUR).toISOString().slice(0, 10);
    const day20end = new Date(Date.now() - 20 * DAY).toISOString().slice(0, 10);
    await page.fill('input[name=from]', day20);
    await page.fill('input[name=until]', day20end);
    await page.getByRole('button', { name: 'Show these days' }).click();
    await page.waitForURL(/range=custom&from=/);
    await pane('speeds').waitFor();
    assert.equal(await pane('speeds').getAttribute('data-drawn'), '2');
    assert.equal(await page.locator('input[name=from]').inputValue(), day20, 'the days are kept');
    await page.getByText(/2 tests (from|on) /).waitFor();
  });

  test('at 390 px Home does not scroll sideways, charts and picker included', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/admin', '/admin?range=1y', '/admin?range=nonsense']) {
      const response = await page.goto(`${base}${path}`);
      if (path.includes('nonsense')) assert.equal(response?.status(), 400);
      else await pane('speeds').waitFor();
      const [scrollWidth, innerWidth] = await page.evaluate<[number, number]>(
        '[document.documentElement.scrollWidth, window.innerWidth]',
      );
      assert.ok(scrollWidth <= innerWidth, `${path}: ${scrollWidth} px wide at ${innerWidth}`);
      if (!path.includes('nonsense')) {
        const chart = await pane('speeds').locator('.uplot').boundingBox();
        assert.ok(chart && chart.x + chart.width <= innerWidth, `${path}: the chart fits`);
      }
      await browser.screenshot(`home-390-${new URL(path, base).searchParams.get('range') ?? '7d'}`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test('"Run a speed test now" follows the run and opens the new test', async () => {
    const { page } = browser;
    await page.goto(`${base}/admin`);
    await page.getByRole('button', { name: 'Run a speed test now' }).click();
    await page.waitForURL(/\/admin\/task-results\/\d+\?then=speedtest$/);
    await page.getByRole('status').filter({ hasText: 'Queued a speed test' }).waitFor();
    // The result page reloads itself while the run is under way, then opens the test.
    await page.waitForURL(/\/admin\/speedtests\/\d+$/, { timeout: 45_000 });
    await page.getByRole('heading', { name: 'Servers pinged' }).waitFor();
    await pane('speeds').waitFor();
    await pane('latency').waitFor();
  });

  test('no script errors or CSP violations', () => {
    // The refused range above is a page with status 400, which Chromium logs as an error.
    const unexpected = browser.problems.filter(
      (problem) => !/range=nonsense: Failed to load resource: .* 400/.test(problem),
    );
    assert.deepEqual(unexpected, []);
  });
});
