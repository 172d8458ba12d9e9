// DATABASE_URL's TLS parameters as libpq means them (sslmode, sslrootcert), checked against a real
// PostgreSQL with TLS on, a certificate from a CA made for this run, and only hostssl lines in its
// pg_hba.conf, as a managed server that requires TLS has: a connection that forgot TLS is refused
// by the server itself, so a test passing over it proves every kind of connection used TLS.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { ConfigError, loadConfig } from '../src/config.ts';
import { ensureDatabase, createPgClient, parseDatabaseUrl } from '../src/db/connection.ts';
import { openDatabase } from '../src/db/index.ts';
import { migrateUp } from '../src/db/migrator.ts';
import { listenForChanges } from '../src/queue/scheduler-listen.ts';
import { databaseTls } from '../../contract/database-tls.ts';
import { runTs } from '../../testing/child.ts';
import { tempDir, type TempDir } from '../../testing/files.ts';
import { startPostgresServer, type PostgresServer } from '../../testing/postgres-server.ts';
import { createCa, issueServerCertificate, type TestCa } from '../../testing/tls.ts';
import { waitFor } from '../../testing/wait.ts';
import { testLogger } from './helpers/env.ts';

describe('DATABASE_URL: sslmode and sslrootcert', () => {
  const ssl = (query: string) => parseDatabaseUrl(`postgres://db.example.test/x?${query}`);

  test("each sslmode checks what libpq's does", () => {
    assert.equal(ssl('').ssl, false);
    assert.equal(ssl('sslmode=disable').ssl, false);
    assert.deepEqual(ssl('sslmode=require').ssl, { rejectUnauthorized: false });
    const verifyCa = ssl('sslmode=verify-ca').ssl;
    assert.ok(verifyCa);
    assert.equal(verifyCa.rejectUnauthorized, true);
    // The chain is checked; the name is not: the identity check accepts any.
    assert.equal(verifyCa.checkServerIdentity?.('other.example.test', {} as never), undefined);
    assert.deepEqual(ssl('sslmode=verify-full').ssl, { rejectUnauthorized: true, ca: undefined });
    // libpq: a root certificate makes require check the chain (it becomes verify-ca).
    assert.deepEqual(
      databaseTls(new URL('postgres://db.example.test/x?sslmode=require&sslrootcert=/ca.pem')),
      { tls: { mode: 'verify-ca', rootCertFile: '/ca.pem' } },
    );
  });

  test('sslrootcert=system is verify-full against the built-in roots, as in libpq 16', () => {
    assert.deepEqual(ssl('sslrootcert=system').tls, {
      mode: 'verify-full',
      rootCertFile: undefined,
    });
  });

  test('bad values are refused at start, naming DATABASE_URL and the parameter', () => {
    const refusal = (query: string) => {
      try {
        loadConfig({ DATABASE_URL: `postgres://db.example.test/x?${query}` });
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.message.split('\n').slice(1);
      }
      assert.fail(`accepted ${query}`);
    };
    const got = (query: string) => `(got "postgres://db.example.test/x?${query}")`;
    assert.deepEqual(refusal('sslmode=on'), [
      `  DATABASE_URL: sslmode=on: expected disable, require, verify-ca or verify-full ${got('sslmode=on')}`,
    ]);
    assert.match(
      refusal('sslmode=prefer')[0]!,
      /^ {2}DATABASE_URL: sslmode=prefer is not supported/,
    );
    assert.match(refusal('sslmode=allow')[0]!, /^ {2}DATABASE_URL: sslmode=allow is not supported/);
    assert.match(
      refusal('sslmode=verify-full&sslrootcert=ca.pem')[0]!,
      /sslrootcert=ca\.pem: expected an absolute path to a CA bundle \(PEM\), or system/,
    );
    assert.match(
      refusal('sslmode=verify-full&sslrootcert=/nonexistent/ca.pem')[0]!,
      /DATABASE_URL: sslrootcert: cannot read \/nonexistent\/ca\.pem \(ENOENT\)/,
    );
    assert.match(
      refusal('sslmode=verify-full&sslrootcert=/etc/hostname')[0]!,
      /DATABASE_URL: sslrootcert: \/etc\/hostname holds no PEM certificate/,
    );
    assert.match(refusal('sslrootcert=/etc/hostname')[0]!, /sslmode is missing \(disable\)/);
    assert.match(refusal('sslmode=require&sslrootcert=system')[0]!, /needs sslmode=verify-full/);
    assert.match(refusal('sslmode=verify-full&sslcert=/c.pem')[0]!, /sslcert is not supported/);
    assert.match(refusal('sslmode=require&sslmode=disable')[0]!, /sslmode is given 2 times/);
  });

  // The two its certificates chain to outside China, before and after the rotation; the third,
  // DigiCert Global Root CA, is China's, and old enough to leave Mozilla's list (Node's source).
  test("Node's built-in roots hold those Azure's PostgreSQL Flexible Server chains to", () => {
    const names = rootCertificates.map((pem) => new X509Certificate(pem).subject);
    for (const root of [
      'DigiCert Global Root G2',
      'Microsoft RSA Root Certificate Authority 2017',
    ]) {
      assert.ok(
        names.some((subject) => subject.split('\n').includes(`CN=${root}`)),
        `${root} is not among Node's roots: sslrootcert must name a bundle with it`,
      );
    }
  });
});

describe('PostgreSQL that takes TLS only (hostssl), with a certificate for localhost', () => {
  let dir: TempDir;
  let ca: TestCa;
  let otherCa: TestCa;
  let server: PostgresServer;
  const log = testLogger();

  const urlOf = (host: string, query: string, database = 'postgres') =>
    `postgres://${host}:${server.port}/${database}?${query}`;
  /** Connects once with a pg client of the app's and says whether the session is encrypted. */
  async function encrypted(databaseUrl: string): Promise<boolean> {
    const client = createPgClient(databaseUrl);
    try {
      await client.connect();
      const { rows } = await client.query<{ ssl: boolean }>(
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      );
      return rows[0]!.ssl;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  before(async () => {
    dir = tempDir('refresher-pgtls-');
    ca = await createCa(dir.path, 'test-ca');
    otherCa = await createCa(dir.path, 'other-ca');
    const certificate = await issueServerCertificate(ca, dir.path, 'server', ['DNS:localhost']);
    server = await startPostgresServer({
      tls: certificate,
      hba: ['hostssl all all 127.0.0.1/32 trust'],
    });
  });
  after(async () => {
    await server?.stop();
    dir?.remove();
  });

  test('verify-full with the CA and the name: the pool, LISTEN, the migration lock and ensureDatabase all connect', async () => {
    const databaseUrl = urlOf('localhost', `sslmode=verify-full&sslrootcert=${ca.certFile}`, 'app');
    const config = loadConfig({ LOG_LEVEL: 'silent', DATABASE_URL: databaseUrl });
    assert.equal(await ensureDatabase(config.DATABASE_URL), true);
    const db = openDatabase(config);
    const changes: Array<number[] | undefined> = [];
    const listener = await listenForChanges({
      databaseUrl: config.DATABASE_URL,
      channel: 'tls_test',
      log,
      onChange: (ids) => changes.push(ids),
      onReconnected: () => undefined,
    });
    try {
      assert.ok((await migrateUp(db.sequelize, config.DATABASE_URL)).length > 0);
      await db.sequelize.query("NOTIFY tls_test, '7'");
      await waitFor(() => changes.length > 0, { what: 'the notification over TLS' });
      assert.deepEqual(changes, [[7]]);
      const [rows] = await db.sequelize.query(
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      );
      assert.deepEqual(rows, [{ ssl: true }]);
    } finally {
      await listener.close();
      await db.close();
    }
  });

  test('verify-full refuses the certificate for a name it does not list; verify-ca takes it', async () => {
    const query = (mode: string) => `sslmode=${mode}&sslrootcert=${ca.certFile}`;
    await assert.rejects(encrypted(urlOf('127.0.0.1', query('verify-full'))), {
      name: 'DatabaseTlsError',
      message:
        /^PostgreSQL at 127\.0\.0\.1:\d+: its certificate is not for "127\.0\.0\.1", and sslmode=verify-full checks the name .*; connect by a name the certificate lists, or use sslmode=verify-ca$/,
    });
    assert.equal(await encrypted(urlOf('127.0.0.1', query('verify-ca'))), true);
  });

  test('a CA that did not sign it is refused by verify-full and verify-ca; require encrypts unverified', async () => {
    for (const mode of ['verify-full', 'verify-ca']) {
      await assert.rejects(
        encrypted(urlOf('localhost', `sslmode=${mode}&sslrootcert=${otherCa.certFile}`)),
        {
          name: 'DatabaseTlsError',
          message: new RegExp(
            `^PostgreSQL at localhost:\\d+: its certificate is not trusted under sslmode=${mode}, checked against sslrootcert=${otherCa.certFile}: `,
          ),
        },
      );
    }
    // Node's own roots do not know a private CA either.
    await assert.rejects(encrypted(urlOf('localhost', 'sslmode=verify-full')), {
      message: /checked against Node's built-in root CAs \(no sslrootcert in DATABASE_URL\)/,
    });
    assert.equal(await encrypted(urlOf('localhost', 'sslmode=require')), true);
  });

  test('the Sequelize pool checks as the pg clients do', async () => {
    const config = loadConfig({
      LOG_LEVEL: 'silent',
      DATABASE_URL: urlOf('localhost', `sslmode=verify-full&sslrootcert=${otherCa.certFile}`),
    });
    const db = openDatabase(config);
    try {
      await assert.rejects(db.sequelize.authenticate(), {
        name: 'SequelizeConnectionError',
        message: /its certificate is not trusted under sslmode=verify-full/,
      });
    } finally {
      await db.close();
    }
  });

  test('without TLS (sslmode=disable, or none) the server refuses, and the message says to add sslmode', async () => {
    for (const query of ['sslmode=disable', '']) {
      await assert.rejects(encrypted(urlOf('localhost', query)), {
        name: 'DatabaseTlsError',
        message:
          /^PostgreSQL at localhost:\d+ refuses connections without TLS, and DATABASE_URL asks for none \(sslmode missing or disable\): add sslmode=verify-full \(or require\) to it \(server said: no pg_hba\.conf entry for host "127\.0\.0\.1", .*no encryption\)$/,
      });
    }
  });

  test('the migrate role says why it cannot connect, and exits 1', () => {
    const migrate = runTs('app/src/main.ts', ['migrate'], {
      LOG_LEVEL: 'silent',
      DATABASE_CREATE: 'false',
      DATABASE_URL: urlOf('localhost', `sslmode=verify-full&sslrootcert=${otherCa.certFile}`),
    });
    assert.equal(migrate.status, 1, migrate.stderr);
    assert.match(
      migrate.stderr,
      /^refresher: PostgreSQL at localhost:\d+: its certificate is not trusted under sslmode=verify-full, checked against sslrootcert=.*other-ca\.pem: /m,
    );
  });

  // Last: it turns TLS off for the rest of this server's life.
  test('a server that offers no TLS: sslmode=require says so', async () => {
    const admin = new pg.Client({
      host: server.socketDir,
      port: server.port,
      user: server.superuser,
      database: 'postgres',
    });
    await admin.connect();
    try {
      await admin.query('ALTER SYSTEM SET ssl = off');
      await admin.query('SELECT pg_reload_conf()');
      await waitFor(async () => (await admin.query('SHOW ssl')).rows[0]?.ssl === 'off');
    } finally {
      await admin.end();
    }
    await assert.rejects(encrypted(urlOf('localhost', 'sslmode=require')), {
      name: 'DatabaseTlsError',
      message:
        /^PostgreSQL at localhost:\d+ does not offer TLS, which sslmode=require in DATABASE_URL requires$/,
    });
  });
});
