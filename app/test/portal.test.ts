// The admin portal over real HTTP against PostgreSQL and Redis: every page needs a signed-in
// user, forms refuse bad input naming each field and save nothing, CSRF-less posts are refused,
// admins alone manage users and see the queue board, and API tokens are shown exactly once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Op } from 'sequelize';
import type { SpeedtestResult } from '../src/speedtest/engine.ts';
import { storeSpeedtest } from '../src/speedtest/store.ts';
import { createUser } from '../src/web/auth/users.ts';
import {
  pingedServer,
  speedtestResult,
  speedtestServer,
  taskResultRow,
} from './helpers/builders.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { serveWebApp, type ServedWebApp } from './helpers/web.ts';
import { CookieClient } from './helpers/http-client.ts';

const PASSWORD = 'a sufficiently long password';

function speedtest(i: number): SpeedtestResult {
  const server = speedtestServer({
    id: `srv-${i % 2}`,
    name: i % 2 ? 'Rotterdam' : 'Amsterdam',
    countryCode: 'NL',
  });
  const far = speedtestServer({
    id: 'far',
    name: '<script>alert(1)</script>',
    countryCode: 'US',
    lat: 40.7,
    lon: -74,
  });
  return speedtestResult({
    engine: 'librespeed',
    startedAt: new Date(Date.now() - (10 - i) * 3_600_000),
    downloadBps: 100e6 + i * 1e6,
    server,
    pinged: [
      pingedServer({ server, chosen: true }),
      pingedServer({ server: far, latencyMs: 95.5, chosen: false }),
    ],
  });
}

describe('admin portal', () => {
  let env: TestEnv;
  let web: ServedWebApp;
  let base: string;
  let admin: CookieClient;
  let viewer: CookieClient;

  before(async () => {
    env = await createTestEnv();
    await createUser(env.db, { username: 'ada', password: PASSWORD, isAdmin: true });
    await createUser(env.db, { username: 'vic', password: PASSWORD });
    web = await serveWebApp(env, { loginRateLimitPerMinute: 100 });
    base = web.origin;
    admin = new CookieClient(base);
    assert.equal((await admin.signIn('ada', PASSWORD)).status, 303);
    viewer = new CookieClient(base);
    assert.equal((await viewer.signIn('vic', PASSWORD)).status, 303);
    for (let i = 0; i < 3; i++) await storeSpeedtest(env.db, speedtest(i));
  });
  after(async () => {
    await web.close();
    await env.cleanup();
  });

  const page = async (client: CookieClient, path: string, expected = 200) => {
    const response = await client.request(path);
    const body = await response.text();
    assert.equal(response.status, expected, `${path}: ${body.slice(0, 500)}`);
    return body;
  };
  const csrfOf = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)![1]!;
  const periodicTasks = () => env.db.models.PeriodicTask.findAll({ order: [['id', 'ASC']] });

  test('every page needs a signed-in user; the assets are public', async () => {
    const anonymous = new CookieClient(base);
    for (const path of [
      '/admin',
      '/admin/speedtests',
      '/admin/speedtests/1',
      '/admin/periodic-tasks',
      '/admin/periodic-tasks/new',
      '/admin/task-results',
      '/admin/users',
      '/admin/account',
      '/admin/queues',
      '/admin/queues/api/queues',
    ]) {
      const response = await anonymous.request(path);
      assert.equal(response.status, 303, path);
      assert.match(response.headers.get('location') ?? '', /^\/login\?next=/, path);
    }
    const posted = await anonymous.form('/admin/periodic-tasks', { name: 'x' });
    assert.equal(posted.status, 303);
    for (const asset of ['admin.css', 'admin.js', 'chart.js', 'uplot/uPlot.iife.min.js']) {
      assert.equal((await anonymous.request(`/admin/assets/${asset}`)).status, 200, asset);
    }
  });

  test('home, speed test list with filters, and one test with its pinged servers', async () => {
    const home = await page(admin, '/admin');
    assert.match(home, /102\.0 Mbit\/s/, 'the latest download');
    assert.match(home, /3 tests in the last 7/);
    assert.match(home, /class="chart-data"/);

    const list = await page(admin, '/admin/speedtests');
    assert.equal(list.match(/href="\/admin\/speedtests\/\d+"/g)?.length, 3);
    const filtered = await page(admin, '/admin/speedtests?engine=librespeed&country=nl&serverId=');
    assert.equal(filtered.match(/href="\/admin\/speedtests\/\d+"/g)?.length, 3);
    const bad = await page(admin, '/admin/speedtests?country=Netherlands&from=yesterday', 400);
    assert.match(bad, /<code>country<\/code>: expected a two-letter country code/);
    assert.match(bad, /<code>from<\/code>/);

    const [first] = await env.db.models.Speedtest.findAll({ order: [['id', 'ASC']], limit: 1 });
    const detail = await page(admin, `/admin/speedtests/${first!.id}`);
    assert.match(detail, /Servers pinged/);
    assert.match(detail, /95\.5 ms/);
    assert.match(detail, /40\.7/);
    assert.ok(!detail.includes('<script>alert(1)</script>'), 'server names are escaped');
    assert.match(detail, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(await page(admin, '/admin/speedtests/999999', 404), /no speed test 999999/);
    await page(admin, '/admin/speedtests/abc', 404);
    // Past bigint: a 404 page, not a database error.
    await page(admin, '/admin/speedtests/99999999999999999999', 404);
    await page(admin, '/admin/task-results/99999999999999999999', 404);
  });

  test('periodic task editor: every problem in words, once, beside its field, all at once; nothing saved', async () => {
    const before = (await periodicTasks()).length;
    const form = await page(admin, '/admin/periodic-tasks/new');
    /** The text beside a field: the field-error span that follows its input. */
    const besides = (body: string) =>
      [...body.matchAll(/<span class="field-error"\s*>([\s\S]*?)<\/span\s*>/g)].map((m) =>
        m[1]!.replace(/\s+/g, ' ').trim(),
      );
    const submit = (fields: Record<string, string>) =>
      admin.form('/admin/periodic-tasks', {
        _csrf: csrfOf(form),
        name: 'x',
        task: 'test.echo',
        kwargs: '{}',
        scheduleType: 'interval',
        every: '5',
        period: 'minutes',
        action: 'save',
        ...fields,
      });

    const refused = await submit({
      name: '',
      kwargs: '{not json',
      scheduleType: 'crontab',
      expression: '61 * * * *',
      timezone: 'Mars/Olympus',
    });
    const body = await refused.text();
    assert.equal(refused.status, 400);
    assert.match(body, /Nothing was saved\.\s+Please correct the 4 problems marked below\./);
    assert.doesNotMatch(
      body,
      /<code>(name|kwargs|timezone|expression)<\/code>/,
      'no list of keys on top',
    );
    const shown = besides(body);
    for (const expected of [
      /^expected a name$/,
      /^expected JSON: /,
      /^unknown timezone &quot;Mars\/Olympus&quot;$/,
      /^minute field &quot;61&quot;/,
    ])
      assert.equal(
        shown.filter((text) => expected.test(text)).length,
        1,
        `${expected} once beside its field, in: ${JSON.stringify(shown)}`,
      );
    assert.match(body, /value="\{not json|\{not json<\/textarea>/, 'what was typed is kept');

    // zod's own words never reach the form.
    const words = await (
      await submit({ scheduleType: 'clocked', at: '', priority: 'high', kwargs: '{"value": 1}' })
    ).text();
    const wordsShown = besides(words).join(' | ');
    assert.doesNotMatch(words, /Invalid input|received Date|expected number, received/);
    assert.match(wordsShown, /expected a date and time/);
    assert.match(wordsShown, /expected a number, got text/);

    const unknownTask = await submit({ task: 'no.such.task', every: '0' });
    const unknownShown = besides(await unknownTask.text()).join(' | ');
    assert.match(unknownShown, /unknown task/);
    assert.match(unknownShown, /expected a number greater than 0/);
    assert.equal((await periodicTasks()).length, before, 'nothing was saved');
  });

  test('periodic task editor: preview without JavaScript, create, edit, disable, run now, delete', async () => {
    const form = await page(admin, '/admin/periodic-tasks/new');
    const fields = {
      _csrf: csrfOf(form),
      name: 'Every weekday morning',
      task: 'test.echo',
      kwargs: '{"value": "hello"}',
      scheduleType: 'crontab',
      expression: '30 7 * * 1-5',
      timezone: 'Europe/Amsterdam',
      enabled: 'on',
    };
    const preview = await admin.form('/admin/periodic-tasks', { ...fields, action: 'preview' });
    const previewBody = await preview.text();
    assert.equal(preview.status, 200);
    assert.match(previewBody, /At 07:30, Monday through Friday \(Europe\/Amsterdam\)/);
    assert.equal(previewBody.match(/<li><time datetime=/g)?.length, 5);
    assert.equal(
      (await periodicTasks()).some((t) => t.name === fields.name),
      false,
    );

    const saved = await admin.form('/admin/periodic-tasks', { ...fields, action: 'save' });
    assert.equal(saved.status, 303, saved.status === 303 ? '' : await saved.text());
    assert.equal(saved.headers.get('location'), '/admin/periodic-tasks');
    const row = (await periodicTasks()).find((t) => t.name === fields.name)!;
    assert.equal(row.crontab, '30 7 * * 1-5');
    assert.equal(row.timezone, 'Europe/Amsterdam');
    assert.deepEqual(row.kwargs, { value: 'hello' });
    const list = await page(admin, '/admin/periodic-tasks');
    assert.match(list, /Saved &quot;Every weekday morning&quot;/, list.slice(0, 3000));
    assert.match(list, /At 07:30, Monday through Friday/);
    assert.doesNotMatch(await page(admin, '/admin/periodic-tasks'), /Saved &quot;/);

    const edit = await page(admin, `/admin/periodic-tasks/${row.id}`);
    assert.match(edit, /value="30 7 \* \* 1-5"/);
    const changed = await admin.form(`/admin/periodic-tasks/${row.id}`, {
      ...fields,
      _csrf: csrfOf(edit),
      scheduleType: 'interval',
      every: '2',
      period: 'hours',
      action: 'save',
    });
    assert.equal(changed.status, 303, changed.status === 303 ? '' : await changed.text());
    await row.reload();
    assert.equal(row.scheduleType, 'interval');
    assert.equal(row.intervalEvery, 2);

    const csrf = csrfOf(edit);
    assert.equal(
      (await admin.form(`/admin/periodic-tasks/${row.id}/disable`, { _csrf: csrf })).status,
      303,
    );
    await row.reload();
    assert.equal(row.enabled, false);

    const run = await admin.form(`/admin/periodic-tasks/${row.id}/run`, { _csrf: csrf });
    assert.equal(run.status, 303);
    assert.equal(run.headers.get('location'), `/admin/task-results?periodicTaskId=${row.id}`);
    const results = await page(admin, `/admin/task-results?periodicTaskId=${row.id}`);
    assert.match(results, /Queued a run of &quot;Every weekday morning&quot;/);
    assert.match(results, /data-status="queued"/);
    assert.match(
      results,
      /data-refresh-seconds="2"/,
      'the list reloads while the run is under way',
    );

    assert.equal(
      (await admin.form(`/admin/periodic-tasks/${row.id}/delete`, { _csrf: csrf })).status,
      303,
    );
    assert.equal(await env.db.models.PeriodicTask.findByPk(row.id), null);
    await page(admin, `/admin/periodic-tasks/${row.id}`, 404);
  });

  test('form posts without the CSRF token are refused and change nothing', async () => {
    const [row] = await periodicTasks();
    const enabled = row!.enabled;
    for (const path of [
      `/admin/periodic-tasks/${row!.id}/${enabled ? 'disable' : 'enable'}`,
      `/admin/periodic-tasks/${row!.id}/delete`,
      '/admin/account/tokens',
    ]) {
      const response = await admin.form(path, { name: 'x' });
      assert.equal(response.status, 403, path);
      const wrong = await admin.form(path, { name: 'x', _csrf: 'forged' });
      assert.equal(wrong.status, 403, path);
    }
    await row!.reload();
    assert.equal(row!.enabled, enabled);
    assert.equal(await env.db.models.ApiToken.count(), 0);
  });

  test('task results: status filter, bad filters named, and one run with its log and stack', async () => {
    const failed = await env.db.models.TaskResult.create(
      taskResultRow({
        status: 'failed',
        kwargs: { message: 'boom' },
        error: 'the thing exploded',
        stack: 'Error: the thing exploded\n    at somewhere (file.ts:1:1)',
        logs: [{ at: new Date().toISOString(), level: 'error', message: 'about to explode' }],
        finishedAt: new Date(),
      }),
    );
    const list = await page(admin, '/admin/task-results?status=failed');
    assert.match(list, /the thing exploded/);
    assert.doesNotMatch(list, /data-status="queued"/);
    const bad = await page(admin, '/admin/task-results?status=exploded', 400);
    assert.match(bad, /<code>status<\/code>/);
    const detail = await page(admin, `/admin/task-results/${failed.id}`);
    assert.match(detail, /about to explode/);
    assert.match(detail, /at somewhere \(file\.ts:1:1\)/);
    assert.match(detail, /&quot;message&quot;: &quot;boom&quot;/);
    await page(admin, '/admin/task-results/424242', 404);
    assert.match(await page(admin, '/admin'), /the thing exploded/, 'recent failures on home');
  });

  test('task results: a schedule by name, a speed test linked, stacks for admins only', async () => {
    const [schedule] = await env.db.models.PeriodicTask.findAll({ order: [['id', 'ASC']] });
    assert.ok(schedule, 'a seeded schedule');
    const run = await env.db.models.TaskResult.create(
      taskResultRow({
        status: 'failed',
        periodicTaskId: schedule.id,
        result: { speedtestId: '1' },
        error: 'went wrong',
        stack: 'Error: went wrong\n    at secret (/srv/app/file.ts:9:9)',
        finishedAt: new Date(),
      }),
    );
    // Arriving from the schedule's Runs link: the filter names it.
    const list = await page(admin, `/admin/task-results?periodicTaskId=${schedule.id}`);
    assert.match(
      list,
      new RegExp(`<option value="${schedule.id}" selected>${schedule.name}</option>`),
    );
    const asAdmin = await page(admin, `/admin/task-results/${run.id}`);
    assert.match(
      asAdmin,
      new RegExp(`href="/admin/periodic-tasks/${schedule.id}">${schedule.name}<`),
    );
    assert.match(asAdmin, /href="\/admin\/speedtests\/1"[^>]*>Open speed test 1/);
    assert.match(asAdmin, /at secret/);
    const asUser = await page(viewer, `/admin/task-results/${run.id}`);
    assert.match(asUser, /went wrong/);
    assert.doesNotMatch(asUser, /at secret|file\.ts/, 'no stack for a user');
  });

  test('list filters: Until includes its day, From after Until is named, a long country is not cut', async () => {
    const today = new Date().toISOString().slice(0, 10);
    // The seeded tests are hours old, which is yesterday between midnight and morning (UTC): one
    // from now makes "today" hold whatever the hour.
    await storeSpeedtest(env.db, speedtest(10));
    const sameDay = await page(admin, `/admin/speedtests?from=${today}&to=${today}`);
    const todays = await env.db.models.Speedtest.count({
      where: { startedAt: { [Op.gte]: new Date(`${today}T00:00:00Z`) } },
    });
    assert.ok(todays > 0, 'some of the seeded tests are from today');
    assert.doesNotMatch(sameDay, /No speed tests match/);
    assert.match(
      sameDay,
      new RegExp(`name="to" value="${today}"`),
      'the form shows the day chosen',
    );
    const backwards = await page(admin, '/admin/speedtests?from=2026-02-02&to=2026-01-01', 400);
    assert.match(backwards, /expected a day on or after From/);
    const tasks = await page(admin, '/admin/task-results?from=2026-02-02&to=2026-01-01', 400);
    assert.match(tasks, /expected a day on or after From/);
    const form = await page(admin, '/admin/speedtests');
    assert.doesNotMatch(form, /name="country"[^>]*maxlength/, 'no silent truncation');
    const long = await page(admin, '/admin/speedtests?country=nederland', 400);
    assert.match(long, /expected a two-letter country code/);
  });

  test('small things: a not-found page marks no section, names sort as people sort, the sign-in form keeps the name', async () => {
    const missing = await page(admin, '/admin/no-such-page', 404);
    assert.doesNotMatch(missing, /aria-current="page"/);
    for (const name of ['beta schedule', 'Alpha schedule', 'gamma schedule'])
      await env.db.models.PeriodicTask.create({
        name,
        task: 'test.echo',
        scheduleType: 'interval',
        intervalEvery: 1,
        intervalPeriod: 'days',
        enabled: false,
      } as never);
    const list = await page(admin, '/admin/periodic-tasks');
    const order = ['Alpha schedule', 'beta schedule', 'gamma schedule'].map((n) => list.indexOf(n));
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
      `order: ${order}`,
    );

    const stranger = new CookieClient(base);
    const wrong = await stranger.signIn('ada', 'not her password at all');
    const text = await wrong.text();
    assert.match(text, /name="username" value="ada"/);
    assert.match(text, /runs internet speed tests on a schedule/);
    const users = await page(admin, '/admin/users');
    assert.match(users, /not containing\s+the\s+user\s+name/);
  });

  test('users: admins add and deactivate users; others may only look', async () => {
    const users = await page(viewer, '/admin/users');
    assert.match(users, /Only admins can add or change users/);
    const refused = await viewer.form('/admin/users', {
      _csrf: csrfOf(users),
      username: 'mallory',
      password: 'another long password',
      isAdmin: 'on',
    });
    assert.equal(refused.status, 403);
    assert.equal(await env.db.models.User.count({ where: { username: 'mallory' } }), 0);
    await page(viewer, '/admin/queues', 403);

    const adminUsers = await page(admin, '/admin/users');
    const short = await admin.form('/admin/users', {
      _csrf: csrfOf(adminUsers),
      username: 'newbie',
      password: 'short',
    });
    assert.equal(short.status, 400);
    assert.match(await short.text(), /class="field-error"\s*>\s*expected at least 12 characters/);
    const added = await admin.form('/admin/users', {
      _csrf: csrfOf(adminUsers),
      username: 'Newbie',
      password: 'quiet harbour lantern',
    });
    assert.equal(added.status, 303);
    const newbie = await env.db.models.User.findOne({ where: { username: 'newbie' } });
    assert.equal(newbie?.isAdmin, false);

    const session = new CookieClient(base);
    assert.equal((await session.signIn('newbie', 'quiet harbour lantern')).status, 303);
    await page(session, '/admin');
    const off = await admin.form(`/admin/users/${newbie!.id}/deactivate`, {
      _csrf: csrfOf(adminUsers),
    });
    assert.equal(off.status, 303, off.status === 303 ? '' : await off.text());
    assert.equal((await session.request('/admin')).status, 303, 'a deactivated user is signed out');
    const self = await env.db.models.User.findOne({ where: { username: 'ada' } });
    const selfOff = await admin.form(`/admin/users/${self!.id}/deactivate`, {
      _csrf: csrfOf(adminUsers),
    });
    assert.equal(selfOff.status, 400);
    assert.match(await selfOff.text(), /you cannot deactivate yourself/);
  });

  test('account: an API token is shown once, works, and can be revoked; password change', async () => {
    const account = await page(viewer, '/admin/account');
    const created = await viewer.form('/admin/account/tokens', {
      _csrf: csrfOf(account),
      name: 'grafana',
    });
    const body = await created.text();
    assert.equal(created.status, 200);
    assert.equal(created.headers.get('cache-control'), 'no-store');
    const token = /data-new-token id="new-token">(rf_[\w-]+)</.exec(body)?.[1];
    assert.ok(token, 'the new token is on the page');
    assert.match(body, /<button type="button" data-copy="new-token">Copy<\/button>/);
    const me = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(((await me.json()) as { username: string }).username, 'vic');
    const again = await page(viewer, '/admin/account');
    assert.ok(!again.includes(token), 'never shown again');
    assert.match(again, new RegExp(`${token.slice(0, 11)}…`), 'its prefix tells it apart');
    const noName = await viewer.form('/admin/account/tokens', { _csrf: csrfOf(again), name: ' ' });
    assert.equal(noName.status, 400);
    assert.match(await noName.text(), /class="field-error"\s*>\s*expected a name/);

    const record = await env.db.models.ApiToken.findOne({ where: { name: 'grafana' } });
    const revoked = await viewer.form(`/admin/account/tokens/${record!.id}/revoke`, {
      _csrf: csrfOf(again),
    });
    assert.equal(revoked.status, 303);
    const after = await fetch(`${base}/api/v1/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(after.status, 401);
    // Someone else's token id is "not found", not revoked.
    await page(viewer, '/admin/account');

    const other = new CookieClient(base);
    assert.equal((await other.signIn('vic', PASSWORD)).status, 303);
    const wrong = await viewer.form('/admin/account/password', {
      _csrf: csrfOf(again),
      current: 'not my password',
      next: 'a brand new long password',
    });
    assert.equal(wrong.status, 400);
    assert.match(await wrong.text(), /class="field-error"\s*>\s*this is not your current password/);
    const changed = await viewer.form('/admin/account/password', {
      _csrf: csrfOf(again),
      current: PASSWORD,
      next: 'a brand new long password',
    });
    assert.equal(changed.status, 303);
    await page(viewer, '/admin/account');
    assert.equal((await other.request('/admin')).status, 303, 'other sessions are signed out');
    assert.equal((await new CookieClient(base).signIn('vic', PASSWORD)).status, 401);
  });

  test('queue board: admins only, strict scripts, cross-site writes refused', async () => {
    const response = await admin.request('/admin/queues');
    const body = await response.text();
    assert.equal(response.status, 200);
    assert.match(body, /Refresher queues/);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self' 'unsafe-inline'/);
    const queues = await admin.request('/admin/queues/api/queues');
    assert.equal(queues.status, 200);
    const names = ((await queues.json()) as { queues: Array<{ name: string }> }).queues.map(
      (q) => q.name,
    );
    assert.deepEqual(names.sort(), ['default', 'speedtests']);

    const crossSite = await admin.request('/admin/queues/api/queues/default/pause', {
      method: 'PUT',
      headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
    });
    assert.equal(crossSite.status, 403);
    const noOrigin = await admin.request('/admin/queues/api/queues/default/pause', {
      method: 'PUT',
    });
    assert.equal(noOrigin.status, 403);
    const queue = web.queues.get('default');
    assert.equal(await queue.isPaused(), false);
    const sameSite = await admin.request('/admin/queues/api/queues/default/pause', {
      method: 'PUT',
      headers: { 'sec-fetch-site': 'same-origin' },
    });
    assert.ok(sameSite.status < 300, `pause: ${sameSite.status}`);
    assert.equal(await queue.isPaused(), true);
    await queue.resume();
  });
});
