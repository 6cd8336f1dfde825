/**
 * Headless Chromium for the page's tests: Debian's /usr/bin/chromium driven
 * by playwright-core (no browser download). The page's console errors,
 * uncaught exceptions and failed requests are collected so a test can
 * assert there were none.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

export interface PageProblems {
  /** Console errors, uncaught exceptions, failed requests; expected ones can be filtered by the test. */
  errors: string[];
}

export function watchPage(page: Page): PageProblems {
  const problems: PageProblems = { errors: [] };
  page.on('console', (message) => {
    if (message.type() === 'error') problems.errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.errors.push(`exception: ${error.message}`));
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText ?? 'failed';
    // A <video> element aborts range requests it no longer needs; navigation aborts pending polls.
    if (failure.includes('ERR_ABORTED')) return;
    problems.errors.push(`request: ${request.method()} ${request.url()} ${failure}`);
  });
  return problems;
}

/** test-output/web/<name>, the folder created on first use. */
export async function screenshotPath(name: string): Promise<string> {
  const dir = path.resolve('test-output', 'web');
  await mkdir(dir, { recursive: true });
  return path.join(dir, name);
}
