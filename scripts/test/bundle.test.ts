// The app as the image runs it: the esbuild bundle plus only the packages it leaves external,
// laid out as in the image (/app/refresher.mjs, /app/assets, /app/node_modules) in a folder with
// no repository around it. The external packages are copied from this checkout exactly as the
// pruned lockfile lists them (what `npm ci --omit=dev` installs in the image), so a package the
// bundle needs but the lockfile misses makes this test fail. The bundle then migrates a fresh
// database, serves the web role, its assets, a sign-in and the queue board.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../../testing/files.ts';
import { BUNDLE_FILE, REPO_ROOT } from '../../contract/paths.ts';
import { bundleApp, EXTERNAL_PACKAGES, type BundleResult } from '../lib/bundle.ts';
import type { Child } from '../../testing/child.ts';
import { parseDockerfile } from '../../testing/dockerfile.ts';
import {
  BASE_DATABASE_URL,
  BASE_REDIS_URL,
  databaseUrl,
  deleteRedisPrefix,
  dropDatabase,
  uniqueName,
} from '../../testing/database.ts';
import { freePort } from '../../testing/ports.ts';
import { waitFor } from '../../testing/wait.ts';

const dir = tempDir('refresher-bundle-');
const appDir = join(dir.path, 'app');
const database = uniqueName('bundle');
const prefix = uniqueName('bundleq');
const children: Child[] = [];
let built: BundleResult;

interface LockEntry {
  optional?: boolean;
}

/** What `npm ci` in the image installs, copied from this checkout's node_modules. */
function installExternals(target: string): { copied: number; skipped: string[] } {
  const lock = JSON.parse(readFileSync(join(target, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  let copied = 0;
  const skipped: string[] = [];
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (!location) continue;
    const source = join(REPO_ROOT, location);
    if (!existsSync(source)) {
      // Only another platform's optional binary may be missing here.
      assert.ok(entry.optional, `${location} is required but not installed in this checkout`);
      skipped.push(location);
      continue;
    }
    // Nested packages are entries of their own: copy each folder without its node_modules.
    cpSync(source, join(target, location), {
      recursive: true,
      filter: (path) => !path.slice(source.length).includes('/node_modules'),
    });
    copied++;
  }
  return { copied, skipped };
}

/** Runs the bundle from the image-like folder, with only the environment given. */
function run(args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, [join(appDir, BUNDLE_FILE), ...args], {
    cwd: appDir,
    env: { PATH: process.env.PATH ?? '', HOME: dir.path, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const handle = { process: child, output: () => output, exited };
  children.push(handle);
  return handle;
}

const env = {
  DATABASE_URL: databaseUrl(database, BASE_DATABASE_URL),
  DATABASE_CREATE: 'true',
  REDIS_URL: BASE_REDIS_URL,
  QUEUE_PREFIX: prefix,
  LOG_LEVEL: 'warn',
};

let installed: { copied: number; skipped: string[] };

before(async () => {
  built = await bundleApp({ outDir: join(dir.path, 'dist') });
  cpSync(built.dir, appDir, { recursive: true });
  installed = installExternals(appDir);
});

after(async () => {
  for (const child of children) {
    if (child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGTERM');
      await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.process.exitCode === null) child.process.kill('SIGKILL');
    }
  }
  await dropDatabase(database).catch(() => undefined);
  await deleteRedisPrefix(prefix).catch(() => undefined);
  dir.remove();
});

describe('the bundled app', () => {
  test('the context holds the bundle, the assets, the Dockerfile and the external packages only', () => {
    const files = built.manifest.files.map((file) => file.path);
    for (const path of [BUNDLE_FILE, 'Dockerfile', 'package.json', 'package-lock.json'])
      assert.ok(files.includes(path), path);
    assert.deepEqual(
      files.filter((path) => path.startsWith('assets/')).sort(),
      readdirSync(join(REPO_ROOT, 'app/src/web/admin/assets'))
        .map((name) => `assets/${name}`)
        .sort(),
    );
    assert.equal(
      readFileSync(join(appDir, 'Dockerfile'), 'utf8'),
      readFileSync(join(REPO_ROOT, 'app/Dockerfile'), 'utf8'),
    );
    const pkg = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    assert.deepEqual(Object.keys(pkg.dependencies).sort(), Object.keys(EXTERNAL_PACKAGES).sort());
    const lock = JSON.parse(readFileSync(join(appDir, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; version?: string; integrity?: string }>;
    };
    for (const [location, entry] of Object.entries(lock.packages)) {
      if (!location) continue;
      assert.equal(entry.dev, undefined, `${location} is not a dev dependency in the image`);
      assert.ok(entry.version && entry.integrity, `${location} is pinned with its integrity`);
    }
    // Bundled, not installed: the image does not carry the app's other dependencies.
    for (const bundled of ['sequelize', 'pg', 'zod', 'pino', 'prom-client', 'umzug', 'helmet'])
      assert.ok(!(`node_modules/${bundled}` in lock.packages), `${bundled} is bundled`);
    assert.ok(built.bundleBytes > 100_000 && built.bundleBytes < 30 * 1024 * 1024);
  });

  test('every file the Dockerfile copies from its context is in the context', () => {
    const dockerfile = parseDockerfile(readFileSync(join(built.dir, 'Dockerfile'), 'utf8'));
    const sources = dockerfile.stages
      .flatMap((stage) => stage.instructions)
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    assert.ok(sources.length >= 4, sources.join(' '));
    for (const source of sources) assert.ok(existsSync(join(built.dir, source)), source);
  });

  test('the lockfile holds every package the bundle loads (copied as npm ci installs them)', () => {
    assert.ok(installed.copied > 10, `${installed.copied} packages`);
    // The native and file-serving externals load from the folder alone.
    const probe = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        [
          "await import('speedtest-net');",
          "const { hash } = await import('@node-rs/argon2'); await hash('x');",
          "await import('@bull-board/express'); await import('@bull-board/api/bullMQAdapter');",
          "import { createRequire } from 'node:module'; createRequire(import.meta.url).resolve('uplot');",
          "console.log('externals ok');",
        ].join('\n'),
      ],
      { cwd: appDir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
    );
    assert.equal(probe.status, 0, probe.stderr);
    assert.match(probe.stdout, /externals ok/);
  });

  test('migrate, then the web role: health, sign-in, assets, the queue board', async () => {
    const migrate = run(['migrate'], { ...env, LOG_LEVEL: 'info' });
    assert.equal(await migrate.exited, 0, migrate.output());
    assert.match(migrate.output(), /migrations applied/);

    const port = await freePort();
    const username = 'bundleadmin';
    const password = 'a long bundle password';
    const web = run(['web'], {
      ...env,
      DATABASE_CREATE: 'false',
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_HOST: '127.0.0.1',
      METRICS_PORT: String(await freePort()),
      SESSION_SECRET: 'a-session-secret-for-the-bundle-test-0123456789',
      ADMIN_USERNAME: username,
      ADMIN_PASSWORD: password,
    });
    const origin = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${origin}/healthz`)).ok, {
      timeoutMs: 20_000,
      what: `the bundled web role on ${origin}:\n${web.output()}`,
    });

    const login = await fetch(`${origin}/login`);
    assert.equal(login.status, 200);
    const form = await login.text();
    assert.match(form, /<form/);
    const css = await fetch(`${origin}/admin/assets/admin.css`);
    assert.equal(css.status, 200);
    assert.equal(
      await css.text(),
      readFileSync(join(REPO_ROOT, 'app/src/web/admin/assets/admin.css'), 'utf8'),
    );
    const uplot = await fetch(`${origin}/admin/assets/uplot/uPlot.iife.min.js`);
    assert.equal(uplot.status, 200);
    assert.equal(
      await uplot.text(),
      readFileSync(join(REPO_ROOT, 'node_modules/uplot/dist/uPlot.iife.min.js'), 'utf8'),
    );

    // Sign in through the form (argon2, external), then the queue board (bull-board, external).
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .join('; ');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form)?.[1];
    assert.ok(csrf, 'a CSRF token on the sign-in form');
    const signedIn = await fetch(`${origin}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ username, password, _csrf: csrf }),
    });
    assert.equal(signedIn.status, 303, await signedIn.text());
    const session = signedIn.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .join('; ');
    const board = await fetch(`${origin}/admin/queues`, { headers: { cookie: session } });
    assert.equal(board.status, 200);
    const html = await board.text();
    const script = /<script[^>]+src="([^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, `the queue board page loads its script:\n${html.slice(0, 500)}`);
    const asset = await fetch(new URL(script, `${origin}/admin/queues/`), {
      headers: { cookie: session },
    });
    assert.equal(asset.status, 200, `bull-board serves ${script} from its package`);
    const queues = await fetch(`${origin}/admin/queues/api/queues`, {
      headers: { cookie: session },
    });
    assert.equal(queues.status, 200);
    assert.ok(Array.isArray(((await queues.json()) as { queues: unknown[] }).queues));

    web.process.kill('SIGTERM');
    assert.equal(await web.exited, 0, web.output());
  });
});
