// `refresher all` (web, worker and scheduler in one process) on free loopback ports over a test
// world, as the browser tests drive it; and the portal's sign-in form filled in a real browser.
import type { Page } from 'playwright-core';
import { spawnTs, waitForOutput, type Child } from '../../../testing/child.ts';
import { freePort } from '../../../testing/ports.ts';
import type { TestEnv } from './env.ts';

export interface PortalProcess {
  app: Child;
  /** http://127.0.0.1:<port> */
  base: string;
}

/**
 * Starts the app on the world's database and queue prefix; `extra` adds or overrides variables.
 * `role` is `all` unless a caller needs the web role alone.
 */
export async function startPortalProcess(
  env: TestEnv,
  extra: Record<string, string> = {},
  role: 'all' | 'web' = 'all',
): Promise<PortalProcess> {
  const port = await freePort();
  const app = spawnTs('app/bin/refresher.js', [role], {
    DATABASE_URL: env.config.DATABASE_URL,
    DATABASE_CREATE: 'false',
    REDIS_URL: env.config.REDIS_URL,
    QUEUE_PREFIX: env.config.QUEUE_PREFIX,
    PORT: String(port),
    HOST: '127.0.0.1',
    METRICS_PORT: String(await freePort()),
    METRICS_HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ...extra,
  });
  await waitForOutput(app, /web role listening/, 30_000);
  return { app, base: `http://127.0.0.1:${port}` };
}

/** Signs in through the form, as a person would, and waits for Home. */
export async function signInInBrowser(
  page: Page,
  base: string,
  user: { username: string; password: string },
): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', user.username);
  await page.fill('input[name=password]', user.password);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/admin`);
}
