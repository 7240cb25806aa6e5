/**
 * Tokens that keep working, at the library level: a real login (patchbay's own `login()` against
 * oidc-provider, the browser driven by PATCHBAY_BROWSER), then `connect(entry, { credentials })`
 * against a token-checking MCP server, counting what reached the token endpoint.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';

import { login } from '../../src/auth/login.js';
import { createHttpClient } from '../../src/connect/network.js';
import { tokenKey } from '../../src/auth/oauth-provider.js';
import { openCredentialStore, type CredentialStore, type StoredTokens } from '../../src/auth/store.js';
import type { ServerEntry } from '../../src/config/entry.js';
import { connect, ConnectError, type ConnectOptions } from '../../src/connect/session.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
  type AuthorizationServerOptions,
} from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';

const BROWSER = fileURLToPath(new URL('../fixtures/oauth/browser.mjs', import.meta.url));

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface World {
  as: AuthorizationServer;
  mcp: ProtectedMcpServer;
  entry: ServerEntry;
  env: NodeJS.ProcessEnv;
  store: CredentialStore;
  key: string;
  options(credentials?: ConnectOptions['credentials']): ConnectOptions;
  stored(): Promise<StoredTokens>;
}

/** An authorization server, a protected MCP server, and a finished `login()` to it. */
async function loggedIn(asOptions: AuthorizationServerOptions): Promise<World> {
  const as = await startAuthorizationServer(asOptions);
  cleanups.push(async () => {
    await as.close();
    expect(as.serverErrors, 'oidc-provider answered 500').toEqual([]);
  });
  const mcp = await startProtectedMcpServer({ authorizationServer: as });
  cleanups.push(() => mcp.close());
  const root = await mkdtemp(join(tmpdir(), 'patchbay-refresh-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: root,
    PATCHBAY_BROWSER: `"${process.execPath}" "${BROWSER}"`,
    PATCHBAY_CREDENTIAL_STORE: 'file',
    PATCHBAY_DATA_DIR: join(root, 'data'),
  };
  const store = await openCredentialStore(env);
  const entry: ServerEntry = { transport: 'http', url: mcp.url };
  const http = await createHttpClient({ env });
  try {
    await login({
      http,
      name: 'corp',
      entry,
      store,
      env,
      noBrowser: false,
      timeoutMs: 30_000,
      say: () => undefined,
    });
  } finally {
    await http.close();
  }
  const key = tokenKey(as.issuer, mcp.url);
  return {
    as,
    mcp,
    entry,
    env,
    store,
    key,
    options: (credentials) => ({
      name: 'corp',
      timeoutMs: 15_000,
      env,
      sseFallback: false,
      ...(credentials ? { credentials } : {}),
    }),
    stored: async () => {
      const tokens = await store.getTokens(key);
      if (!tokens) throw new Error('no tokens stored');
      return tokens;
    },
  };
}

async function waitUntilExpired(tokens: StoredTokens): Promise<void> {
  const wait = (tokens.expiresAt ?? Date.now()) - Date.now() + 250;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

async function listToolNames(world: World, credentials?: ConnectOptions['credentials']): Promise<string[]> {
  const session = await connect(world.entry, world.options(credentials));
  try {
    const { tools } = await session.request((client) =>
      client.listTools(undefined, session.requestOptions()),
    );
    return tools.map((tool) => tool.name).sort();
  } finally {
    await session.close();
  }
}

async function connectFailure(
  world: World,
  credentials?: ConnectOptions['credentials'],
): Promise<ConnectError> {
  const error = await listToolNames(world, credentials).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

describe('connect with credentials: refresh', () => {
  it('refreshes an expired token once, stores the rotated refresh token, and a check still refreshes nothing', async () => {
    const world = await loggedIn({ rotateRefreshTokens: true, accessTokenTtlSeconds: 2 });
    const before = await world.stored();
    expect(before.refreshToken).toBeDefined();
    await waitUntilExpired(before);

    // A read-only check (--no-refresh) with the expired token: needs-auth that renews on next
    // use, and no token request.
    const check = await connectFailure(world);
    expect(check.status).toBe('needs-auth');
    expect(check.renewsOnUse).toBe(true);
    expect(check.reason).toMatch(/^login expired \d+ s ago, renews on next use$/);
    expect(check.hint).toMatch(/patchbay auth refresh corp$/);
    expect(world.as.tokenRequests('refresh_token')).toBe(0);

    expect(await listToolNames(world, 'refresh')).toEqual(['add', 'echo', 'get_time']);
    expect(world.as.tokenRequests('refresh_token')).toBe(1);
    const after = await world.stored();
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(after.refreshToken).toBeDefined();
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(after.lastRefreshAt).toBeGreaterThan(before.obtainedAt);
    expect(after.obtainedAt).toBe(before.obtainedAt);
    // The refresh asked for the same resource, so the new token is for this server.
    const refresh = world.as.requests.find((request) => request.body?.grant_type === 'refresh_token');
    expect(refresh?.body?.resource).toBe(world.mcp.url);
  });

  it('a long session refreshes between requests when its token expires', async () => {
    const world = await loggedIn({ rotateRefreshTokens: true, accessTokenTtlSeconds: 2 });
    const session = await connect(world.entry, world.options('refresh'));
    try {
      const list = () => session.request((client) => client.listTools(undefined, session.requestOptions()));
      expect((await list()).tools).toHaveLength(3);
      expect(world.as.tokenRequests('refresh_token')).toBe(0);
      const unauthorized = world.mcp.unauthorized; // the login's own discovery request had one
      await waitUntilExpired(await world.stored());
      expect((await list()).tools).toHaveLength(3);
      expect(world.as.tokenRequests('refresh_token')).toBe(1);
      // Refreshed before it was sent, not after a 401.
      expect(world.mcp.unauthorized).toBe(unauthorized);
    } finally {
      await session.close();
    }
  });

  it('concurrent connects in one process share one refresh', async () => {
    const world = await loggedIn({ rotateRefreshTokens: true, accessTokenTtlSeconds: 3 });
    await waitUntilExpired(await world.stored());
    const results = await Promise.all(Array.from({ length: 5 }, () => listToolNames(world, 'refresh')));
    for (const names of results) expect(names).toHaveLength(3);
    expect(world.as.tokenRequests('refresh_token')).toBe(1);
  });

  it('a revoked login is needs-auth with the login command, recorded, and tried once only', async () => {
    const world = await loggedIn({ rotateRefreshTokens: true, accessTokenTtlSeconds: 2 });
    await waitUntilExpired(await world.stored());
    world.as.revokeAll();
    const mcpRequests = world.mcp.requests.length;

    const failure = await connectFailure(world, 'refresh');
    expect(failure.status).toBe('needs-auth');
    expect(failure.hint).toBe('patchbay login corp');
    expect(failure.reason).toMatch(/expired or was revoked/);
    expect(failure.reason).toMatch(/invalid_grant/);
    expect(world.as.tokenRequests('refresh_token')).toBe(1);
    const stored = await world.stored();
    expect(stored.lastRefreshError?.message).toMatch(/invalid_grant/);
    expect(stored.lastRefreshError?.message).not.toContain(stored.refreshToken!);

    // Again (this process or another): the recorded refusal stands, no token request, no loop.
    const again = await connectFailure(world, 'refresh');
    expect(again.status).toBe('needs-auth');
    expect(again.reason).toMatch(/expired or was revoked/);
    expect(world.as.tokenRequests('refresh_token')).toBe(1);
    // No MCP request was made (only its resource metadata was read): the token source said why first.
    const endpoint = new URL(world.mcp.url).pathname;
    expect(world.mcp.requests.slice(mcpRequests).filter((request) => request.path === endpoint)).toEqual([]);
  });

  it('a 401 to an unexpired token refreshes once and retries', async () => {
    const world = await loggedIn({ rotateRefreshTokens: true });
    const stored = await world.stored();
    // Unexpired by the clock, but not a token the server accepts.
    await world.store.saveTokens(world.key, { ...stored, accessToken: 'rejected-by-the-server' });
    const unauthorizedBefore = world.mcp.unauthorized;

    expect(await listToolNames(world, 'refresh')).toHaveLength(3);
    expect(world.as.tokenRequests('refresh_token')).toBe(1);
    expect(world.mcp.unauthorized).toBe(unauthorizedBefore + 1);
    expect((await world.stored()).accessToken).not.toBe('rejected-by-the-server');
  });

  it('a server that rejects even a freshly refreshed token: one refresh, then needs-auth, no loop', async () => {
    const world = await loggedIn({ rotateRefreshTokens: true });
    // The MCP server is replaced, at the same URL, by one that refuses every token.
    const { port } = new URL(world.mcp.url);
    await world.mcp.close();
    const refusing = await startRefusingServer(Number(port), world.mcp.resourceMetadata);
    cleanups.push(() => refusing.close());

    const failure = await connectFailure(world, 'refresh');
    expect(failure.status).toBe('needs-auth');
    expect(failure.hint).toBe('patchbay login corp');
    expect(failure.reason).toMatch(/rejected the access token again after it was renewed/);
    expect(world.as.tokenRequests('refresh_token')).toBe(1);
    // The renewed token is refused as well: not refreshed again.
    const again = await connectFailure(world, 'refresh');
    expect(again.status).toBe('needs-auth');
    expect(again.reason).toMatch(/issued moments ago/);
    expect(world.as.tokenRequests('refresh_token')).toBe(1);
    expect(refusing.withToken()).toBe(3);
  });

  it('a server that now names another authorization server: needs-auth, nothing refreshed', async () => {
    const world = await loggedIn({ rotateRefreshTokens: true });
    const other = await startAuthorizationServer();
    cleanups.push(() => other.close());
    const moved = await startProtectedMcpServer({ authorizationServer: other });
    cleanups.push(() => moved.close());
    // As if this login had been for the moved server's URL.
    const stored = await world.stored();
    await world.store.saveTokens(tokenKey(world.as.issuer, moved.url), { ...stored, resource: moved.url });

    const failure = await connectFailure(
      { ...world, entry: { transport: 'http', url: moved.url } },
      'refresh',
    );
    expect(failure.status).toBe('needs-auth');
    expect(failure.reason).toMatch(/no longer names .* as its authorization server/);
    expect(world.as.tokenRequests('refresh_token')).toBe(0);
    expect(other.tokenRequests()).toBe(0);
  });

  it('an unreachable authorization server is a failure naming it, not needs-auth', async () => {
    const world = await loggedIn({ accessTokenTtlSeconds: 2 });
    await waitUntilExpired(await world.stored());
    const origin = new URL(world.as.issuer);
    await world.as.close();
    const failure = await connectFailure(world, 'refresh');
    expect(failure.status).toBe('failed');
    expect(failure.reason).toContain(world.as.issuer);
    expect(failure.reason).toMatch(/connection refused/);
    expect(failure.reason).toContain(`${origin.hostname}:${origin.port}`);
    expect(failure.hint).toMatch(/patchbay doctor corp/);
    expect((await world.stored()).lastRefreshError).toBeUndefined();
  });

  it('never sends a login to another server', async () => {
    const world = await loggedIn({});
    const stranger = await startProtectedMcpServer({ authorizationServer: world.as });
    cleanups.push(() => stranger.close());
    const failure = await connectFailure(
      { ...world, entry: { transport: 'http', url: stranger.url } },
      'refresh',
    );
    expect(failure.status).toBe('needs-auth');
    expect(stranger.requests.some((request) => request.authorization)).toBe(false);
    expect(world.as.tokenRequests('refresh_token')).toBe(0);
  });

  it('a configured Authorization header wins: no refresh, no stored token sent', async () => {
    const world = await loggedIn({ accessTokenTtlSeconds: 2 });
    await waitUntilExpired(await world.stored());
    const failure = await connectFailure(
      { ...world, entry: { ...world.entry, headers: { Authorization: 'Bearer configured-token' } } },
      'refresh',
    );
    expect(failure.status).toBe('failed');
    expect(failure.reason).toMatch(/configured Authorization header/);
    expect(world.as.tokenRequests('refresh_token')).toBe(0);
  });
});

/** An MCP endpoint that answers 401 to everything, with the protected resource metadata of the one it replaces. */
async function startRefusingServer(
  port: number,
  resourceMetadata: Record<string, unknown>,
): Promise<{ withToken(): number; close(): Promise<void> }> {
  let withToken = 0;
  const metadataPath = new URL(
    `/.well-known/oauth-protected-resource${new URL(String(resourceMetadata.resource)).pathname}`,
    'http://127.0.0.1',
  ).pathname;
  const server = createServer((req, res) => {
    if (req.url === metadataPath) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(resourceMetadata));
      return;
    }
    if (req.headers.authorization) withToken++;
    req.resume();
    res
      .writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': 'Bearer error="invalid_token", error_description="refused"',
      })
      .end('{"error":"invalid_token"}');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    withToken: () => withToken,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
