// Sessions over real HTTP and PostgreSQL: the expiry slides with use, but the row is written only
// once the expiry has moved a minute, not on every page view; an expired session is refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { QueryTypes } from 'sequelize';
import { SESSION_COOKIE } from '../src/web/auth/middleware.ts';
import { createUser } from '../src/web/auth/users.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { serveWebApp, type ServedWebApp } from './helpers/web.ts';
import { CookieClient } from './helpers/http-client.ts';

const PASSWORD = 'a sufficiently long password';

describe('sessions', () => {
  let env: TestEnv;
  let web: ServedWebApp;
  let base: string;

  before(async () => {
    env = await createTestEnv();
    await createUser(env.db, { username: 'olga', password: PASSWORD });
    web = await serveWebApp(env);
    base = web.origin;
  });
  after(async () => {
    await web.close();
    await env.cleanup();
  });

  const row = async () => {
    const rows = await env.db.sequelize.query<{ expiresAt: Date; version: string }>(
      `SELECT expires_at AS "expiresAt", xmin::text AS version FROM sessions
        WHERE user_id = (SELECT id FROM users WHERE username = 'olga')`,
      { type: QueryTypes.SELECT },
    );
    assert.equal(rows.length, 1);
    return rows[0]!;
  };

  test('the expiry slides with use, written at most once a minute', async () => {
    const browser = new CookieClient(base);
    const signIn = await browser.signIn('olga', PASSWORD);
    assert.equal(signIn.status, 303);
    await signIn.text(); // responses end once the session is stored
    const maxAgeMs = env.config.SESSION_MAX_AGE_HOURS * 3_600_000;
    const signedIn = await row();
    assert.ok(Math.abs(signedIn.expiresAt.getTime() - (Date.now() + maxAgeMs)) < 10_000);

    for (let i = 0; i < 3; i++) {
      const me = await browser.request('/api/v1/me');
      assert.equal(me.status, 200);
      await me.text();
      // The browser's cookie still slides with every response.
      assert.ok(me.headers.getSetCookie().some((c) => c.startsWith(`${SESSION_COOKIE}=`)));
    }
    assert.deepEqual(await row(), signedIn, 'page views within a minute write nothing');

    // As if the last write was five minutes ago: the next view moves the expiry.
    await env.db.sequelize.query(
      `UPDATE sessions SET expires_at = expires_at - interval '5 minutes'`,
    );
    const me = await browser.request('/api/v1/me');
    assert.equal(me.status, 200);
    await me.text();
    const moved = await row();
    assert.ok(Math.abs(moved.expiresAt.getTime() - (Date.now() + maxAgeMs)) < 10_000);

    await env.db.sequelize.query(`UPDATE sessions SET expires_at = now() - interval '1 second'`);
    assert.equal((await browser.request('/api/v1/me')).status, 401, 'an expired session ends');
  });
});
