// npm run docs:screenshots: the pictures in the docs, made again from the code as it is.
//
// Without flags: every page of the admin portal, into docs/images/portal/. The pages are shot by
// app/test/docs-screenshots/portal.ts (a throwaway database and queue prefix on the local
// PostgreSQL and Redis, a month of seeded data, the web role, Debian's Chromium), run here as a
// child process: the app and its test helpers are another layer, which a script reaches by path,
// never by import. This file then makes each PNG small (scripts/lib/png.ts) and writes the set,
// removing pictures the run no longer makes, so the folder holds exactly the current set.
//
// With --grafana URL: every provisioned dashboard of a running Grafana (a deployment's
// https://grafana.<domain>, or http://127.0.0.1:3001 of a local stack), into docs/images/grafana/.
// It needs that Grafana and its credentials, from the environment (never the command line, where
// other users of the machine could read them in the process list): GRAFANA_TOKEN (a service
// account token), or GRAFANA_USER (default admin) and GRAFANA_PASSWORD. The dashboards' uids and
// titles are what this repository renders (templates/grafana.ts); one the Grafana does not have
// (a Container Apps deployment has three of the seven) is skipped and named.
//
//   npm run docs:screenshots [-- --out DIR]
//   GRAFANA_PASSWORD=… npm run docs:screenshots -- --grafana https://grafana.lab.example.com
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { displayPath, parseCommandLine, runCommand, UsageError } from '../contract/cli.ts';
import { DASHBOARD_NAMES } from '../contract/dashboards.ts';
import { REPO_ROOT, RENDERED } from '../contract/paths.ts';
import { loadDeploymentConfig } from '../templates/config.ts';
import { renderGrafana } from '../templates/grafana.ts';
import { optimizePng, pngSize } from './lib/png.ts';
import { CHROMIUM, CHROMIUM_FLAGS } from '../contract/chromium.ts';

const USAGE = `usage: npm run docs:screenshots [-- OPTIONS]
  --out DIR          where the PNGs go (default: docs/images/portal, or docs/images/grafana)
  --grafana URL      the dashboards of this Grafana instead of the portal's pages; credentials
                     from GRAFANA_TOKEN, or GRAFANA_USER (default admin) and GRAFANA_PASSWORD
  --range RANGE      the dashboards' time range, as Grafana writes it after now- (default: 7d)
The portal needs PostgreSQL and Redis as the tests use them (TEST_DATABASE_URL, TEST_REDIS_URL)
and Chromium (CHROMIUM_PATH, default /usr/bin/chromium).`;

const PORTAL_SHOOTER = 'app/test/docs-screenshots/portal.ts';
const WINDOW = { width: 1280, height: 800 };

/** A failure a person can act on (no Grafana, refused credentials): its message, exit 1. */
class ScreenshotError extends Error {
  override name = 'ScreenshotError';
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;

/** Runs the portal's shooter into `dir`, its output passed through. */
function shootPortal(dir: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', PORTAL_SHOOTER, '--out', dir], {
      cwd: REPO_ROOT,
      stdio: 'inherit',
    });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0
        ? resolvePromise()
        : reject(new ScreenshotError(`${PORTAL_SHOOTER} ${signal ? `was killed (${signal})` : `exited ${code}`}`)),
    );
  }); // prettier-ignore
}

/**
 * The dashboards as this repository provisions them, by file name. Their uids and titles do not
 * depend on a deployment's settings, so the committed example configuration renders them.
 */
async function dashboards(): Promise<Array<{ name: string; uid: string; title: string }>> {
  const config = await loadDeploymentConfig(join(REPO_ROOT, 'infra/deploy.config.example.ts'));
  const files = renderGrafana(config);
  return DASHBOARD_NAMES.map((name) => {
    const json = JSON.parse(files.get(RENDERED.grafanaDashboard(name))!) as {
      uid: string;
      title: string;
    };
    return { name, uid: json.uid, title: json.title };
  });
}

function grafanaAuthorization(): string {
  const token = process.env.GRAFANA_TOKEN?.trim();
  if (token) return `Bearer ${token}`;
  const password = process.env.GRAFANA_PASSWORD;
  if (!password)
    throw new UsageError(
      'no Grafana credentials: set GRAFANA_TOKEN (a service account token, Viewer is enough) or GRAFANA_PASSWORD (and GRAFANA_USER if not admin)',
    );
  const user = process.env.GRAFANA_USER?.trim() || 'admin';
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * The repository's dashboards that the Grafana at `root` has, asked of its API before any browser
 * starts: a wrong address or refused credentials are said at once, in a sentence.
 */
async function provisioned(root: string, authorization: string) {
  const origin = new URL(root).origin;
  const present: Array<{ name: string; uid: string; title: string }> = [];
  const missing: string[] = [];
  for (const dashboard of await dashboards()) {
    let status: number;
    try {
      const answer = await fetch(`${root}/api/dashboards/uid/${dashboard.uid}`, {
        headers: { authorization, accept: 'application/json' },
        signal: AbortSignal.timeout(30_000),
      });
      status = answer.status;
      await answer.body?.cancel();
    } catch (error) {
      const cause = (error as { cause?: Error }).cause;
      throw new ScreenshotError(`${origin} does not answer: ${(cause ?? (error as Error)).message}`); // prettier-ignore
    }
    if (status === 401 || status === 403)
      throw new ScreenshotError(`${origin} refused the credentials (${status})`);
    if (status === 404) missing.push(`${dashboard.title} (${dashboard.uid})`);
    else if (status !== 200)
      throw new ScreenshotError(`${root}/api/dashboards/uid/${dashboard.uid} answered ${status}`);
    else present.push(dashboard);
  }
  if (present.length === 0)
    throw new ScreenshotError(`${origin} has none of this repository's dashboards (${missing.join(', ')})`); // prettier-ignore
  if (missing.length) console.log(`not in this Grafana, skipped: ${missing.join(', ')}`);
  return present;
}

/** Every dashboard of the Grafana at `base` the repository provisions, shot into `dir`. */
async function shootGrafana(base: URL, range: string, dir: string): Promise<void> {
  const authorization = grafanaAuthorization();
  const origin = base.origin;
  const root = base.href.replace(/\/$/, '');
  const present = await provisioned(root, authorization);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_FLAGS,
    timeout: 60_000,
  });
  try {
    const context = await browser.newContext({
      viewport: WINDOW,
      deviceScaleFactor: 1,
      timezoneId: 'UTC',
      locale: 'en-US',
      colorScheme: 'light',
      reducedMotion: 'reduce',
    });
    // The credentials go to Grafana alone: a geomap's tiles and a plugin's assets come from
    // other hosts, which have no business seeing them.
    await context.route(
      (url) => url.origin === origin,
      (route) => route.continue({ headers: { ...route.request().headers(), authorization } }),
    );
    const page = await context.newPage();
    for (const { name, uid, title } of present) {
      // Kiosk mode: the dashboard without Grafana's menus, in the light theme the portal uses.
      await page.goto(`${root}/d/${uid}?orgId=1&from=now-${range}&to=now&kiosk&theme=light`);
      // Panels query after the page has loaded, each on its own; a quiet network for half a
      // second, then a second for the last panels to draw, is when they are done.
      await page.waitForLoadState('networkidle', { timeout: 60_000 }).catch(() => undefined);
      await page.waitForTimeout(1_000);
      await page.screenshot({
        path: join(dir, `${name}.png`),
        animations: 'disabled',
        caret: 'hide',
      });
      console.log(`  ${name}.png  ${title}`);
    }
  } finally {
    await browser.close();
  }
}

/** Makes each PNG of `from` small into `to`, removes older PNGs there, and prints the set. */
async function publish(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  const made = (await readdir(from)).filter((file) => file.endsWith('.png')).sort();
  if (made.length === 0) throw new ScreenshotError('no screenshots were made');
  let before = 0;
  let after = 0;
  for (const file of made) {
    const raw = await readFile(join(from, file));
    const small = optimizePng(raw);
    const { width, height } = pngSize(small);
    await writeFile(join(to, file), small);
    before += raw.length;
    after += small.length;
    console.log(`${file.padEnd(32)} ${`${width}×${height}`.padStart(9)} ${kb(raw.length).padStart(7)} -> ${kb(small.length).padStart(6)}`); // prettier-ignore
  }
  for (const file of await readdir(to))
    if (file.endsWith('.png') && !made.includes(file)) {
      await rm(join(to, file));
      console.log(`removed ${file}: no longer made`);
    }
  console.log(`${made.length} images in ${displayPath(to)}: ${kb(after)} (${kb(before)} as Chromium wrote them)`); // prettier-ignore
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, {
    out: { type: 'string' },
    grafana: { type: 'string' },
    range: { type: 'string' },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let grafana: URL | undefined;
  if (values.grafana !== undefined) {
    try {
      grafana = new URL(values.grafana);
    } catch {
      throw new UsageError(`--grafana ${values.grafana}: expected a URL, e.g. https://grafana.lab.example.com`); // prettier-ignore
    }
    if (!/^https?:$/.test(grafana.protocol))
      throw new UsageError(`--grafana ${values.grafana}: expected an http:// or https:// URL`);
  }
  if (values.range !== undefined && !grafana)
    throw new UsageError('--range is for the dashboards: give --grafana URL too');
  const range = values.range ?? '7d';
  if (!/^\d+[mhdwy]$/.test(range))
    throw new UsageError(`--range ${range}: expected a number and a unit, e.g. 24h, 7d, 30d`);
  const out = resolve(values.out ?? join(REPO_ROOT, 'docs/images', grafana ? 'grafana' : 'portal'));

  const started = Date.now();
  const scratch = await mkdtemp(join(tmpdir(), 'refresher-screenshots-'));
  try {
    if (grafana) await shootGrafana(grafana, range, scratch);
    else await shootPortal(scratch);
    await publish(scratch, out);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return 0;
}

await runCommand('docs:screenshots', USAGE, () => main(process.argv.slice(2)), {
  expected: [ScreenshotError],
});
