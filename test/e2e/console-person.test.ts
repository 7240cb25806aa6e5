/**
 * The console as a person uses it, in Debian's Chromium against the built `patchbay ui`: no CLI
 * text beside a button that does the same, no raw backticks, an unreachable server shows why;
 * editing a connector without ever seeing its secrets; "back to default" and the group settings;
 * server markdown rendered as elements (no HTML), images enlarged, a resource opened from a link;
 * the server's completions as the person types; the server-wide limits card; a spent link
 * followed by `patchbay ui` run again. Screenshots go to test-artifacts/screenshots/person-*.png.
 */

import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { crc32, deflateSync } from 'node:zlib';

import { McpServer } from '@modelcontextprotocol/server';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { getFreePort } from '../fixtures/fault-servers.js';
import { startModernServer, type LoopbackServer } from '../fixtures/modern-servers.js';
import { launchChromium, screenshot } from '../helpers/browser.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { startUi } from '../helpers/console.js';

/** A solid-colour PNG, w×h, as base64 (a real image for the lightbox). */
function png(width: number, height: number, rgb: [number, number, number]): string {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => rgb).flat())]);
  const pixels = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ]).toString('base64');
}

const IMAGE = `data:image/png;base64,${png(64, 40, [194, 96, 63])}`;
const INSTRUCTIONS = [
  '# Using the docs server',
  '',
  'Read the **guides** first, then `search` for the rest. See [the site](https://example.com/docs).',
  '',
  '- one',
  '- two with a [bad link](javascript:window.__pwned=1)',
  '',
  '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>',
  '',
  `![diagram](${IMAGE})`,
  '',
  '![remote](https://example.com/tracker.png)',
].join('\n');

let sandbox: Sandbox;
let everything: EverythingServer;
let docs: LoopbackServer;
let ui: { child: ChildProcess; url: string; origin: string };
let browser: Browser;
let page: Page;

beforeAll(async () => {
  sandbox = await createSandbox();
  [everything, docs] = await Promise.all([
    startEverything('streamableHttp'),
    startModernServer(() => {
      const server = new McpServer({ name: 'docs', version: '1.0.0' }, { instructions: INSTRUCTIONS });
      for (let index = 1; index <= 30; index++)
        server.registerResource(
          `page-${index}`,
          `docs://page/${index}`,
          { mimeType: 'text/markdown', title: `Page ${index}` },
          (uri) => ({
            contents: [
              {
                uri: uri.href,
                mimeType: 'text/markdown',
                text: `## Page ${index}\n\nSome *markdown* with <b>raw html</b> and a picture:\n\n![page ${index}](${IMAGE})`,
              },
            ],
          }),
        );
      server.registerTool('lookup', { description: 'Reads.', annotations: { readOnlyHint: true } }, () => ({
        content: [{ type: 'text', text: 'ok' }],
      }));
      server.registerTool('publish', { description: 'Writes.' }, () => ({
        content: [{ type: 'text', text: 'ok' }],
      }));
      return server;
    }),
  ]);
  const dead = `http://127.0.0.1:${await getFreePort()}/mcp`;
  await sandbox.run(['add', 'ev', everything.url]);
  await sandbox.run(['add', 'docs', docs.url]);
  await sandbox.run(['add', 'dead', dead]);
  await sandbox.run([
    'add',
    'ed',
    everything.url,
    '-H',
    'X-Api-Key: edSECRETvalue42',
    '--client-id',
    'ed-client',
  ]);
  await sandbox.run(['limit', 'ev', '100/hour']);
  await sandbox.run(['limit', 'ev', 'echo', '5/hour']);
  // A teammate's server in the project's .mcp.json: pending approval, its hint in backticks.
  await writeFile(
    sandbox.projectConfig,
    JSON.stringify({ mcpServers: { team: { type: 'http', url: everything.url } } }, null, 2),
  );

  ui = await startUi(sandbox);
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
  await page.goto(ui.url);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  ui?.child.kill('SIGINT');
  await Promise.all([everything?.close(), docs?.close()]);
  await sandbox?.cleanup();
});

const byTestId = (id: string) => `[data-testid="${id}"]`;
const text = (selector: string, on: Page = page) => on.locator(selector).innerText();
const bodyText = (on: Page = page) => on.locator('body').innerText();

describe('the console, as a person uses it', () => {
  it('says why a server is unreachable, with no CLI text beside a button and no backticks', async () => {
    await page.goto(`${ui.origin}/#/`);
    await expect
      .poll(() => page.locator(byTestId('status-dead')).getAttribute('data-status'), { timeout: 30_000 })
      .toBe('failed');
    await expect
      .poll(() => page.locator(byTestId('status-team')).getAttribute('data-status'), { timeout: 30_000 })
      .toBe('pending-approval');
    const dead = await text(byTestId('connector-dead'));
    expect(dead).toMatch(/refused|nothing listening/i);
    // The Doctor button is there, so the `patchbay doctor` hint is not.
    expect(await page.locator(byTestId('doctor-dead')).count()).toBe(1);
    expect(dead).not.toContain('patchbay doctor');
    // Approve is a button: neither `patchbay approve` nor `patchbay get` is shown beside it.
    const team = await text(byTestId('connector-team'));
    expect(await page.locator(byTestId('approve-team')).count()).toBe(1);
    expect(team).not.toMatch(/patchbay (approve|get)/);
    expect(await bodyText()).not.toContain('`');
    await screenshot(page, 'person-connectors');

    // The page of the unreachable server: the reason, a Doctor button, never "offers no tools".
    await page.click(byTestId('open-dead'));
    await page.waitForSelector(byTestId('not-connected'), { timeout: 30_000 });
    const detail = await bodyText();
    expect(detail).toMatch(/refused|nothing listening/i);
    expect(detail).not.toMatch(/offers no (tools|resources|prompts)/);
    expect(detail).not.toContain('patchbay doctor');
    expect(detail).not.toContain('`');
    await page.click(byTestId('doctor-dead'));
    await page.waitForSelector(`${byTestId('doctor-findings')} .finding`, { timeout: 30_000 });
    expect(await bodyText()).not.toContain('`');
    await screenshot(page, 'person-unreachable');

    // A server that does not exist: no Doctor button, no login, a way back.
    await page.goto(`${ui.origin}/#/server/ghost`);
    await page.waitForSelector(byTestId('detail-not-found'), { timeout: 20_000 });
    expect(await page.locator('[data-testid^="doctor-"]').count()).toBe(0);
    expect(await text(byTestId('detail-not-found'))).toMatch(/ghost/);
    expect(await bodyText()).not.toContain('`');
    await screenshot(page, 'person-not-found');
  }, 90_000);

  it('edits a connector without ever seeing its secrets, validated as patchbay add', async () => {
    await page.goto(`${ui.origin}/#/server/ed`);
    await page.click(byTestId('edit-ed'));
    await page.waitForSelector(byTestId('edit-form'), { timeout: 20_000 });
    // The stored value is not on the page: an empty field that says "unchanged".
    expect(await page.inputValue(byTestId('edit-header-value-0'))).toBe('');
    expect(await page.getAttribute(byTestId('edit-header-value-0'), 'placeholder')).toBe('unchanged');
    expect(await page.content()).not.toContain('edSECRETvalue42');
    expect(await page.inputValue(byTestId('edit-client-id'))).toBe('ed-client');
    await screenshot(page, 'person-edit');

    // What `patchbay add` refuses, the form refuses with the same words.
    await page.fill(byTestId('edit-url'), 'mcp.example.com/mcp');
    await page.click(byTestId('edit-submit'));
    const refused = await page.locator(byTestId('edit-error')).innerText({ timeout: 20_000 });
    const cli = await sandbox.run(['add', 'x', 'mcp.example.com/mcp']);
    expect(cli.stderr).toContain(refused.split('\n')[0]!.trim());

    // A new URL, one more header, a callback port; the stored header kept unseen.
    await page.fill(byTestId('edit-url'), docs.url);
    await page.click(byTestId('edit-header-add'));
    await page.fill(byTestId('edit-header-name-1'), 'X-Team');
    await page.fill(byTestId('edit-header-value-1'), '${TEAM_TOKEN}');
    await page.fill(byTestId('edit-callback-port'), '8765');
    await page.click(byTestId('edit-submit'));
    await page.waitForSelector(byTestId('detail-notice'), { timeout: 20_000 });
    const config = JSON.parse(await readFile(sandbox.userConfig, 'utf8'));
    const entry = config.projects[sandbox.project].mcpServers.ed;
    expect(entry).toEqual({
      type: 'http',
      url: docs.url,
      headers: { 'X-Api-Key': 'edSECRETvalue42', 'X-Team': '${TEAM_TOKEN}' },
      oauth: { clientId: 'ed-client', callbackPort: 8765 },
    });
    await screenshot(page, 'person-edited');
  }, 60_000);

  it('sets read-only and other tools as groups, and takes a tool back to its default', async () => {
    await page.goto(`${ui.origin}/#/server/docs`);
    await page.waitForSelector(byTestId('group-settings'), { timeout: 30_000 });
    await page.click(byTestId('group-other-ask'));
    await expect
      .poll(() => text(byTestId('because-publish')), { timeout: 20_000 })
      .toContain('other tools: ask');
    await page.click(byTestId('group-read-only-deny'));
    await expect
      .poll(() => text(byTestId('because-lookup')), { timeout: 20_000 })
      .toContain('read-only tools: deny');
    // A tool's own setting wins over its group; "Back to default" removes it.
    await page.click(byTestId('permission-lookup-allow'));
    await expect.poll(() => text(byTestId('because-lookup')), { timeout: 20_000 }).toContain('rule "lookup"');
    await screenshot(page, 'person-groups');
    await page.click(byTestId('permission-lookup-default'));
    await expect
      .poll(() => text(byTestId('because-lookup')), { timeout: 20_000 })
      .toContain('read-only tools: deny');
    const policy = JSON.parse(await readFile(sandbox.userConfig, 'utf8')).projects[sandbox.project].policy;
    expect(policy.servers.docs).toEqual({ groups: { other: 'ask', 'read-only': 'deny' } });
    await page.click(byTestId('group-read-only-default'));
    await expect
      .poll(() => text(byTestId('because-lookup')), { timeout: 20_000 })
      .toContain('its annotations');
  }, 60_000);

  it("renders the server's markdown as elements, never HTML; images open larger", async () => {
    await page.goto(`${ui.origin}/#/server/docs`);
    const instructions = page.locator(byTestId('instructions-markdown'));
    await instructions.waitFor({ timeout: 30_000 });
    expect(await instructions.locator('h3').innerText()).toBe('Using the docs server');
    expect(await instructions.locator('strong').innerText()).toBe('guides');
    expect(await instructions.locator('code').innerText()).toBe('search');
    const link = instructions.locator('a');
    expect(await link.count()).toBe(1);
    expect(await link.getAttribute('href')).toBe('https://example.com/docs');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await link.getAttribute('target')).toBe('_blank');
    // The javascript: link is text; the raw HTML is shown as text; no remote image is loaded.
    const shown = await instructions.innerText();
    expect(shown).toContain('bad link');
    expect(shown).toContain('<script>window.__pwned=1</script>');
    expect(await instructions.locator('script, img[src="x"], img[src^="https:"]').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    await screenshot(page, 'person-instructions');

    await instructions.locator(byTestId('zoomable-image')).click();
    const lightbox = page.locator(`${byTestId('lightbox')}[open]`);
    await lightbox.waitFor();
    const size = await lightbox.locator('img').boundingBox();
    expect(size!.width).toBeGreaterThan(64 * 3);
    await screenshot(page, 'person-lightbox');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator(`${byTestId('lightbox')}[open]`).count()).toBe(0);
  }, 60_000);

  it('opens the resource viewer at the resource a link names, rendered as markdown', async () => {
    await page.goto(`${ui.origin}/#/`);
    await page.goto(
      `${ui.origin}/#/server/docs?tab=resources&resource=${encodeURIComponent('docs://page/25')}`,
    );
    const item = page.locator(byTestId('resource-item-docs://page/25'));
    const view = item.locator(byTestId('resource-view'));
    await view.waitFor({ timeout: 30_000 });
    expect(await view.locator('h4').innerText()).toBe('Page 25');
    expect(await view.locator('em').innerText()).toBe('markdown');
    expect(await view.innerText()).toContain('<b>raw html</b>');
    expect(await view.locator('b').count()).toBe(0);
    // Scrolled to it: the item is in the viewport, far down a list of 30.
    await expect
      .poll(
        () =>
          item.evaluate((element) => {
            const box = (
              element as unknown as { getBoundingClientRect(): { top: number; bottom: number } }
            ).getBoundingClientRect();
            // (Scrolled to the item's top, give or take a sub-pixel.)
            return box.top > -2 && box.top < 900;
          }),
        { timeout: 10_000 },
      )
      .toBe(true);
    await screenshot(page, 'person-resource-deep-link');
    // Another resource opened by a click is named in the address, for a link or a reload.
    await page.click(byTestId('resource-docs://page/3'));
    await page.locator(byTestId('resource-item-docs://page/3')).locator(byTestId('resource-view')).waitFor();
    expect(decodeURIComponent(page.url())).toContain('resource=docs://page/3');
    await page.reload();
    await page.locator(byTestId('resource-item-docs://page/3')).locator(byTestId('resource-view')).waitFor({
      timeout: 30_000,
    });
  }, 60_000);

  it("offers the server's completions for prompt arguments and template variables", async () => {
    await page.goto(`${ui.origin}/#/server/ev?tab=prompts`);
    const department = byTestId('prompt-completable-prompt-department');
    await page.waitForSelector(department, { timeout: 30_000 });
    await page.click(department);
    await page.keyboard.type('S');
    const options = (id: string) =>
      page
        .locator(`${byTestId(`${id}-suggestions`)} option`)
        .evaluateAll((nodes) => nodes.map((node) => (node as unknown as { value: string }).value));
    await expect
      .poll(() => options('prompt-completable-prompt-department'), { timeout: 20_000 })
      .toEqual(['Sales', 'Support']);
    await page.fill(department, 'Sales');
    // The next argument's answers depend on the first one's value.
    await page.click(byTestId('prompt-completable-prompt-name'));
    await expect
      .poll(() => options('prompt-completable-prompt-name'), { timeout: 20_000 })
      .toEqual(['David', 'Eve', 'Frank']);
    await screenshot(page, 'person-prompt-completions');

    await page.click(byTestId('tab-resources'));
    const variable = 'template-Dynamic Text Resource-resourceId';
    await page.waitForSelector(byTestId(variable), { timeout: 20_000 });
    await page.click(byTestId(variable));
    await page.keyboard.type('7');
    await expect.poll(() => options(variable), { timeout: 20_000 }).toEqual(['7']);
  }, 60_000);

  it('shows only server-wide limits in the server-wide card', async () => {
    await page.goto(`${ui.origin}/#/server/ev`);
    const card = page.locator(byTestId('server-limits'));
    await card.waitFor({ timeout: 30_000 });
    const shown = await card.innerText();
    expect(shown).toContain('100/hour');
    expect(shown).not.toContain('5/hour');
    expect(shown).not.toContain('echo');
    await page.click(byTestId('limits-open-echo'));
    expect(await text(byTestId('limits-echo'))).toContain('5/hour');
    await screenshot(page, 'person-limits');
  }, 60_000);

  it('a spent link in a second browser is not a dead end: patchbay ui again gives a new one', async () => {
    const second = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    try {
      const other = await second.newPage();
      await other.goto(ui.url);
      const banner = other.locator(byTestId('session-expired'));
      await expect.poll(() => banner.innerText(), { timeout: 20_000 }).toContain('already been used');
      expect(await banner.locator('code').innerText()).toBe('patchbay ui');
      expect(await banner.innerText()).not.toContain('`');
      await screenshot(other, 'person-spent-link');

      const again = await sandbox.run(['ui', '--no-open']);
      expect(again.code).toBe(0);
      const fresh = again.stdout.trim();
      expect(new URL(fresh).origin).toBe(ui.origin);
      await other.goto(fresh);
      await other.waitForSelector(byTestId('connector-ev'), { timeout: 20_000 });
      expect(await other.locator(byTestId('session-expired')).count()).toBe(0);
      await screenshot(other, 'person-relaunched');
    } finally {
      await second.close();
    }
  }, 60_000);
});
