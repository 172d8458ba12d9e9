// API tokens: shown once, stored as a hash, found by that hash, refused when expired, revoked or
// belonging to a deactivated user; and the bearer middleware over real HTTP.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import type { User } from '../src/db/models.ts';
import { ValidationError } from '../src/validation.ts';
import {
  authenticateToken,
  bearerAuth,
  createApiToken,
  hashToken,
  revokeApiToken,
} from '../src/web/auth/tokens.ts';
import { createUser } from '../src/web/auth/users.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { freePort } from '../../testing/ports.ts';

describe('API tokens', () => {
  let env: TestEnv;
  let user: User;
  let server: Server;
  let base: string;

  before(async () => {
    env = await createTestEnv();
    user = await createUser(env.db, { username: 'grace', password: 'a long enough password' });
    const app = express();
    app.use(bearerAuth(env.db, env.log));
    app.get('/whoami', (_request, response) => {
      const who = response.locals.user as User | undefined;
      response.json({ user: who?.username ?? null });
    });
    server = createServer(app);
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await env.cleanup();
  });

  test('a token is returned once and only its hash is stored', async () => {
    const { token, record } = await createApiToken(env.db, user.id, { name: ' grafana ' });
    assert.match(token, /^rf_[A-Za-z0-9_-]{43}$/);
    assert.equal(record.name, 'grafana');
    assert.equal(record.prefix, token.slice(0, 11));
    assert.equal(record.tokenHash, hashToken(token));
    const [stored] = await env.db.sequelize.query(
      `SELECT * FROM api_tokens WHERE id = ${record.id}`,
    );
    assert.ok(!JSON.stringify(stored).includes(token.slice(11)), 'no trace of the secret part');
    assert.equal((await authenticateToken(env.db, token))?.username, 'grace');
    assert.equal(await authenticateToken(env.db, `${token}x`), null);
    assert.equal(await authenticateToken(env.db, 'not-a-token'), null);
  });

  test('use is recorded, at most once a minute', async () => {
    const { token, record } = await createApiToken(env.db, user.id, { name: 'script' });
    const lastUsed = async () =>
      (await env.db.models.ApiToken.findByPk(record.id))?.lastUsedAt ?? null;
    assert.equal(await lastUsed(), null);
    await authenticateToken(env.db, token);
    const first = await lastUsed();
    assert.ok(first instanceof Date);
    await authenticateToken(env.db, token);
    assert.equal((await lastUsed())?.getTime(), first.getTime());
  });

  test('expired, revoked and deactivated-user tokens are refused', async () => {
    const expiring = await createApiToken(env.db, user.id, {
      name: 'soon',
      expiresAt: new Date(Date.now() + 60_000),
    });
    assert.ok(await authenticateToken(env.db, expiring.token));
    await expiring.record.update({ expiresAt: new Date(Date.now() - 1000) });
    assert.equal(await authenticateToken(env.db, expiring.token), null);

    const revoked = await createApiToken(env.db, user.id, { name: 'revoked' });
    assert.equal(
      await revokeApiToken(env.db, user.id + 1, revoked.record.id),
      false,
      'only its owner revokes it',
    );
    assert.equal(await revokeApiToken(env.db, user.id, revoked.record.id), true);
    assert.equal(await authenticateToken(env.db, revoked.token), null);

    const other = await createUser(env.db, {
      username: 'heidi',
      password: 'another long password',
    });
    const orphan = await createApiToken(env.db, other.id, { name: 'left' });
    await other.update({ isActive: false });
    assert.equal(await authenticateToken(env.db, orphan.token), null);
  });

  test('bad input is refused naming the field, and nothing is stored', async () => {
    const count = await env.db.models.ApiToken.count();
    for (const [input, path] of [
      [{ name: '' }, 'name'],
      [{ name: 'x', expiresAt: '2001-01-01' }, 'expiresAt'],
      [{ name: 'x', scope: 'all' }, 'scope'],
    ] as const) {
      await assert.rejects(createApiToken(env.db, user.id, input), (error: unknown) => {
        assert.ok(error instanceof ValidationError);
        assert.deepEqual(
          error.issues.map((issue) => issue.path),
          [path],
        );
        return true;
      });
    }
    assert.equal(await env.db.models.ApiToken.count(), count);
  });

  test('the bearer middleware: no header passes through, a good token authenticates, a bad one is refused', async () => {
    const { token } = await createApiToken(env.db, user.id, { name: 'http' });
    const call = (authorization?: string) =>
      fetch(`${base}/whoami`, { headers: authorization ? { authorization } : {} });
    assert.deepEqual(await (await call()).json(), { user: null });
    assert.deepEqual(await (await call(`Bearer ${token}`)).json(), { user: 'grace' });
    for (const header of [`Bearer ${token}nope`, 'Basic Zm9vOmJhcg==', 'Bearer']) {
      const response = await call(header);
      assert.equal(response.status, 401, header);
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);
    }
  });
});
