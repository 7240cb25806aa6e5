/**
 * The demo's login in a real browser (Debian's Chromium through playwright-core): the login page
 * under its strict CSP (no violation, the form's post and the redirect to the client allowed), a
 * wrong password, Allow; and the whole `npm start` story — `patchbay demo`, the console it
 * starts, Log in on demo, the demo's own login page, back to the console, connected.
 * Screenshots go to test-artifacts/screenshots/.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { launchChromium, screenshot } from '../helpers/browser.js';
import { BINARY, createSandbox, type Sandbox } from '../helpers/sandbox.js';

const byTestId = (id: string) => `[data-testid="${id}"]`;

let browser: Browser;

beforeAll(async () => {
  // No Chromium fails here with how to install it, rather than skipping the proof.
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

/** What the page's console says about Content-Security-Policy: nothing, if the page keeps to it. */
function cspViolations(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  return violations;
}

describe('the demo login page in Chromium', () => {
  let demo: DemoServer;
  let callback: Server;
  const received: URL[] = [];

  beforeAll(async () => {
    demo = await startDemoServer({ oauth: true });
    callback = createServer((req, res) => {
      // Only the redirect counts (the browser may also ask this origin for a favicon).
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/callback') received.push(url);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('callback received');
    });
    await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => callback.close(resolve));
    await demo.close();
  });

  it('logs in under its CSP: a wrong password is refused, the right one returns a code', async () => {
    const as = demo.authorizationServer!;
    const redirectUri = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
    const registered = await fetch(as.endpoints.registration, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Chromium test <b>bold?</b>', redirect_uris: [redirectUri] }),
    });
    const { client_id } = (await registered.json()) as { client_id: string };
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(as.endpoints.authorization);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id,
      redirect_uri: redirectUri,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state: 'browser-state',
      resource: demo.url,
    }).toString();

    const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
    const violations = cspViolations(page);
    try {
      await page.goto(url.href);
      expect(await page.title()).toBe('Log in: patchbay demo');
      // The client's name as text, the password on the page.
      expect(await page.locator('main p strong').textContent()).toBe('Chromium test <b>bold?</b>');
      expect(await page.locator('.hint').textContent()).toContain('password demo');
      // The one style element is allowed by its hash: the page is styled.
      const width = await page.evaluate<string>("getComputedStyle(document.querySelector('main')).maxWidth");
      expect(width).not.toBe('none');
      await screenshot(page, 'demo-login');

      await page.fill('#password', 'wrong');
      await page.click('button[value="allow"]');
      await page.waitForSelector('.problem');
      expect(await page.locator('.problem').textContent()).toContain('Wrong user name or password');
      await screenshot(page, 'demo-login-wrong-password');

      await page.fill('#password', 'demo');
      await page.click('button[value="allow"]');
      await page.waitForURL((target) => target.pathname === '/callback');
      expect(received).toHaveLength(1);
      expect(received[0]!.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(received[0]!.searchParams.get('state')).toBe('browser-state');
      expect(received[0]!.searchParams.get('iss')).toBe(as.issuer);
      expect(violations).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);
});

describe('npm start in Chromium', () => {
  let sandbox: Sandbox;
  let demo: ChildProcess | undefined;

  beforeAll(async () => {
    sandbox = await createSandbox();
  });
  afterAll(async () => {
    if (demo && demo.exitCode === null && demo.signalCode === null) {
      const exited = new Promise((resolve) => demo!.once('close', resolve));
      demo.kill('SIGTERM');
      await exited;
    }
    await sandbox.cleanup();
  });

  it('patchbay demo → console → Log in on demo → the demo login page → back, connected', async () => {
    const child = spawn(process.execPath, [BINARY, 'demo'], {
      env: { ...sandbox.env, PATCHBAY_DEMO_NO_OPEN: '1' },
      cwd: sandbox.project,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    demo = child;
    let stdout = '';
    child.stderr!.resume();
    const consoleUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no console URL:\n${stdout}`)), 45_000);
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const match = /^(http:\/\/127\.0\.0\.1:\d+\/#token=\S+)$/m.exec(stdout);
        if (match && stdout.includes('press Log in on demo')) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });
    const origin = new URL(consoleUrl).origin;
    const issuer = /its own authorization server at (http:\/\/127\.0\.0\.1:\d+)\./.exec(stdout)![1]!;

    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const violations = cspViolations(page);
    try {
      await page.goto(consoleUrl);
      await page.waitForSelector(byTestId('connector-demo'), { timeout: 20_000 });
      const status = () => page.locator(byTestId('status-demo')).textContent();
      await expect.poll(status, { timeout: 20_000 }).toMatch(/log ?in|auth/i);
      await screenshot(page, 'demo-console-needs-login');

      await page.click(byTestId('login-demo'));
      await page.waitForURL((url) => url.origin === issuer, { timeout: 20_000 });
      await page.fill('#password', 'demo');
      await page.click('button[value="allow"]');
      // The callback's page sends the browser back to the console.
      await page.waitForURL((url) => url.origin === origin, { timeout: 30_000 });
      await page.waitForSelector(byTestId('connector-demo'), { timeout: 20_000 });
      await expect.poll(status, { timeout: 30_000 }).toMatch(/connected/i);
      // The trip to the login page and back kept the tab's session, and no cookie carries it (the
      // demo's authorization server, on another port of 127.0.0.1, has its own, which this origin
      // is sent too: cookies ignore ports).
      const secret = await page.evaluate<string | null>("sessionStorage.getItem('patchbay-console-session')");
      expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const cookies = await page.context().cookies(origin);
      expect(
        cookies.filter((cookie) => cookie.value.includes(secret!) || cookie.name.startsWith('patchbay')),
      ).toEqual([]);
      await screenshot(page, 'demo-console-connected');
      expect(violations).toEqual([]);
    } finally {
      await page.close();
    }

    // The demo serves on when its stdin closes (nohup, a service); Ctrl-C stops it, with exit 0.
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    child.stdin!.end();
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 120_000);
});
