// The built-in speed test target's per-client limits, over real sockets on loopback: transfers at
// once, bytes per minute (cut off as they flow, both ways), the exempt networks, one budget per
// client address (behind a trusted proxy, per IPv6 /64), and that one honest test still fits.
// Budgets are a few MiB so nothing here moves much; every read stops past what a limit allows,
// so a broken limit fails the test instead of sending gigabytes.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { after, describe, test } from 'node:test';
import express from 'express';
import { envSchema } from '../../contract/env.ts';
import { loadConfig } from '../src/config.ts';
import { createLibreSpeedEngine } from '../src/speedtest/index.ts';
import { ClientLimits, clientKey } from '../src/speedtest/target-limits.ts';
import { speedtestTarget, TARGET_DEFAULTS, type TargetOptions } from '../src/speedtest/target.ts';
import { freePort } from '../../testing/ports.ts';

const MIB = 1024 * 1024;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Body bytes received (a download's, counted as they arrive). */
  bytes: number;
  /** The body as text, when it is JSON (a refusal). */
  json?: { error?: string };
  /** Set when the connection was cut before the body's end. */
  cut: boolean;
}

const servers: Server[] = [];
after(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

/** A target on loopback; `trustProxy` lets a test be any client through X-Forwarded-For. */
async function target(options: Partial<TargetOptions>, trustProxy = false): Promise<string> {
  const app = express();
  if (trustProxy) app.set('trust proxy', 'loopback');
  app.use('/speedtest', speedtestTarget({ rateLimitPerMinute: 100_000, ...options }));
  const server = createServer(app);
  servers.push(server);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return `http://127.0.0.1:${port}/speedtest`;
}

/**
 * One request on a connection of its own. The body is counted and dropped; past `stopAfter`
 * bytes the request is destroyed (the limit under test failed, and the test says so).
 */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; stopAfter?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (response) => {
        let bytes = 0;
        const chunks: Buffer[] = [];
        const json = /json/.test(String(response.headers['content-type']));
        let settled = false;
        const done = (cut: boolean) => {
          if (settled) return;
          settled = true;
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            bytes,
            cut,
            ...(json ? { json: JSON.parse(Buffer.concat(chunks).toString() || '{}') } : {}),
          });
        };
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (json) chunks.push(chunk);
          if (options.stopAfter !== undefined && bytes > options.stopAfter) {
            request.destroy();
            done(true);
          }
        });
        response.on('end', () => done(!response.complete));
        response.on('aborted', () => done(true));
        response.on('error', () => done(true));
        response.on('close', () => done(!response.complete));
      },
    );
    request.on('error', reject);
    request.end();
  });
}

/**
 * Posts `total` bytes in 64 KiB writes, honouring backpressure, until the server answers or cuts
 * the connection; resolves with what was handed to the socket and the answer's status, if any.
 */
function upload(url: string, total: number): Promise<{ written: number; status?: number }> {
  return new Promise((resolve) => {
    const piece = Buffer.alloc(64 * 1024, 0x5a);
    let written = 0;
    let status: number | undefined;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      request.destroy();
      resolve({ written, status });
    };
    const timer = setTimeout(finish, 15_000);
    const request = httpRequest(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(total) },
    });
    request.on('response', (response) => {
      status = response.statusCode;
      response.resume();
      response.on('end', finish);
      response.on('close', finish);
    });
    request.on('error', finish);
    request.on('close', finish);
    const pump = () => {
      while (!finished && written < total) {
        written += piece.length;
        if (!request.write(piece)) return void request.once('drain', pump);
      }
      if (!finished) request.end();
    };
    pump();
  });
}

describe('the speed test target’s limits', () => {
  test('its defaults are the environment’s, and the environment refuses nonsense', () => {
    const env = envSchema.parse({});
    assert.equal(env.SPEEDTEST_TARGET_MAX_STREAMS, TARGET_DEFAULTS.maxStreams);
    assert.equal(env.SPEEDTEST_TARGET_MIB_PER_MINUTE, TARGET_DEFAULTS.mibPerMinute);
    assert.deepEqual(env.SPEEDTEST_TARGET_UNLIMITED_CIDRS, TARGET_DEFAULTS.unlimitedCidrs);
    assert.deepEqual(
      loadConfig({ SPEEDTEST_TARGET_UNLIMITED_CIDRS: '10.0.0.0/8, 2001:db8::/32,192.0.2.7' })
        .SPEEDTEST_TARGET_UNLIMITED_CIDRS,
      ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7/32'],
    );
    assert.deepEqual(
      loadConfig({ SPEEDTEST_TARGET_UNLIMITED_CIDRS: 'none' }).SPEEDTEST_TARGET_UNLIMITED_CIDRS,
      [],
    );
    for (const [env, message] of [
      [{ SPEEDTEST_TARGET_MAX_STREAMS: '0' }, /MAX_STREAMS: expected a number greater than 0/],
      [{ SPEEDTEST_TARGET_MAX_STREAMS: '65' }, /MAX_STREAMS: expected at most 64/],
      [{ SPEEDTEST_TARGET_MIB_PER_MINUTE: 'lots' }, /MIB_PER_MINUTE: expected a whole number/],
      [
        { SPEEDTEST_TARGET_UNLIMITED_CIDRS: '10.0.0.0/33' },
        /UNLIMITED_CIDRS: expected comma-separated networks such as 127\.0\.0\.0\/8,::1\/128, or none \("10\.0\.0\.0\/33" is not one\)/,
      ],
      [{ SPEEDTEST_TARGET_UNLIMITED_CIDRS: 'localhost' }, /"localhost" is not one/],
      [{ SPEEDTEST_TARGET_UNLIMITED_CIDRS: '10.0.0.0/8,' }, /"" is not one/],
    ] as const)
      assert.throws(() => loadConfig(env), message);
  });

  test('8 parallel huge downloads from one client: extra streams get 429, all of them together only the budget', async () => {
    const budget = 8 * MIB;
    const url = await target({ unlimitedCidrs: [], maxStreams: 6, mibPerMinute: 8 });
    const started = Date.now();
    // 99999999999 MiB asked, 1 GiB each allowed by the per-request cap: 8 GiB without the budget.
    const replies = await Promise.all(
      Array.from({ length: 8 }, () =>
        send(`${url}/garbage?ckSize=99999999999`, { stopAfter: budget + MIB }),
      ),
    );
    // The bucket refills at the budget per minute while this runs: that is the margin.
    const margin = Math.ceil((budget * (Date.now() - started + 1000)) / 60_000);
    const total = replies.reduce((sum, reply) => sum + reply.bytes, 0);
    assert.ok(total <= budget + margin, `${total} bytes moved, budget ${budget}`);
    assert.ok(total >= budget - MIB, `only ${total} bytes moved`);
    const refused = replies.filter((reply) => reply.status === 429);
    const served = replies.filter((reply) => reply.status === 200);
    assert.equal(refused.length + served.length, 8);
    assert.ok(served.length <= 6 && refused.length >= 2, replies.map((r) => r.status).join(' '));
    for (const reply of served) assert.equal(reply.cut, true, 'cut off, not ended as complete');
    for (const reply of refused)
      assert.match(reply.json?.error ?? '', /at most 6|budget \(8 MiB per minute\)/);

    const after = await send(`${url}/garbage?ckSize=1`);
    assert.equal(after.status, 429);
    assert.match(
      after.json?.error ?? '',
      /used its speed test budget \(8 MiB per minute\); try again in \d+ s/,
    );
    assert.ok(Number(after.headers['retry-after']) >= 1);
  });

  test('transfers at once: the one past the limit gets 429 at once; a closed one frees its place', async () => {
    const url = await target({ unlimitedCidrs: [], maxStreams: 6, mibPerMinute: 1024 });
    // Nothing reads these bodies: the server's writes stall on backpressure and stay open.
    const open: ReturnType<typeof httpRequest>[] = [];
    const statuses = await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<{ status: number; error?: string }>((resolve, reject) => {
            const request = httpRequest(`${url}/garbage?ckSize=1024`, { agent: false });
            open.push(request);
            request.on('response', (response) => {
              if (response.statusCode !== 429) return resolve({ status: response.statusCode ?? 0 });
              let body = '';
              response.on('data', (chunk: Buffer) => (body += chunk.toString()));
              response.on('end', () =>
                resolve({ status: 429, error: (JSON.parse(body) as { error: string }).error }),
              );
            });
            request.on('error', reject);
            request.end();
          }),
      ),
    );
    try {
      assert.deepEqual(
        statuses.map((s) => s.status).sort(),
        [200, 200, 200, 200, 200, 200, 429, 429],
      );
      for (const refused of statuses.filter((s) => s.status === 429))
        assert.equal(
          refused.error,
          'too many simultaneous speed test transfers from this address (at most 6)',
        );
    } finally {
      for (const request of open) request.destroy();
    }
    // The server sees the closes a moment later; then there is room again.
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = (await send(`${url}/garbage?ckSize=1`)).status;
    }
    assert.equal(status, 200);
  });

  test('an upload past the budget is cut off, and counts against the downloads too', async () => {
    const budget = 4 * MIB;
    const url = await target({ unlimitedCidrs: [], mibPerMinute: 4 });
    const result = await upload(`${url}/empty`, 128 * MIB);
    // What was handed to the socket includes what the kernel's buffers held when the cut came.
    assert.ok(result.written < budget + 32 * MIB, `wrote ${result.written} bytes`);
    assert.ok(result.status === undefined || result.status === 429, `status ${result.status}`);
    const download = await send(`${url}/garbage?ckSize=1`);
    assert.equal(download.status, 429, 'the budget is spent');
  });

  test('an exempt client gets everything it asks for, at once and in full', async () => {
    const url = await target({ unlimitedCidrs: ['127.0.0.0/8'], maxStreams: 1, mibPerMinute: 1 });
    const replies = await Promise.all(
      Array.from({ length: 3 }, () => send(`${url}/garbage?ckSize=4`, { stopAfter: 4 * MIB })),
    );
    assert.deepEqual(
      replies.map((r) => [r.status, r.bytes, r.cut]),
      Array(3).fill([200, 4 * MIB, false]),
    );
    assert.deepEqual(await upload(`${url}/empty`, 8 * MIB), { written: 8 * MIB, status: 200 });
  });

  test('each client address has its own budget; IPv6 addresses count by their /64', async () => {
    // Behind a trusted proxy (loopback here), the client is the X-Forwarded-For address.
    const url = await target(
      { unlimitedCidrs: ['10.0.0.0/8'], mibPerMinute: 2, rateLimitPerMinute: 3 },
      true,
    );
    const as = (ip: string, path = '/garbage?ckSize=4') =>
      send(`${url}${path}`, { headers: { 'x-forwarded-for': ip }, stopAfter: 4 * MIB });

    const first = await as('203.0.113.5');
    assert.equal(first.status, 200);
    assert.ok(first.cut && first.bytes <= 2 * MIB + 64 * 1024, `${first.bytes} bytes`);
    assert.equal((await as('203.0.113.5')).status, 429);
    const other = await as('203.0.113.6');
    assert.ok(other.status === 200 && other.bytes > MIB, 'another address, another budget');

    const exempt = await as('10.1.2.3');
    assert.deepEqual([exempt.status, exempt.bytes, exempt.cut], [200, 4 * MIB, false]);
    // Exempt from the request rate too (3 per minute here).
    for (let i = 0; i < 4; i++) assert.equal((await as('10.1.2.3', '/getIP')).status, 200);
    assert.equal((await as('203.0.113.5', '/getIP')).status, 200, 'its 3rd request this minute');
    assert.equal((await as('203.0.113.5', '/getIP')).status, 429, 'its 4th');

    assert.equal((await as('2001:db8:1:2::1')).status, 200);
    assert.equal((await as('2001:db8:1:2:ffff::99')).status, 429, 'the same /64');
    assert.equal((await as('2001:db8:1:3::1')).status, 200, 'the next /64');
  });

  test('state stays small: clients are forgotten once their bucket is full again, and capped', () => {
    let now = 0;
    const limits = new ClientLimits({
      maxStreams: 2,
      bytesPerMinute: 10 * MIB,
      maxClients: 3,
      now: () => now,
    });
    const first = limits.admit('a');
    assert.ok(first.ok);
    assert.equal(first.meter.take(6 * MIB), 6 * MIB);
    assert.equal(first.meter.take(6 * MIB), 4 * MIB, 'only what is left');
    first.release();
    first.release(); // twice counts once
    const spent = limits.admit('a');
    assert.deepEqual(spent, { ok: false, reason: 'budget', retryAfterSeconds: 6 });
    now += 30_000; // half a minute: half the budget back
    const half = limits.admit('a');
    assert.ok(half.ok);
    assert.equal(half.meter.take(10 * MIB), 5 * MIB);
    half.release();

    for (const key of ['b', 'c']) assert.ok(limits.admit(key).ok);
    assert.equal(limits.size, 3);
    // Full: a fourth client shares the overflow entry with every other newcomer.
    const d = limits.admit('d');
    const e = limits.admit('e');
    assert.ok(d.ok && e.ok);
    assert.equal(limits.size, 3);
    assert.deepEqual(limits.admit('f'), { ok: false, reason: 'streams', retryAfterSeconds: 1 });
    d.release();
    e.release();

    now += 61_000; // 'a' is full again and idle; 'b' and 'c' still hold their open transfers
    assert.ok(limits.admit('g').ok);
    assert.equal(limits.size, 3, "'a' forgotten, 'g' remembered");

    assert.equal(clientKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(clientKey('2001:DB8:0:1:2:3:4:5'), '2001:db8:0:1::/64');
    assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  });

  test('one honest test from a limited client fits the defaults: no 429 on the way', async () => {
    const app = express();
    const statuses: number[] = [];
    app.use((_request, response, next) => {
      response.on('finish', () => statuses.push(response.statusCode));
      next();
    });
    app.use('/speedtest', speedtestTarget({ rateLimitPerMinute: 600, unlimitedCidrs: [] }));
    const server = createServer(app);
    servers.push(server);
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const engine = createLibreSpeedEngine({
      PORT: port,
      SPEEDTEST_TARGET_PATH: '/speedtest',
      SPEEDTEST_SELF_URL: undefined,
      SPEEDTEST_SERVER_LIST_URL: undefined,
    });
    const result = await engine.run({
      servers: [],
      streams: envSchema.parse({}).SPEEDTEST_STREAMS,
      durationMs: 800,
      warmupMs: 200,
      pings: 5,
      signal: new AbortController().signal,
      log: () => undefined,
    });
    assert.ok(result.downloadBps > 10e6 && result.uploadBps > 10e6);
    assert.ok(statuses.length > 10);
    assert.deepEqual(
      statuses.filter((status) => status === 429),
      [],
    );
  });
});
