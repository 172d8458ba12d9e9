// Configuration from the environment: the defaults a fresh checkout runs with, and the promise
// that a bad value stops the process at boot with a message naming the variable and its value.
// The CLI is spawned for real to check that promise reaches the operator as an exit code.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';
import { REPO_ROOT } from '../../contract/paths.ts';
import { freePort } from '../../testing/ports.ts';

/** Asserts loadConfig refuses `env` with exactly these lines after the heading. */
function assertRefused(env: Record<string, string>, lines: (string | RegExp)[]): void {
  assert.throws(
    () => loadConfig(env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `not a ConfigError: ${String(error)}`);
      assert.equal(error.name, 'ConfigError');
      const [heading, ...rest] = error.message.split('\n');
      assert.equal(heading, 'Invalid environment:');
      assert.equal(rest.length, lines.length, error.message);
      for (const [index, expected] of lines.entries()) {
        if (typeof expected === 'string') assert.equal(rest[index], expected);
        else assert.match(rest[index] ?? '', expected);
      }
      return true;
    },
  );
}

describe('loadConfig', () => {
  test('an empty environment gives the documented defaults', () => {
    assert.deepEqual(loadConfig({}), {
      LOG_LEVEL: 'info',
      DATABASE_URL: 'postgres://localhost:5432/refresher',
      DATABASE_POOL_MAX: 10,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'refresher',
      HOST: '127.0.0.1',
      PORT: 3000,
      METRICS_PORT: 9464,
      METRICS_HOST: '127.0.0.1',
      WORKER_CONCURRENCY: 50,
      WORKER_LOCK_MS: 30_000,
      WORKER_STALLED_INTERVAL_MS: 15_000,
      SHUTDOWN_TIMEOUT_MS: 20_000,
      SCHEDULER_RECONCILE_MS: 60_000,
      RESULT_RETENTION_DAYS: 365,
      DATABASE_CREATE: true,
      SESSION_MAX_AGE_HOURS: 12,
      TRUST_PROXY: false,
      SPEEDTEST_ENGINE: 'librespeed',
      SPEEDTEST_SERVERS: [],
      SPEEDTEST_DURATION_MS: 10_000,
      SPEEDTEST_INTERVAL_MINUTES: 30,
      SPEEDTEST_STREAMS: 6,
      SPEEDTEST_TARGET_ENABLED: true,
      PUBLIC_STATUS_PAGE: false,
      SPEEDTEST_TARGET_PATH: '/speedtest',
      SPEEDTEST_TARGET_RATE_LIMIT: 600,
      SPEEDTEST_TARGET_MAX_STREAMS: 8,
      SPEEDTEST_TARGET_MIB_PER_MINUTE: 4096,
      SPEEDTEST_TARGET_UNLIMITED_CIDRS: ['127.0.0.0/8', '::1/128'],
      OOKLA_ACCEPT_LICENSE: false,
      OOKLA_SERVER_LIST_URL: 'https://www.speedtest.net/api/js/servers?engine=js&limit=10',
    });
  });

  test("TRUST_PROXY takes Express's forms: booleans, hop counts, addresses and names", () => {
    assert.equal(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY, true);
    assert.equal(loadConfig({ TRUST_PROXY: '1' }).TRUST_PROXY, 1);
    assert.equal(
      loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).TRUST_PROXY,
      'loopback, 10.0.0.0/8',
    );
    assert.throws(
      () => loadConfig({ SESSION_SECRET: 'short' }),
      /SESSION_SECRET: expected at least 32 characters \(got 5 characters, not shown\)/,
    );
  });

  test('good values are converted to their types', () => {
    const config = loadConfig({
      PORT: '8080',
      METRICS_PORT: '65535',
      DATABASE_URL: 'postgresql://db:5433/speed',
      REDIS_URL: 'rediss://cache:6380',
      LOG_LEVEL: 'debug',
      DATABASE_CREATE: 'false',
      WORKER_CONCURRENCY: '4',
      HEALTHCHECK_URL: 'https://example.test/healthz',
    });
    assert.equal(config.PORT, 8080);
    assert.equal(config.METRICS_PORT, 65535);
    assert.equal(config.DATABASE_URL, 'postgresql://db:5433/speed');
    assert.equal(config.REDIS_URL, 'rediss://cache:6380');
    assert.equal(config.LOG_LEVEL, 'debug');
    assert.equal(config.DATABASE_CREATE, false);
    assert.equal(config.WORKER_CONCURRENCY, 4);
    assert.equal(config.HEALTHCHECK_URL, 'https://example.test/healthz');
  });

  test('an empty string counts as unset', () => {
    // `PORT= npm start` must mean the default, not "PORT: expected a TCP port".
    const config = loadConfig({
      PORT: '',
      DATABASE_URL: '',
      LOG_LEVEL: '',
      DATABASE_CREATE: '',
      HEALTHCHECK_URL: '',
    });
    assert.equal(config.PORT, 3000);
    assert.equal(config.DATABASE_URL, 'postgres://localhost:5432/refresher');
    assert.equal(config.LOG_LEVEL, 'info');
    assert.equal(config.DATABASE_CREATE, true);
    assert.equal(config.HEALTHCHECK_URL, undefined);
  });

  test('each bad value is refused with the variable, the reason and the value', () => {
    const port = 'expected a TCP port between 1 and 65535';
    const cases: [Record<string, string>, string | RegExp][] = [
      [{ PORT: 'abc' }, '  PORT: expected a TCP port number (got "abc")'],
      [{ PORT: '70000' }, `  PORT: ${port} (got "70000")`],
      [{ PORT: '1.5' }, '  PORT: expected a TCP port number (got "1.5")'],
      // Number() would read these as 16, 1000 and 0; none is what anybody typing them meant.
      [{ PORT: '0x10' }, '  PORT: expected a TCP port number (got "0x10")'],
      [{ PORT: '1e3' }, '  PORT: expected a TCP port number (got "1e3")'],
      [{ PORT: ' ' }, '  PORT: expected a TCP port number (got " ")'],
      [{ WORKER_CONCURRENCY: '2.5' }, '  WORKER_CONCURRENCY: expected a whole number (got "2.5")'],
      [{ METRICS_PORT: '0' }, `  METRICS_PORT: ${port} (got "0")`],
      [
        { DATABASE_URL: 'mysql://x' },
        '  DATABASE_URL: expected a URL starting with postgres:// or postgresql:// (got "mysql://x")',
      ],
      [
        { REDIS_URL: 'not a url' },
        '  REDIS_URL: expected a URL starting with redis:// or rediss:// (got "not a url")',
      ],
      [{ LOG_LEVEL: 'loud' }, /^ {2}LOG_LEVEL: .*"info".* \(got "loud"\)$/],
      [{ DATABASE_CREATE: 'maybe' }, '  DATABASE_CREATE: expected true or false (got "maybe")'],
      [
        { WORKER_CONCURRENCY: '0' },
        '  WORKER_CONCURRENCY: expected a number greater than 0 (got "0")',
      ],
      [{ WORKER_CONCURRENCY: '1001' }, '  WORKER_CONCURRENCY: expected at most 1000 (got "1001")'],
      [{ QUEUE_PREFIX: 'a b' }, /^ {2}QUEUE_PREFIX: expected letters, .* \(got "a b"\)$/],
    ];
    for (const [env, line] of cases) assertRefused(env, [line]);
  });

  test('several bad variables are all named in one message', () => {
    assertRefused({ PORT: 'abc', LOG_LEVEL: 'loud', REDIS_URL: 'http://x', HOST: 'fine' }, [
      /^ {2}LOG_LEVEL: .* \(got "loud"\)$/,
      '  REDIS_URL: expected a URL starting with redis:// or rediss:// (got "http://x")',
      '  PORT: expected a TCP port number (got "abc")',
    ]);
  });
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real entry point (bin/refresher.js registers tsx itself) with only `env`. */
function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['app/bin/refresher.js', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // A CLI that wrongly starts serving would never exit; fail the test instead of hanging it.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`refresher ${args.join(' ')} still running after 20 s:\n${stdout}${stderr}`),
      );
    }, 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('the refresher CLI', () => {
  test('a bad PORT stops `web` with exit code 1 before anything listens', async () => {
    // A valid metrics port of our own: the one socket the web role would open even with PORT bad.
    const metricsPort = await freePort();
    const run = await runCli(['web'], { PORT: 'abc', METRICS_PORT: String(metricsPort) });
    assert.equal(run.code, 1, run.stderr);
    assert.equal(
      run.stderr,
      'refresher: Invalid environment:\n  PORT: expected a TCP port number (got "abc")\n',
    );
    // No log line at all: not "web role listening", not "metrics served".
    assert.equal(run.stdout, '');
    assert.equal(await refusesConnections(metricsPort), true);
  });

  test('an unknown role exits 2 with the usage', async () => {
    const run = await runCli(['bogus'], {});
    assert.equal(run.code, 2, run.stderr);
    assert.ok(run.stderr.startsWith('refresher: unknown role "bogus"\nusage: refresher <role>\n'));
    assert.match(run.stderr, /^ {2}migrate {5}create the database/m);
    assert.equal(run.stdout, '');
  });

  test('--down with a role other than migrate exits 2', async () => {
    const run = await runCli(['--down', 'web'], {});
    assert.equal(run.code, 2, run.stderr);
    assert.ok(
      run.stderr.startsWith(
        'refresher: --down goes with the migrate role\nusage: refresher <role>',
      ),
      run.stderr,
    );
  });

  test('--status with a role other than migrate, or with --down, exits 2', async () => {
    const [web, both] = await Promise.all([
      runCli(['web', '--status'], {}),
      runCli(['migrate', '--status', '--down'], {}),
    ]);
    assert.equal(web.code, 2, web.stderr);
    assert.match(web.stderr, /^refresher: --status goes with the migrate role\n/);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /^refresher: --down and --status exclude each other\n/);
  });

  test('no role, or an unknown flag, exits 2 too', async () => {
    const [missing, flag] = await Promise.all([runCli([], {}), runCli(['web', '--fast'], {})]);
    assert.equal(missing.code, 2);
    assert.ok(missing.stderr.startsWith('refresher: missing role\n'), missing.stderr);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^refresher: .*'--fast'/);
  });
});
