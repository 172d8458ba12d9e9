// Redis as Azure Managed Redis serves it: TLS only, a password (its access key), and clustered. A
// real redis-server stands in: a TLS port only, with a certificate from a CA made for this run, and
// cluster mode with one node owning every slot, so that, as on the managed service, a command or
// script whose keys lie in different hash slots fails with CROSSSLOT.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { createMetrics } from '../src/metrics/registry.ts';
import { enqueueTask } from '../src/queue/periodic-tasks.ts';
import { Queues } from '../src/queue/queues.ts';
import { createRedis } from '../src/queue/redis.ts';
import { startWorker } from '../src/queue/worker.ts';
import { uniqueName } from '../../testing/database.ts';
import { tempDir, type TempDir } from '../../testing/files.ts';
import { startRedisServer, type RedisServer } from '../../testing/redis-server.ts';
import { createCa, issueServerCertificate, type TestCa } from '../../testing/tls.ts';
import { waitFor } from '../../testing/wait.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { testRegistry } from './helpers/tasks.ts';

describe('REDIS_CA_FILE and QUEUE_PREFIX', () => {
  const refused = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (error) {
      return (error as Error).message.split('\n').slice(1);
    }
    assert.fail(`accepted ${JSON.stringify(env)}`);
  };

  test('QUEUE_PREFIX may be a hash tag, braces around the whole name only', () => {
    assert.equal(loadConfig({ QUEUE_PREFIX: '{refresher}' }).QUEUE_PREFIX, '{refresher}');
    for (const prefix of ['{re}fresher', 're{fresher}', '{}', '{a{b}}', '{refresher']) {
      assert.match(
        refused({ QUEUE_PREFIX: prefix })[0]!,
        /^ {2}QUEUE_PREFIX: expected letters, .* optionally in braces as a cluster hash tag/,
        prefix,
      );
    }
  });

  test('REDIS_CA_FILE is an absolute path to certificates, and goes with rediss://', () => {
    const tls = { REDIS_URL: 'rediss://cache.example.test:10000' };
    assert.deepEqual(refused({ ...tls, REDIS_CA_FILE: 'ca.pem' }), [
      '  REDIS_CA_FILE: expected an absolute path to a CA bundle (PEM) (got "ca.pem")',
    ]);
    assert.deepEqual(refused({ ...tls, REDIS_CA_FILE: '/nonexistent/ca.pem' }), [
      '  REDIS_CA_FILE: cannot read /nonexistent/ca.pem (ENOENT) (got "/nonexistent/ca.pem")',
    ]);
    assert.deepEqual(refused({ ...tls, REDIS_CA_FILE: '/etc/hostname' }), [
      '  REDIS_CA_FILE: /etc/hostname holds no PEM certificate (got "/etc/hostname")',
    ]);
    assert.match(
      refused({ REDIS_URL: 'redis://cache:6379', REDIS_CA_FILE: '/etc/hostname' })[0]!,
      /^ {2}REDIS_CA_FILE: set, but REDIS_URL is redis:\/\/ \(no TLS\): use rediss:\/\//,
    );
  });
});

describe('Redis over TLS with a password, clustered', () => {
  let dir: TempDir;
  let ca: TestCa;
  let otherCa: TestCa;
  let redis: RedisServer;
  let env: TestEnv;
  // An access key is base64: characters a URL must carry percent-encoded.
  const password = 'access+key/with=base64';

  before(async () => {
    dir = tempDir('refresher-redistls-');
    ca = await createCa(dir.path, 'test-ca');
    otherCa = await createCa(dir.path, 'other-ca');
    const certificate = await issueServerCertificate(ca, dir.path, 'redis', ['DNS:localhost']);
    redis = await startRedisServer([], {
      tls: { ...certificate, caFile: ca.certFile },
      password,
      cluster: true,
    });
    env = await createTestEnv({
      REDIS_URL: redis.url,
      REDIS_CA_FILE: ca.certFile,
      QUEUE_PREFIX: `{${uniqueName('q')}}`,
    });
  });
  after(async () => {
    await env?.cleanup();
    await redis?.stop();
    dir?.remove();
  });

  test('a worker runs jobs end to end over rediss:// with the CA, under a hash-tag prefix', async () => {
    assert.match(env.config.REDIS_URL, /^rediss:\/\/:access%2Bkey%2Fwith%3Dbase64@localhost:/);
    const registry = testRegistry();
    const queues = new Queues(createRedis(env.config), env.config.QUEUE_PREFIX);
    const prefix = env.config.QUEUE_PREFIX;
    try {
      // Before any worker runs: where KEDA's scaler (LLEN) and a prioritised job find them.
      const plain = await enqueueTask(env.db, registry, queues, 'test.echo', { value: 'plain' });
      const urgent = await enqueueTask(
        env.db,
        registry,
        queues,
        'test.echo',
        { value: 'urgent' },
        { priority: 1 },
      );
      const connection = queues.connection;
      assert.equal(await connection.type(`${prefix}:default:wait`), 'list');
      assert.deepEqual(await connection.lrange(`${prefix}:default:wait`, 0, -1), [plain]);
      assert.equal(await connection.zcard(`${prefix}:default:prioritized`), 1);

      const worker = await startWorker({
        config: env.config,
        log: env.log,
        db: env.db,
        registry,
        metrics: createMetrics('worker'),
      });
      try {
        for (const [jobId, value] of [
          [plain, 'plain'],
          [urgent, 'urgent'],
        ] as const) {
          const row = await waitFor(
            async () => {
              const found = await env.db.models.TaskResult.findOne({ where: { jobId } });
              return found?.status === 'succeeded' ? found : null;
            },
            { what: `job ${jobId} to succeed over TLS` },
          );
          assert.deepEqual(row.result, { value, attempt: 1 });
        }
      } finally {
        await worker.close();
      }
      // Everything BullMQ wrote is under the tag, so in the one slot its scripts need.
      const keys = await connection.keys('*');
      assert.ok(keys.length > 0);
      assert.deepEqual(
        keys.filter((key) => !key.startsWith(`${prefix}:`)),
        [],
      );
    } finally {
      await queues.close();
      queues.connection.disconnect();
    }
  });

  test('under a prefix without braces, the clustered Redis refuses BullMQ (CROSSSLOT)', async () => {
    const connection = createRedis(env.config, { failFast: true });
    const queue = new Queue('default', { connection, prefix: uniqueName('q') });
    try {
      await assert.rejects(queue.add('test.echo', { args: [], kwargs: {} }), /CROSSSLOT/);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  test('a CA that did not sign the certificate: refused, and the log names REDIS_CA_FILE', async () => {
    for (const caFile of [otherCa.certFile, undefined]) {
      const lines: string[] = [];
      const log = createLogger({ LOG_LEVEL: 'warn' }, {}, { write: (line) => lines.push(line) });
      const connection = createRedis(
        { REDIS_URL: redis.url, REDIS_CA_FILE: caFile },
        { failFast: true, log },
      );
      try {
        await waitFor(() => lines.length > 0, { what: 'the connection error in the log' });
        const entry = JSON.parse(lines[0]!) as { level: number; err: string; msg: string };
        assert.equal(entry.msg, 'redis connection error');
        assert.equal(entry.level, 50, 'logged as an error, not a passing outage');
        const against = caFile
          ? `REDIS_CA_FILE=${caFile}`
          : "Node's built-in root CAs (no REDIS_CA_FILE)";
        assert.ok(
          entry.err.startsWith(
            `the certificate of Redis at localhost:${redis.port} is not trusted, checked against ${against}: `,
          ),
          entry.err,
        );
        assert.equal(connection.status === 'ready', false);
      } finally {
        connection.disconnect();
      }
    }
  });
});
