// Headless Chromium from the Debian package, driven by playwright-core (which downloads nothing).
// Each launch gets a fresh profile directory, removed on close; screenshots go to
// test-artifacts/browser/ so CI can keep them.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '../../../contract/paths.ts';
import { CHROMIUM, CHROMIUM_FLAGS } from '../../../contract/chromium.ts';

export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'browser');

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors and CSP violations seen so far, on any page. */
  problems: string[];
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'refresher-chromium-'));
  await mkdir(ARTIFACTS, { recursive: true });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_FLAGS,
      headless: true,
      viewport: { width: 1280, height: 900 },
      timeout: 60_000,
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  const problems: string[] = [];
  context.on('console', (message) => {
    if (message.type() === 'error') problems.push(`${message.location().url}: ${message.text()}`);
  });
  context.on('weberror', (error) => problems.push(String(error.error())));
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  return {
    context,
    page,
    problems,
    async screenshot(name) {
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
