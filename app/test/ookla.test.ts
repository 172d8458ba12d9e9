// The `ookla` engine driving the real speedtest-net package. The Ookla CLI cannot exist here, so
// a stand-in (fixtures/ookla-cli.mjs) writes the CLI's JSON-lines output; speedtest.net's server
// list API is a local HTTP server. What speedtest-net does with the CLI's output (parsing,
// licence banners, error lines, killing the process) is the real package's behaviour.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { QueryTypes } from 'sequelize';
import { promisify } from 'node:util';
import { ConfigError, loadConfig } from '../src/config.ts';
import {
  SpeedtestError,
  type EngineInput,
  type SpeedtestErrorKind,
  type SpeedtestResult,
  type SpeedtestServer,
} from '../src/speedtest/engine.ts';
import { createOoklaEngine, type OoklaOptions } from '../src/speedtest/ookla/engine.ts';
import { storeSpeedtest } from '../src/speedtest/store.ts';
import { REPO_ROOT } from '../../contract/paths.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { freePort } from '../../testing/ports.ts';
import { waitFor } from '../../testing/wait.ts';

const LIST = JSON.parse(
  await readFile(new URL('./fixtures/ookla-servers.json', import.meta.url), 'utf8'),
) as Record<string, unknown>[];
const LIST_PATH = '/api/js/servers?engine=js&limit=10';

const AMSTERDAM: SpeedtestServer = {
  id: '4302',
  name: 'Amsterdam',
  sponsor: 'Example Fiber',
  host: 'speedtest.fiber.example:8080',
  url: 'http://speedtest.fiber.example:8080/speedtest/upload.php',
  country: 'Netherlands',
  countryCode: 'NL',
  lat: 52.374,
  lon: 4.8897,
  distanceKm: 3,
};
const ROTTERDAM: SpeedtestServer = {
  id: '11433',
  name: 'Rotterdam',
  sponsor: 'Harbour Net',
  host: 'st1.harbour.example:8080',
  url: 'http://st1.harbour.example:8080/speedtest/upload.php',
  country: 'Netherlands',
  countryCode: 'NL',
  lat: 51.9225,
  lon: 4.4792,
  distanceKm: 57,
};
const UTRECHT: SpeedtestServer = {
  id: '30847',
  name: 'Utrecht',
  sponsor: 'Domstad Internet',
  host: 'speedtest.utrecht.example:8080',
  url: 'http://speedtest.utrecht.example:8080/speedtest/upload.php',
  country: 'Netherlands',
  // The list says "nl"; codes are stored upper case.
  countryCode: 'NL',
  lat: 52.0907,
  lon: 5.1214,
  distanceKm: 34,
};

const CLIENT = {
  ip: '198.51.100.23',
  isp: 'Polder Broadband',
  countryCode: null,
  lat: null,
  lon: null,
};

/** The stand-in's result line for server 4302, as speedtest-net hands it over (no `type`). */
const RAW_AMSTERDAM = {
  ping: { jitter: 0.412, latency: 7.918, low: 7.301, high: 8.764 },
  download: {
    bandwidth: 117_284_315,
    bytes: 1_052_860_420,
    elapsed: 9011,
    latency: { iqm: 12.031, low: 8.102, high: 40.227, jitter: 1.704 },
  },
  upload: {
    bandwidth: 42_170_022,
    bytes: 380_211_604,
    elapsed: 9504,
    latency: { iqm: 9.85, low: 7.998, high: 31.5, jitter: 2.113 },
  },
  packetLoss: 0.25,
  isp: 'Polder Broadband',
  interface: {
    internalIp: '10.0.0.23',
    name: 'eth0',
    macAddr: '02:42:AC:11:00:02',
    isVpn: false,
    externalIp: '198.51.100.23',
  },
  server: {
    id: 4302,
    host: 'speedtest.fiber.example',
    port: 8080,
    name: 'Example Fiber',
    location: 'Amsterdam',
    country: 'Netherlands',
    ip: '203.0.113.10',
  },
  result: {
    id: '5f1c2e7a-0b1d-4c55-9a57-3e2f8d1c6b40',
    url: 'https://www.speedtest.net/result/c/5f1c2e7a-0b1d-4c55-9a57-3e2f8d1c6b40',
    persisted: true,
  },
};

const ARGS = ['-f', 'json', '-P', '8', '-p', '--accept-license', '--accept-gdpr'];
const PHASE_LINES = [
  'info: Ookla CLI: measuring latency',
  'info: Ookla CLI: measuring download',
  'info: Ookla CLI: measuring upload',
];

let dir: string;
let bin: string;
let api: Server;
let apiBase: string;
/** Paths (with query) the server-list stand-in was asked for. */
let requests: string[] = [];
/** Pid files of stand-ins that may hang; whatever is still running at the end is killed. */
const pidFiles: string[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'refresher-ookla-'));
  bin = join(dir, 'speedtest');
  await copyFile(new URL('./fixtures/ookla-cli.mjs', import.meta.url), bin);
  await chmod(bin, 0o755);

  api = createServer((req, res) => {
    requests.push(req.url ?? '');
    const json = (body: unknown) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    };
    switch (new URL(req.url ?? '/', 'http://list').pathname) {
      case '/api/js/servers':
        return json(LIST);
      case '/truncated':
        return res.end(JSON.stringify(LIST).slice(0, 120));
      case '/portal':
        return res.end('<html><body>Please log in to continue</body></html>');
      case '/wrong-shape':
        return json([LIST[0], { ...LIST[1], lat: 'north' }, { ...LIST[2], id: 'abc', lon: 200 }]);
      case '/not-a-list':
        return json({ servers: LIST });
      case '/empty':
        return json([]);
      case '/error':
        res.statusCode = 500;
        return res.end('database is down');
      case '/silent':
        return; // never answers
      default:
        res.statusCode = 404;
        return res.end();
    }
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const address = api.address();
  assert.ok(address && typeof address === 'object');
  apiBase = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  // Only matters when a test failed: a live stand-in would keep this test process from exiting.
  for (const file of pidFiles) {
    try {
      process.kill(Number(await readFile(file, 'utf8')), 'SIGKILL');
    } catch {
      // never started, or already gone
    }
  }
  api.closeAllConnections();
  await new Promise((resolve) => api.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  result?: SpeedtestResult;
  error?: unknown;
  /** The arguments the stand-in CLI got; null when it never ran. */
  args: string[] | null;
  lines: string[];
  requests: string[];
}

let runs = 0;

/**
 * One engine run. `standIn` is the stand-in CLI's environment (it inherits this process's, as the
 * real CLI would); `env` is the app's configuration on top of a working one.
 */
async function run(
  options: {
    env?: Record<string, string | undefined>;
    standIn?: Record<string, string>;
    engine?: OoklaOptions;
    input?: Partial<EngineInput>;
    /** Called once the run has started, with its log lines so far. */
    during?: (lines: string[]) => Promise<void>;
  } = {},
): Promise<Run> {
  const argsFile = join(dir, `args-${++runs}.json`);
  const env = Object.fromEntries(
    Object.entries({
      OOKLA_SPEEDTEST_BIN: bin,
      OOKLA_ACCEPT_LICENSE: 'true',
      OOKLA_SERVER_LIST_URL: `${apiBase}${LIST_PATH}`,
      ...options.env,
    }).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  const engine = createOoklaEngine(loadConfig(env), options.engine);
  const lines: string[] = [];
  const input: EngineInput = {
    servers: [],
    streams: 8,
    durationMs: 10_000,
    warmupMs: 1_000,
    pings: 10,
    signal: new AbortController().signal,
    log: (message, level = 'info') => lines.push(`${level}: ${message}`),
    ...options.input,
  };

  const standIn: Record<string, string> = { OOKLA_STANDIN_ARGS_FILE: argsFile, ...options.standIn };
  const saved = Object.fromEntries(Object.keys(standIn).map((key) => [key, process.env[key]]));
  Object.assign(process.env, standIn);
  requests = [];
  const outcome: Run = { args: null, lines, requests: [] };
  try {
    const running = engine.run(input);
    // Handled below; a rejection while `during` runs must not count as unhandled.
    running.catch(() => undefined);
    if (options.during) await options.during(lines);
    outcome.result = await running;
  } catch (error) {
    outcome.error = error;
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  outcome.requests = requests;
  try {
    outcome.args = JSON.parse(await readFile(argsFile, 'utf8')) as string[];
  } catch {
    outcome.args = null;
  }
  return outcome;
}

function assertFailed(outcome: Run, kind: SpeedtestErrorKind, message: string | RegExp): void {
  assert.equal(outcome.result, undefined, 'the run should have failed');
  const error = outcome.error;
  assert.ok(error instanceof SpeedtestError, `not a SpeedtestError: ${String(error)}`);
  assert.equal(error.kind, kind, error.message);
  if (typeof message === 'string') assert.equal(error.message, message);
  else assert.match(error.message, message);
}

/** A successful result, with the two timing fields checked here and then left out. */
function timeless(
  outcome: Run,
  started: number,
): Omit<SpeedtestResult, 'startedAt' | 'durationMs'> {
  assert.equal(outcome.error, undefined, String(outcome.error));
  assert.ok(outcome.result);
  const { startedAt, durationMs, ...rest } = outcome.result;
  assert.ok(startedAt instanceof Date);
  assert.ok(startedAt.getTime() >= started && startedAt.getTime() <= Date.now());
  assert.ok(durationMs > 0 && durationMs <= Date.now() - started, `durationMs ${durationMs}`);
  const raw = rest.raw as Record<string, unknown>;
  // speedtest-net turns the CLI's timestamp (whole seconds) into a Date.
  assert.ok(raw.timestamp instanceof Date);
  assert.ok(Math.abs(raw.timestamp.getTime() - started) < 5_000);
  return { ...rest, raw: { ...raw, timestamp: 'checked' } };
}

/** For tests that wait on something that never ends unless the engine ends it. */
const STOP = { timeout: 10_000 };

const FIX =
  'set OOKLA_SPEEDTEST_BIN to the official Ookla speedtest CLI (the app image installs a ' +
  'pinned, checksum-verified version); the ookla engine never downloads one';

describe('configuration', () => {
  test('defaults: no CLI, licence not accepted, the public server list', () => {
    const config = loadConfig({});
    assert.equal(config.OOKLA_SPEEDTEST_BIN, undefined);
    assert.equal(config.OOKLA_ACCEPT_LICENSE, false);
    assert.equal(
      config.OOKLA_SERVER_LIST_URL,
      'https://www.speedtest.net/api/js/servers?engine=js&limit=10',
    );
  });

  test('good values are taken', () => {
    const config = loadConfig({
      OOKLA_SPEEDTEST_BIN: '/usr/local/bin/speedtest',
      OOKLA_ACCEPT_LICENSE: 'TRUE',
      OOKLA_SERVER_LIST_URL: 'http://10.0.0.5:8080/servers.json',
    });
    assert.equal(config.OOKLA_SPEEDTEST_BIN, '/usr/local/bin/speedtest');
    assert.equal(config.OOKLA_ACCEPT_LICENSE, true);
    assert.equal(config.OOKLA_SERVER_LIST_URL, 'http://10.0.0.5:8080/servers.json');
  });

  test('bad values are refused, each naming its variable', () => {
    assert.throws(
      () =>
        loadConfig({
          OOKLA_SPEEDTEST_BIN: 'speedtest',
          OOKLA_ACCEPT_LICENSE: 'I agree',
          OOKLA_SERVER_LIST_URL: 'ftp://example.test/servers',
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(
          error.message,
          [
            'Invalid environment:',
            '  OOKLA_SPEEDTEST_BIN: expected an absolute path to the Ookla speedtest CLI (got "speedtest")',
            '  OOKLA_ACCEPT_LICENSE: expected true or false (got "I agree")',
            '  OOKLA_SERVER_LIST_URL: expected a URL starting with http:// or https:// (got "ftp://example.test/servers")',
          ].join('\n'),
        );
        return true;
      },
    );
  });
});

describe('a measurement', () => {
  test('the CLI choosing its server: every figure mapped, bits from bytes', async () => {
    const started = Date.now();
    const outcome = await run();
    assert.deepEqual(timeless(outcome, started), {
      engine: 'ookla',
      downloadBps: 938_274_520, // 117 284 315 bytes/s × 8
      uploadBps: 337_360_176, // 42 170 022 bytes/s × 8
      pingMs: 7.918,
      jitterMs: 0.412,
      packetLoss: 0.25,
      // The CLI's loaded latency (download.latency / upload.latency): its interquartile mean.
      downloadLatency: { latencyMs: 12.031, jitterMs: 1.704 },
      uploadLatency: { latencyMs: 9.85, jitterMs: 2.113 },
      source: { address: '10.0.0.23', interface: null, family: 4 },
      bytesReceived: 1_052_860_420,
      bytesSent: 380_211_604,
      server: AMSTERDAM,
      pinged: [
        { server: AMSTERDAM, latencyMs: 7.918, chosen: true },
        { server: ROTTERDAM, latencyMs: null, chosen: false },
        { server: UTRECHT, latencyMs: null, chosen: false },
      ],
      client: CLIENT,
      resultUrl: 'https://www.speedtest.net/result/c/5f1c2e7a-0b1d-4c55-9a57-3e2f8d1c6b40',
      selfTest: false,
      raw: { ...RAW_AMSTERDAM, timestamp: 'checked' },
    });
    // The CLI ran with the licence flags, without -s, and was never asked to download anything.
    assert.deepEqual(outcome.args, ARGS);
    assert.deepEqual(outcome.requests, [LIST_PATH]);
    assert.deepEqual(outcome.lines, [
      'info: Ookla CLI chose server 4302 (Example Fiber, Amsterdam)',
      ...PHASE_LINES,
    ]);
  });

  test('a named server is passed to the CLI and marked among the candidates', async () => {
    const started = Date.now();
    const outcome = await run({ input: { servers: ['11433', '4302'] } });
    const result = timeless(outcome, started);
    assert.deepEqual(outcome.args, [...ARGS, '-s', '11433']);
    assert.deepEqual(result.server, ROTTERDAM);
    assert.deepEqual(result.pinged, [
      { server: AMSTERDAM, latencyMs: null, chosen: false },
      { server: ROTTERDAM, latencyMs: 7.918, chosen: true },
      { server: UTRECHT, latencyMs: null, chosen: false },
    ]);
    assert.deepEqual(outcome.lines, [
      'info: the Ookla CLI measures against one server: using 11433, ignoring 4302',
      'info: Ookla CLI chose server 11433 (Harbour Net, Rotterdam)',
      ...PHASE_LINES,
    ]);
  });

  test('a source address goes to the CLI as -i; an interface as its address; a family alone is refused', async () => {
    const bound = await run({
      input: { source: { sourceAddress: '127.0.0.1', interface: null, family: null } },
    });
    assert.deepEqual(bound.args, [...ARGS, '-i', '127.0.0.1']);
    const viaInterface = await run({
      input: { source: { sourceAddress: null, interface: 'lo', family: 4 } },
    });
    assert.deepEqual(viaInterface.args, [...ARGS, '-i', '127.0.0.1']);
    assert.deepEqual(viaInterface.result?.source, {
      address: '127.0.0.1',
      interface: 'lo',
      family: 4,
    });

    const familyOnly = await run({
      input: { source: { sourceAddress: null, interface: null, family: 6 } },
    });
    const familyError = familyOnly.error as SpeedtestError;
    assert.equal(familyError.kind, 'bad-source');
    assert.match(familyError.message, /sourceAddress or an interface with an IPv6 address/);
    const missing = await run({
      input: { source: { sourceAddress: '192.0.2.77', interface: null, family: null } },
    });
    const missingError = missing.error as SpeedtestError;
    assert.equal(missingError.kind, 'bad-source');
    assert.match(missingError.message, /192\.0\.2\.77 is not an address of this host/);
    assert.equal(missing.args, null, 'the CLI never ran');
  });

  test('a server missing from the list is added to it, with what the CLI knows', async () => {
    const started = Date.now();
    const outcome = await run({
      input: { servers: ['99001'] },
      standIn: { OOKLA_STANDIN_PACKET_LOSS: 'unavailable' },
    });
    const result = timeless(outcome, started);
    const brussels: SpeedtestServer = {
      id: '99001',
      name: 'Brussels',
      sponsor: 'Far Away Telecom',
      host: 'speedtest.far.example:5060',
      url: null,
      country: 'Belgium',
      countryCode: null,
      lat: null,
      lon: null,
      distanceKm: null,
    };
    assert.deepEqual(outcome.args, [...ARGS, '-s', '99001']);
    assert.deepEqual(result.server, brussels);
    assert.deepEqual(result.pinged, [
      { server: AMSTERDAM, latencyMs: null, chosen: false },
      { server: ROTTERDAM, latencyMs: null, chosen: false },
      { server: UTRECHT, latencyMs: null, chosen: false },
      { server: brussels, latencyMs: 7.918, chosen: true },
    ]);
    // "Packet Loss: Not available." in the CLI's human format: the JSON has no packetLoss.
    assert.equal(result.packetLoss, null);
    assert.equal('packetLoss' in (result.raw as object), false);
  });

  test('speedtest-net is loaded only when a test runs', async () => {
    const script = `
      import { createRequire } from 'node:module';
      const cache = createRequire(import.meta.url).cache;
      const loaded = () => Object.keys(cache).some((path) => path.includes('/node_modules/speedtest-net/'));
      await import('./app/src/speedtest/ookla/engine.ts');
      const before = loaded();
      await import('speedtest-net');
      console.log(JSON.stringify({ before, after: loaded() }));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: REPO_ROOT },
    );
    // `after` proves the check can see the package at all.
    assert.deepEqual(JSON.parse(stdout), { before: false, after: true });
  });
});

describe('refusing to run', () => {
  test('no OOKLA_SPEEDTEST_BIN', async () => {
    const outcome = await run({ env: { OOKLA_SPEEDTEST_BIN: undefined } });
    assertFailed(outcome, 'binary-missing', `OOKLA_SPEEDTEST_BIN is not set: ${FIX}`);
    assert.deepEqual(outcome.requests, []);
  });

  test('a CLI path that does not exist', async () => {
    const missing = join(dir, 'no-such-speedtest');
    const outcome = await run({ env: { OOKLA_SPEEDTEST_BIN: missing } });
    assertFailed(
      outcome,
      'binary-missing',
      `OOKLA_SPEEDTEST_BIN=${missing} does not exist (ENOENT): ${FIX}`,
    );
  });

  test('a CLI that is not executable, or a directory', async () => {
    const plain = join(dir, 'speedtest-not-executable');
    await copyFile(bin, plain);
    await chmod(plain, 0o644);
    assertFailed(
      await run({ env: { OOKLA_SPEEDTEST_BIN: plain } }),
      'binary-missing',
      `OOKLA_SPEEDTEST_BIN=${plain} is not executable by this process: ${FIX}`,
    );
    assertFailed(
      await run({ env: { OOKLA_SPEEDTEST_BIN: dir } }),
      'binary-missing',
      `OOKLA_SPEEDTEST_BIN=${dir} is not a file: ${FIX}`,
    );
  });

  test('licence not accepted: nothing runs, nothing is fetched', async () => {
    const outcome = await run({ env: { OOKLA_ACCEPT_LICENSE: undefined } });
    assertFailed(
      outcome,
      'licence-not-accepted',
      'the Ookla licence and GDPR terms are not accepted: read https://www.speedtest.net/about/eula, ' +
        'https://www.speedtest.net/about/terms and https://www.speedtest.net/about/privacy, then set ' +
        'OOKLA_ACCEPT_LICENSE=true to accept them for this deployment',
    );
    assert.equal(outcome.args, null);
    assert.deepEqual(outcome.requests, []);
    // An explicit "false" is the same refusal.
    assertFailed(
      await run({ env: { OOKLA_ACCEPT_LICENSE: 'false' } }),
      'licence-not-accepted',
      /set OOKLA_ACCEPT_LICENSE=true/,
    );
  });

  test('no `ps` on PATH, which speedtest-net needs to stop the CLI', async () => {
    const empty = join(dir, 'empty-path');
    await mkdir(empty, { recursive: true });
    const outcome = await run({ engine: { searchPath: empty } });
    assertFailed(
      outcome,
      'binary-missing',
      'the ookla engine needs `ps` on PATH (Debian package procps): speedtest-net uses it to ' +
        'stop the Ookla CLI, and crashes the process without it',
    );
    assert.equal(outcome.args, null);
  });

  test('a server id that is not a number never reaches the CLI', async () => {
    const outcome = await run({ input: { servers: ['--help'] } });
    assertFailed(
      outcome,
      'engine-failed',
      'Ookla server ids are numbers (see the server list), got "--help"',
    );
    assert.equal(outcome.args, null);
  });
});

describe('the server list', () => {
  const url = (path: string) => `${apiBase}${path}`;

  test('unreachable', async () => {
    const port = await freePort();
    const listUrl = `http://127.0.0.1:${port}/api/js/servers`;
    const outcome = await run({ env: { OOKLA_SERVER_LIST_URL: listUrl } });
    assertFailed(
      outcome,
      'server-list',
      `Ookla server list ${listUrl} is unreachable (connect ECONNREFUSED 127.0.0.1:${port})`,
    );
    assert.equal(outcome.args, null);
  });

  test('answering HTTP 500', async () => {
    const outcome = await run({ env: { OOKLA_SERVER_LIST_URL: url('/error') } });
    assertFailed(
      outcome,
      'server-list',
      `Ookla server list ${url('/error')} answered HTTP 500 Internal Server Error`,
    );
    assert.equal(outcome.args, null);
  });

  test('never answering', STOP, async () => {
    const outcome = await run({
      env: { OOKLA_SERVER_LIST_URL: url('/silent') },
      engine: { serverListTimeoutMs: 300 },
    });
    assertFailed(
      outcome,
      'server-list',
      `Ookla server list ${url('/silent')} did not answer within 300 ms`,
    );
    assert.equal(outcome.args, null);
  });

  test('not JSON: cut short, or a captive portal', async () => {
    for (const path of ['/truncated', '/portal']) {
      const outcome = await run({ env: { OOKLA_SERVER_LIST_URL: url(path) } });
      assertFailed(
        outcome,
        'server-list',
        new RegExp(
          `^Ookla server list ${url(path).replace(/[.?]/g, '\\$&')} did not answer JSON \\(.+\\)$`,
        ),
      );
      assert.equal(outcome.args, null);
    }
  });

  test('JSON, but not a list of servers', async () => {
    assertFailed(
      await run({ env: { OOKLA_SERVER_LIST_URL: url('/wrong-shape') } }),
      'server-list',
      `Ookla server list ${url('/wrong-shape')} is not a server list as expected ` +
        '([1].lat: expected a number or a numeric string; [2].id: expected a numeric id; ' +
        '[2].lon: expected a number from -180 to 180)',
    );
    assertFailed(
      await run({ env: { OOKLA_SERVER_LIST_URL: url('/not-a-list') } }),
      'server-list',
      /^Ookla server list \S+ is not a server list as expected \(.*expected a list, got an object\)$/,
    );
    assertFailed(
      await run({ env: { OOKLA_SERVER_LIST_URL: url('/empty') } }),
      'server-list',
      `Ookla server list ${url('/empty')} is not a server list as expected (expected at least one server)`,
    );
  });
});

describe('the CLI failing', () => {
  const noResult = () =>
    `the Ookla CLI ${bin} exited without a result or an error line; run ` +
    `"${bin} -f json --accept-license --accept-gdpr" by hand to see what it says`;

  test('an error log line', async () => {
    const outcome = await run({ standIn: { OOKLA_STANDIN_MODE: 'error-log' } });
    assertFailed(
      outcome,
      'engine-failed',
      `the Ookla CLI ${bin} failed: Server Selection - Failed to find a working test server. (NoServers)`,
    );
    assert.deepEqual(outcome.args, ARGS);
  });

  test('an error object line', async () => {
    assertFailed(
      await run({ standIn: { OOKLA_STANDIN_MODE: 'error-object' } }),
      'engine-failed',
      `the Ookla CLI ${bin} failed: Cannot read from socket: Connection reset by peer`,
    );
  });

  test('a server id the CLI does not know', async () => {
    const outcome = await run({ input: { servers: ['12'] } });
    assertFailed(
      outcome,
      'engine-failed',
      `the Ookla CLI ${bin} failed: Configuration - No servers defined (NoServersException)`,
    );
    assert.deepEqual(outcome.args, [...ARGS, '-s', '12']);
  });

  test('an executable the system cannot start', async () => {
    const broken = join(dir, 'speedtest-bad-interpreter');
    await writeFile(broken, '#!/nonexistent/interpreter\n', { mode: 0o755 });
    assertFailed(
      await run({ env: { OOKLA_SPEEDTEST_BIN: broken } }),
      'engine-failed',
      `the Ookla CLI ${broken} could not be started: the system refused to execute it ` +
        '(a missing interpreter or dynamic loader?)',
    );
  });

  test('a non-zero exit with a message on stderr', async () => {
    assertFailed(
      await run({ standIn: { OOKLA_STANDIN_MODE: 'exit', OOKLA_STANDIN_TERMS: 'stored' } }),
      'engine-failed',
      `the Ookla CLI ${bin} failed: [2026-11-27 12:00:00.000] [error] Configuration - ` +
        'Could not retrieve or read configuration (ConfigurationError)',
    );
  });

  test('a non-zero exit right after the terms banner loses its message in speedtest-net', async () => {
    // speedtest-net drops every stderr line once it sees "License acceptance recorded", as a
    // fresh container prints on its first run: only the advice to run the CLI by hand is left.
    assertFailed(
      await run({ standIn: { OOKLA_STANDIN_MODE: 'exit' } }),
      'engine-failed',
      noResult(),
    );
  });

  test('an exit without any output', async () => {
    assertFailed(
      await run({ standIn: { OOKLA_STANDIN_MODE: 'silent-exit' } }),
      'engine-failed',
      noResult(),
    );
  });

  test('garbage instead of JSON lines', async () => {
    assertFailed(
      await run({ standIn: { OOKLA_STANDIN_MODE: 'garbage' } }),
      'engine-failed',
      noResult(),
    );
  });

  test('a result line of the wrong shape', async () => {
    assertFailed(
      await run({ standIn: { OOKLA_STANDIN_MODE: 'bad-result' } }),
      'engine-failed',
      `the Ookla CLI ${bin} printed a result in an unexpected shape ` +
        '(download.bandwidth: expected a number, got text)',
    );
  });

  test('the CLI still asking for its licence', async () => {
    const outcome = await run({ standIn: { OOKLA_STANDIN_MODE: 'licence-prompt' } });
    assertFailed(
      outcome,
      'licence-not-accepted',
      `the Ookla CLI ${bin} still asks for its terms to be accepted, although ` +
        'OOKLA_ACCEPT_LICENSE=true made the engine pass --accept-license and --accept-gdpr; ' +
        `run "${bin} --accept-license --accept-gdpr" once as the worker's user to see why`,
    );
    assert.deepEqual(outcome.args, ARGS);
  });
});

describe('stopping a run', () => {
  const alive = async (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      assert.equal((error as NodeJS.ErrnoException).code, 'ESRCH');
      return false;
    }
  };

  test('aborting mid-measurement kills the CLI', STOP, async () => {
    const pidFile = join(dir, 'hang.pid');
    pidFiles.push(pidFile);
    const controller = new AbortController();
    const outcome = await run({
      standIn: { OOKLA_STANDIN_MODE: 'hang', OOKLA_STANDIN_PID_FILE: pidFile },
      input: { signal: controller.signal },
      during: async (lines) => {
        await waitFor(() => lines.includes('info: Ookla CLI: measuring latency'), {
          what: 'the CLI to start measuring',
        });
        controller.abort(new Error('speed test timeout of 1000 ms exceeded'));
      },
    });
    assertFailed(
      outcome,
      'timeout',
      'the Ookla speed test was stopped before it finished: speed test timeout of 1000 ms exceeded',
    );
    const pid = Number(await readFile(pidFile, 'utf8'));
    assert.ok(pid > 0);
    await waitFor(async () => !(await alive(pid)), {
      what: `the stand-in CLI (pid ${pid}) to die`,
    });
  });

  test('aborting while the server list is awaited', STOP, async () => {
    const controller = new AbortController();
    const outcome = await run({
      env: { OOKLA_SERVER_LIST_URL: `${apiBase}/silent` },
      input: { signal: controller.signal },
      during: async () => {
        await waitFor(() => requests.includes('/silent'), { what: 'the server-list request' });
        controller.abort(new Error('worker shutting down'));
      },
    });
    assertFailed(
      outcome,
      'timeout',
      'the Ookla speed test was stopped before it finished: worker shutting down',
    );
    assert.equal(outcome.args, null);
  });

  test('a run whose signal is already aborted does nothing', STOP, async () => {
    const outcome = await run({ input: { signal: AbortSignal.abort(new Error('too late')) } });
    assertFailed(
      outcome,
      'timeout',
      'the Ookla speed test was stopped before it finished: too late',
    );
    assert.equal(outcome.args, null);
    assert.deepEqual(outcome.requests, []);
  });
});

test('speedtest-net never downloaded a CLI of its own', async () => {
  // Its downloader writes into these folders next to its index.js.
  for (const folder of ['binaries', 'pkg']) {
    await assert.rejects(
      access(join(REPO_ROOT, 'node_modules', 'speedtest-net', folder)),
      { code: 'ENOENT' },
      `node_modules/speedtest-net/${folder} exists`,
    );
  }
});

describe('what lands in the database', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv();
  });
  after(() => env.cleanup());

  test('a stored Ookla result: the test, its servers with coordinates, every candidate, the client', async () => {
    const outcome = await run();
    assert.ok(outcome.result, String(outcome.error));
    const id = await storeSpeedtest(env.db, outcome.result);
    const sql = <T extends object>(query: string) =>
      env.db.sequelize.query<T>(query, { bind: [id], type: QueryTypes.SELECT });

    const [test] = await sql<Record<string, unknown>>(
      `SELECT engine, download_bps, upload_bps, ping_ms, jitter_ms, packet_loss, bytes_received,
              bytes_sent, result_url, self_test, raw->'server'->>'ip' AS server_ip
         FROM speedtests WHERE id = $1`,
    );
    assert.deepEqual(test, {
      engine: 'ookla',
      download_bps: 938_274_520,
      upload_bps: 337_360_176,
      ping_ms: 7.918,
      jitter_ms: 0.412,
      packet_loss: 0.25,
      bytes_received: '1052860420',
      bytes_sent: '380211604',
      result_url: 'https://www.speedtest.net/result/c/5f1c2e7a-0b1d-4c55-9a57-3e2f8d1c6b40',
      self_test: false,
      server_ip: '203.0.113.10',
    });
    const pinged = await sql<Record<string, unknown>>(
      `SELECT s.external_id, s.name, s.sponsor, s.country_code, s.lat, s.lon, p.distance_km,
              p.latency_ms, p.chosen, (t.server_id = s.id) AS is_test_server
         FROM speedtest_server_pings p
         JOIN speedtest_servers s ON s.id = p.server_id
         JOIN speedtests t ON t.id = p.speedtest_id
        WHERE p.speedtest_id = $1 ORDER BY s.external_id`,
    );
    assert.deepEqual(pinged, [
      {
        external_id: '11433',
        name: 'Rotterdam',
        sponsor: 'Harbour Net',
        country_code: 'NL',
        lat: 51.9225,
        lon: 4.4792,
        distance_km: 57,
        latency_ms: null,
        chosen: false,
        is_test_server: false,
      },
      {
        external_id: '30847',
        name: 'Utrecht',
        sponsor: 'Domstad Internet',
        country_code: 'NL',
        lat: 52.0907,
        lon: 5.1214,
        distance_km: 34,
        latency_ms: null,
        chosen: false,
        is_test_server: false,
      },
      {
        external_id: '4302',
        name: 'Amsterdam',
        sponsor: 'Example Fiber',
        country_code: 'NL',
        lat: 52.374,
        lon: 4.8897,
        distance_km: 3,
        latency_ms: 7.918,
        chosen: true,
        is_test_server: true,
      },
    ]);
    const [client] = await sql<Record<string, unknown>>(
      'SELECT host(c.ip) AS ip, c.isp FROM clients c JOIN speedtests t ON t.client_id = c.id WHERE t.id = $1',
    );
    assert.deepEqual(client, { ip: '198.51.100.23', isp: 'Polder Broadband' });

    // A second test reuses the servers and the client instead of duplicating them.
    await storeSpeedtest(env.db, (await run()).result!);
    assert.equal(await env.db.models.SpeedtestServer.count(), 3);
    assert.equal(await env.db.models.Client.count(), 1);
    assert.equal(await env.db.models.Speedtest.count(), 2);
  });
});
