/**
 * Debian's Chromium, driven through playwright-core, for the console's end-to-end tests. No
 * browser is downloaded: `.ci/run` installs the `chromium` package (apt) when it is missing.
 * Screenshots go to test-artifacts/ (ignored by git), kept for a person to look at.
 */

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium, type Browser, type Page } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

export function chromiumPath(): string {
  const path = [process.env.CHROMIUM_PATH, ...CANDIDATES].find(
    (candidate) => candidate && existsSync(candidate),
  );
  if (!path)
    throw new Error(
      "The console's browser tests need Debian's chromium: apt-get install -y chromium (.ci/run does it), or set CHROMIUM_PATH.",
    );
  return path;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root in a container has no user namespaces for Chromium's sandbox; the pages are our own.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

/** A full-page screenshot under test-artifacts/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = join(ARTIFACTS, 'screenshots');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
