// swag's certificate gate (swag/certificate-gate.py) as an entry point, run here by this machine's
// python3 with SWAG's configuration folder and /init moved (REFRESHER_SWAG_CONFIG_DIR,
// REFRESHER_SWAG_INIT): which names it waits for and what it says, the wait for a failed attempt's
// retry, SIGTERM while it waits, and the hand-over to /init with its arguments. Names resolve with
// this machine's resolver: `localhost` is 127.0.0.1 and `.invalid` never resolves (RFC 6761).
// The health check and the restart it makes need SWAG's processes: the stack test covers them
// (scripts/test/stack/stack.test.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { RENDERED } from '../../contract/paths.ts';
import { renderAll } from '../render.ts';
import { generateSecrets } from '../secrets.ts';
import { tempDir } from '../../testing/files.ts';
import { waitFor } from '../../testing/wait.ts';
import { configFixture } from './helpers/deployment.ts';

const fixture = configFixture();
const temp = tempDir('refresher-gate-');
after(() => {
  fixture.remove();
  temp.remove();
});

const gate = join(temp.path, 'certificate-gate.py');
writeFileSync(
  gate,
  renderAll(fixture.config(), generateSecrets()).find((f) => f.path === RENDERED.swagGate)!.content,
);
// Stands in for SWAG's /init: says it ran, with which arguments.
const init = join(temp.path, 'init');
// Also which signals it starts with ignored (SigIgn, a hex mask: bit N-1 for signal N).
writeFileSync(
  init,
  '#!/bin/sh\nsed -n "s/^SigIgn:\\t*/SIGIGN /p" /proc/self/status\necho "INIT RAN: $*"\n',
  { mode: 0o755 },
);

let runs = 0;
function startGate(
  env: Record<string, string>,
  options: { args?: string[]; prepare?: (config: string) => void } = {},
) {
  const config = join(temp.path, `config-${++runs}`);
  mkdirSync(config);
  options.prepare?.(config);
  const args = options.args ?? [];
  const child = spawn('python3', [gate, 'init', ...args], {
    env: {
      PATH: process.env.PATH,
      REFRESHER_SWAG_CONFIG_DIR: config,
      REFRESHER_SWAG_INIT: init,
      VALIDATION: 'http',
      ...env,
    },
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, config, output: () => output, exited };
}

const state = (config: string) =>
  JSON.parse(readFileSync(join(config, 'refresher/certificate-gate.json'), 'utf8')) as {
    attempts: number;
    lastAttemptAt: number;
  };

describe('certificate gate (swag entry point)', () => {
  test('names resolving to the address: attempt 1 is recorded and /init runs with the arguments', async () => {
    const run = startGate(
      { URL: 'localhost', REFRESHER_PUBLIC_ADDRESS: '127.0.0.1' },
      { args: ['--some', 'arg'] },
    );
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), /localhost resolve to 127\.0\.0\.1/);
    assert.match(run.output(), /SWAG asks for one for localhost \(attempt 1\)/);
    assert.match(run.output(), /INIT RAN: --some arg$/m);
    assert.equal(state(run.config).attempts, 1);
  });

  test("SWAG's names (ONLY_SUBDOMAINS, EXTRA_DOMAINS): each one that does not resolve right is named, and SIGTERM stops the wait", async () => {
    const run = startGate({
      URL: 'Localhost',
      SUBDOMAINS: '"nothing,gone"',
      ONLY_SUBDOMAINS: 'true',
      EXTRA_DOMAINS: 'localhost',
      REFRESHER_PUBLIC_ADDRESS: '192.0.2.7',
    });
    await waitFor(() => /waiting for DNS/.test(run.output()), {
      timeoutMs: 15_000,
      what: 'the gate waiting for DNS',
    });
    const waiting = run.output();
    assert.match(waiting, /nothing\.localhost: (no address|127\.0\.0\.1)/);
    assert.match(waiting, /gone\.localhost: /);
    assert.match(waiting, /; localhost: 127\.0\.0\.1 \(expected 192\.0\.2\.7\)/);
    assert.doesNotMatch(waiting, /INIT RAN/);
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
    assert.match(run.output(), /stopped by signal 15 before SWAG started/);
  });

  test('a name that does not exist: "no address", and no attempt while it lasts', async () => {
    const run = startGate({ URL: 'refresher-gate.invalid', REFRESHER_PUBLIC_ADDRESS: '127.0.0.1' });
    await waitFor(() => /refresher-gate\.invalid: no address/.test(run.output()), {
      timeoutMs: 15_000,
      what: 'no address',
    });
    run.child.kill('SIGTERM');
    await run.exited;
    assert.doesNotMatch(run.output(), /attempt 1/);
  });

  test('no address to compare with (compose on a laptop): no wait', async () => {
    const run = startGate({ URL: 'refresher-gate.invalid' });
    assert.equal(await run.exited, 0);
    assert.match(run.output(), /not waiting for DNS: REFRESHER_PUBLIC_ADDRESS is not set/);
    assert.match(run.output(), /INIT RAN/);
  });

  test('a certificate in place: /init at once, and the attempts are forgotten', async () => {
    const run = startGate(
      { URL: 'example.test', SUBDOMAINS: 'speed', ONLY_SUBDOMAINS: 'true' },
      {
        prepare: (config) => {
          const live = join(config, 'etc/letsencrypt/live/speed.example.test');
          mkdirSync(live, { recursive: true });
          writeFileSync(join(live, 'fullchain.pem'), 'certificate');
          mkdirSync(join(config, 'refresher'));
          writeFileSync(
            join(config, 'refresher/certificate-gate.json'),
            JSON.stringify({ attempts: 2, lastAttemptAt: Date.now() / 1000 }),
          );
        },
      },
    );
    assert.equal(await run.exited, 0);
    assert.match(run.output(), /certificate for speed\.example\.test present: starting SWAG/);
    assert.match(run.output(), /INIT RAN/);
    assert.deepEqual(state(run.config), {});
  });

  test('after a failed attempt: the next one waits for the retry interval, then counts on', async () => {
    const started = Date.now();
    const run = startGate(
      {
        URL: 'localhost',
        REFRESHER_PUBLIC_ADDRESS: '127.0.0.1',
        REFRESHER_CERT_RETRY_SECONDS: '2',
      },
      {
        prepare: (config) => {
          mkdirSync(join(config, 'refresher'));
          writeFileSync(
            join(config, 'refresher/certificate-gate.json'),
            JSON.stringify({ attempts: 1, lastAttemptAt: Date.now() / 1000 }),
          );
        },
      },
    );
    assert.equal(await run.exited, 0, run.output());
    const output = run.output();
    assert.ok(Date.now() - started >= 1500, `waited ${Date.now() - started} ms`);
    assert.match(output, /attempt 1 at .* failed; the next is due at .*\(2 s after it/);
    assert.match(output, /\(attempt 2\)/);
    assert.equal(state(run.config).attempts, 2);
  });

  test('after two failed attempts in a row the wait has doubled', async () => {
    const started = Date.now();
    const run = startGate(
      {
        URL: 'localhost',
        REFRESHER_PUBLIC_ADDRESS: '127.0.0.1',
        REFRESHER_CERT_RETRY_SECONDS: '1',
      },
      {
        prepare: (config) => {
          mkdirSync(join(config, 'refresher'));
          writeFileSync(
            join(config, 'refresher/certificate-gate.json'),
            JSON.stringify({ attempts: 2, lastAttemptAt: Date.now() / 1000 }),
          );
        },
      },
    );
    assert.equal(await run.exited, 0, run.output());
    assert.ok(Date.now() - started >= 1800, `waited ${Date.now() - started} ms`);
    assert.match(run.output(), /\(2 s after it: the wait doubles/);
    assert.match(run.output(), /\(attempt 3\)/);
  });

  test('a certificate made for other settings (STAGING changed): SWAG will ask again, so the gate counts it', async () => {
    const run = startGate(
      {
        URL: 'localhost',
        SUBDOMAINS: '',
        ONLY_SUBDOMAINS: 'false',
        STAGING: 'false',
        REFRESHER_PUBLIC_ADDRESS: '127.0.0.1',
      },
      {
        prepare: (config) => {
          const live = join(config, 'etc/letsencrypt/live/localhost');
          mkdirSync(live, { recursive: true });
          writeFileSync(join(live, 'fullchain.pem'), 'a staging certificate');
          writeFileSync(
            join(config, '.donoteditthisfile.conf'),
            'ORIGURL="localhost" ORIGSUBDOMAINS="" ORIGONLY_SUBDOMAINS="false" ORIGEXTRA_DOMAINS="" ORIGVALIDATION="http" ORIGDNSPLUGIN="" ORIGPROPAGATION="" ORIGSTAGING="true" ORIGCERTPROVIDER="" ORIGEMAIL=""\n',
          );
        },
      },
    );
    assert.equal(await run.exited, 0, run.output());
    assert.match(
      run.output(),
      /certificate settings changed \(STAGING\): SWAG will ask for a new one/,
    );
    assert.match(run.output(), /\(attempt 1\)/);
    assert.equal(state(run.config).attempts, 1);
  });

  test("SWAG's init starts with SIGPIPE and SIGXFSZ at their defaults, not Python's ignore", async () => {
    const run = startGate({ URL: 'refresher-gate.invalid' });
    assert.equal(await run.exited, 0, run.output());
    const mask = BigInt(`0x${/^SIGIGN ([0-9a-f]+)$/m.exec(run.output())?.[1] ?? 'x'}`);
    for (const [name, number] of [
      ['SIGPIPE', 13n],
      ['SIGXFSZ', 25n],
    ] as const)
      assert.equal(
        (mask >> (number - 1n)) & 1n,
        0n,
        `${name} is ignored (SigIgn ${mask.toString(16)})`,
      );
  });
});
