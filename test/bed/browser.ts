import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Where screenshots outlive the tests' directories: `.bed/artifacts/dashboard/`, or RACKSEED_ARTIFACTS. */
export const ARTIFACTS =
  process.env.RACKSEED_ARTIFACTS ?? fileURLToPath(new URL('../../.bed/artifacts/dashboard/', import.meta.url));

/**
 * Debian's Chromium (`apt-get install chromium`): the binary itself, not /usr/bin/chromium's
 * shell wrapper; `RACKSEED_CHROMIUM` names another. Playwright's own browser downloads are not
 * used (they cannot be fetched here, and the system's is the one an operator has).
 */
export function chromiumPath(): string {
  const path = process.env.RACKSEED_CHROMIUM ?? '/usr/lib/chromium/chromium';
  if (!existsSync(path))
    throw new Error(
      `no Chromium at ${path}: apt-get install chromium (scripts/setup.sh does), or set RACKSEED_CHROMIUM`,
    );
  return path;
}

/**
 * Starts headless Chromium under playwright-core (not in the bed's index: only the tests that drive
 * a browser load it). Playwright passes `--no-sandbox` (its
 * `chromiumSandbox` is off by default), which Chromium requires when run as root, as the tests
 * are: it refuses to start its sandbox for root. The pages it opens are the test's own.
 */
export async function startBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, timeout: 30_000 });
}

/** A full-page screenshot into `dir`, copied to {@link ARTIFACTS}; its path in `dir`. */
export async function shoot(page: Page, dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  await page.screenshot({ path, fullPage: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  copyFileSync(path, join(ARTIFACTS, name));
  return path;
}

/** A new page of `context` logged in to the dashboard of the API at `url` (its form, as a person would). */
export async function logIn(context: BrowserContext, url: string, user: string, password: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${url}/dashboard/`);
  await page.fill('#login-form input[name=user]', user);
  await page.fill('#login-form input[name=password]', password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#logout');
  return page;
}

/** Every Content-Security-Policy violation a page reports (none is expected: nothing inline, nothing foreign). */
export function cspViolations(page: Page): string[] {
  const seen: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) seen.push(message.text());
  });
  return seen;
}
