/**
 * Connect / Authenticate from the page against a real authorization server (oidc-provider) and a
 * token-checking MCP server: the login starts and hands the page a checked authorization URL;
 * the browser (test/fixtures/oauth/browser.mjs, stopping at the callback) goes through the
 * authorization server; the callback page sends it back to the console; the new login shows in
 * GET …/auth, the server connects, and logout removes and revokes it. No token in any response.
 */

import { spawn } from 'node:child_process';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type {
  ApiError,
  AuthView,
  CallOutcome,
  ConnectorSummary,
  LoginStart,
} from '../../src/console/api-types.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';
import { BROWSER, JWT } from '../helpers/oauth.js';
import { rawRequest, startTestConsole, type TestConsole } from './helpers.js';

let as: AuthorizationServer;
let mcp: ProtectedMcpServer;
let t: TestConsole;
const logged: string[] = [];

beforeEach(async () => {
  as = await startAuthorizationServer({ revocation: true });
  mcp = await startProtectedMcpServer({ authorizationServer: as });
  logged.length = 0;
  t = await startTestConsole({ log: logged });
});
afterEach(async () => {
  await t.close();
  await mcp.close();
  await as.close();
});

/** The browser, up to the loopback callback: the URL it would open there. */
function browseToCallback(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BROWSER, url], {
      env: { PATH: process.env.PATH, BROWSER_MODE: 'print-redirect' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`browser exited ${code}: ${err}`)),
    );
  });
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('logging in from the console', () => {
  it('starts the login, comes back to the console, shows the login, and logs out', async () => {
    await t.api('POST', '/api/servers', { name: 'corp', url: mcp.url });
    const before = await t.api<AuthView>('GET', '/api/servers/corp/auth');
    expect(before.json).toEqual({
      kind: 'none',
      loggedIn: false,
      issuer: null,
      scope: null,
      expiresAt: null,
      refreshable: false,
    });
    const listed = await t.api<ConnectorSummary[]>('GET', '/api/servers?check=1');
    expect(listed.json[0]).toMatchObject({
      status: 'needs-auth',
      hint: expect.stringContaining('patchbay login corp'),
    });

    // Two clicks at once, and one more while the browser is away: one login, one URL.
    const [start, twin] = await Promise.all([
      t.api<LoginStart>('POST', '/api/servers/corp/login'),
      t.api<LoginStart>('POST', '/api/servers/corp/login'),
    ]);
    expect(start.status, start.text).toBe(200);
    expect(start.json.authorizationUrl.startsWith(as.endpoints.authorization)).toBe(true);
    const authorization = new URL(start.json.authorizationUrl);
    expect(authorization.searchParams.get('redirect_uri')).toMatch(/^http:\/\/localhost:\d+\/callback$/);
    expect(twin.json.authorizationUrl).toBe(start.json.authorizationUrl);
    const again = await t.api<LoginStart>('POST', '/api/servers/corp/login');
    expect(again.json.authorizationUrl).toBe(start.json.authorizationUrl);

    const callback = await browseToCallback(start.json.authorizationUrl);
    expect(callback).toMatch(/^http:\/\/localhost:\d+\/callback\?/);
    const target = new URL(callback);
    const page = await rawRequest(Number(target.port), {
      path: `${target.pathname}${target.search}`,
      headers: { host: target.host },
    });
    expect(page.status).toBe(200);
    // The callback page sends the browser back to the console, with nothing from the request in it.
    // It goes to the Connectors page, marked with the login that page waits for.
    const back = `${t.console.origin}/?login=`;
    expect(page.text).toContain(`<meta http-equiv="refresh" content="0;url=${back}`);
    expect(page.text).toContain(`<a href="${back}`);
    expect(page.text).not.toContain(target.searchParams.get('code')!);

    const after = await waitFor(
      async () => (await t.api<AuthView>('GET', '/api/servers/corp/auth')).json,
      (view) => view.loggedIn,
    );
    expect(after).toEqual({
      kind: 'oauth',
      loggedIn: true,
      issuer: as.issuer,
      scope: expect.stringContaining('mcp:read'),
      expiresAt: expect.any(Number),
      refreshable: true,
    });
    expect(after.expiresAt!).toBeGreaterThan(Date.now());
    // The terminal line is written just after the tokens are stored: wait for it too.
    await expect.poll(() => logged).toContain(`Logged in to corp at ${as.issuer}.`);

    const connected = await t.api<ConnectorSummary[]>('GET', '/api/servers?check=1');
    expect(connected.json[0]).toMatchObject({
      status: 'connected',
      toolCount: 3,
      auth: { kind: 'oauth', loggedIn: true },
    });
    const call = await t.api<CallOutcome>('POST', '/api/servers/corp/call', {
      tool: 'echo',
      arguments: { text: 'signed in' },
    });
    expect(call.json).toMatchObject({ status: 'ok', content: [{ type: 'text', text: 'signed in' }] });

    expect((await t.api('POST', '/api/servers/corp/logout')).status).toBe(204);
    expect((await t.api<AuthView>('GET', '/api/servers/corp/auth')).json.loggedIn).toBe(false);
    expect(as.count(as.endpoints.revocation!)).toBeGreaterThanOrEqual(1);
    expect((await t.api<ConnectorSummary[]>('GET', '/api/servers?check=1')).json[0]!.status).toBe(
      'needs-auth',
    );
    // A second logout has nothing to do.
    expect((await t.api('POST', '/api/servers/corp/logout')).status).toBe(204);

    for (const body of t.seen) expect(body).not.toMatch(JWT);
  });

  it('refuses a login that cannot start, with the reason', async () => {
    const unknown = await t.api<{ error: ApiError }>('POST', '/api/servers/nobody/login');
    expect(unknown.status).toBe(404);
    await t.api('POST', '/api/servers', { name: 'off', url: mcp.url });
    await t.api('POST', '/api/servers/off/enabled', { enabled: false });
    const disabled = await t.api<{ error: ApiError }>('POST', '/api/servers/off/login');
    expect(disabled.status).toBe(400);
    expect(disabled.json.error.message).toMatch(/^Cannot log in to off: disabled/);
  });

  it('never hands the page an authorization URL that is not safe to open', async () => {
    // Plain http off this machine: the SDK takes it, patchbay's check does not.
    const hostile = await startAuthorizationServer({
      metadataOverrides: { authorization_endpoint: 'http://login.example.com/authorize' },
    });
    const guarded = await startProtectedMcpServer({ authorizationServer: hostile });
    try {
      await t.api('POST', '/api/servers', { name: 'hostile', url: guarded.url });
      const start = await t.api<{ error: ApiError }>('POST', '/api/servers/hostile/login');
      expect(start.status).toBeGreaterThanOrEqual(400);
      expect(start.text).not.toContain('authorizationUrl');
      expect(start.json.error).toMatchObject({
        code: 'auth-refused',
        message: expect.stringContaining('a plain http: login URL for login.example.com'),
      });
    } finally {
      await guarded.close();
      await hostile.close();
    }
  });

  it('closing the console stops a login that is waiting for its browser', async () => {
    await t.api('POST', '/api/servers', { name: 'corp', url: mcp.url });
    const start = await t.api<LoginStart>('POST', '/api/servers/corp/login');
    expect(start.status).toBe(200);
    const callbackPort = Number(
      new URL(new URL(start.json.authorizationUrl).searchParams.get('redirect_uri')!).port,
    );
    await t.console.close();
    expect(logged.some((line) => line.startsWith('The login to corp did not complete'))).toBe(true);
    // The callback listener is gone with it.
    await expect(
      rawRequest(callbackPort, { path: '/callback', headers: { host: `localhost:${callbackPort}` } }),
    ).rejects.toThrow();
  });
});
