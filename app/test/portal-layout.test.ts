// The portal's layout in Chromium, at a desktop width (1280 px) and two phone widths (390 and
// 360 px), over `refresher all` and a database seeded with long values: no page scrolls sideways,
// the navigation folds behind a Menu button on a phone, a list's row actions stay on the screen,
// the chart follows its box, the colours follow the system's dark mode, and without admin.js the
// pages still fit. Screenshots of every page at every width go to
// test-artifacts/browser/layout-*.png.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { storeSpeedtest } from '../src/speedtest/store.ts';
import { createApiToken } from '../src/web/auth/tokens.ts';
import { createUser } from '../src/web/auth/users.ts';
import { launchBrowser, type Browser } from './helpers/browser.ts';
import {
  pingedServer,
  speedtestResult,
  speedtestServer,
  taskResultRow,
} from './helpers/builders.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { signInInBrowser, startPortalProcess } from './helpers/portal-process.ts';
import type { Child } from '../../testing/child.ts';

const ADMIN = { username: 'admin', password: 'correct horse battery staple' };
const WIDTHS = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
  { width: 360, height: 740 },
] as const;
const PHONE = 390;

// Values that do not wrap by themselves: one long word each.
const LONG_TASK_NAME =
  'Nightly reachability check of the office uplink and the backup line (weekdays only)';
const LONG_URL =
  'http://speedtest-backup-line.branch-office.example.internal:8080/backend/empty.php?cors=true&nocache=1';
const LONG_ERROR = `GET ${LONG_URL} failed: connect ECONNREFUSED 10.20.30.40:8080 (after 3 attempts, the last one timed out after 10000 ms)`;

interface Overflow {
  scrollWidth: number;
  innerWidth: number;
  /** The element reaching furthest right outside anything that scrolls on its own. */
  widest: string | null;
}

// What runs in the page is source text: this file is compiled without the DOM's types, and tsx
// would wrap named functions in a helper (__name) that the page does not have.

/**
 * How far the page reaches sideways, and what is responsible when it is too far: the outermost
 * element whose box sticks out, or else the innermost whose text does (a long word in a <p>).
 */
const MEASURE = `(() => {
  const innerWidth = window.innerWidth;
  let box = null;
  let boxReach = innerWidth + 0.5;
  let text = null;
  let textReach = innerWidth + 0.5;
  // Depth first in document order.
  const stack = [...document.body.children].reverse();
  while (stack.length > 0) {
    const element = stack.pop();
    const rect = element.getBoundingClientRect();
    const right = rect.right + window.scrollX;
    if (right > boxReach + 0.5) {
      box = element;
      boxReach = right;
    }
    const overflowX = getComputedStyle(element).overflowX;
    const contentRight = rect.left + window.scrollX + element.scrollWidth;
    if (overflowX === 'visible' && contentRight >= textReach - 0.5 && contentRight > innerWidth + 0.5) {
      text = element;
      textReach = contentRight;
    }
    // What is inside a box that scrolls (or clips) by itself cannot widen the page.
    if (overflowX !== 'visible') continue;
    stack.push(...[...element.children].reverse());
  }
  const widest = box || text;
  let described = null;
  if (widest) {
    const classes = widest.getAttribute('class');
    const words = (widest.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 60);
    described = '<' + widest.tagName.toLowerCase() + (classes ? ' class="' + classes + '"' : '') +
      '> reaching ' + Math.round(box ? boxReach : textReach) + ' px ("' + words + '")';
  }
  return { scrollWidth: document.documentElement.scrollWidth, innerWidth, widest: described };
})()`;

/** The body's text colour and the background it is painted on (its own, else the root's). */
const BODY_COLOURS = `(() => {
  const body = getComputedStyle(document.body);
  const own = body.backgroundColor;
  const background = own === 'rgba(0, 0, 0, 0)' || own === 'transparent'
    ? getComputedStyle(document.documentElement).backgroundColor
    : own;
  return { background, color: body.color };
})()`;

/** A computed style property of the first element matching `selector` (or of its ::before). */
function styleOf(page: Page, selector: string, property: string, pseudo = ''): Promise<string> {
  const args = [selector, property, pseudo].map((value) => JSON.stringify(value));
  return page.evaluate<string>(
    `getComputedStyle(document.querySelector(${args[0]}), ${args[2]}).getPropertyValue(${args[1]})`,
  );
}

/** Relative luminance (WCAG) of a computed `rgb(...)` colour. */
function luminance(color: string): number {
  const [r, g, b] = (color.match(/[\d.]+/g) ?? []).slice(0, 3).map((c) => {
    const v = Number(c) / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

describe('portal layout: phone widths and dark mode', () => {
  let env: TestEnv;
  let app: Child;
  let browser: Browser;
  let base: string;
  let pages: Array<{ name: string; path: string }>;

  before(async () => {
    env = await createTestEnv();
    const { models } = env.db;
    // Nothing may run on its own while pages are measured: a run under way reloads its list.
    await models.PeriodicTask.update({ enabled: false }, { where: {} });

    const admin = await createUser(env.db, { ...ADMIN, isAdmin: true });
    await createUser(env.db, {
      username: 'grace.hopper@operations.example.org',
      password: 'another long enough password',
    });
    await createApiToken(env.db, admin.id, { name: 'grafana dashboard on the office wall' });

    const near = speedtestServer({ id: 'ams-1', name: 'Amsterdam', countryCode: 'NL' });
    const far = speedtestServer({
      id: 'backup-line-42',
      name: 'Branch office backup line (second uplink, behind the old router)',
      sponsor: 'Example Fiber Wholesale and Transit Services B.V.',
      host: 'speedtest-backup-line.branch-office.example.internal:8080',
      url: LONG_URL,
      countryCode: 'DE',
    });
    let detailId = '';
    for (let i = 0; i < 12; i++) {
      const server = i % 3 === 0 ? far : near;
      detailId = await storeSpeedtest(
        env.db,
        speedtestResult({
          startedAt: new Date(Date.now() - (12 - i) * 3_600_000),
          downloadBps: 80e6 + i * 2.5e6,
          uploadBps: 15e6 + i * 0.5e6,
          pingMs: 10 + (i % 4),
          server,
          pinged: [
            pingedServer({ server, chosen: true }),
            pingedServer({ server: server === far ? near : far, latencyMs: 48.2 }),
          ],
          client: {
            ip: '2001:db8:1234:5678:9abc:def0:1234:5678',
            isp: 'Example Consumer Broadband and Telephony',
            countryCode: 'NL',
          },
          resultUrl: `${LONG_URL}&result=${i}`,
        }),
      );
    }

    const task = await models.PeriodicTask.create({
      name: LONG_TASK_NAME,
      task: 'system.http_check',
      kwargs: { url: LONG_URL },
      scheduleType: 'crontab',
      crontab: '30 4 * * 1-5',
      timezone: 'Europe/Amsterdam',
      enabled: false,
      description: 'Checks the backup line every weekday morning.',
    });
    const hour = 3_600_000;
    await models.TaskResult.create(
      taskResultRow({
        task: 'system.http_check',
        periodicTaskId: task.id,
        status: 'succeeded',
        attempts: 1,
        kwargs: { url: LONG_URL },
        result: { status: 200, latencyMs: 41.7, url: LONG_URL },
        logs: [{ at: new Date().toISOString(), level: 'info', message: `GET ${LONG_URL} -> 200` }],
        queuedAt: new Date(Date.now() - 2 * hour),
        startedAt: new Date(Date.now() - 2 * hour),
        finishedAt: new Date(Date.now() - 2 * hour + 42),
        durationMs: 42,
      }),
    );
    const failed = await models.TaskResult.create(
      taskResultRow({
        task: 'system.http_check',
        periodicTaskId: task.id,
        status: 'failed',
        attempts: 3,
        kwargs: { url: LONG_URL, timeoutMs: 10_000 },
        error: LONG_ERROR,
        stack: `Error: ${LONG_ERROR}\n    at check (/app/src/tasks/http-check.ts:71:13)\n    at async Object.run (/app/src/tasks/http-check.ts:41:22)`,
        logs: [{ at: new Date().toISOString(), level: 'error', message: LONG_ERROR }],
        queuedAt: new Date(Date.now() - hour),
        startedAt: new Date(Date.now() - hour),
        finishedAt: new Date(Date.now() - hour + 10_012),
        durationMs: 10_012,
      }),
    );
    for (let i = 0; i < 3; i++) {
      await models.TaskResult.create(
        taskResultRow({
          task: 'speedtester.run_speedtest',
          status: 'succeeded',
          attempts: 1,
          queuedAt: new Date(Date.now() - (5 + i) * hour),
          finishedAt: new Date(Date.now() - (5 + i) * hour + 21_500),
          durationMs: 21_500,
        }),
      );
    }

    // A probe with a long target and a long error (disabled: the portal's own worker leaves it be).
    const probe = await models.Probe.create({
      name: 'the link to the outside world',
      kind: 'http',
      targets: [LONG_URL, 'http://127.0.0.1:9/'],
      periodSeconds: 10,
      timeoutMs: 2_000,
      enabled: false,
    });
    await models.ProbeOutage.create({
      probeId: probe.id,
      startedAt: new Date(Date.now() - 2 * hour),
      endedAt: new Date(Date.now() - hour),
      failedRounds: 360,
      lastError: LONG_ERROR,
    });
    await env.db.sequelize.query(
      `INSERT INTO probe_minutes (probe_id, target, minute, sent, lost, rtt_sum_ms, rtt_min_ms, rtt_max_ms)
       VALUES ($1, $2, date_trunc('minute', now()) - interval '5 minutes', 6, 1, 60, 9, 14)`,
      { bind: [probe.id, LONG_URL] },
    );

    ({ app, base } = await startPortalProcess(env, { PUBLIC_STATUS_PAGE: 'true' }));
    browser = await launchBrowser();
    await signInInBrowser(browser.page, base, ADMIN);

    pages = [
      { name: 'home', path: '/admin' },
      { name: 'speedtests', path: '/admin/speedtests' },
      { name: 'speedtest', path: `/admin/speedtests/${detailId}` },
      { name: 'periodic-tasks', path: '/admin/periodic-tasks' },
      { name: 'periodic-task-new', path: '/admin/periodic-tasks/new' },
      { name: 'periodic-task', path: `/admin/periodic-tasks/${task.id}` },
      { name: 'probes', path: '/admin/probes' },
      { name: 'probe', path: `/admin/probes/${probe.id}` },
      { name: 'task-results', path: '/admin/task-results' },
      { name: 'task-result', path: `/admin/task-results/${failed.id}` },
      { name: 'users', path: '/admin/users' },
      { name: 'account', path: '/admin/account' },
      { name: 'login', path: '/login' },
      { name: 'status', path: '/status' },
    ];
  });
  after(async () => {
    await browser?.close();
    app?.process.kill('SIGTERM');
    await app?.exited;
    await env?.cleanup();
  });

  /** Opens a page and waits until its scripts are done (the charts drawn). */
  async function open(path: string): Promise<void> {
    const { page } = browser;
    const response = await page.goto(`${base}${path}`);
    assert.equal(response?.status(), 200, path);
    if ((await page.locator('[data-chart]').count()) > 0)
      await page.locator('[data-chart][data-drawn]').first().waitFor();
  }

  for (const viewport of WIDTHS) {
    test(`no page scrolls sideways at ${viewport.width} px`, async (t) => {
      const { page } = browser;
      await page.setViewportSize(viewport);
      const tooWide: string[] = [];
      for (const { name, path } of pages) {
        await open(path);
        const seen = await page.evaluate<Overflow>(MEASURE);
        t.diagnostic(`${viewport.width} px ${name}: scrollWidth ${seen.scrollWidth}`);
        if (seen.scrollWidth > seen.innerWidth)
          tooWide.push(
            `${name} (${path}) at ${viewport.width} px is ${seen.scrollWidth} px wide; widest: ${seen.widest}`,
          );
        await browser.screenshot(`layout-${viewport.width}-${name}`);
      }
      assert.deepEqual(tooWide, []);
    });
  }

  test('on a phone the navigation folds behind a Menu button that opens it', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 1280, height: 800 });
    await open('/admin/users');
    const menu = page.getByRole('button', { name: 'Menu' });
    const nav = page.locator('header nav');
    assert.equal(await menu.isVisible(), false, 'no Menu button on a desktop');
    assert.equal(await nav.getByRole('link', { name: 'Task results' }).isVisible(), true);

    for (const width of [390, 360]) {
      await page.setViewportSize({ width, height: 740 });
      await open('/admin/users');
      assert.equal(await menu.isVisible(), true, `a Menu button at ${width} px`);
      assert.equal(await menu.getAttribute('aria-expanded'), 'false');
      const controls = await menu.getAttribute('aria-controls');
      assert.ok(controls, 'the button names what it controls');
      assert.equal(await nav.getAttribute('id'), controls.split(' ')[0]);
      assert.equal(await nav.isVisible(), false, `the navigation is folded at ${width} px`);
      const header = await page.locator('header').boundingBox();
      assert.ok(
        header && header.height < 80,
        `a one-line header at ${width} px: ${header?.height}`,
      );

      await menu.click();
      assert.equal(await menu.getAttribute('aria-expanded'), 'true');
      for (const name of ['Home', 'Speed tests', 'Schedules', 'Task results', 'Account'])
        assert.equal(await nav.getByRole('link', { name }).isVisible(), true, name);
      assert.equal(await page.getByRole('button', { name: 'Sign out' }).isVisible(), true);
      const unfolded = await page.evaluate<Overflow>(MEASURE);
      assert.ok(
        unfolded.scrollWidth <= unfolded.innerWidth,
        `the open menu at ${width} px: ${unfolded.widest}`,
      );
      await browser.screenshot(`layout-${width}-menu-open`);

      await nav.getByRole('link', { name: 'Task results' }).click();
      await page.waitForURL(`${base}/admin/task-results`);
      assert.equal(await nav.isVisible(), false, 'folded again on the next page');
      await menu.click();
      await page.keyboard.press('Escape');
      assert.equal(await menu.getAttribute('aria-expanded'), 'false');
      assert.equal(await nav.isVisible(), false, 'Escape folds it');
      await menu.click();
      await menu.click();
      assert.equal(await menu.getAttribute('aria-expanded'), 'false');
      assert.equal(await nav.isVisible(), false, 'a second click folds it');
    }
  });

  test('at 390 px a list row is a card and its action buttons are on the screen', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: PHONE, height: 844 });
    const onScreen = async (path: string, row: string, button: string) => {
      await open(path);
      const target = page.locator(row).getByRole('button', { name: button });
      await target.scrollIntoViewIfNeeded();
      assert.equal(await target.isVisible(), true, `${button} on ${path}`);
      // Where it is on the page: scrolling it into view may have scrolled the page sideways.
      const box = await target.boundingBox();
      const x = (box?.x ?? NaN) + (await page.evaluate<number>('window.scrollX'));
      assert.ok(
        box && x >= 0 && x + box.width <= PHONE,
        `${button} on ${path} within 0–${PHONE} px: x ${x}, width ${box?.width}`,
      );
    };
    await onScreen(
      '/admin/periodic-tasks',
      `tr[data-periodic-task="${LONG_TASK_NAME}"]`,
      'Run now',
    );
    await onScreen('/admin/periodic-tasks', `tr[data-periodic-task="${LONG_TASK_NAME}"]`, 'Delete');
    await onScreen('/admin/users', 'tbody tr:has-text("grace.hopper")', 'Deactivate');
    await onScreen('/admin/account', 'tbody tr', 'Revoke');

    // Each cell carries its column's name, shown next to the value.
    await open('/admin/speedtests');
    const cell = 'tbody tr:first-child td:nth-child(4)';
    assert.equal(await page.locator(cell).getAttribute('data-label'), 'Download');
    assert.equal(await styleOf(page, cell, 'content', '::before'), '"Download"');
    const thead = await page.locator('thead').boundingBox();
    assert.ok(!thead || thead.height <= 1, `the header row is out of sight: ${thead?.height}`);
  });

  test('the chart follows its box when the window is resized', async () => {
    const { page } = browser;
    // How wide uPlot drew, and how wide its box is.
    const widths = `(() => {
      const box = document.querySelector('[data-chart][data-drawn]');
      return [Math.round(box.querySelector('.uplot').getBoundingClientRect().width), box.clientWidth];
    })()`;
    await page.setViewportSize({ width: 1280, height: 800 });
    await open('/admin');
    const [wide, wideBox] = await page.evaluate<number[]>(widths);
    assert.ok(wide! > 1000 && wide! <= wideBox!, `at 1280 px: ${wide} in ${wideBox}`);
    // Polled from here: page.waitForFunction() would evaluate a string in the page, which the CSP
    // forbids.
    const until = async (done: (width: number, box: number) => boolean) => {
      for (let tries = 0; ; tries++) {
        const [width, box] = await page.evaluate<number[]>(widths);
        if (done(width!, box!)) return width!;
        assert.ok(tries < 100, `the chart is ${width} px wide in a box of ${box} px`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await page.setViewportSize({ width: 360, height: 740 });
    assert.ok((await until((width, box) => width <= box)) < 360);
    await page.setViewportSize({ width: 1280, height: 800 });
    await until((width) => width > 1000);
  });

  test('dark mode follows the system setting', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: 'light' });
    await open('/admin');
    const light = await page.evaluate<{ background: string; color: string }>(BODY_COLOURS);
    assert.ok(luminance(light.background) > 0.8, `light background: ${light.background}`);
    assert.ok(luminance(light.color) < 0.1, `dark text: ${light.color}`);
    await page.locator('[data-chart][data-scheme="light"]').waitFor({ timeout: 5_000 });

    // Switched while the page is open: the chart is drawn again in the dark palette.
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.locator('[data-chart][data-scheme="dark"]').waitFor({ timeout: 5_000 });
    for (const path of ['/admin', '/admin/task-results']) {
      await open(path);
      const dark = await page.evaluate<{ background: string; color: string }>(BODY_COLOURS);
      assert.ok(luminance(dark.background) < 0.05, `${path}: dark background ${dark.background}`);
      assert.ok(luminance(dark.color) > 0.6, `${path}: light text ${dark.color}`);
      const card = await styleOf(page, 'main table, main .figure', 'background-color');
      assert.ok(luminance(card) < 0.1, `${path}: dark tables and figures ${card}`);
      await browser.screenshot(`layout-dark-${path === '/admin' ? 'home' : 'task-results'}`);
    }
    await page.setViewportSize({ width: PHONE, height: 844 });
    await open('/admin/task-results');
    await browser.screenshot(`layout-dark-${PHONE}-task-results`);
    await page.emulateMedia({ colorScheme: 'light' });
  });

  test('without admin.js the navigation is a list and tables scroll inside themselves', async () => {
    const { page, context } = browser;
    // The page as a browser without JavaScript lays it out (chart.js is not needed for that).
    await context.route('**/admin/assets/admin.js', (route) =>
      route.fulfill({
        contentType: 'text/javascript',
        headers: { 'cache-control': 'no-store' },
        body: '',
      }),
    );
    try {
      await page.setViewportSize({ width: 360, height: 740 });
      const tooWide: string[] = [];
      for (const path of ['/admin/speedtests', '/admin/periodic-tasks', '/admin/users']) {
        await open(path);
        assert.equal(await page.getByRole('button', { name: 'Menu' }).isVisible(), false);
        assert.equal(await page.locator('header nav').isVisible(), true, path);
        const seen = await page.evaluate<Overflow>(MEASURE);
        if (seen.scrollWidth > seen.innerWidth) tooWide.push(`${path}: ${seen.widest}`);
      }
      assert.deepEqual(tooWide, []);
      await browser.screenshot('layout-360-no-script-users');
    } finally {
      await context.unroute('**/admin/assets/admin.js');
    }
  });

  test('no script errors or CSP violations on any page', () => {
    assert.deepEqual(browser.problems, []);
  });
});
