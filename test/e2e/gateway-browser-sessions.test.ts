/**
 * A member's sign-in link opened in an ordinary browser (what Claude Code does with a URL
 * elicitation: the system browser, no bearer), on the built binary: `patchbay serve --config`
 * with the gateway's own authorization server in front of the organisation's IdP (alice in eng,
 * bob in sales) and a vault; a perMember upstream behind a real authorization server that records
 * whose token each call carried; the SDK client as alice's host, signed in through the gateway's
 * authorization server; Chromium as each person's browser, sending no Authorization header.
 *
 * The browser is identified at the IdP (the gateway's browser session), never trusted: bob's
 * browser is refused alice's link, which stays valid for her; a replayed IdP return, a forged or
 * expired session cookie and a links-page POST without the session's token are refused.
 */

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';

import { auth, Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import { BrowserSessions } from '../../src/gateway/authorization-server/browser-sessions.js';
import { FileState } from '../../src/state/files.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { MEMBERS, startOrganisationIdp, type OrganisationIdp } from '../fixtures/oauth/organisation-idp.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';
import { isPage, RedirectBrowser } from '../fixtures/oauth/redirect-browser.js';
import { launchChromium, screenshot } from '../helpers/browser.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { MemoryHost } from '../helpers/oauth-host.js';

/** The host's redirect URI: never requested, the browser stops there and hands the URL back. */
// Not port 9, as other tests use: Chromium refuses to open it (ERR_UNSAFE_PORT).
const HOST_CALLBACK = 'http://127.0.0.1:59999/callback';
const SESSION_COOKIE = 'patchbay_session';

let sandbox: Sandbox;
let idp: OrganisationIdp;
let as: AuthorizationServer;
let upstream: ProtectedMcpServer;
let gateway: RunningGateway;
let origin: string;
let browser: Browser;
/** Requests a person's browser sent with an Authorization header: none may. */
const withAuthorization: string[] = [];

beforeAll(async () => {
  sandbox = await createSandbox();
  idp = await startOrganisationIdp();
  as = await startAuthorizationServer();
  upstream = await startProtectedMcpServer({ authorizationServer: as });
  await sandbox.run(['add', 'crm', upstream.url]);
  expect((await sandbox.run(['set', 'crm', 'per-member', 'true'])).code).toBe(0);
  sandbox.env.IDP_CLIENT_SECRET = idp.clientSecret;
  sandbox.env.PATCHBAY_VAULT_KEY = randomBytes(32).toString('base64');
  const config = join(sandbox.root, 'deployment.jsonc');
  await writeFile(
    config,
    `{
  "auth": {
    "authorizationServer": {
      "idp": { "issuer": "${idp.issuer}", "clientId": "${idp.clientId}", "clientSecret": "\${IDP_CLIENT_SECRET}" }
    }
  },
  "vault": { "key": "env:PATCHBAY_VAULT_KEY" }
}
`,
  );
  gateway = await startGateway(sandbox, ['--config', config]);
  origin = new URL(gateway.url).origin;
  // One redirect URI at the IdP, for hosts' sign-ins and browsers' alike.
  await idp.register(new URL('/oauth/signed-in', gateway.url).href);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  expect(withAuthorization).toEqual([]);
  await browser?.close();
  await gateway?.stop();
  await upstream?.close();
  await as?.close();
  await idp?.close();
  await sandbox?.cleanup();
});

/** The host signs `member` in through the gateway's authorization server (from its URL alone). */
async function hostToken(
  member: keyof typeof MEMBERS,
  open: (url: URL) => Promise<URL> = inProcessBrowser,
): Promise<string> {
  idp.member = member;
  const host = new MemoryHost({ open, callback: HOST_CALLBACK });
  expect(await auth(host, { serverUrl: gateway.url })).toBe('REDIRECT');
  const code = host.landed!.searchParams.get('code')!;
  const iss = host.landed!.searchParams.get('iss') ?? undefined;
  expect(code).toBeTruthy();
  expect(await auth(host, { serverUrl: gateway.url, authorizationCode: code, ...(iss ? { iss } : {}) })).toBe(
    'AUTHORIZED',
  );
  return host.saved!.access_token;
}

async function inProcessBrowser(url: URL): Promise<URL> {
  const result = await new RedirectBrowser().follow(url, (next) => next.href.startsWith(HOST_CALLBACK));
  if (isPage(result)) throw new Error(`the host's sign-in ended on a page: ${result.status} ${result.text}`);
  return result.url;
}

async function host(token: string): Promise<Client> {
  const client = new Client(
    { name: 'test-host', version: '1.0.0' },
    { versionNegotiation: { mode: 'legacy' } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

const echo = (client: Client, text: string) =>
  client.callTool({ name: 'crm__echo', arguments: { text } }, { timeout: 60_000 });

const subjects = () =>
  upstream.requests
    .filter((request) => request.rpcMethods?.includes('tools/call') && request.status === 200)
    .map((request) => request.subject);

/** The sign-in link a call without a login is answered with (-32042: this host has no URL elicitation). */
async function linkFor(client: Client): Promise<string> {
  const refused = (await echo(client, 'x').catch((error: unknown) => error)) as ProtocolError;
  expect(refused.code).toBe(-32042);
  return /(http:\/\/\S+\/signin\/[\w-]{22})/.exec(refused.message)![1]!;
}

/** A person's own browser: nothing is added to its requests (no Authorization header). */
async function personBrowser(): Promise<{ context: BrowserContext; page: Page; returns: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const returns: string[] = [];
  page.on('request', (request) => {
    if (request.headers().authorization !== undefined) withAuthorization.push(request.url());
    if (request.url().includes('/oauth/signed-in')) returns.push(request.url());
  });
  return { context, page, returns };
}

/** Requests on the gateway with just this cookie: what a browser holding it would be answered. */
const withCookie = (path: string, value: string, init: RequestInit = {}) =>
  fetch(`${origin}${path}`, {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers as Record<string, string>), cookie: `${SESSION_COOKIE}=${value}` },
  });

describe('a sign-in link opened in an ordinary browser (the gateway identifies it at the IdP)', () => {
  let alice: Client;
  let link: string;
  let alicesBrowser: Awaited<ReturnType<typeof personBrowser>>;

  it("refuses alice's link in bob's browser after he signed in at the IdP, and leaves it valid", async () => {
    alice = await host(await hostToken('alice'));
    link = await linkFor(alice);
    const bobs = await personBrowser();
    try {
      idp.member = 'bob';
      const response = await bobs.page.goto(link);
      expect(response!.status()).toBe(403);
      expect(await bobs.page.locator('body').innerText()).toContain('Not your link');
      // He went through the IdP and holds a gateway session naming him.
      expect(bobs.returns).toHaveLength(1);
      await bobs.page.goto(`${origin}/me/links`);
      expect(await bobs.page.locator('body').innerText()).toContain(`Signed in as ${MEMBERS.bob.sub}`);
    } finally {
      await bobs.context.close();
    }
  }, 60_000);

  it('signs alice in at the IdP in her browser, runs the upstream sign-in, and her host goes on with her own token', async () => {
    alicesBrowser = await personBrowser();
    const { context, page, returns } = alicesBrowser;
    idp.member = 'alice';
    as.account = 'alice';
    await page.goto(link);
    await page.waitForURL(/\/signin\/callback/);
    expect(await page.locator('body').innerText()).toContain('Signed in');
    await screenshot(page, 'browser-session-signed-in');
    expect(returns).toHaveLength(1);
    const [cookie] = (await context.cookies(origin)).filter((c) => c.name === SESSION_COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    // Eight hours, not a browser-lifetime cookie.
    expect(cookie!.expires * 1000 - Date.now()).toBeGreaterThan(7.9 * 3_600_000);

    await echo(alice, 'a');
    expect(subjects()).toEqual(['alice']);
  }, 60_000);

  it('refuses a replayed IdP return, in the same browser and in another', async () => {
    const { page, returns } = alicesBrowser;
    const replayed = await page.goto(returns[0]!);
    expect(replayed!.status()).toBe(400);
    expect(await page.locator('body').innerText()).toContain('Sign-in refused');
    const other = await personBrowser();
    try {
      expect((await other.page.goto(returns[0]!))!.status()).toBe(400);
      expect(await other.context.cookies(origin)).not.toContainEqual(
        expect.objectContaining({ name: SESSION_COOKIE }),
      );
    } finally {
      await other.context.close();
    }
  });

  it('refuses a forged or expired session cookie: the browser is sent to sign in, nothing is shown or removed', async () => {
    const forged = randomBytes(32).toString('base64url');
    const shown = await withCookie('/me/links', forged);
    expect(shown.status).toBe(303);
    expect(shown.headers.get('location')).toMatch(new RegExp(`^${idp.issuer}/auth\\?`));
    const removed = await withCookie('/me/links', forged, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
      body: 'remove=crm',
    });
    expect(removed.status).toBe(401);

    // A session whose eight hours are up (made by the gateway's own code, with a 1 ms life).
    const sessions = new BrowserSessions(
      new FileState(resolvePaths(sandbox.env).gatewayState),
      new URL(origin),
      1,
    );
    const request = { headers: {} } as IncomingMessage;
    const member = { subject: MEMBERS.alice.sub, email: MEMBERS.alice.email, groups: ['eng'] };
    const expired = /=([\w-]+);/.exec(await sessions.create(request, member))![1]!;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await withCookie('/me/links', expired)).status).toBe(303);
    expect((await withCookie(`/signin/${'A'.repeat(22)}`, expired)).status).toBe(303);
    // The same, alive: the test made it right.
    const live = new BrowserSessions(new FileState(resolvePaths(sandbox.env).gatewayState), new URL(origin));
    const alive = /=([\w-]+);/.exec(await live.create(request, member))![1]!;
    const listed = await withCookie('/me/links', alive);
    expect(listed.status).toBe(200);
    expect(await listed.text()).toContain(`Signed in as ${MEMBERS.alice.sub}`);
    expect(
      await live.end({ headers: { cookie: `${SESSION_COOKIE}=${alive}` } } as IncomingMessage),
    ).toContain('Max-Age=0');
    expect(await vaultLinks()).toEqual([`${MEMBERS.alice.sub} crm`]);
  });

  it("lists and removes alice's links in her browser, refusing POSTs without the session's token or from another site", async () => {
    const { context, page } = alicesBrowser;
    await page.goto(`${origin}/me/links`);
    const text = await page.locator('body').innerText();
    expect(text).toContain(`Signed in as ${MEMBERS.alice.sub}`);
    expect(text).toContain('crm');

    // The browser's cookie goes with these, as with a cross-site form: refused all the same.
    const form = { remove: 'crm' };
    expect((await context.request.post(`${origin}/me/links`, { form, maxRedirects: 0 })).status()).toBe(403);
    const csrf = await page.locator('input[name=csrf]').first().inputValue();
    const crossSite = await context.request.post(`${origin}/me/links`, {
      form: { ...form, csrf },
      headers: { origin: 'http://evil.example' },
      maxRedirects: 0,
    });
    expect(crossSite.status()).toBe(403);
    expect(await vaultLinks()).toEqual([`${MEMBERS.alice.sub} crm`]);

    await page.getByRole('button', { name: 'Remove' }).click();
    await page.waitForLoadState();
    expect(await page.locator('body').innerText()).toContain('You have no links');
    expect(await vaultLinks()).toEqual([]);
    // Her host is sent to sign in again.
    await linkFor(alice);

    await page.getByRole('button', { name: /Sign out/ }).click();
    await page.waitForLoadState();
    expect(await page.locator('body').innerText()).toContain('Signed out');
    const left = (await context.cookies(origin)).find((c) => c.name === SESSION_COOKIE);
    expect(left).toBeUndefined();
    await alice.close();
  }, 60_000);

  it("ends a browser's session when a host's sign-in in the same browser names another member, and uses that sign-in instead of a second one at the IdP", async () => {
    const { context, page } = await personBrowser();
    try {
      idp.member = 'bob';
      await page.goto(`${origin}/me/links`);
      expect(await page.locator('body').innerText()).toContain(`Signed in as ${MEMBERS.bob.sub}`);
      const bobsSession = (await context.cookies(origin)).find((c) => c.name === SESSION_COOKIE)!;
      // Another person signs in at the IdP in this browser (its IdP cookies gone), for a host.
      await context.clearCookies();
      await context.addCookies([bobsSession]);
      await hostToken('alice', async (url) => {
        // In a tab of its own: no host listens on the callback, and the refused connection's
        // error page lands late, in the middle of whatever that tab loads next.
        const tab = await context.newPage();
        try {
          const callback = tab.waitForRequest((request) => request.url().startsWith(HOST_CALLBACK));
          await tab.goto(url.href).catch(() => undefined);
          return new URL((await callback).url());
        } finally {
          await tab.close();
        }
      });
      expect((await context.cookies(origin)).find((c) => c.name === SESSION_COOKIE)).toBeUndefined();
      expect((await withCookie('/me/links', bobsSession.value)).status).toBe(303);

      // That host sign-in identifies this browser as alice: no second trip to the IdP.
      const atIdp = idp.authorizations.length;
      await page.goto(`${origin}/me/links`);
      expect(await page.locator('body').innerText()).toContain(`Signed in as ${MEMBERS.alice.sub}`);
      expect(idp.authorizations).toHaveLength(atIdp);
      // Signing out ends both: the next visit goes to the IdP.
      await page.getByRole('button', { name: /Sign out/ }).click();
      await page.waitForLoadState();
      expect(await page.locator('body').innerText()).toContain('Signed out');
      const again = await context.request.get(`${origin}/me/links`, { maxRedirects: 0 });
      expect(again.status()).toBe(303);
      expect(again.headers().location).toMatch(new RegExp(`^${idp.issuer}/auth\\?`));
    } finally {
      await context.close();
    }
  }, 60_000);
});

async function vaultLinks(): Promise<string[]> {
  const listed = await sandbox.run(['vault', 'list', '--json']);
  expect(listed.code, listed.stderr).toBe(0);
  return (JSON.parse(listed.stdout) as { links: Array<{ member: string; server: string }> }).links.map(
    (link) => `${link.member} ${link.server}`,
  );
}
