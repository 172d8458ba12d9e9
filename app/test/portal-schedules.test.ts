// The schedule editor in a speed tester's words, over real HTTP with the service's own tasks: a
// new schedule is a speed test schedule (engine, servers from the ones tests have used, when),
// the general task editor is the admins' second form, users cannot choose servers, and what is
// allowed but probably not meant (runs closer than a test takes, a time gone by) is said, not
// refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { storeSpeedtest } from '../src/speedtest/store.ts';
import { createTaskRegistry } from '../src/tasks/index.ts';
import { createUser } from '../src/web/auth/users.ts';
import { speedtestResult, speedtestServer } from './helpers/builders.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { CookieClient } from './helpers/http-client.ts';
import { serveWebApp, type ServedWebApp } from './helpers/web.ts';

const PASSWORD = 'a sufficiently long password';
const AMSTERDAM = 'https://ams.speed.example/backend';
const ROTTERDAM = 'https://rtm.speed.example/backend';

/** A world with the service's own tasks, an admin (ada) and a user (vic), both signed in. */
async function signedInWorld() {
  const env = await createTestEnv();
  await createUser(env.db, { username: 'ada', password: PASSWORD, isAdmin: true });
  await createUser(env.db, { username: 'vic', password: PASSWORD });
  const web = await serveWebApp(env, { registry: createTaskRegistry(env.config, env.db) });
  const admin = new CookieClient(web.origin);
  const user = new CookieClient(web.origin);
  assert.equal((await admin.signIn('ada', PASSWORD)).status, 303);
  assert.equal((await user.signIn('vic', PASSWORD)).status, 303);
  return { env, web, admin, user };
}

describe('schedules in the portal', () => {
  let env: TestEnv;
  let web: ServedWebApp;
  let admin: CookieClient;
  let user: CookieClient;

  before(async () => {
    ({ env, web, admin, user } = await signedInWorld());
    for (const [url, name] of [
      [AMSTERDAM, 'Amsterdam'],
      [ROTTERDAM, 'rotterdam'],
    ] as const)
      await storeSpeedtest(
        env.db,
        speedtestResult({
          engine: 'librespeed',
          server: speedtestServer({ id: url, name, url, countryCode: 'NL' }),
        }),
      );
  });
  after(async () => {
    await web?.close();
    await env?.cleanup();
  });

  const page = async (client: CookieClient, path: string, expected = 200) => {
    const response = await client.request(path);
    const body = await response.text();
    assert.equal(response.status, expected, `${path}: ${body.slice(0, 400)}`);
    return body;
  };
  const csrfOf = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)![1]!;
  const schedule = (fields: Record<string, string>) => ({
    scheduleType: 'interval',
    every: '1',
    period: 'hours',
    enabled: 'on',
    action: 'save',
    ...fields,
  });
  const post = (client: CookieClient, path: string, body: string, form: URLSearchParams) =>
    client.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `${form.toString()}&_csrf=${encodeURIComponent(csrfOf(body))}`,
    });
  const byName = (name: string) => env.db.models.PeriodicTask.findOne({ where: { name } });

  test('a new schedule is a speed test schedule: engine, servers the tests have used, no JSON', async () => {
    const form = await page(admin, '/admin/periodic-tasks/new');
    assert.match(form, /<h1>New speed test schedule<\/h1>/);
    assert.match(form, /name="form" value="speedtest"/);
    assert.doesNotMatch(form, /name="kwargs"/, 'no JSON on the speed test form');
    assert.match(form, /<select name="engine">/);
    assert.ok(
      form.indexOf(AMSTERDAM) > 0 && form.indexOf(AMSTERDAM) < form.indexOf(ROTTERDAM),
      'both known servers, by name as people sort',
    );
    assert.match(form, /Use the general task editor/);

    const saved = await post(
      admin,
      '/admin/periodic-tasks',
      form,
      new URLSearchParams([
        ...Object.entries(
          schedule({ form: 'speedtest', name: 'Two servers', engine: 'librespeed' }),
        ),
        ['servers', AMSTERDAM],
        ['servers', ROTTERDAM],
      ]),
    );
    assert.equal(saved.status, 303, await saved.text());
    const row = await byName('Two servers');
    assert.equal(row?.task, 'speedtester.run_speedtest');
    assert.deepEqual(row?.kwargs, { engine: 'librespeed', servers: [AMSTERDAM, ROTTERDAM] });

    const edit = await page(admin, `/admin/periodic-tasks/${row!.id}`);
    assert.match(edit, /<h1>Schedule: Two servers<\/h1>/);
    assert.match(edit, new RegExp(`value="${AMSTERDAM}"\\s+selected`));
    const general = await page(admin, `/admin/periodic-tasks/${row!.id}?kind=task`);
    assert.match(general, /name="kwargs"/);
    assert.match(general, /&quot;servers&quot;/);
  });

  test('a schedule with other keyword arguments opens in the general editor', async () => {
    const row = await env.db.models.PeriodicTask.create({
      name: 'Short warm-up',
      task: 'speedtester.run_speedtest',
      kwargs: { warmupMs: 500 },
      scheduleType: 'interval',
      intervalEvery: 1,
      intervalPeriod: 'days',
      enabled: false,
    } as never);
    const edit = await page(admin, `/admin/periodic-tasks/${row.id}`);
    assert.match(edit, /name="form" value="task"/);
    assert.match(edit, /warmupMs/);
  });

  test('users: the speed test form only, no server choice, the tasks they may run', async () => {
    const form = await page(user, '/admin/periodic-tasks/new?kind=task');
    assert.match(form, /name="form" value="speedtest"/, 'the general editor is for admins');
    assert.match(form, /<select\s+name="servers"\s+multiple[^>]*disabled/);
    assert.match(form, /Admins choose servers/);
    assert.doesNotMatch(form, /New task schedule|Use the general task editor/);
    const forged = await post(
      user,
      '/admin/periodic-tasks',
      form,
      new URLSearchParams([
        ...Object.entries(schedule({ form: 'speedtest', name: 'Mine' })),
        ['servers', AMSTERDAM],
      ]),
    );
    assert.equal(forged.status, 403);
    assert.match(
      await forged.text(),
      /class="field-error"\s*>\s*only admins may set kwargs\.servers/,
    );
    assert.equal(await byName('Mine'), null);
    const fine = await post(
      user,
      '/admin/periodic-tasks',
      form,
      new URLSearchParams(schedule({ form: 'speedtest', name: 'Mine' })),
    );
    assert.equal(fine.status, 303, await fine.text());
    assert.deepEqual((await byName('Mine'))?.kwargs, {});
  });

  test('a random delay per run: saved, shown again, and refused beside its field when too long', async () => {
    const form = await page(admin, '/admin/periodic-tasks/new');
    const saved = await post(
      admin,
      '/admin/periodic-tasks',
      form,
      new URLSearchParams(schedule({ form: 'speedtest', name: 'Jittered', jitterSeconds: '120' })),
    );
    assert.equal(saved.status, 303, await saved.text());
    const row = await byName('Jittered');
    assert.equal(row?.jitterSeconds, 120);
    assert.match(
      await page(admin, `/admin/periodic-tasks/${row!.id}`),
      /name="jitterSeconds" value="120"/,
    );
    const refused = await post(
      admin,
      '/admin/periodic-tasks',
      form,
      new URLSearchParams(
        schedule({
          form: 'speedtest',
          name: 'Too jittery',
          every: '1',
          period: 'minutes',
          jitterSeconds: '90',
        }),
      ),
    );
    assert.equal(refused.status, 400);
    assert.match(
      await refused.text(),
      /class="field-error"\s*>\s*expected less than the time between two runs \(60 s\)/,
    );
    assert.equal(await byName('Too jittery'), null);
  });

  test('allowed but probably not meant: said in the preview and after saving, not refused', async () => {
    const form = await page(admin, '/admin/periodic-tasks/new');
    const often = schedule({
      form: 'speedtest',
      name: 'Every 10 s',
      every: '10',
      period: 'seconds',
    });
    const preview = await post(
      admin,
      '/admin/periodic-tasks',
      form,
      new URLSearchParams({ ...often, action: 'preview' }),
    );
    assert.match(await preview.text(), /Note: a speed test takes about 24 s/);
    const saved = await post(admin, '/admin/periodic-tasks', form, new URLSearchParams(often));
    assert.equal(saved.status, 303);
    assert.match(
      await page(admin, '/admin/periodic-tasks'),
      /Saved &quot;Every 10 s&quot;\. Note: a speed test takes about 24 s/,
    );

    const past = await post(
      admin,
      '/admin/periodic-tasks',
      form,
      new URLSearchParams(
        schedule({
          form: 'speedtest',
          name: 'Yesterday',
          scheduleType: 'clocked',
          at: new Date(Date.now() - 86_400_000).toISOString().slice(0, 16),
          action: 'preview',
        }),
      ),
    );
    assert.match(await past.text(), /Note: this time has passed/);

    // The API's preview says the same, for the live preview and for scripts.
    const api = await admin.request('/api/v1/schedules/preview', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrfOf(form) },
      body: JSON.stringify({
        schedule: { type: 'interval', every: 5, period: 'seconds' },
        task: 'speedtester.run_speedtest',
      }),
    });
    const answer = (await api.json()) as { warnings: string[] };
    assert.equal(answer.warnings.length, 1, JSON.stringify(answer));
    const quiet = await admin.request('/api/v1/schedules/preview', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrfOf(form) },
      body: JSON.stringify({ schedule: { type: 'interval', every: 5, period: 'seconds' } }),
    });
    assert.deepEqual(((await quiet.json()) as { warnings: string[] }).warnings, []);
  });
});

describe('bulk actions on schedules', () => {
  let env: TestEnv;
  let web: ServedWebApp;
  let admin: CookieClient;
  let user: CookieClient;

  before(async () => {
    ({ env, web, admin, user } = await signedInWorld());
  });
  after(async () => {
    await web?.close();
    await env?.cleanup();
  });

  const bulk = async (client: CookieClient, action: string, ids: number[]) => {
    const list = await (await client.request('/admin/periodic-tasks')).text();
    const csrf = /<form id="bulk"[\s\S]*?name="_csrf" value="([^"]+)"/.exec(list)![1]!;
    const done = await client.request('/admin/periodic-tasks/bulk', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams([
        ['_csrf', csrf],
        ['bulk', action],
        ...ids.map((id): [string, string] => ['ids', String(id)]),
      ]).toString(),
    });
    assert.equal(done.status, 303);
    return (await (await client.request('/admin/periodic-tasks')).text()).replace(/\s+/g, ' ');
  };
  const seeded = async () => {
    const rows = await env.db.models.PeriodicTask.findAll({ order: [['id', 'ASC']] });
    const speedtest = rows.find((row) => row.task === 'speedtester.run_speedtest')!;
    const prune = rows.find((row) => row.task === 'maintenance.prune_results')!;
    assert.ok(speedtest && prune, 'the seeded schedules');
    return { speedtest, prune };
  };

  test('every row has a checkbox of the one bulk form; disable, enable and run several at once', async () => {
    const list = await (await admin.request('/admin/periodic-tasks')).text();
    assert.match(list, /<input\s+type="checkbox"\s+name="ids"\s+value="\d+"\s+form="bulk"/);
    const { speedtest, prune } = await seeded();
    const disabled = await bulk(admin, 'disable', [speedtest.id, prune.id]);
    assert.match(disabled, /Disabled &quot;/);
    for (const row of [speedtest, prune]) assert.equal((await row.reload()).enabled, false);
    await bulk(admin, 'enable', [speedtest.id, prune.id]);
    for (const row of [speedtest, prune]) assert.equal((await row.reload()).enabled, true);
    const before = await env.db.models.TaskResult.count();
    assert.match(await bulk(admin, 'run', [speedtest.id, prune.id]), /Queued a run of/);
    assert.equal(await env.db.models.TaskResult.count(), before + 2);
    assert.match(await bulk(admin, 'run', []), /Select at least one schedule first/);
  });

  test("a user's bulk action that includes an admins' task changes nothing", async () => {
    const { speedtest, prune } = await seeded();
    const answer = await bulk(user, 'disable', [speedtest.id, prune.id]);
    assert.match(
      answer,
      /Nothing changed: &quot;.+&quot;: maintenance\.prune_results is for admins only/,
    );
    for (const row of [speedtest, prune]) assert.equal((await row.reload()).enabled, true);
    await bulk(user, 'disable', [speedtest.id]);
    assert.equal((await speedtest.reload()).enabled, false, 'their own kind of task: done');
  });
});
