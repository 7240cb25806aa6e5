/**
 * `patchbay auth status` and `patchbay logout` end to end: the built binary, a real authorization
 * server (oidc-provider, with and without RFC 7009 revocation) and a token-checking MCP server,
 * the login's browser driven by PATCHBAY_BROWSER.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  startAuthorizationServer,
  type AuthorizationServer,
  type AuthorizationServerOptions,
} from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';
import { bundledModules } from '../helpers/bundle.js';
import { JWT, oauthEnv } from '../helpers/oauth.js';
import { createSandbox, runBinary, type RunResult, type Sandbox } from '../helpers/sandbox.js';

const TRACER = fileURLToPath(new URL('../fixtures/trace-imports.mjs', import.meta.url));

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

const run = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
  sandbox.run(args, { env: { ...env, ...extra } });

interface StatusRow {
  name: string | null;
  url: string | null;
  orphan: boolean;
  method: string;
  headerSources: string[];
  loggedIn: boolean;
  issuer: string | null;
  clientKind: string | null;
  clientId: string | null;
  scopes: string[] | null;
  expiresAt: string | null;
  expired: boolean | null;
  refreshable: boolean | null;
  storedIn: string | null;
  storeLocation: string | null;
  note: string | null;
  hint: string | null;
}

async function status(): Promise<StatusRow[]> {
  const result = await run(['auth', 'status', '--json']);
  expect(result.code, result.stderr).toBe(0);
  expect(result.stdout + result.stderr).not.toMatch(JWT);
  return JSON.parse(result.stdout) as StatusRow[];
}

async function serverWithLogin(options: AuthorizationServerOptions, name = 'corp'): Promise<void> {
  as = await startAuthorizationServer(options);
  mcp = await startProtectedMcpServer({ authorizationServer: as });
  expect((await run(['add', name, mcp.url])).code).toBe(0);
  const login = await run(['login', name, '--timeout', '30']);
  expect(login.code, login.stderr).toBe(0);
}

/** The stored token set, read from the 0600 secrets file as only a test may. */
async function storedTokens(): Promise<{ accessToken: string; refreshToken?: string; clientId?: string }> {
  const secrets = JSON.parse(await readFile(join(sandbox.root, 'data', 'auth-secrets.json'), 'utf8')) as {
    tokens: Record<string, { accessToken: string; refreshToken?: string; clientId?: string }>;
  };
  const sets = Object.values(secrets.tokens);
  expect(sets).toHaveLength(1);
  return sets[0]!;
}

/** What the token endpoint says to a refresh with this refresh token: 200, or 400 invalid_grant. */
async function tryRefresh(
  refreshToken: string,
  clientId: string,
): Promise<{ status: number; error?: string }> {
  const response = await fetch(as!.endpoints.token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: clientId,
    }),
  });
  const body = (await response.json()) as { error?: string };
  return { status: response.status, ...(body.error ? { error: body.error } : {}) };
}

function expectNoSecrets(result: RunResult, ...secrets: Array<string | undefined>) {
  const everything = result.stdout + result.stderr;
  expect(everything).not.toMatch(JWT);
  for (const secret of secrets) if (secret) expect(everything).not.toContain(secret);
}

describe('patchbay auth status', () => {
  it('describes a login: oauth, issuer, dynamic client, scopes, expiry, refreshable — never a token', async () => {
    await serverWithLogin({ revocation: true });
    const [row] = await status();
    expect(row).toMatchObject({
      name: 'corp',
      url: mcp!.url,
      orphan: false,
      method: 'oauth',
      headerSources: [],
      loggedIn: true,
      issuer: as!.issuer,
      clientKind: 'dynamic',
      expired: false,
      refreshable: true,
      storedIn: 'file',
      hint: null,
    });
    // What the 401 challenge asked for.
    expect(row!.scopes).toEqual(['mcp:read']);
    expect(Date.parse(row!.expiresAt!)).toBeGreaterThan(Date.now());
    expect(row!.storeLocation).toContain(join(sandbox.root, 'data', 'auth-secrets.json'));

    const human = await run(['auth', 'status']);
    expect(human.code, human.stderr).toBe(0);
    const tokens = await storedTokens();
    expectNoSecrets(human, tokens.accessToken, tokens.refreshToken);
    expect(human.stdout).toMatch(/^corp +oauth +logged in at http:\/\/127\.0\.0\.1:\d+/m);
    expect(human.stdout).toMatch(/client +dynamic \(client ID /);
    expect(human.stdout).toMatch(/scopes +.*mcp:read/);
    expect(human.stdout).toMatch(
      /token +expires \d{4}-\d\d-\d\dT[\d:.]+Z \(in (59|60) min\), refreshed automatically/,
    );
  });

  it('says header for a static Authorization header or a headersHelper, none for a stdio server', async () => {
    await sandbox.run([
      'add',
      '-H',
      'Authorization: Bearer literal-secret-value',
      'static',
      'https://s.example.com/mcp',
    ]);
    await sandbox.run(['add', '--headers-helper', 'print-headers', 'helper', 'https://h.example.com/mcp']);
    await sandbox.run(['add', 'plain', 'https://p.example.com/mcp']);
    await sandbox.run(['add', 'files', '--', 'node', 'server.js']);
    const rows = await status();
    expect(rows.map((row) => [row.name, row.method, row.headerSources, row.loggedIn])).toEqual([
      ['static', 'header', ['headers'], false],
      ['helper', 'header', ['headersHelper'], false],
      ['plain', 'none', [], false],
      ['files', 'none', [], false],
    ]);
    expect(rows[3]!.note).toMatch(/stdio/);
    const human = await run(['auth', 'status']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^static +header +a static Authorization header$/m);
    expect(human.stdout).toMatch(/^helper +header +a headersHelper$/m);
    expect(human.stdout).toMatch(/^files +none +a local command \(stdio\)/m);
    expect(human.stdout).not.toContain('literal-secret-value');
  });

  it('a configured client without a login is oauth, not logged in, with the login command', async () => {
    await sandbox.run(['add', '--client-id', 'my-app', 'corp', 'https://c.example.com/mcp']);
    const [row] = await status();
    expect(row).toMatchObject({
      method: 'oauth',
      loggedIn: false,
      clientKind: null,
      note: 'not logged in',
      hint: 'patchbay login corp',
    });
    const human = await run(['auth', 'status']);
    expect(human.stdout).toMatch(/^corp +oauth +not logged in$/m);
    expect(human.stdout).toContain('\u2192 patchbay login corp');
  });

  it('lists a login whose server is gone at the end, and logout <url> removes it', async () => {
    await serverWithLogin({ revocation: true });
    await sandbox.run(['add', 'other', 'https://other.example.com/mcp']);
    expect((await sandbox.run(['remove', 'corp'])).code).toBe(0);
    const rows = await status();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ name: 'other', method: 'none' });
    expect(rows[1]).toMatchObject({
      name: null,
      orphan: true,
      url: mcp!.url,
      method: 'oauth',
      loggedIn: true,
      issuer: as!.issuer,
      hint: `patchbay logout ${mcp!.url}`,
    });
    const human = await run(['auth', 'status']);
    expect(human.stdout).toContain('Stored logins for URLs no configured server uses:');
    expect(human.stdout).toContain('Remove one with: patchbay logout <url>');

    const logout = await run(['logout', mcp!.url]);
    expect(logout.code, logout.stderr).toBe(0);
    expect(logout.stdout).toContain(`Logged out of ${mcp!.url} (tokens removed; revoked at ${as!.issuer})`);
    expect(await status()).toHaveLength(1);
  });

  it('says when a login needs renewing: expired without refresh token, a failed refresh; and a login a header hides', async () => {
    await sandbox.run(['add', 'old', 'https://old.example.com/mcp']);
    await sandbox.run(['add', 'flaky', 'https://flaky.example.com/mcp']);
    await sandbox.run([
      'add',
      '--headers-helper',
      'print-headers',
      'helper',
      'https://helper.example.com/mcp',
    ]);
    const { openCredentialStore } = await import('../../src/auth/store.js');
    const store = await openCredentialStore(
      { PATCHBAY_DATA_DIR: env.PATCHBAY_DATA_DIR },
      { backend: 'file' },
    );
    const now = Date.now();
    const issuer = 'https://as.example.com';
    const login = (resource: string) => ({
      issuer,
      resource,
      tokenType: 'Bearer',
      obtainedAt: now - 5 * 3600_000,
      clientId: 'client-1',
    });
    await store.saveTokens(`${issuer} https://old.example.com/mcp`, {
      ...login('https://old.example.com/mcp'),
      accessToken: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.sig',
      expiresAt: now - 3 * 3600_000,
    });
    await store.saveTokens(`${issuer} https://flaky.example.com/mcp`, {
      ...login('https://flaky.example.com/mcp'),
      accessToken: 'at-flaky-secret-value',
      refreshToken: 'rt-flaky-secret-value',
      expiresAt: now - 60_000,
      lastRefreshError: { at: now - 120_000, message: 'invalid_grant: rt-flaky-secret-value was revoked' },
    });
    await store.saveTokens(`${issuer} https://helper.example.com/mcp`, {
      ...login('https://helper.example.com/mcp'),
      accessToken: 'at-helper-secret-value',
      expiresAt: now + 3600_000,
    });

    const [old, flaky, helper] = await status();
    expect(old).toMatchObject({
      method: 'oauth',
      loggedIn: true,
      expired: true,
      refreshable: false,
      clientId: 'client-1',
      clientKind: null,
      note: 'the token has expired and there is no refresh token',
      hint: 'patchbay login old',
    });
    expect(flaky).toMatchObject({
      expired: true,
      refreshable: true,
      lastRefreshError: { message: 'invalid_grant: [redacted] was revoked' },
      note: 'the last refresh failed',
      hint: 'patchbay login flaky',
    });
    expect(helper).toMatchObject({
      method: 'header',
      headerSources: ['headersHelper'],
      loggedIn: true,
      hint: null,
    });
    expect(helper!.note).toContain('sent only when the headersHelper gives no Authorization header');

    const human = await run(['auth', 'status']);
    expect(human.code).toBe(0);
    expectNoSecrets(human, 'at-flaky-secret-value', 'rt-flaky-secret-value', 'at-helper-secret-value');
    expect(human.stdout).toMatch(/token +expired \S+Z \(3 h ago\), no refresh token/);
    expect(human.stdout).toMatch(
      /refresh error +\S+Z \(2 min ago\): invalid_grant: \[redacted\] was revoked/,
    );
    expect(human.stdout).toContain('\u2192 patchbay login flaky');
    expect(human.stdout).toMatch(/client +unknown registration \(client ID client-1\)/);
  });

  it('reads neither the SDK nor the network stack', async () => {
    await serverWithLogin({});
    const traceFile = join(sandbox.root, 'trace.txt');
    const coverageDir = join(sandbox.root, 'coverage');
    const result = await runBinary(
      ['auth', 'status'],
      {
        ...sandbox.env,
        ...env,
        TRACE_IMPORTS_FILE: traceFile,
        NODE_OPTIONS: `--import ${TRACER}`,
        NODE_V8_COVERAGE: coverageDir,
      },
      undefined,
      sandbox.project,
    );
    expect(result.code, result.stderr).toBe(0);
    const modules = bundledModules(
      (await readFile(traceFile, 'utf8')).split('\n').filter(Boolean),
      coverageDir,
    );
    expect(modules.some((module) => module.endsWith('src/cli/commands/auth-status.ts'))).toBe(true);
    expect(
      modules.filter((module) =>
        /@modelcontextprotocol|\/undici\/|\/connect\/network\.(js|ts)|@napi-rs/.test(module),
      ),
    ).toEqual([]);
  });
});

describe('patchbay logout', () => {
  it('removes the tokens, revokes them at the server (RFC 7009), and the server needs a login again', async () => {
    await serverWithLogin({ revocation: true });
    const tokens = await storedTokens();
    expect(tokens.refreshToken).toBeDefined();
    const revocations = () => as!.count(as!.endpoints.revocation!);
    expect(revocations()).toBe(0);

    const result = await run(['logout', 'corp']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(`Logged out of corp (tokens removed; revoked at ${as!.issuer})`);
    expect(result.stderr).toContain(`Revoked the refresh token at ${as!.endpoints.revocation}.`);
    expectNoSecrets(result, tokens.accessToken, tokens.refreshToken);

    // The refresh token first, as a form with its hint, by the client it was issued to; then the access token.
    const requests = as!.requests.filter(
      (request) => request.path === new URL(as!.endpoints.revocation!).pathname,
    );
    expect(requests.length).toBeGreaterThanOrEqual(1);
    expect(requests[0]).toMatchObject({
      method: 'POST',
      status: 200,
      body: { token: tokens.refreshToken, token_type_hint: 'refresh_token', client_id: tokens.clientId },
    });
    expect(revocations()).toBe(2);
    expect(requests[1]!.body).toMatchObject({ token_type_hint: 'access_token' });
    // oidc-provider cannot revoke its JWT access tokens (unsupported_token_type): said, not warned.
    expect(result.stderr).toContain('does not revoke access tokens of this kind');
    expect(result.stderr).not.toContain('warning');
    // Revoked for real: the authorization server no longer honours the refresh token.
    expect(await tryRefresh(tokens.refreshToken!, tokens.clientId!)).toEqual({
      status: 400,
      error: 'invalid_grant',
    });

    const [row] = await status();
    expect(row).toMatchObject({ name: 'corp', loggedIn: false, issuer: null, expiresAt: null });
    const human = await run(['auth', 'status']);
    expect(human.stdout).toMatch(/^corp +none +.*not logged in/m);

    const list = await run(['list', '--json']);
    expect(list.code, list.stderr).toBe(4);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({
        name: 'corp',
        status: 'needs-auth',
        hint: expect.stringMatching(/^patchbay login corp( --oauth-scope "mcp:read")?$/),
      }),
    ]);

    // Logging out again finds nothing, and says so.
    const again = await run(['logout', 'corp']);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('No login is stored for corp; nothing to remove.');
    expect(revocations()).toBe(2);
  });

  it('authenticates a confidential pre-registered client with client_secret_basic', async () => {
    as = await startAuthorizationServer({
      revocation: true,
      registration: false,
      clients: [
        {
          client_id: 'patchbay-confidential',
          client_secret: 'test-secret-for-revocation',
          redirect_uris: ['http://localhost/callback'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
    });
    mcp = await startProtectedMcpServer({ authorizationServer: as });
    const added = await run(
      ['add', 'corp', mcp.url, '--client-id', 'patchbay-confidential', '--client-secret'],
      {
        MCP_CLIENT_SECRET: 'test-secret-for-revocation',
      },
    );
    expect(added.code, added.stderr).toBe(0);
    const login = await run(['login', 'corp', '--timeout', '30']);
    expect(login.code, login.stderr).toBe(0);
    expect((await status())[0]).toMatchObject({
      clientKind: 'pre-registered',
      clientId: 'patchbay-confidential',
    });
    const tokens = await storedTokens();

    const result = await run(['logout', 'corp']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`revoked at ${as.issuer}`);
    expectNoSecrets(result, tokens.accessToken, tokens.refreshToken, 'test-secret-for-revocation');
    // The secret went in the Authorization header (Basic), not in the body.
    const revocation = as.requests.find(
      (request) => request.path === new URL(as!.endpoints.revocation!).pathname,
    );
    expect(revocation).toMatchObject({ status: 200 });
    expect(revocation!.body).not.toHaveProperty('client_secret');
    expect(revocation!.body).not.toHaveProperty('client_id');
    const refreshed = await fetch(as.endpoints.token, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('patchbay-confidential:test-secret-for-revocation').toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refreshToken! }),
    });
    expect(refreshed.status).toBe(400);
    expect(((await refreshed.json()) as { error?: string }).error).toBe('invalid_grant');
  });

  it('without a revocation endpoint: the tokens are removed, and the message says they were not revoked', async () => {
    await serverWithLogin({ revocation: false });
    const tokens = await storedTokens();
    const result = await run(['logout', 'corp']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(
      `Logged out of corp (tokens removed; not revoked: ${as!.issuer} offers no revocation endpoint)`,
    );
    expect(result.stderr).not.toContain('warning');
    expectNoSecrets(result, tokens.accessToken, tokens.refreshToken);
    expect((await status())[0]).toMatchObject({ loggedIn: false });
    // The grant outlives the logout at such a server: the refresh token still works there.
    expect((await tryRefresh(tokens.refreshToken!, tokens.clientId!)).status).toBe(200);
  });

  it('an unreachable authorization server is a warning: the tokens are removed anyway', async () => {
    await serverWithLogin({ revocation: true });
    await as!.close();
    const issuer = as!.issuer;
    as = undefined;
    const result = await run(['logout', 'corp', '--timeout', '5']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Logged out of corp \(tokens removed; not revoked: .+\)$/m);
    expect(result.stderr).toContain(`warning: the tokens from ${issuer} were removed here but not revoked`);
    expect((await status())[0]).toMatchObject({ loggedIn: false });
  });

  it('a server never logged in: exit 0 and a message; a stdio server: the same; an unknown name: exit 2', async () => {
    await sandbox.run(['add', 'plain', 'https://p.example.com/mcp']);
    await sandbox.run(['add', 'files', '--', 'node', 'server.js']);
    const plain = await run(['logout', 'plain']);
    expect(plain).toMatchObject({ code: 0, stdout: 'No login is stored for plain; nothing to remove.\n' });
    const files = await run(['logout', 'files']);
    expect(files.code).toBe(0);
    expect(files.stdout).toContain('files is a local command (stdio)');
    const unknown = await run(['logout', 'plian']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Did you mean plain?');
  });
});
