// The public status page over real HTTP: absent unless switched on; then anonymous, read-only,
// cacheable for a minute, rate-limited, with the week's figures and chart and nothing of the admin
// side (no users, schedules, errors, client addresses or server URLs), and no session or cookie.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { storeSpeedtest } from '../src/speedtest/store.ts';
import { createUser } from '../src/web/auth/users.ts';
import { speedtestResult, speedtestServer, taskResultRow } from './helpers/builders.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { serveWebApp, type ServedWebApp } from './helpers/web.ts';

const SERVER_URL = 'https://secret-backend.example/backend';

describe('the public status page', () => {
  let env: TestEnv;
  let on: ServedWebApp;
  let off: ServedWebApp;

  before(async () => {
    env = await createTestEnv();
    await createUser(env.db, {
      username: 'ada-the-admin',
      password: 'a sufficiently long password',
      isAdmin: true,
    });
    for (let i = 0; i < 3; i++)
      await storeSpeedtest(
        env.db,
        speedtestResult({
          engine: 'librespeed',
          startedAt: new Date(Date.now() - (i + 1) * 3_600_000),
          downloadBps: (100 + i) * 1e6,
          server: speedtestServer({ id: SERVER_URL, url: SERVER_URL, name: 'Amsterdam' }),
        }),
      );
    await env.db.models.TaskResult.bulkCreate([
      taskResultRow({ task: 'speedtester.run_speedtest', status: 'succeeded' }),
      taskResultRow({ task: 'speedtester.run_speedtest', status: 'succeeded' }),
      taskResultRow({
        task: 'speedtester.run_speedtest',
        status: 'failed',
        error: 'connect ECONNREFUSED 10.0.0.7:8080',
      }),
    ]);
    on = await serveWebApp(env, { publicStatusPage: true });
    off = await serveWebApp(env);
  });
  after(async () => {
    await on?.close();
    await off?.close();
    await env?.cleanup();
  });

  test('off unless asked for', async () => {
    assert.equal((await fetch(`${off.origin}/status`)).status, 404);
  });

  test('anonymous and read-only: the figures and the chart, no admin data, no cookie, cacheable', async () => {
    const response = await fetch(`${on.origin}/status`);
    const body = await response.text();
    assert.equal(response.status, 200, body.slice(0, 300));
    assert.equal(response.headers.get('cache-control'), 'public, max-age=60');
    assert.equal(response.headers.getSetCookie().length, 0, 'no session, no cookie');
    assert.match(response.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(body, /<strong>100\.0 Mbit\/s<\/strong>/, 'the latest download');
    assert.match(body, /min 100\.0 Mbit\/s · avg 101\.0 Mbit\/s · max 102\.0 Mbit\/s/);
    assert.match(body, /2 of 3 speed test runs succeeded \(66\.7 %\)/);
    assert.match(body, /data-chart="speedtests"/);
    assert.match(body, /&quot;links&quot;:false|"links":false/, 'points open nothing');
    for (const secret of [
      /ada-the-admin/,
      /secret-backend/,
      /ECONNREFUSED|10\.0\.0\.7/,
      /Sign out|\/admin\/users|csrf/i,
    ])
      assert.doesNotMatch(body, secret);
    assert.equal(await env.db.models.Session.count(), 0, 'no session row for a visitor');
  });

  test('rate-limited per address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 35; i++) statuses.push((await fetch(`${on.origin}/status`)).status);
    assert.ok(statuses.includes(429), statuses.join(','));
  });
});
