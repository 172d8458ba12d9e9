// Users and the first admin: argon2id hashes, password rules, the ADMIN_* bootstrap and the
// create-admin command, against a real PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';
import { ValidationError } from '../src/validation.ts';
import { hashPassword, verifyPassword } from '../src/web/auth/passwords.ts';
import { createUser, ensureAdminFromEnv } from '../src/web/auth/users.ts';
import { spawnTs } from '../../testing/child.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';

const GOOD = 'correct horse battery staple';

describe('passwords', () => {
  test('hashed with argon2id at the chosen cost, and verified', async () => {
    const hash = await hashPassword(GOOD);
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.notEqual(await hashPassword(GOOD), hash, 'a fresh salt every time');
    assert.equal(await verifyPassword(hash, GOOD), true);
    assert.equal(await verifyPassword(hash, `${GOOD}!`), false);
    assert.equal(await verifyPassword('not a hash', GOOD), false);
  });
});

describe('users', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv();
  });
  after(() => env.cleanup());

  const refused = async (
    input: Parameters<typeof createUser>[1],
    path: string,
    message: RegExp,
  ) => {
    const before = await env.db.models.User.count();
    await assert.rejects(createUser(env.db, input), (error: unknown) => {
      assert.ok(error instanceof ValidationError, String(error));
      assert.deepEqual(
        error.issues.map((issue) => issue.path),
        [path],
      );
      assert.match(error.issues[0]!.message, message);
      return true;
    });
    assert.equal(await env.db.models.User.count(), before, 'nothing written');
  };

  test('a user is stored with a hash, never the password', async () => {
    const user = await createUser(env.db, { username: '  Alice ', password: GOOD });
    assert.equal(user.username, 'alice');
    assert.equal(user.isAdmin, false);
    assert.ok(!user.passwordHash.includes(GOOD));
    assert.equal(await verifyPassword(user.passwordHash, GOOD), true);
    await refused({ username: 'ALICE', password: GOOD }, 'username', /^"alice" is taken$/);
  });

  test('bad names and weak passwords are refused, naming the field', async () => {
    await refused(
      { username: 'bob', password: 'short' },
      'password',
      /^expected at least 12 characters$/,
    );
    await refused(
      { username: 'bob', password: 'my name is BOB ok?' },
      'password',
      /must not contain the user name/,
    );
    await refused(
      { username: 'bob smith', password: GOOD },
      'username',
      /^expected 1 to 64 letters/,
    );
    await refused({ username: '', password: GOOD }, 'username', /^expected 1 to 64 letters/);
  });

  test('ADMIN_USERNAME + ADMIN_PASSWORD create the first admin once, and never reset it', async () => {
    const config = loadConfig({ ADMIN_USERNAME: 'Root.Admin', ADMIN_PASSWORD: GOOD });
    assert.equal(await ensureAdminFromEnv(env.db, loadConfig({}), env.log), 'not configured');
    assert.equal(await ensureAdminFromEnv(env.db, config, env.log), 'created');
    const admin = await env.db.models.User.findOne({ where: { username: 'root.admin' } });
    assert.equal(admin?.isAdmin, true);
    const other = loadConfig({
      ADMIN_USERNAME: 'root.admin',
      ADMIN_PASSWORD: 'a different password',
    });
    assert.equal(await ensureAdminFromEnv(env.db, other, env.log), 'exists');
    await admin!.reload();
    assert.equal(
      await verifyPassword(admin!.passwordHash, GOOD),
      true,
      'the password was not reset',
    );
  });

  test('a weak ADMIN_PASSWORD stops the start, naming the variable and not showing the value', async () => {
    const config = loadConfig({ ADMIN_USERNAME: 'carol', ADMIN_PASSWORD: 'hunter2' });
    await assert.rejects(ensureAdminFromEnv(env.db, config, env.log), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(
        error.message,
        'Invalid environment:\n  ADMIN_PASSWORD: expected at least 12 characters',
      );
      return true;
    });
    assert.equal(await env.db.models.User.count({ where: { username: 'carol' } }), 0);
  });

  test('the environment needs both ADMIN variables or neither, and never echoes secrets', () => {
    assert.throws(
      () => loadConfig({ ADMIN_USERNAME: 'dave' }),
      (error: ConfigError) =>
        error.message ===
        'Invalid environment:\n  ADMIN_PASSWORD: missing: set ADMIN_USERNAME and ADMIN_PASSWORD together, or neither',
    );
    assert.throws(
      () => loadConfig({ ADMIN_PASSWORD: 'top secret value' }),
      (error: ConfigError) =>
        /ADMIN_USERNAME: missing/.test(error.message) && !error.message.includes('top secret'),
    );
    assert.throws(
      () => loadConfig({ DATABASE_URL: 'mysql://app:s3cret@db/speed' }),
      (error: ConfigError) =>
        error.message.includes('(got "mysql://app:***@db/speed")') &&
        !error.message.includes('s3cret'),
    );
  });

  test('`refresher create-admin` reads the password from standard input', async () => {
    const cli = (args: string[], input?: string) =>
      spawnTs(
        'app/bin/refresher.js',
        ['create-admin', ...args],
        { DATABASE_URL: env.config.DATABASE_URL, LOG_LEVEL: 'silent' },
        { input },
      );
    const made = cli(['--username', 'Erin'], `${GOOD}\n`);
    assert.equal(await made.exited, 0, made.output());
    assert.equal(made.output().trim(), 'created admin "erin"');
    const erin = await env.db.models.User.findOne({ where: { username: 'erin' } });
    assert.equal(erin?.isAdmin, true);
    assert.equal(await verifyPassword(erin!.passwordHash, GOOD), true);

    const again = cli(['--username', 'erin'], `${GOOD}\n`);
    assert.equal(await again.exited, 1);
    assert.match(again.output(), /^refresher: username: "erin" is taken$/m);
    const weak = cli(['--username', 'frank'], 'short\n');
    assert.equal(await weak.exited, 1);
    assert.match(weak.output(), /^refresher: password: expected at least 12 characters$/m);
    const nameless = cli([], `${GOOD}\n`);
    assert.equal(await nameless.exited, 2);
    assert.match(nameless.output(), /create-admin needs --username NAME/);
    assert.equal(await env.db.models.User.count({ where: { username: 'frank' } }), 0);
  });
});
