/**
 * Checks tell the truth about logins: the built binary's `list`, `get` and `doctor` (and the
 * console's probe) against a real authorization server (oidc-provider) issuing short-lived
 * tokens, and a token-checking MCP server that refuses expired ones.
 *
 * - A fresh login of 30 s, 61 s or 1 h is connected right after `login` (the check once
 *   subtracted a flat 60 s and called such tokens expired "at <a time in the future>").
 * - An expired login with a refresh token is renewed by the check, once across processes, and
 *   the server reported as it is; `--no-refresh` makes no token request and says "renews on next
 *   use", which is not an error (exit 0).
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';
import { JWT, oauthEnv } from '../helpers/oauth.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let as: AuthorizationServer | undefined;
let mcp: ProtectedMcpServer | undefined;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  sandbox = await createSandbox();
  env = { ...oauthEnv(sandbox) };
});
afterEach(async () => {
  await mcp?.close();
  await as?.close();
  mcp = undefined;
  as = undefined;
  await sandbox.cleanup();
});

interface View {
  name: string;
  status: string;
  reason: string | null;
  hint: string | null;
  renewsOnUse: boolean;
  toolCount: number | null;
}

async function loggedIn(options: { ttlSeconds?: number; rotate?: boolean } = {}): Promise<void> {
  as = await startAuthorizationServer({
    accessTokenTtlSeconds: options.ttlSeconds ?? 3600,
    rotateRefreshTokens: options.rotate ?? false,
  });
  mcp = await startProtectedMcpServer({ authorizationServer: as });
  await sandbox.run(['add', 'corp', mcp.url]);
  const login = await sandbox.run(['login', 'corp', '--timeout', '30'], { env });
  expect(login.code, login.stderr).toBe(0);
}

/** Move the stored login's expiry into the past, as the clock would. */
async function expireLogin(agoMs = 5_000): Promise<void> {
  const { openCredentialStore } = await import('../../src/auth/store.js');
  const { tokenKey } = await import('../../src/auth/oauth-provider.js');
  const store = await openCredentialStore({ ...sandbox.env, ...env });
  const key = tokenKey(as!.issuer, mcp!.url);
  const tokens = (await store.getTokens(key))!;
  await store.saveTokens(key, { ...tokens, expiresAt: Date.now() - agoMs });
}

async function listOne(args: string[] = []): Promise<{ code: number; view: View; output: string }> {
  const list = await sandbox.run(['list', '--json', ...args], { env });
  const views = JSON.parse(list.stdout) as View[];
  return { code: list.code, view: views[0]!, output: list.stdout + list.stderr };
}

describe('a fresh short-lived login', () => {
  it.each([30, 61])(
    'of %i s is connected right after login, read-only and not, without a token request',
    async (ttlSeconds) => {
      await loggedIn({ ttlSeconds });
      const before = as!.tokenRequests();
      // Read-only first: it may never request a token, so it shows what the stored one is worth.
      const readOnly = await listOne(['--no-refresh']);
      expect(readOnly.view, readOnly.output).toMatchObject({
        status: 'connected',
        reason: null,
        toolCount: 3,
      });
      expect(readOnly.code).toBe(0);
      expect(as!.tokenRequests()).toBe(before);
      const checked = await listOne();
      expect(checked.view, checked.output).toMatchObject({ status: 'connected', reason: null });
      expect(checked.output).not.toMatch(JWT);
    },
  );

  it('of 1 h: list, get and doctor are connected and ask the authorization server nothing', async () => {
    await loggedIn({ ttlSeconds: 3600 });
    const before = as!.tokenRequests();
    const list = await listOne();
    expect(list.view).toMatchObject({ status: 'connected', renewsOnUse: false });
    const get = await sandbox.run(['get', 'corp', '--json'], { env });
    expect(get.code, get.stderr).toBe(0);
    expect(JSON.parse(get.stdout)).toMatchObject({ status: 'connected' });
    const doctor = await sandbox.run(['doctor', 'corp', '--json'], { env });
    expect(doctor.code, doctor.stdout).toBe(0);
    expect(as!.tokenRequests()).toBe(before);
  });
});

describe('an expired login with a refresh token', () => {
  it('a check renews it (one refresh) and reports the server connected; list, get and doctor alike', async () => {
    await loggedIn({ ttlSeconds: 3600, rotate: true });
    await expireLogin();
    const list = await listOne();
    expect(list.view, list.output).toMatchObject({ status: 'connected', reason: null, toolCount: 3 });
    expect(list.code).toBe(0);
    expect(as!.tokenRequests('refresh_token')).toBe(1);
    // The renewed login is stored: the next checks use it as it is.
    expect((await listOne()).view.status).toBe('connected');
    expect(as!.tokenRequests('refresh_token')).toBe(1);

    await expireLogin();
    const get = await sandbox.run(['get', 'corp', '--json'], { env });
    expect(get.code, get.stderr).toBe(0);
    expect(JSON.parse(get.stdout)).toMatchObject({ status: 'connected' });
    expect(as!.tokenRequests('refresh_token')).toBe(2);

    await expireLogin();
    const doctor = await sandbox.run(['doctor', 'corp', '--json'], { env });
    expect(doctor.code, doctor.stdout).toBe(0);
    expect(JSON.parse(doctor.stdout)).toMatchObject({ verdict: 'ok' });
    expect(as!.tokenRequests('refresh_token')).toBe(3);
    // A check registers nothing and opens no browser.
    expect(as!.count('/reg')).toBe(1);
    expect(as!.tokenRequests('authorization_code')).toBe(1);
  });

  it('checks in several processes at once renew it once (rotating refresh tokens survive)', async () => {
    await loggedIn({ ttlSeconds: 3600, rotate: true });
    await expireLogin();
    const runs = await Promise.all([listOne(), listOne(), listOne()]);
    for (const run of runs) expect(run.view, run.output).toMatchObject({ status: 'connected' });
    expect(as!.tokenRequests('refresh_token')).toBe(1);
  });

  it('the console\u2019s check (probeServer, its defaults) renews it too', async () => {
    await loggedIn({ ttlSeconds: 3600 });
    await expireLogin();
    const { probeServer } = await import('../../src/connect/probe.js');
    const result = await probeServer(
      { transport: 'http', url: mcp!.url },
      { name: 'corp', timeoutMs: 10_000, env: { ...sandbox.env, ...env } },
    );
    expect(result).toMatchObject({ status: 'connected', toolCount: 3 });
    expect(as!.tokenRequests('refresh_token')).toBe(1);
  });

  it('--no-refresh makes no token request and says it renews on next use, which is not an error', async () => {
    await loggedIn({ ttlSeconds: 3600 });
    await expireLogin(3 * 60_000);
    const before = as!.tokenRequests();

    const list = await listOne(['--no-refresh']);
    expect(list.code, list.output).toBe(0);
    expect(list.view).toMatchObject({ status: 'needs-auth', renewsOnUse: true });
    expect(list.view.reason).toBe('login expired 3 min ago, renews on next use');
    expect(list.view.hint).toContain('patchbay auth refresh corp');

    const get = await sandbox.run(['get', 'corp', '--no-refresh'], { env });
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toMatch(/status +needs-auth: login expired 3 min ago, renews on next use/);

    const doctor = await sandbox.run(['doctor', 'corp', '--no-refresh', '--json'], { env });
    expect(doctor.code, doctor.stdout).toBe(0);
    const diagnosis = JSON.parse(doctor.stdout) as {
      findings: Array<{ layer: string; status: string; summary?: string }>;
    };
    expect(diagnosis.findings.find((finding) => finding.layer === 'mcp')).toMatchObject({ status: 'warn' });

    expect(as!.tokenRequests()).toBe(before);
  });
});

describe('an expired login without a refresh token', () => {
  it('is needs-auth with the login command, and says how long ago it expired', async () => {
    as = await startAuthorizationServer({ refreshTokens: false });
    mcp = await startProtectedMcpServer({ authorizationServer: as });
    await sandbox.run(['add', 'corp', mcp.url]);
    expect((await sandbox.run(['login', 'corp', '--timeout', '30'], { env })).code).toBe(0);
    await expireLogin(2 * 3600_000);
    const list = await listOne();
    expect(list.code).toBe(4);
    expect(list.view).toMatchObject({ status: 'needs-auth', renewsOnUse: false });
    expect(list.view.reason).toMatch(/expired .*2 h ago|expired/);
    expect(list.view.hint).toContain('patchbay login corp');
  });
});
