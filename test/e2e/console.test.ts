/**
 * The console in a real browser: Debian's Chromium driven by playwright-core against
 * `patchbay ui`, with server-everything, an OAuth-protected MCP server (oidc-provider) and a
 * hostile server behind it. Add a connector and see it connect, log in through the real
 * authorization server, block a tool and see the gateway refuse it, browse a resource, run a
 * prompt, and the security checks. Screenshots of the main pages go to test-artifacts/.
 */

import type { ChildProcess } from 'node:child_process';

import { Client } from '@modelcontextprotocol/client';
import { McpServer } from '@modelcontextprotocol/server';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startModernServer, type LoopbackServer } from '../fixtures/modern-servers.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';
import { launchChromium, screenshot } from '../helpers/browser.js';
import { BINARY, createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { startUi } from '../helpers/console.js';

const HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">';

let sandbox: Sandbox;
let everything: EverythingServer;
let as: AuthorizationServer;
let secure: ProtectedMcpServer;
let hostile: LoopbackServer;
let ui: { child: ChildProcess; url: string; origin: string };
let browser: Browser;
let page: Page;

beforeAll(async () => {
  sandbox = await createSandbox();
  [everything, as, hostile] = await Promise.all([
    startEverything('streamableHttp'),
    startAuthorizationServer(),
    startModernServer(() => {
      const server = new McpServer({ name: 'hostile', version: '1.0.0' });
      server.registerTool('innocent', { description: `Looks fine. ${HOSTILE}` }, () => ({
        content: [{ type: 'text', text: HOSTILE }],
      }));
      return server;
    }),
  ]);
  secure = await startProtectedMcpServer({ authorizationServer: as });
  await sandbox.run(['add', 'secure', secure.url]);
  await sandbox.run(['add', 'hostile', hostile.url]);
  ui = await startUi(sandbox);
  browser = await launchChromium();
  // One context, so that a second tab of the same browser can be opened in it.
  page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  ui?.child.kill('SIGINT');
  await Promise.all([everything?.close(), secure?.close(), hostile?.close()]);
  await as?.close();
  await sandbox?.cleanup();
});

const byTestId = (id: string) => `[data-testid="${id}"]`;

async function statusOf(name: string): Promise<string> {
  return (await page.locator(byTestId(`status-${name}`)).textContent()) ?? '';
}

describe('the console in Chromium', () => {
  it('opens with its one-time token, adds a connector, and sees it connect', async () => {
    await page.goto(ui.url);
    await page.waitForSelector(byTestId('connector-secure'));
    // The token was taken out of the address and exchanged for the tab's session.
    expect(page.url()).not.toContain('token');
    await page.click(byTestId('add-connector'));
    await page.fill(byTestId('add-name'), 'bad name!');
    await page.fill(byTestId('add-url'), everything.url);
    await page.click(byTestId('add-submit'));
    // The CLI's own validation, word for word.
    await expect.poll(() => page.locator(byTestId('add-error')).textContent()).toMatch(/name/i);
    await page.fill(byTestId('add-name'), 'ev');
    await page.click(byTestId('add-submit'));
    await page.waitForSelector(byTestId('connector-ev'));
    await expect.poll(() => statusOf('ev'), { timeout: 20_000 }).toMatch(/connected/i);
    await expect.poll(() => statusOf('secure'), { timeout: 20_000 }).toMatch(/log ?in/i);
    await screenshot(page, 'connectors');
  }, 60_000);

  it('logs in through the real authorization server and comes back connected', async () => {
    await page.click(byTestId('login-secure'));
    // The authorization server logs the test user in and redirects to patchbay's callback,
    // whose page sends the browser back to the console.
    await page.waitForURL((url) => url.origin === ui.origin, { timeout: 30_000 });
    await page.waitForSelector(byTestId('connector-secure'));
    await expect.poll(() => statusOf('secure'), { timeout: 30_000 }).toMatch(/connected/i);
    const status = await sandbox.run(['auth', 'status', '--json']);
    expect(status.stdout).toContain(as.issuer);
  }, 60_000);

  it('blocks a tool, and the gateway refuses it', async () => {
    await page.click(byTestId('open-ev'));
    await page.waitForSelector(byTestId('tool-get-sum'), { timeout: 20_000 });
    await page.click(byTestId('permission-get-sum-deny'));
    await expect
      .poll(() => page.locator(byTestId('because-get-sum')).textContent(), { timeout: 20_000 })
      .toMatch(/deny/);
    await screenshot(page, 'detail-tools');
    const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');
    const host = new Client({ name: 'console-test-host', version: '1.0.0' });
    await host.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BINARY, 'serve', '--servers', 'ev'],
        env: sandbox.env as Record<string, string>,
        cwd: sandbox.project,
        stderr: 'ignore',
      }),
    );
    try {
      const names = (await host.listTools()).tools.map((tool) => tool.name);
      expect(names).toContain('ev__echo');
      expect(names).not.toContain('ev__get-sum');
      const refused = await host.callTool({ name: 'ev__get-sum', arguments: { a: 1, b: 2 } });
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(refused.content)).toContain("patchbay's policy denies ev's tool get-sum");
    } finally {
      await host.close();
    }
  }, 60_000);

  it('tries a tool, browses a resource, and runs a prompt', async () => {
    await page.click(byTestId('try-open-echo'));
    await page
      .locator(`${byTestId('try-echo')} input, ${byTestId('try-echo')} textarea`)
      .first()
      .fill('from the page');
    await page.click(byTestId('try-echo-run'));
    await expect
      .poll(() => page.locator(`${byTestId('tool-echo')} ${byTestId('result')}`).textContent(), {
        timeout: 20_000,
      })
      .toContain('Echo: from the page');

    await page.click(byTestId('tab-resources'));
    const item = page.locator('[data-testid^="resource-demo://resource/static/"]').first();
    await item.waitFor({ timeout: 20_000 });
    await item.click();
    await expect
      .poll(() => page.locator(byTestId('resource-view')).textContent(), { timeout: 20_000 })
      .toMatch(/\S{20,}/);
    await screenshot(page, 'detail-resources');

    await page.click(byTestId('tab-prompts'));
    await page.click(byTestId('prompt-simple-prompt'));
    await page.click(byTestId('prompt-simple-prompt-run'));
    await expect
      .poll(() => page.locator(byTestId('prompt-messages')).textContent(), { timeout: 20_000 })
      .toMatch(/\w+/);
    await screenshot(page, 'detail-prompts');
  }, 60_000);

  it("renders a server's <script> as inert text", async () => {
    await page.goto(`${ui.origin}/#/server/hostile`);
    await page.waitForSelector(byTestId('tool-innocent'), { timeout: 20_000 });
    const text = await page.locator(byTestId('tool-innocent')).textContent();
    expect(text).toContain('<script>window.__pwned = 1</script>');
    await page.click(byTestId('try-open-innocent'));
    await page.click(byTestId('try-innocent-run'));
    await expect
      .poll(() => page.locator(`${byTestId('tool-innocent')} ${byTestId('result')}`).textContent(), {
        timeout: 20_000,
      })
      .toContain('onerror=');
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(
      await page
        .locator(`${byTestId('tool-innocent')} script, ${byTestId('tool-innocent')} img[src="x"]`)
        .count(),
    ).toBe(0);
  }, 60_000);

  it('shows the activity with its charts', async () => {
    await page.click(byTestId('nav-activity'));
    await page.waitForSelector(byTestId('activity-table'), { timeout: 20_000 });
    await expect.poll(() => page.locator(byTestId('activity-table')).textContent()).toContain('echo');
    await page.waitForSelector(byTestId('chart-calls'));
    await page.waitForSelector(byTestId('chart-latency'));
    await screenshot(page, 'activity');
  }, 60_000);

  it('reads at 360 px, in dark mode, and works from the keyboard', async () => {
    await page.setViewportSize({ width: 360, height: 800 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${ui.origin}/#/`);
    await page.waitForSelector(byTestId('connector-ev'));
    // Nothing wider than the screen.
    // (Page code as strings: the tests are type-checked without the DOM's types.)
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
    const background = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
    expect(background).not.toBe('rgb(255, 255, 255)');
    await screenshot(page, 'connectors-360-dark');
    // Tab reaches the connectors' actions, each with a name, and Enter uses one.
    const reached: string[] = [];
    for (let step = 0; step < 30; step++) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate<string>(
        `(() => { const e = document.activeElement; return e ? e.tagName + ':' + (e.getAttribute('data-testid') ?? '') + ':' + (e.textContent ?? '').trim() : ''; })()`,
      );
      reached.push(focused);
      if (focused.includes(':open-ev:')) break;
    }
    expect(reached.some((focused) => focused.includes(':open-ev:Configure'))).toBe(true);
    await page.keyboard.press('Enter');
    await page.waitForSelector(byTestId('tool-echo'), { timeout: 20_000 });
    await screenshot(page, 'detail-360-dark');
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.emulateMedia({ colorScheme: 'light' });
  }, 60_000);

  it('keeps the session in the tab, never in a cookie; the API refuses anything else', async () => {
    await page.goto(`${ui.origin}/#/`);
    await page.waitForSelector(byTestId('connector-ev'));
    const secret = await page.evaluate<string | null>("sessionStorage.getItem('patchbay-console-session')");
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The authorization server on another port of 127.0.0.1 has cookies this origin is sent too
    // (cookies ignore ports); none of them is the console's.
    const cookies = await page.context().cookies(ui.origin);
    expect(
      cookies.filter((cookie) => cookie.value.includes(secret!) || cookie.name.startsWith('patchbay')),
    ).toEqual([]);
    const api = `${ui.origin}/api/servers?check=0`;
    expect((await fetch(api)).status).toBe(401);
    const authorization = `Bearer ${secret}`;
    expect((await fetch(api, { headers: { authorization } })).status).toBe(200);
    // The printed URL's token is spent: it opens no second session.
    const again = await fetch(`${ui.origin}/api/session`, {
      method: 'POST',
      headers: { origin: ui.origin, 'content-type': 'application/json' },
      body: JSON.stringify({ token: new URLSearchParams(new URL(ui.url).hash.slice(1)).get('token') }),
    });
    expect(again.status).toBe(401);
    const foreign = await fetch(`${ui.origin}/api/servers/ev/enabled`, {
      method: 'POST',
      headers: { authorization, origin: 'http://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false }),
    });
    expect(foreign.status).toBe(403);
    const page2 = await fetch(`${ui.origin}/`);
    expect(page2.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page2.headers.get('set-cookie')).toBeNull();
  });

  it('a reload keeps the session; another tab has none and says what to do', async () => {
    await page.reload();
    await page.waitForSelector(byTestId('connector-ev'));
    expect(await page.locator(byTestId('session-expired')).count()).toBe(0);
    const other = await page.context().newPage();
    try {
      await other.goto(`${ui.origin}/#/`);
      await expect
        .poll(() => other.locator(byTestId('session-expired')).textContent(), { timeout: 20_000 })
        .toContain('This tab has no console session');
      // The printed URL again, pasted into that tab (only the fragment changes): spent, and said so.
      await other.goto(ui.url);
      await expect
        .poll(() => other.locator(byTestId('session-expired')).textContent(), { timeout: 20_000 })
        .toContain('already been used');
      expect(other.url()).not.toContain('token');
    } finally {
      await other.close();
    }
  });
});
