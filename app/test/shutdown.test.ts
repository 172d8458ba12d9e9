// A role stops within its platform's grace period (Docker's stop_grace_period, Container Apps'
// terminationGracePeriodSeconds, 30 s by default) even while a client holds a request open: the
// web role lets requests in flight run for SHUTDOWN_TIMEOUT_MS, then closes their connections and
// exits cleanly, instead of waiting for them until the exit deadline ends it with status 1.
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { SHUTDOWN_GRACE_MS } from '../../contract/shutdown.ts';
import { spawnTs, waitForOutput, type Child } from '../../testing/child.ts';
import { BASE_REDIS_URL, migratedDatabase, type ScratchDatabase } from '../../testing/database.ts';
import { freePort } from '../../testing/ports.ts';

describe('shutdown of the web role', () => {
  let database: ScratchDatabase;
  const children: Child[] = [];

  before(async () => {
    database = await migratedDatabase();
  });
  after(async () => {
    for (const child of children) child.process.kill('SIGKILL');
    await database?.drop();
  });

  test('a download still running is cut at SHUTDOWN_TIMEOUT_MS, and the role exits 0', async () => {
    const port = await freePort();
    const timeoutMs = 1_000;
    const child = spawnTs('app/src/main.ts', ['web'], {
      LOG_LEVEL: 'info',
      DATABASE_URL: database.url,
      REDIS_URL: BASE_REDIS_URL,
      QUEUE_PREFIX: database.queuePrefix,
      PORT: String(port),
      METRICS_PORT: String(await freePort()),
      SHUTDOWN_TIMEOUT_MS: String(timeoutMs),
    });
    children.push(child);
    await waitForOutput(child, /web role listening/, 30_000);

    // A speed test download of 1 GiB, read once and then left hanging: a slow client.
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const download = request(`http://127.0.0.1:${port}/speedtest/garbage?ckSize=1024`);
      download.on('response', (answer) => answer.once('data', () => resolve(answer.pause())));
      download.on('error', reject);
      download.end();
    });

    const signalled = Date.now();
    child.process.kill('SIGTERM');
    const code = await child.exited;
    const took = Date.now() - signalled;
    assert.equal(code, 0, child.output());
    assert.ok(took >= timeoutMs - 100, `exited after ${took} ms, before the requests' time`);
    assert.ok(
      took < timeoutMs + SHUTDOWN_GRACE_MS,
      `exited after ${took} ms: the exit deadline, not the bound on requests, ended it`,
    );
    // Read on: the body ends short of its length, the connection closed under it.
    let received = 0;
    response.on('data', (chunk: Buffer) => (received += chunk.length));
    const complete = await new Promise<boolean>((resolve) => {
      response.on('error', () => resolve(false));
      response.on('end', () => resolve(response.complete));
      response.resume();
    });
    assert.equal(complete, false);
    assert.ok(received < 1024 * 1024 * 1024);
  });
});
