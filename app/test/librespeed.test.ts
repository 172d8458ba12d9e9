// The librespeed engine over real sockets: against the built-in target, and against servers that
// misbehave in the ways real ones do (slow, stalled, erroring, closing early, absent).
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { SpeedtestError, type EngineInput } from '../src/speedtest/engine.ts';
import { createLibreSpeedEngine } from '../src/speedtest/index.ts';
import { fetchServerList } from '../src/speedtest/librespeed/servers.ts';
import { speedtestTarget } from '../src/speedtest/target.ts';
import { spawnTs } from '../../testing/child.ts';
import { freePort } from '../../testing/ports.ts';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

async function listen(server: Server): Promise<number> {
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return port;
}

/** The built-in target; from loopback, by default exempt from its per-client limits. */
function targetApp(rateLimitPerMinute = 100_000, unlimitedCidrs?: string[]): Server {
  const app = express();
  app.use('/speedtest', speedtestTarget({ rateLimitPerMinute, unlimitedCidrs }));
  return createServer(app);
}

/** A LibreSpeed-like backend whose endpoints a test scripts by hand. */
function scripted(routes: Record<string, Handler>): Server {
  return createServer((request, response) => {
    const name = Object.keys(routes).find((path) => request.url?.includes(path));
    if (name) routes[name]!(request, response);
    else response.writeHead(404).end();
  });
}

const quick = (overrides: Partial<EngineInput> = {}): EngineInput => ({
  servers: [],
  streams: 2,
  durationMs: 800,
  warmupMs: 200,
  pings: 5,
  signal: new AbortController().signal,
  log: () => undefined,
  ...overrides,
});

const engineFor = (port: number) =>
  createLibreSpeedEngine({
    PORT: port,
    SPEEDTEST_TARGET_PATH: '/speedtest',
    SPEEDTEST_SELF_URL: undefined,
    SPEEDTEST_SERVER_LIST_URL: undefined,
  });

async function rejectsWith(work: Promise<unknown>, kind: string, message: RegExp) {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(error instanceof SpeedtestError, `not a SpeedtestError: ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    assert.match(error.message, message);
    return true;
  });
}

describe('librespeed engine', () => {
  const servers: Server[] = [];
  let targetPort: number;

  before(async () => {
    const target = targetApp();
    servers.push(target);
    targetPort = await listen(target);
  });
  after(() => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
  });
  const serve = async (server: Server) => {
    servers.push(server);
    return listen(server);
  };

  test('with nothing configured it measures the built-in target and says it was a self-test', async () => {
    const lines: string[] = [];
    const result = await engineFor(targetPort).run(quick({ log: (line) => lines.push(line) }));
    assert.equal(result.engine, 'librespeed');
    assert.equal(result.selfTest, true);
    assert.ok(result.downloadBps > 10e6, `download ${result.downloadBps}`);
    assert.ok(result.uploadBps > 10e6, `upload ${result.uploadBps}`);
    assert.ok(result.pingMs > 0 && result.pingMs < 100, `ping ${result.pingMs}`);
    assert.ok(result.jitterMs !== null && result.jitterMs >= 0);
    assert.equal(result.packetLoss, null);
    assert.ok(result.bytesReceived > 0 && result.bytesSent > 0);
    assert.deepEqual(result.client, { ip: '127.0.0.1' });
    assert.equal(result.server.url, `http://127.0.0.1:${targetPort}/speedtest/`);
    assert.deepEqual(
      result.pinged.map((p) => [p.server.id, p.chosen, p.latencyMs === result.pingMs]),
      [[`http://127.0.0.1:${targetPort}/speedtest/`, true, true]],
    );
    assert.equal((result.raw as { pingSamplesMs: number[] }).pingSamplesMs.length, 5);
    assert.ok(
      lines.some((line) => /^download: [\d.]+ Mbit\/s over 2 streams/.test(line)),
      lines.join('\n'),
    );
  });

  test('the figures are bytes moved in the measured window, not the warm-up', async () => {
    // A link slowed to ~4 MB/s by the server itself: the measured rate must match what it sends.
    const rate = 4 * 1024 * 1024;
    const port = await serve(
      scripted({
        'garbage.php': (_request, response) => {
          response.writeHead(200, { 'content-type': 'application/octet-stream' });
          const timer = setInterval(() => response.write(Buffer.alloc(rate / 20)), 50);
          response.on('close', () => clearInterval(timer));
        },
        'empty.php': (request, response) => {
          request.resume();
          request.on('end', () => response.end());
        },
        'getIP.php': (_request, response) => response.end('127.0.0.1'),
      }),
    );
    const result = await engineFor(port).run(
      quick({
        servers: [`http://127.0.0.1:${port}/`],
        streams: 1,
        durationMs: 2000,
        warmupMs: 500,
      }),
    );
    const ratio = result.downloadBps / (rate * 8);
    assert.ok(ratio > 0.9 && ratio < 1.1, `measured ${result.downloadBps} for ${rate * 8} bit/s`);
    assert.equal(result.selfTest, false);
    assert.deepEqual(result.client, { ip: '127.0.0.1' }, 'a plain-text getIP answer is understood');
  });

  test('the lowest-latency candidate is chosen and every candidate is recorded', async () => {
    const app = express();
    app.use('/slow', (_request, _response, next) => setTimeout(next, 40));
    app.use('/slow', speedtestTarget({ rateLimitPerMinute: 100_000 }));
    app.use('/fast', speedtestTarget({ rateLimitPerMinute: 100_000 }));
    const port = await serve(createServer(app));
    const slow = `http://127.0.0.1:${port}/slow/`;
    const fast = `http://127.0.0.1:${port}/fast/`;
    const dead = `http://127.0.0.1:${await freePort()}/`;
    const result = await engineFor(targetPort).run(quick({ servers: [slow, dead, fast] }));
    assert.equal(result.server.id, fast);
    const byId = new Map(result.pinged.map((p) => [p.server.id, p]));
    assert.equal(byId.get(fast)?.chosen, true);
    assert.equal(byId.get(slow)?.chosen, false);
    assert.ok((byId.get(slow)?.latencyMs ?? 0) >= 40, `slow ${byId.get(slow)?.latencyMs}`);
    assert.equal(byId.get(dead)?.latencyMs, null);
    assert.equal(byId.get(dead)?.chosen, false);
  });

  test('a server that stalls the download is reported, not measured as zero', async () => {
    const port = await serve(
      scripted({
        'garbage.php': (_request, response) => response.writeHead(200).flushHeaders(),
        'empty.php': (request, response) => request.resume().on('end', () => response.end()),
        'getIP.php': (_request, response) => response.end('{"processedString":"127.0.0.1"}'),
      }),
    );
    await rejectsWith(
      engineFor(port).run(quick({ servers: [`http://127.0.0.1:${port}/`] })),
      'bad-answer',
      /moved no data during the download test/,
    );
  });

  test('a server that answers errors is reported with the status', async () => {
    const port = await serve(
      scripted({
        'garbage.php': (_request, response) => response.writeHead(500).end('oops'),
        'empty.php': (request, response) => request.resume().on('end', () => response.end()),
        'getIP.php': (_request, response) => response.end('127.0.0.1'),
      }),
    );
    await rejectsWith(
      engineFor(port).run(quick({ servers: [`http://127.0.0.1:${port}/`] })),
      'bad-answer',
      /the download failed 20 times \(last: the download request answered HTTP 500\)/,
    );
    const pingless = await serve(scripted({}));
    await rejectsWith(
      engineFor(pingless).run(quick({ servers: [`http://127.0.0.1:${pingless}/`] })),
      'all-servers-failed',
      /every speed test server failed \(127\.0\.0\.1:\d+: .*HTTP 404/,
    );
  });

  test('a server that closes connections early is given up on, naming it', async () => {
    const port = await serve(
      scripted({
        'garbage.php': (request, response) => {
          response.writeHead(200, { 'content-length': String(1024 * 1024) });
          response.write(Buffer.alloc(1024));
          setTimeout(() => request.socket.destroy(), 5);
        },
        'empty.php': (request, response) => request.resume().on('end', () => response.end()),
        'getIP.php': (_request, response) => response.end('127.0.0.1'),
      }),
    );
    await rejectsWith(
      engineFor(port).run(quick({ servers: [`http://127.0.0.1:${port}/`] })),
      'bad-answer',
      /^127\.0\.0\.1:\d+: the download failed 20 times/,
    );
  });

  test('latency under load: pings on their own connection while each direction runs', async () => {
    // A server whose ping answers 40 ms late while a download runs and 80 ms late while an
    // upload runs, at once otherwise: the engine must file each sample under its direction.
    let downloads = 0;
    let uploads = 0;
    const port = await serve(
      scripted({
        'garbage.php': (_request, response) => {
          downloads++;
          response.writeHead(200, { 'content-type': 'application/octet-stream' });
          const timer = setInterval(() => response.write(Buffer.alloc(64 * 1024)), 5);
          response.on('close', () => {
            clearInterval(timer);
            downloads--;
          });
        },
        'empty.php': (request, response) => {
          if (request.method === 'POST') {
            uploads++;
            request.resume();
            request.on('close', () => uploads--);
            request.on('end', () => response.end());
            return;
          }
          const delay = downloads > 0 ? 40 : uploads > 0 ? 80 : 0;
          setTimeout(() => response.end(), delay);
        },
        'getIP.php': (_request, response) => response.end('127.0.0.1'),
      }),
    );
    const result = await engineFor(port).run(
      quick({ servers: [`http://127.0.0.1:${port}/`], durationMs: 1_500, warmupMs: 300 }),
    );
    assert.ok(result.pingMs < 20, `idle ping ${result.pingMs}`);
    const down = result.downloadLatency;
    const up = result.uploadLatency;
    assert.ok(down && down.latencyMs >= 40 && down.latencyMs < 60, `download ${down?.latencyMs}`);
    assert.ok(up && up.latencyMs >= 80 && up.latencyMs < 100, `upload ${up?.latencyMs}`);
    assert.ok(down.jitterMs !== null && down.jitterMs < 10, `download jitter ${down.jitterMs}`);
    const raw = result.raw as {
      loadedLatency: { periodMs: number; downloadSamplesMs: number[]; uploadSamplesMs: number[] };
    };
    // One probe every 200 ms (or when the last answers) over 1.5 s: about 6 per direction.
    assert.equal(raw.loadedLatency.periodMs, 200);
    assert.ok(raw.loadedLatency.downloadSamplesMs.length >= 4, 'download samples');
    assert.ok(raw.loadedLatency.uploadSamplesMs.length >= 4, 'upload samples');
  });

  test('source address, interface and IP family: bound, recorded, and refused clearly', async () => {
    const url = `http://127.0.0.1:${targetPort}/speedtest/`;
    const source = (s: Partial<NonNullable<EngineInput['source']>>) => ({
      sourceAddress: null,
      interface: null,
      family: null,
      ...s,
    });
    const bound = await engineFor(targetPort).run(
      quick({ servers: [url], source: source({ sourceAddress: '127.0.0.1' }) }),
    );
    assert.deepEqual(bound.source, { address: '127.0.0.1', interface: null, family: 4 });
    const viaInterface = await engineFor(targetPort).run(
      quick({ servers: [url], source: source({ interface: 'lo', family: 4 }) }),
    );
    assert.deepEqual(viaInterface.source, { address: '127.0.0.1', interface: 'lo', family: 4 });

    await rejectsWith(
      engineFor(targetPort).run(quick({ servers: [url], source: source({ family: 6 }) })),
      'bad-source',
      /^127\.0\.0\.1:\d+ has an IPv4 address and cannot be reached over IPv6$/,
    );
    await rejectsWith(
      engineFor(targetPort).run(
        quick({ servers: [url], source: source({ sourceAddress: '192.0.2.77' }) }),
      ),
      'bad-source',
      /^sourceAddress 192\.0\.2\.77 is not an address of this host \(it has .*127\.0\.0\.1/,
    );
    await rejectsWith(
      engineFor(targetPort).run(quick({ servers: [url], source: source({ interface: 'nope0' }) })),
      'bad-source',
      /^interface "nope0" does not exist on this host \(it has .*\blo\b/,
    );
    await rejectsWith(
      engineFor(targetPort).run(
        quick({ servers: [url], source: source({ sourceAddress: '127.0.0.1', family: 6 }) }),
      ),
      'bad-source',
      /^sourceAddress 127\.0\.0\.1 is IPv4 but family is IPv6$/,
    );
    await rejectsWith(
      engineFor(targetPort).run(
        quick({
          servers: [`http://name.invalid:${targetPort}/`],
          source: source({ family: 6 }),
        }),
      ),
      'bad-source',
      /^name\.invalid has no IPv6 address \(the schedule asks for IPv6\)$/,
    );
  });

  test('no server listening anywhere is "no route"', async () => {
    const dead = [await freePort(), await freePort()].map((p) => `http://127.0.0.1:${p}/`);
    await rejectsWith(
      engineFor(targetPort).run(quick({ servers: dead })),
      'no-route',
      /^no route to any speed test server \(127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
  });

  test('an abort stops the test at once', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('stop now')), 300);
    await rejectsWith(
      engineFor(targetPort).run(quick({ durationMs: 10_000, signal: controller.signal })),
      'timeout',
      /^the LibreSpeed speed test was stopped before it finished: stop now$/,
    );
    assert.ok(Date.now() - started < 3_000);
  });

  test('an abort while the client address is asked for stops the test at once too', async () => {
    const controller = new AbortController();
    // The abort arrives while the engine waits for getIP, whose failure it only logs.
    const port = await serve(
      scripted({
        'garbage.php': (_request, response) => response.end(Buffer.alloc(1024)),
        'empty.php': (request, response) => request.resume().on('end', () => response.end()),
        'getIP.php': () => controller.abort(new Error('stop now')),
      }),
    );
    const started = Date.now();
    await rejectsWith(
      engineFor(port).run(quick({ servers: [`http://127.0.0.1:${port}/`], durationMs: 10_000, signal: controller.signal })),
      'timeout',
      /^the LibreSpeed speed test was stopped before it finished: stop now$/,
    );
    assert.ok(Date.now() - started < 3_000, `stopped after ${Date.now() - started} ms`);
  }); // prettier-ignore

  test('server lists: LibreSpeed format accepted, anything else refused naming the URL', async () => {
    const port = await serve(
      scripted({
        '/good': (_request, response) =>
          response.end(
            JSON.stringify([
              {
                id: 7,
                name: 'Relative',
                server: '/backend',
                dlURL: 'garbage.php',
                ulURL: 'empty.php',
                pingURL: 'empty.php',
                getIpURL: 'getIP.php',
                sponsorName: 'Acme',
              },
              {
                name: 'Absolute',
                server: '//speed.example/lib/',
                dlURL: 'g',
                ulURL: 'u',
                pingURL: 'p',
                getIpURL: 'i',
              },
            ]),
          ),
        '/bad': (_request, response) => response.end('[{"name":"no server"}]'),
        '/broken': (_request, response) => response.writeHead(502).end(),
      }),
    );
    const signal = new AbortController().signal;
    const list = await fetchServerList(`http://127.0.0.1:${port}/good`, signal);
    assert.deepEqual(
      list.map((s) => [s.id, s.name, s.sponsor, s.base, s.download]),
      [
        ['7', 'Relative', 'Acme', `http://127.0.0.1:${port}/backend/`, 'garbage.php'],
        ['http://speed.example/lib/', 'Absolute', null, 'http://speed.example/lib/', 'g'],
      ],
    );
    await rejectsWith(
      fetchServerList(`http://127.0.0.1:${port}/bad`, signal),
      'server-list',
      /server list http:\/\/127\.0\.0\.1:\d+\/bad is malformed: entry 0\.server: /,
    );
    await rejectsWith(
      fetchServerList(`http://127.0.0.1:${port}/broken`, signal),
      'server-list',
      /cannot read the LibreSpeed server list .*: it answered HTTP 502/,
    );
  });

  test('`refresher speedtest` prints one test, and refuses bad flags', async () => {
    const env = { DATABASE_URL: 'postgres://127.0.0.1/unused', LOG_LEVEL: 'silent' };
    const run = spawnTs(
      'app/bin/refresher.js',
      ['speedtest', '--server', `http://127.0.0.1:${targetPort}/speedtest/`, '--seconds', '1'],
      env,
    );
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), /^server {4}127\.0\.0\.1:\d+$/m);
    assert.match(run.output(), /^download {2}[\d.]+ Mbit\/s$/m);
    assert.match(run.output(), /^upload {4}[\d.]+ Mbit\/s$/m);
    const bad = spawnTs('app/bin/refresher.js', ['speedtest', '--engine', 'fast.com'], env);
    assert.equal(await bad.exited, 2);
    assert.match(bad.output(), /--engine must be one of librespeed, ookla \(got "fast\.com"\)/);
    const nobody = spawnTs(
      'app/bin/refresher.js',
      ['speedtest', '--server', `http://127.0.0.1:${await freePort()}/`, '--seconds', '1'],
      env,
    );
    assert.equal(await nobody.exited, 1);
    assert.match(
      nobody.output(),
      /speed test failed \(no-route\): no route to any speed test server/,
    );
  });

  test('the target limits how often one address may call it', async () => {
    // Loopback is exempt from the limits unless the exempt list says otherwise (here: none).
    // The byte and stream limits have their own tests (speedtest-target.test.ts).
    const limited = await serve(targetApp(3, []));
    const url = `http://127.0.0.1:${limited}/speedtest/empty.php`;
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(url)).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    const garbage = await fetch(`http://127.0.0.1:${targetPort}/speedtest/garbage?ckSize=2`);
    assert.equal(garbage.headers.get('content-length'), String(2 * 1024 * 1024));
    assert.match(garbage.headers.get('cache-control') ?? '', /no-store/);
    assert.equal((await garbage.arrayBuffer()).byteLength, 2 * 1024 * 1024);
  });
});
