// Signing in and staying safe, over real HTTP against the web app and PostgreSQL: no anonymous
// access, CSRF tokens, lockout and rate limit, session fixation, secure cookies behind a proxy,
// security headers, and API tokens instead of cookies.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApiToken } from '../src/web/auth/tokens.ts';
import { createUser } from '../src/web/auth/users.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { serveWebApp, type ServedWebApp } from './helpers/web.ts';
import { CookieClient } from './helpers/http-client.ts';

const PASSWORD = 'a sufficiently long password';

/** The cookie client, signing in with this file's password unless told otherwise. */
class Browser extends CookieClient {
  override signIn(username: string, password = PASSWORD): Promise<Response> {
    return super.signIn(username, password);
  }
}

describe('authentication and security', () => {
  let env: TestEnv;
  let web: ServedWebApp;
  let base: string;

  before(async () => {
    env = await createTestEnv();
    await createUser(env.db, { username: 'ivan', password: PASSWORD, isAdmin: true });
    web = await serveWebApp(env, {
      config: { ...env.config, TRUST_PROXY: 'loopback' },
      loginRateLimitPerMinute: 20,
    });
    base = web.origin;
  });
  after(async () => {
    await web.close();
    await env.cleanup();
  });

  test('anonymous requests are refused everywhere but the public paths', async () => {
    const anonymous = new Browser(base);
    const api = await anonymous.request('/api/v1/me');
    assert.equal(api.status, 401);
    assert.deepEqual(await api.json(), { error: 'sign in or send a bearer token' });
    const admin = await anonymous.request('/admin/');
    assert.equal(admin.status, 303);
    assert.equal(admin.headers.get('location'), '/login?next=%2Fadmin%2F');
    assert.equal((await anonymous.request('/healthz')).status, 200);
    assert.equal((await anonymous.request('/login')).status, 200);
  });

  test('pages carry security headers', async () => {
    const response = await new Browser(base).request('/login');
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /form-action 'self'/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(
      response.headers.get('strict-transport-security'),
      null,
      'no HSTS over plain HTTP',
    );
    const overTls = await new Browser(base).request('/login', {
      headers: { 'x-forwarded-proto': 'https' },
    });
    assert.match(overTls.headers.get('strict-transport-security') ?? '', /max-age=\d+/);
    assert.equal(response.headers.get('x-powered-by'), null);
  });

  test('signing in: CSRF required, a fresh session id, httpOnly SameSite cookie, then sign out', async () => {
    const browser = new Browser(base);
    const token = await browser.csrf();
    const before = browser.cookies.get('refresher.sid');
    assert.ok(before, 'the sign-in page starts a session for its CSRF token');

    const forged = await browser.form('/login', { username: 'ivan', password: PASSWORD });
    assert.equal(forged.status, 403);
    assert.equal((await browser.request('/api/v1/me')).status, 401);

    const signedIn = await browser.form('/login', {
      username: 'IVAN',
      password: PASSWORD,
      _csrf: token,
      next: '/admin/',
    });
    assert.equal(signedIn.status, 303);
    assert.equal(signedIn.headers.get('location'), '/admin/');
    const cookie = signedIn.headers.getSetCookie().find((c) => c.startsWith('refresher.sid='));
    assert.match(cookie ?? '', /HttpOnly/);
    assert.match(cookie ?? '', /SameSite=Lax/);
    assert.doesNotMatch(cookie ?? '', /Secure/, 'plain HTTP from a client: no Secure flag');
    assert.notEqual(browser.cookies.get('refresher.sid'), before, 'session id renewed at sign-in');

    assert.deepEqual(await (await browser.request('/api/v1/me')).json(), {
      id: 1,
      username: 'ivan',
      isAdmin: true,
    });
    const adminPage = await (await browser.request('/admin/')).text();
    assert.match(adminPage, /<span>ivan<\/span>\s*<button type="submit" class="link">Sign out/);

    // A state-changing API call needs the token too, as a header.
    assert.equal((await browser.request('/api/v1/me', { method: 'POST' })).status, 403);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(adminPage)![1]!;
    assert.equal(
      (await browser.request('/api/v1/me', { method: 'POST', headers: { 'x-csrf-token': csrf } }))
        .status,
      404,
    );

    assert.equal((await browser.form('/logout', {})).status, 403);
    const out = await browser.form('/logout', { _csrf: csrf });
    assert.equal(out.status, 303);
    assert.equal((await browser.request('/api/v1/me')).status, 401);
    assert.equal(
      await env.db.models.Session.count({ where: { userId: 1 } }),
      0,
      'the session row is gone',
    );
  });

  test('a wrong password or name is refused with the same words', async () => {
    await createUser(env.db, { username: 'judy', password: PASSWORD });
    const browser = new Browser(base);
    const wrong = await browser.signIn('judy', 'not the password at all');
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /Wrong user name or password\./);
    const nobody = await browser.signIn('nobody', PASSWORD);
    assert.equal(nobody.status, 401);
    assert.match(
      await nobody.text(),
      /Wrong user name or password\./,
      'no hint that the name is unknown',
    );
    assert.equal((await browser.signIn('judy')).status, 303, 'the right password still works');
  });

  test('behind a trusted proxy the cookie is Secure when the client used HTTPS', async () => {
    const browser = new Browser(base);
    const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' };
    const page = await browser.request('/login', { headers });
    assert.match(page.headers.getSetCookie().join(), /Secure/);
    const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const signedIn = await browser.form(
      '/login',
      { username: 'ivan', password: PASSWORD, _csrf: token },
      headers,
    );
    assert.equal(signedIn.status, 303);
    assert.match(signedIn.headers.getSetCookie().join(), /refresher\.sid=[^;]+;.*Secure/);
  });

  test('API tokens work without a cookie or CSRF token; bad ones are refused', async () => {
    const { token } = await createApiToken(env.db, 1, { name: 'test' });
    const api = new Browser(base);
    const me = await api.request('/api/v1/me', { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(await me.json(), { id: 1, username: 'ivan', isAdmin: true });
    const post = await api.request('/api/v1/me', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(post.status, 404, 'past CSRF (no such route yet)');
    const bad = await api.request('/api/v1/me', { headers: { authorization: 'Bearer rf_forged' } });
    assert.equal(bad.status, 401);
  });

  test('after sign-in, only local paths are followed', async () => {
    const browser = new Browser(base);
    const token = await browser.csrf();
    const response = await browser.form('/login', {
      username: 'ivan',
      password: PASSWORD,
      _csrf: token,
      next: '//evil.example/steal',
    });
    assert.equal(response.headers.get('location'), '/admin');
  });
  // Last: it uses up this address's sign-in budget for the minute.
  test('sign-in attempts from one address are rate-limited', async () => {
    const browser = new Browser(base);
    const token = await browser.csrf();
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      statuses.push(
        (await browser.form('/login', { username: 'x', password: 'y', _csrf: token })).status,
      );
    }
    assert.ok(statuses.includes(429), `statuses: ${statuses.join(',')}`);
  });
});
