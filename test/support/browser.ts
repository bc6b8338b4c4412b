import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';

// Headless Debian Chromium driven by playwright-core (scripts/setup.sh installs it). Each
// context gets a fresh profile directory; screenshots go to test-results/screenshots/.

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const SCREENSHOTS = path.resolve(__dirname, '..', '..', 'test-results', 'screenshots');

export function chromiumAvailable(): boolean {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `describe` where Chromium is present. Where it is missing the suite FAILS with a clear message,
 * unless the operator opted out explicitly with BROWSER_TESTS=off (then one test prints why).
 * Nothing is ever marked skipped: scripts/setup.sh installs Chromium on every machine we run on.
 */
export function describeWithChromium(name: string, fn: () => void): void {
  if (chromiumAvailable()) {
    describe(name, fn);
    return;
  }
  const why = `no Chromium at ${CHROMIUM} (scripts/setup.sh installs Debian's chromium as root; set CHROMIUM_PATH otherwise)`;
  if (process.env.BROWSER_TESTS === 'off') {
    describe(name, () => {
      test('browser tests opted out with BROWSER_TESTS=off', () => {
        process.stderr.write(`\n[browser tests] NOT RUN "${name}": BROWSER_TESTS=off and ${why}\n\n`);
      });
    });
    return;
  }
  describe(name, () => {
    test('needs Chromium', () => {
      throw new Error(`[browser tests] "${name}" cannot run: ${why}. Install it, or set BROWSER_TESTS=off to opt out explicitly.`);
    });
  });
}

export async function launchBrowser(): Promise<BrowserContext> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kyc-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  context.on('close', () => {
    try {
      fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
    } catch {
      // Chromium may still be flushing its cache: a leftover temp dir is harmless
    }
  });
  return context;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Collects what the page reports as broken: CSP violations, script errors, console errors. */
export function watchPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

/** Waits until `locator` shows `text` (Playwright's own auto-waiting, no sleeps). */
export async function waitForText(locator: Locator, text: string | RegExp, timeout = 30_000): Promise<void> {
  await locator.filter({ hasText: text }).first().waitFor({ state: 'visible', timeout });
}
