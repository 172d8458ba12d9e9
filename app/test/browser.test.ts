// The portal in a real browser: Debian's headless Chromium (driven by playwright-core) against
// `refresher all` (web, worker and scheduler in one process) on loopback. It signs in, creates a
// crontab periodic task with the live preview, runs it now and watches its result arrive, runs a
// speed test and opens it to see its chart, and opens the queue board. Wrong passwords and
// CSRF-less posts are refused. Screenshots of each step go to test-artifacts/browser/.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, type Browser } from './helpers/browser.ts';
import type { Child } from '../../testing/child.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { startPortalProcess } from './helpers/portal-process.ts';

const ADMIN = { username: 'admin', password: 'correct horse battery staple' };
const EXPECTED_PROBLEMS = [
  // This test's own deliberate mistakes: a wrong password, and a crontab the preview refuses.
  /\/login: Failed to load resource: .* 401/,
  /\/api\/v1\/schedules\/preview: Failed to load resource: .* 400/,
];

describe('admin portal in Chromium', () => {
  let env: TestEnv;
  let app: Child;
  let browser: Browser;
  let base: string;

  before(async () => {
    env = await createTestEnv();
    ({ app, base } = await startPortalProcess(env, {
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      SPEEDTEST_DURATION_MS: '1000',
      SPEEDTEST_STREAMS: '2',
    }));
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    app?.process.kill('SIGTERM');
    await app?.exited;
    await env.cleanup();
  });

  test('a wrong password is refused; the right one signs in', async () => {
    const { page } = browser;
    await page.goto(`${base}/admin`);
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.fill('input[name=username]', ADMIN.username);
    await page.fill('input[name=password]', 'not the password at all');
    await page.click('button[type=submit]');
    await page.getByRole('alert').filter({ hasText: 'Wrong user name or password.' }).waitFor();
    await browser.screenshot('01-wrong-password');

    await page.fill('input[name=username]', ADMIN.username);
    await page.fill('input[name=password]', ADMIN.password);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/admin`);
    await page.getByRole('heading', { name: 'Home' }).waitFor();
    await browser.screenshot('02-home');
  });

  test('create a crontab periodic task with the live preview, run it now, watch it succeed', async () => {
    const { page } = browser;
    await page.goto(`${base}/admin/periodic-tasks/new?kind=task`);
    await page.fill('input[name=name]', 'Browser health check');
    await page.selectOption('select[name=task]', 'system.http_check');
    await page.fill('textarea[name=kwargs]', JSON.stringify({ url: `${base}/healthz` }));
    await page.check('input[name=scheduleType][value=crontab]');
    const preview = page.locator('[data-preview]');

    await page.fill('input[name=expression]', '61 * * * *');
    await preview.getByText(/minute field "61"/).waitFor();
    await page.fill('input[name=expression]', '*/5 * * * *');
    await page.fill('input[name=timezone]', 'Europe/Amsterdam');
    await preview.getByText('Every 5 minutes (Europe/Amsterdam)').waitFor();
    assert.equal(await preview.locator('ol li').count(), 5);
    // The runs in the schedule's own zone, named (not the reader's, unnamed).
    for (const text of await preview.locator('ol li').allTextContents())
      assert.match(text, /GMT\+[12]|CES?T/, `a run without its zone: ${text}`);
    await browser.screenshot('03-crontab-preview');

    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(`${base}/admin/periodic-tasks`);
    await page.getByRole('status').filter({ hasText: 'Saved "Browser health check".' }).waitFor();
    const row = page.locator('tr[data-periodic-task="Browser health check"]');
    await row.getByText('Every 5 minutes (Europe/Amsterdam)').waitFor();
    await browser.screenshot('04-periodic-tasks');

    await row.getByRole('button', { name: 'Run now' }).click();
    await page.waitForURL(/\/admin\/task-results\?periodicTaskId=\d+$/);
    // The page reloads itself while the run is queued or started.
    await page.locator('tr[data-status="succeeded"]').waitFor({ timeout: 30_000 });
    await browser.screenshot('05-run-succeeded');
    await page.locator('tr[data-status="succeeded"] a').first().click();
    await page.getByText(`GET ${base}/healthz -> 200`).waitFor();
    await browser.screenshot('06-task-result');
  });

  test('run a speed test, open it, and see its chart and the servers it pinged', async () => {
    const { page } = browser;
    await page.goto(`${base}/admin/periodic-tasks`);
    await page
      .locator('tr[data-periodic-task="Process Speed Test"]')
      .getByRole('button', { name: 'Run now' })
      .click();
    await page.locator('tr[data-status="succeeded"]').waitFor({ timeout: 60_000 });

    await page.goto(`${base}/admin/speedtests`);
    await page.locator('table tbody tr a').first().click();
    await page.waitForURL(/\/admin\/speedtests\/\d+$/);
    await page.getByRole('heading', { name: 'Servers pinged' }).waitFor();
    await page.getByRole('cell', { name: /this deployment/ }).waitFor();
    const chart = page.locator('[data-chart="speedtests"][data-drawn]');
    await chart.waitFor();
    assert.ok(Number(await chart.getAttribute('data-drawn')) >= 1);
    assert.equal(await chart.locator('canvas').count(), 1);
    await browser.screenshot('07-speedtest-detail');

    await page.goto(`${base}/admin`);
    await page.locator('[data-chart="speedtests"][data-drawn] canvas').waitFor();
    await browser.screenshot('08-home-chart');
  });

  test('a new API token is copied with one click', async () => {
    const { page, context } = browser;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await page.goto(`${base}/admin/account`);
    await page.fill('input[name=name]', 'copied');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.locator('[data-new-token]').textContent())?.trim();
    assert.match(token ?? '', /^rf_/);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    assert.equal(
      await page.evaluate(() =>
        (
          globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }
        ).navigator.clipboard.readText(),
      ),
      token,
    );
  });

  test('form posts without the CSRF token are refused', async () => {
    const { page, context } = browser;
    await page.goto(`${base}/admin/periodic-tasks`);
    const row = page.locator('tr[data-periodic-task="Browser health check"]');
    const action = await row.locator('form[action$="/disable"]').getAttribute('action');
    assert.ok(action);
    // The browser's own cookies, but a form without the hidden _csrf field.
    const forged = await context.request.post(`${base}${action}`, {
      form: { note: 'no token' },
      maxRedirects: 0,
    });
    assert.equal(forged.status(), 403);
    await page.reload();
    await row.getByText('enabled', { exact: true }).waitFor();

    const signIn = await context.request.post(`${base}/login`, {
      form: ADMIN,
      maxRedirects: 0,
    });
    assert.equal(signIn.status(), 403);
  });

  test('the queue board opens for the admin', async () => {
    const { page } = browser;
    await page.goto(`${base}/admin/queues`);
    // The sidebar lists queues first; the main panel's cards arrive with the board's API answer.
    await page
      .getByText(/\d+ Jobs?/)
      .first()
      .waitFor({ timeout: 30_000 });
    await browser.screenshot('09-queue-board');
    // Its Google font link is gone (the CSP would refuse it: no console error), and a link leads
    // back to the portal.
    assert.equal(await page.locator('link[href*="fonts.googleapis.com"]').count(), 0);
    await page.getByRole('link', { name: '← Back to the portal' }).click();
    await page.waitForURL(`${base}/admin`);
  });

  test('no script errors or CSP violations on any page', () => {
    const unexpected = browser.problems.filter(
      (problem) => !EXPECTED_PROBLEMS.some((pattern) => pattern.test(problem)),
    );
    assert.deepEqual(unexpected, []);
  });
});
