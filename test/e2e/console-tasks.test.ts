/**
 * A task tool in the console, in a real browser (Chromium driven by playwright-core against
 * `patchbay ui`): "Try" on server-everything's simulate-research-query, whose execution requires
 * a task, shows the task's status and the server's message as they move, then its result; and
 * a second run is cancelled from the page.
 */

import type { ChildProcess } from 'node:child_process';

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { launchChromium, screenshot } from '../helpers/browser.js';
import { startUi } from '../helpers/console.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let everything: EverythingServer;
let ui: { child: ChildProcess; url: string; origin: string };
let browser: Browser;
let page: Page;

beforeAll(async () => {
  sandbox = await createSandbox();
  everything = await startEverything('streamableHttp');
  await sandbox.run(['add', 'ev', everything.url]);
  ui = await startUi(sandbox);
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  ui?.child.kill('SIGINT');
  await everything?.close();
  await sandbox?.cleanup();
});

const byTestId = (id: string) => `[data-testid="${id}"]`;
const TOOL = 'simulate-research-query';

describe('a task tool in the console', () => {
  it('runs it as a task: status and message as they move, then the result', async () => {
    await page.goto(ui.url);
    await page.click(byTestId('open-ev'));
    await page.waitForSelector(byTestId(`tool-${TOOL}`), { timeout: 20_000 });
    await page.click(byTestId(`try-open-${TOOL}`));
    await page
      .locator(`${byTestId(`try-${TOOL}`)} input`)
      .first()
      .fill('browsers');
    await page.click(byTestId(`try-${TOOL}-run`));
    const task = page.locator(`${byTestId(`tool-${TOOL}`)} ${byTestId('task')}`);
    await expect.poll(() => task.getAttribute('data-status'), { timeout: 20_000 }).toBe('working');
    await expect
      .poll(() => task.locator(byTestId('task-message')).textContent(), { timeout: 20_000 })
      .toMatch(/Analyzing content|Synthesizing findings|Generating report/);
    await screenshot(page, 'detail-task-running');
    await expect
      .poll(
        () =>
          page
            .locator(`${byTestId(`tool-${TOOL}`)} ${byTestId('result')}`)
            .last()
            .textContent(),
        {
          timeout: 20_000,
        },
      )
      .toContain('Research Report: browsers');
    expect(await task.getAttribute('data-status')).toBe('completed');
  }, 60_000);

  it('cancels a running task from the page', async () => {
    await page.click(byTestId(`try-${TOOL}-run`));
    const task = page.locator(`${byTestId(`tool-${TOOL}`)} ${byTestId('task')}`);
    await expect.poll(() => task.getAttribute('data-status'), { timeout: 20_000 }).toBe('working');
    await page.click(byTestId('task-cancel'));
    await expect.poll(() => task.getAttribute('data-status'), { timeout: 20_000 }).toBe('cancelled');
    await expect
      .poll(() => task.locator(byTestId('task-error')).textContent(), { timeout: 20_000 })
      .toContain('was cancelled');
  }, 60_000);
});
