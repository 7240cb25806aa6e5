/**
 * The attack on a port-blind credential, in Chromium: cookies ignore ports, so whatever the
 * browser keeps for 127.0.0.1 it also sends to any other listener on 127.0.0.1, and any page can
 * send the browser there. Here the console is opened as a person opens it, then the browser is
 * sent to a second loopback listener that records everything it receives (URL, every header with
 * Cookie, body): a top-level navigation from the console page, a page there that fetches, loads
 * an image and posts a form to its own port, and a fetch and an image the console page itself
 * tries to send there. Every recorded value is then replayed with plain Node fetch against every
 * API route of the console, as a cookie, a bearer token, a session header and a launch token, and
 * each must be refused (401/403): nothing the browser sends to another port grants anything.
 */

import type { ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CONSOLE_ROUTES } from '../../src/console/server.js';
import { launchChromium } from '../helpers/browser.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { startUi } from '../helpers/console.js';

interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

let sandbox: Sandbox;
let ui: { child: ChildProcess; url: string; origin: string };
let recorder: { server: Server; origin: string; seen: Recorded[] };
let browser: Browser;
let page: Page;

/** The other listener: records every request whole; /attack is a page that sends more its way. */
async function startRecorder(): Promise<typeof recorder> {
  const seen: Recorded[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        headers[req.rawHeaders[i]!.toLowerCase()] = req.rawHeaders[i + 1]!;
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers,
        body: Buffer.concat(chunks).toString(),
      });
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/attack') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(
          '<!doctype html><title>elsewhere</title><img src="/img-from-page">' +
            '<form method="post" action="/form" enctype="application/x-www-form-urlencoded"><input name="a" value="b"></form>' +
            '<script src="/attack.js"></script>',
        );
      } else if (path === '/attack.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(
          `(async () => {
            await fetch('/fetch-with-credentials', { method: 'POST', credentials: 'include', body: 'x' }).catch(() => {});
            await new Promise((resolve) => { const img = new Image(); img.onload = img.onerror = resolve; img.src = '/img-from-script'; });
            document.forms[0].submit();
          })();`,
        );
      } else {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><title>recorded</title><p>recorded</p>');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

beforeAll(async () => {
  sandbox = await createSandbox();
  // A configured server, so that the routes with :name reach a real entry once let in.
  await sandbox.run(['add', 'x', 'http://127.0.0.1:9/mcp']);
  ui = await startUi(sandbox);
  recorder = await startRecorder();
  browser = await launchChromium();
  page = await browser.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  ui?.child.kill('SIGINT');
  if (recorder) await new Promise((resolve) => recorder.server.close(resolve));
  await sandbox?.cleanup();
});

const byTestId = (id: string) => `[data-testid="${id}"]`;

/** Everything worth replaying in what the other port received: whole values and token-like parts. */
function candidates(seen: Recorded[]): { values: Set<string>; cookieHeaders: Set<string> } {
  const values = new Set<string>();
  const cookieHeaders = new Set<string>();
  const add = (value: string) => {
    if (value.trim() === '') return;
    values.add(value.trim());
    for (const part of value.match(/[A-Za-z0-9_\-.~+/=%]{16,}/g) ?? []) values.add(part);
  };
  for (const request of seen) {
    add(request.url);
    for (const [, value] of new URL(request.url, 'http://x').searchParams) add(value);
    add(request.body);
    for (const [name, value] of Object.entries(request.headers)) {
      add(value);
      if (name === 'cookie') {
        cookieHeaders.add(value);
        for (const pair of value.split(';')) add(pair.slice(pair.indexOf('=') + 1));
      }
      if (name === 'authorization') add(value.replace(/^\S+\s+/, ''));
    }
  }
  return { values, cookieHeaders };
}

/** A plausible request to one route: Origin of the console on a change, a JSON body. */
function routeRequest(route: (typeof CONSOLE_ROUTES)[number], headers: Record<string, string>) {
  const path = route.path.replace(/:[a-z]+/gi, 'x');
  const init: RequestInit = { method: route.method, headers: { ...headers }, redirect: 'manual' };
  if (route.method !== 'GET') {
    (init.headers as Record<string, string>).origin = ui.origin;
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
    init.body = JSON.stringify({ enabled: false, tool: 'echo', arguments: {}, uri: 'x://', prompt: 'p' });
  }
  return { url: `${ui.origin}${path}${route.method === 'GET' ? '?check=0' : ''}`, init };
}

/** Runs `jobs` a few at a time (one console, a small machine). */
async function inPool<T>(jobs: Array<() => Promise<T>>, width = 6): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const index = next++;
        results[index] = await jobs[index]!();
      }
    }),
  );
  return results;
}

describe('a credential the browser sends to another port of 127.0.0.1', () => {
  it('grants nothing on any API route of the console', async () => {
    // Signed in as a person signs in: the printed URL, in the browser.
    await page.goto(ui.url);
    await page.waitForSelector(byTestId('connector-x'), { timeout: 20_000 });

    // From the console page itself: a fetch and an image to the other port (its CSP should stop
    // both), then a top-level navigation there, whose page sends more requests to its own port.
    await page.evaluate(
      `(() => {
        fetch(${JSON.stringify(`${recorder.origin}/fetch-from-console`)}, { credentials: 'include', mode: 'no-cors' }).catch(() => {});
        new Image().src = ${JSON.stringify(`${recorder.origin}/img-from-console`)};
      })()`,
    );
    await page.evaluate(`location.href = ${JSON.stringify(`${recorder.origin}/attack?from=console`)}`);
    await page.waitForURL((url) => url.origin === recorder.origin && url.pathname === '/form', {
      timeout: 20_000,
    });
    // And a top-level navigation typed or linked from anywhere.
    await page.goto(`${recorder.origin}/typed`);
    const paths = recorder.seen.map((request) => new URL(request.url, 'http://x').pathname);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/attack',
        '/fetch-with-credentials',
        '/img-from-page',
        '/img-from-script',
        '/form',
        '/typed',
      ]),
    );

    // Back in the console's tab: it still works (the session is the tab's, kept across the trip).
    await page.goto(`${ui.origin}/`);
    await page.waitForSelector(byTestId('connector-x'), { timeout: 20_000 });
    expect(await page.locator(byTestId('session-expired')).count()).toBe(0);
    const stored = await page.evaluate<string[]>(
      '[...Object.values(sessionStorage), ...Object.values(localStorage)].map(String)',
    );
    const everything = JSON.stringify(recorder.seen);
    for (const value of stored) expect(everything).not.toContain(value);

    const { values, cookieHeaders } = candidates(recorder.seen);
    type Attempt = { what: string; status: number; setCookie: string | null };
    const jobs: Array<() => Promise<Attempt>> = [];
    const variants: Array<{ what: string; headers: Record<string, string> }> = [];
    for (const cookie of cookieHeaders) variants.push({ what: `Cookie: ${cookie}`, headers: { cookie } });
    for (const value of values) {
      if (!/^[\x21-\x7e]+$/.test(value)) continue;
      variants.push(
        { what: `Bearer ${value}`, headers: { authorization: `Bearer ${value}` } },
        { what: `X-Patchbay-Session: ${value}`, headers: { 'x-patchbay-session': value } },
        { what: `Cookie: ${value}`, headers: { cookie: value } },
      );
    }
    for (const variant of variants)
      for (const route of CONSOLE_ROUTES)
        jobs.push(async () => {
          const { url, init } = routeRequest(route, variant.headers);
          const response = await fetch(url, init);
          await response.body?.cancel();
          return {
            what: `${route.method} ${route.path} with ${variant.what}`,
            status: response.status,
            setCookie: null,
          };
        });
    // Each value as a launch token, too: the exchange must not take it.
    for (const value of values) {
      if (!/^[\x21-\x7e]+$/.test(value)) continue;
      jobs.push(async () => {
        const response = await fetch(`${ui.origin}/api/session`, {
          method: 'POST',
          headers: { origin: ui.origin, 'content-type': 'application/json' },
          body: JSON.stringify({ token: value }),
        });
        await response.body?.cancel();
        return { what: `POST /api/session with token ${value}`, status: response.status, setCookie: null };
      });
      jobs.push(async () => {
        const response = await fetch(`${ui.origin}/?token=${encodeURIComponent(value)}`, {
          redirect: 'manual',
        });
        await response.body?.cancel();
        return {
          what: `GET /?token=${value}`,
          status: response.status === 303 ? 303 : 401,
          setCookie: response.headers.get('set-cookie'),
        };
      });
    }
    expect(variants.length).toBeGreaterThan(0);
    const attempts = await inPool(jobs);
    const granted = attempts.filter(
      (attempt) => (attempt.status !== 401 && attempt.status !== 403) || attempt.setCookie !== null,
    );
    expect(granted.map((attempt) => `${attempt.status} ${attempt.what}`)).toEqual([]);
  }, 120_000);
});
