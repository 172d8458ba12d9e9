// The portal half of `npm run docs:screenshots` (scripts/docs-screenshots.ts runs this file and
// makes its PNGs small): a throwaway database and queue prefix (the tests' own world), a month
// of seeded data (seed.ts), the web role over them, and Debian's Chromium signed in as an admin,
// photographing every page into --out.
//
// Only the web role runs: no worker or scheduler means nothing changes while the pages are shot
// (no schedule fires, no probe writes a minute, no list reloads itself for a run under way).
// Every shot is taken at a fixed window size, in UTC, in en-US, light unless it says dark, with
// animations stopped, so two runs give the same pictures but for the dates.
//
//   node --import tsx app/test/docs-screenshots/portal.ts --out DIR
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseCommandLine } from '../../../contract/cli.ts';
import type { Child } from '../../../testing/child.ts';
import { openDatabase } from '../../src/db/index.ts';
import { CHROMIUM, CHROMIUM_FLAGS } from '../../../contract/chromium.ts';
import { createTestEnv, type TestEnv } from '../helpers/env.ts';
import {
  signInInBrowser,
  startPortalProcess,
  type PortalProcess,
} from '../helpers/portal-process.ts';
import { ADMIN, seedDeployment, type Seeded } from './seed.ts';

/** The docs' window: a laptop's, and a phone's (an iPhone 12 to 15, in CSS pixels). */
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

interface Shot {
  /** The file's name without .png: stable, since the docs link to it. */
  name: string;
  path: string;
  viewport?: { width: number; height: number };
  dark?: boolean;
  /** Scroll so that the first element matching this is at the top of the window. */
  scrollTo?: string;
  /** Something to do on the page before the picture (fill a form, open a menu). */
  act?: (page: Page) => Promise<void>;
}

function shots(seeded: Seeded): Shot[] {
  return [
    { name: 'home', path: '/admin' },
    { name: 'home-charts-30d', path: '/admin?range=30d', scrollTo: 'main h2' },
    { name: 'home-by-server', path: '/admin?range=7d', scrollTo: '[data-pane="serverSpeeds"]' },
    { name: 'speedtests', path: '/admin/speedtests' },
    { name: 'speedtest', path: `/admin/speedtests/${seeded.speedtestId}` },
    { name: 'periodic-tasks', path: '/admin/periodic-tasks' },
    {
      name: 'periodic-task-speedtest',
      path: `/admin/periodic-tasks/${seeded.speedtestScheduleId}`,
    },
    {
      name: 'periodic-task-crontab',
      path: '/admin/periodic-tasks/new?kind=task',
      act: async (page) => {
        await page.fill('input[name=name]', 'Backup line check');
        await page.selectOption('select[name=task]', 'system.http_check');
        await page.fill('textarea[name=kwargs]', '{ "url": "http://192.168.1.2/" }');
        await page.check('input[name=scheduleType][value=crontab]');
        await page.fill('input[name=expression]', '30 6 * * 1-5');
        await page.fill('input[name=timezone]', 'Europe/Amsterdam');
        await page.fill('textarea[name=description]', 'Weekday mornings, before anyone needs it.');
        await page
          .locator('[data-preview]')
          .getByText('At 06:30, Monday through Friday (Europe/Amsterdam)')
          .waitFor();
        // No focus ring or open suggestion list in the picture.
        await page.evaluate('document.activeElement && document.activeElement.blur()');
      },
      scrollTo: 'label:has(select[name=task])',
    },
    { name: 'probes', path: '/admin/probes' },
    { name: 'probe', path: `/admin/probes/${seeded.probeId}?range=7d` },
    { name: 'task-results', path: '/admin/task-results' },
    { name: 'task-result', path: `/admin/task-results/${seeded.failedRunId}` },
    { name: 'notifications', path: '/admin/notifications' },
    { name: 'users', path: '/admin/users' },
    { name: 'account', path: '/admin/account' },
    {
      name: 'queue-board',
      path: '/admin/queues',
      act: async (page) => {
        // The board is a single-page app: its queue list arrives with its API's first answer.
        await page.getByText('speedtests').first().waitFor({ timeout: 30_000 });
        await page.waitForLoadState('networkidle');
      },
    },
    { name: 'status', path: '/status' },
    { name: 'home-dark', path: '/admin', dark: true },
    { name: 'phone-home', path: '/admin', viewport: PHONE },
    { name: 'phone-periodic-tasks', path: '/admin/periodic-tasks', viewport: PHONE },
  ];
}

/** `refresher web` over the world; see the top of the file for why the web role alone. */
function startWeb(env: TestEnv): Promise<PortalProcess> {
  return startPortalProcess(
    env,
    {
      // What a VM deployment with the status page on sets; the page only shows the address.
      PUBLIC_STATUS_PAGE: 'true',
      ALERTMANAGER_URL: 'http://alertmanager:9093',
      // The nightly schedule is an Ookla one, which a deployment runs once it accepted the licence.
      OOKLA_ACCEPT_LICENSE: 'true',
    },
    'web',
  );
}

async function main(): Promise<void> {
  const { values } = parseCommandLine(process.argv.slice(2), { out: { type: 'string' } });
  if (!values.out) throw new Error('usage: portal.ts --out DIR');
  const out = values.out;
  await mkdir(out, { recursive: true });

  const started = Date.now();
  const env = await createTestEnv();
  let app: Child | undefined;
  let browser: Browser | undefined;
  // Run once, at the end or on Ctrl-C: a database and queue keys left behind would stay.
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await browser?.close().catch(() => undefined);
      app?.process.kill('SIGTERM');
      await app?.exited;
      await env.cleanup();
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void cleanup().finally(() => process.exit(130)));
  try {
    // A throwaway database need not wait for the disk at each commit, and seeding is some
    // 1,500 transactions: without the wait they take a fraction of the time. The setting is the
    // database's, so the seeding gets a connection pool of its own that opens after it.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_FLAGS,
      timeout: 60_000,
    });
    const name = new URL(env.config.DATABASE_URL).pathname.slice(1);
    await env.db.sequelize.query(`ALTER DATABASE "${name}" SET synchronous_commit = off`);
    const seeding = openDatabase(env.config);
    const seeded = await seedDeployment(seeding).finally(() => seeding.close());
    console.log(`seeded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    let base: string;
    ({ app, base } = await startWeb(env));

    const context = await browser.newContext({
      viewport: DESKTOP,
      deviceScaleFactor: 1,
      timezoneId: 'UTC',
      locale: 'en-US',
      colorScheme: 'light',
      reducedMotion: 'reduce',
    });
    const problems: string[] = [];
    context.on('console', (message) => {
      if (message.type() === 'error') problems.push(`${message.location().url}: ${message.text()}`);
    });
    context.on('weberror', (error) => problems.push(String(error.error())));
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);

    const take = async (name: string) => {
      const path = join(out, `${name}.png`);
      await page.evaluate('document.fonts.ready');
      await page.screenshot({ path, animations: 'disabled', caret: 'hide' });
      console.log(`  ${name}.png`);
    };

    await page.goto(`${base}/login`);
    await take('login');
    await signInInBrowser(page, base, ADMIN);

    for (const shot of shots(seeded)) {
      await page.setViewportSize(shot.viewport ?? DESKTOP);
      await page.emulateMedia({ colorScheme: shot.dark ? 'dark' : 'light' });
      const response = await page.goto(`${base}${shot.path}`);
      if (response?.status() !== 200)
        throw new Error(`${shot.path} answered ${response?.status()}, not 200`);
      // Charts are drawn by a script after the page loaded; each marks its box once drawn.
      // Polled from here: page.waitForFunction() would evaluate a string, which the CSP refuses.
      for (let tries = 0; ; tries++) {
        const pending = await page.evaluate<number>(
          `document.querySelectorAll('[data-pane]:not([data-drawn])').length`,
        );
        if (pending === 0) break;
        if (tries > 200) throw new Error(`${shot.path}: ${pending} charts not drawn in 10 s`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await shot.act?.(page);
      if (shot.scrollTo) {
        const found = await page.evaluate<boolean>(`(() => {
          const element = document.querySelector(${JSON.stringify(shot.scrollTo)});
          if (!element) return false;
          window.scrollTo(0, element.getBoundingClientRect().top + window.scrollY - 12);
          return true;
        })()`);
        if (!found) throw new Error(`${shot.path}: nothing matches ${shot.scrollTo}`);
      }
      await take(shot.name);
    }
    if (problems.length)
      throw new Error(`the pages reported errors:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    await context.close();
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
