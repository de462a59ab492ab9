import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

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
