/**
 * The OAuth fixtures (test/fixtures/oauth/) working together with the MCP SDK's own auth
 * functions: a real authorization server (oidc-provider), a protected MCP server that checks the
 * tokens, and the headless browser script, driven by a minimal in-memory OAuthClientProvider.
 */

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  auth,
  Client,
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
  exchangeAuthorization,
  refreshAuthorization,
  startAuthorization,
  StreamableHTTPClientTransport,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
} from '@modelcontextprotocol/client';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';

import {
  startAuthorizationServer,
  type AuthorizationServer,
  type AuthorizationServerOptions,
} from './fixtures/oauth/authorization-server.js';
import { startHangingServer } from './fixtures/fault-servers.js';
import { startClientMetadataServer } from './fixtures/oauth/client-metadata-server.js';
import {
  startProtectedMcpServer,
  type ProtectedMcpServer,
  type ProtectedMcpServerOptions,
} from './fixtures/oauth/protected-mcp-server.js';

const BROWSER = fileURLToPath(new URL('./fixtures/oauth/browser.mjs', import.meta.url));

/** Everything a test starts, closed after it even when it failed half-way. */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  const results = await Promise.allSettled(cleanups.splice(0).map(async (cleanup) => cleanup()));
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
});

async function authorizationServer(options: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
  const server = await startAuthorizationServer(options);
  cleanups.push(async () => {
    await server.close();
    expect(server.serverErrors, 'oidc-provider answered 500').toEqual([]);
  });
  return server;
}

async function protectedServer(
  as: AuthorizationServer,
  options: Omit<ProtectedMcpServerOptions, 'authorizationServer'> = {},
): Promise<ProtectedMcpServer> {
  const server = await startProtectedMcpServer({ authorizationServer: as, ...options });
  cleanups.push(() => server.close());
  return server;
}

interface BrowserRun {
  code: number;
  stdout: string;
  stderr: string;
}

function runBrowser(url: string, env: Record<string, string> = {}): Promise<BrowserRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BROWSER, url],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 25_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The CLI's side of the redirect: a loopback listener for `/callback`. */
interface CallbackListener {
  redirectUrl: string;
  /** The query of the next callback request. */
  next(): Promise<URLSearchParams>;
}

/** Listens on 127.0.0.1; `localhost` only changes the redirect URL (and so what must be registered). */
async function callbackListener(host: '127.0.0.1' | 'localhost' = '127.0.0.1'): Promise<CallbackListener> {
  const waiting: Array<(params: URLSearchParams) => void> = [];
  const arrived: URLSearchParams[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain' }).end('You can close this window.\n');
    const resolve = waiting.shift();
    if (resolve) resolve(url.searchParams);
    else arrived.push(url.searchParams);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const { port } = server.address() as AddressInfo;
  return {
    redirectUrl: `http://${host}:${port}/callback`,
    next: () => {
      const ready = arrived.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** A minimal in-memory OAuthClientProvider whose "browser" is browser.mjs. */
class TestOAuthProvider implements OAuthClientProvider {
  client: StoredOAuthClientInformation | undefined;
  saved: StoredOAuthTokens | undefined;
  verifier = '';
  discovery: OAuthDiscoveryState | undefined;
  readonly opened: URL[] = [];
  browserRuns: BrowserRun[] = [];
  clientMetadataUrl?: string;

  constructor(
    private readonly redirect: string,
    options: {
      client?: StoredOAuthClientInformation;
      clientMetadataUrl?: string;
      metadata?: Partial<OAuthClientMetadata>;
      browserEnv?: Record<string, string>;
    } = {},
  ) {
    this.client = options.client;
    this.clientMetadataUrl = options.clientMetadataUrl;
    this.extraMetadata = options.metadata ?? {};
    this.browserEnv = options.browserEnv ?? {};
  }

  private readonly extraMetadata: Partial<OAuthClientMetadata>;
  private readonly browserEnv: Record<string, string>;

  get redirectUrl(): string {
    return this.redirect;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'patchbay fixture test',
      redirect_uris: [this.redirect],
      token_endpoint_auth_method: 'none',
      ...this.extraMetadata,
    };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(client: StoredOAuthClientInformation) {
    this.client = client;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: StoredOAuthTokens) {
    this.saved = tokens;
  }
  async redirectToAuthorization(url: URL) {
    this.opened.push(url);
    this.browserRuns.push(await runBrowser(url.href, this.browserEnv));
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery;
  }
  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery') {
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }
}

/** auth() → the browser walks the authorization server → the callback → auth() with the code. */
async function login(
  provider: TestOAuthProvider,
  listener: CallbackListener,
  mcp: ProtectedMcpServer,
  scope?: string,
): Promise<void> {
  // Forced, as the SDK's transport does for step-up: a refresh cannot widen the scope.
  const forceReauthorization = provider.saved !== undefined;
  expect(await auth(provider, { serverUrl: mcp.url, scope, forceReauthorization })).toBe('REDIRECT');
  expect(provider.browserRuns.at(-1)).toMatchObject({ code: 0 });
  const callback = await listener.next();
  const code = callback.get('code');
  expect(code, callback.get('error_description') ?? 'no code on the callback').toBeTruthy();
  const result = await auth(provider, {
    serverUrl: mcp.url,
    authorizationCode: code!,
    iss: callback.get('iss') ?? undefined,
    scope,
  });
  expect(result).toBe('AUTHORIZED');
}

async function listToolNames(provider: OAuthClientProvider, mcp: ProtectedMcpServer): Promise<string[]> {
  const client = new Client({ name: 'oauth-fixture-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcp.url), { authProvider: provider }), {
    timeout: 10_000,
  });
  try {
    return (await client.listTools()).tools.map((tool) => tool.name);
  } finally {
    await client.close();
  }
}

function mcpPost(mcp: ProtectedMcpServer, body: unknown, token?: string): Promise<Response> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-06-18',
  };
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(mcp.url, { method: 'POST', headers, body: JSON.stringify(body) });
}

const TOOLS_LIST = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
const CALL_ADD = {
  jsonrpc: '2.0',
  id: 2,
  method: 'tools/call',
  params: { name: 'add', arguments: { a: 2, b: 3 } },
};

describe('authorization server metadata', () => {
  it('serves RFC 8414 and OpenID discovery for a root issuer, as oidc-provider describes itself', async () => {
    const as = await authorizationServer();
    expect(as.issuer).toBe(as.origin);
    expect(as.metadataUrl).toBe(`${as.origin}/.well-known/oauth-authorization-server`);

    const metadata = await discoverAuthorizationServerMetadata(as.issuer);
    expect(metadata).toMatchObject({
      issuer: as.issuer,
      authorization_endpoint: as.endpoints.authorization,
      token_endpoint: as.endpoints.token,
      registration_endpoint: as.endpoints.registration,
      code_challenge_methods_supported: ['S256'],
      scopes_supported: ['mcp:read', 'mcp:write'],
      response_types_supported: expect.arrayContaining(['code']),
    });
    expect(metadata).not.toHaveProperty('revocation_endpoint');
    expect(metadata).not.toHaveProperty('device_authorization_endpoint');
    expect(metadata).not.toHaveProperty('client_id_metadata_document_supported');
    // The SDK asked for RFC 8414 first and got it.
    expect(as.requests.map((r) => `${r.path} ${r.status}`)).toEqual([
      '/.well-known/oauth-authorization-server 200',
    ]);

    const oidc = await fetch(`${as.origin}/.well-known/openid-configuration`);
    expect(oidc.status).toBe(200);
    expect(await oidc.json()).toMatchObject({ issuer: as.issuer });
  });

  it('serves a path-based issuer at every location the MCP spec lists, and not at the root', async () => {
    const as = await authorizationServer({ issuerPath: '/tenant1' });
    expect(as.issuer).toBe(`${as.origin}/tenant1`);
    expect(as.endpoints.token).toBe(`${as.origin}/tenant1/token`);
    for (const path of [
      '/.well-known/oauth-authorization-server/tenant1',
      '/.well-known/openid-configuration/tenant1',
      '/tenant1/.well-known/openid-configuration',
    ]) {
      const response = await fetch(`${as.origin}${path}`);
      expect(response.status, path).toBe(200);
      expect(await response.json()).toMatchObject({ issuer: as.issuer });
    }
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      expect((await fetch(`${as.origin}${path}`)).status, path).toBe(404);
    }
    expect(await discoverAuthorizationServerMetadata(as.issuer)).toMatchObject({ issuer: as.issuer });
  });

  it('serves only OpenID discovery, so a client must fall back to it', async () => {
    const as = await authorizationServer({ issuerPath: '/tenant1', only: 'oidc' });
    expect(as.metadataUrl).toBe(`${as.origin}/tenant1/.well-known/openid-configuration`);
    expect(await discoverAuthorizationServerMetadata(as.issuer)).toMatchObject({ issuer: as.issuer });
    expect(as.requests.map((r) => `${r.path} ${r.status}`)).toEqual([
      '/.well-known/oauth-authorization-server/tenant1 404',
      '/.well-known/openid-configuration/tenant1 200',
    ]);
  });

  it('serves only RFC 8414 metadata', async () => {
    const as = await authorizationServer({ only: 'oauth' });
    expect((await fetch(`${as.origin}/.well-known/openid-configuration`)).status).toBe(404);
    expect(await discoverAuthorizationServerMetadata(as.issuer)).toMatchObject({ issuer: as.issuer });
  });

  it('leaves PKCE out of the metadata, and advertises the optional features it was given', async () => {
    const noPkce = await authorizationServer({ pkce: false, registration: false });
    const plain = await discoverAuthorizationServerMetadata(noPkce.issuer);
    expect(plain).not.toHaveProperty('code_challenge_methods_supported');
    expect(plain).not.toHaveProperty('registration_endpoint');

    const full = await authorizationServer({
      cimd: true,
      revocation: true,
      deviceFlow: true,
      scopes: ['files:read'],
      metadataOverrides: { service_documentation: 'https://example.test/docs', jwks_uri: undefined },
    });
    const metadata = await discoverAuthorizationServerMetadata(full.issuer);
    expect(metadata).toMatchObject({
      client_id_metadata_document_supported: true,
      revocation_endpoint: full.endpoints.revocation,
      device_authorization_endpoint: full.endpoints.deviceAuthorization,
      scopes_supported: ['files:read'],
      service_documentation: 'https://example.test/docs',
    });
    expect(metadata).not.toHaveProperty('jwks_uri');
  });

  it('serves hostile metadata when told to (the SDK schema refuses a javascript: endpoint)', async () => {
    const as = await authorizationServer({
      metadataOverrides: { authorization_endpoint: 'javascript:alert(1)' },
    });
    const served = (await (await fetch(as.metadataUrl)).json()) as Record<string, unknown>;
    expect(served.authorization_endpoint).toBe('javascript:alert(1)');
    expect(as.metadata.authorization_endpoint).toBe('javascript:alert(1)');
    await expect(discoverAuthorizationServerMetadata(as.issuer)).rejects.toThrow();
  });
});

describe('protected MCP server', () => {
  it('answers a request without a token with 401 and where to find its metadata', async () => {
    const as = await authorizationServer();
    const mcp = await protectedServer(as);
    const response = await mcpPost(mcp, TOOLS_LIST);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer scope="mcp:read", resource_metadata="${mcp.origin}/.well-known/oauth-protected-resource/mcp"`,
    );
    expect(mcp.unauthorized).toBe(1);
    expect(mcp.requests[0]).toMatchObject({
      method: 'POST',
      path: '/mcp',
      authorization: false,
      status: 401,
    });

    expect(await discoverOAuthProtectedResourceMetadata(mcp.url)).toEqual({
      resource: mcp.url,
      authorization_servers: [as.issuer],
      bearer_methods_supported: ['header'],
      scopes_supported: ['mcp:read'],
    });
  });

  it('rejects a token it cannot verify with error="invalid_token"', async () => {
    const as = await authorizationServer();
    const mcp = await protectedServer(as);
    const response = await mcpPost(mcp, TOOLS_LIST, 'not-a-jwt');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(
      /^Bearer error="invalid_token", error_description="[^"]+", scope="mcp:read", resource_metadata="/,
    );
    expect(mcp.requests[0]).toMatchObject({ authorization: true, status: 401 });
  });

  it('serves its metadata at the root, or only where the header says', async () => {
    const as = await authorizationServer();
    const root = await protectedServer(as, { metadataAt: 'root' });
    expect(root.resourceMetadataUrl).toBe(`${root.origin}/.well-known/oauth-protected-resource`);
    // The SDK tries the path-aware URL first, then falls back to the root.
    expect(await discoverOAuthProtectedResourceMetadata(root.url)).toMatchObject({ resource: root.url });
    expect(root.requests.map((r) => `${r.path} ${r.status}`)).toEqual([
      '/.well-known/oauth-protected-resource/mcp 404',
      '/.well-known/oauth-protected-resource 200',
    ]);

    const hidden = await protectedServer(as, { metadataAt: 'header-only' });
    await expect(discoverOAuthProtectedResourceMetadata(hidden.url)).rejects.toThrow(
      /Protected Resource Metadata/,
    );
    const challenge = (await mcpPost(hidden, TOOLS_LIST)).headers.get('www-authenticate') ?? '';
    const named = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    expect(named).toBe(hidden.resourceMetadataUrl);
    expect(
      await discoverOAuthProtectedResourceMetadata(hidden.url, { resourceMetadataUrl: new URL(named!) }),
    ).toMatchObject({ resource: hidden.url });
  });
});

describe('login with the SDK', () => {
  it('registers, authorizes through the browser script, exchanges the code and lists tools', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchbay-oauth-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, 'browser.log');
    const as = await authorizationServer();
    const mcp = await protectedServer(as);
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl, { browserEnv: { BROWSER_LOG: log } });

    await login(provider, listener, mcp);

    expect(provider.client?.client_id).toBeTruthy();
    expect(as.count(as.endpoints.registration!)).toBe(1);
    expect(as.tokenRequests('authorization_code')).toBe(1);
    const authorizeUrl = provider.opened[0]!;
    expect(readFileSync(log, 'utf8')).toBe(`${authorizeUrl.href}\n`);
    expect(Object.fromEntries(authorizeUrl.searchParams)).toMatchObject({
      response_type: 'code',
      code_challenge_method: 'S256',
      resource: mcp.url,
      scope: 'mcp:read',
      redirect_uri: listener.redirectUrl,
    });

    const claims = decodeJwt(provider.saved!.access_token);
    expect(claims).toMatchObject({ iss: as.issuer, aud: mcp.url, sub: 'test-user', scope: 'mcp:read' });
    expect(provider.saved?.refresh_token).toBeTruthy();
    expect(provider.saved?.expires_in).toBe(3600);

    expect(await listToolNames(provider, mcp)).toEqual(['echo', 'add', 'get_time']);
    expect(mcp.unauthorized).toBe(0);
    expect(mcp.requests.filter((r) => r.path === '/mcp').every((r) => r.authorization)).toBe(true);
    expect(mcp.requests.find((r) => r.scopes)).toMatchObject({
      scopes: ['mcp:read'],
      clientId: provider.client!.client_id,
    });
  });

  it('logs in through a path-based issuer and a root-level resource metadata document', async () => {
    const as = await authorizationServer({ issuerPath: '/tenant1' });
    const mcp = await protectedServer(as, { metadataAt: 'root' });
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl);
    await login(provider, listener, mcp);
    expect(await listToolNames(provider, mcp)).toEqual(['echo', 'add', 'get_time']);
    expect(provider.discovery?.authorizationServerUrl).toBe(as.issuer);
  });

  it('uses a pre-registered confidential client when registration is off', async () => {
    const listener = await callbackListener();
    const as = await authorizationServer({
      registration: false,
      clients: [
        { client_id: 'patchbay', client_secret: 's3cret', redirect_uris: ['http://127.0.0.1/callback'] },
      ],
    });
    const mcp = await protectedServer(as);
    const provider = new TestOAuthProvider(listener.redirectUrl, {
      client: { client_id: 'patchbay', client_secret: 's3cret', issuer: as.issuer },
      metadata: { token_endpoint_auth_method: 'client_secret_basic' },
    });
    // The registered redirect URI has no port: a loopback client may use any (RFC 8252 §7.3).
    await login(provider, listener, mcp);
    expect(as.count((r) => r.path === '/reg')).toBe(0);
    expect(as.tokenRequests('authorization_code')).toBe(1);
    const tokenBody = as.requests.find((r) => r.body?.grant_type === 'authorization_code')?.body;
    expect(tokenBody).not.toHaveProperty('client_secret'); // sent with HTTP Basic instead
    expect(await listToolNames(provider, mcp)).toEqual(['echo', 'add', 'get_time']);
  });

  it('uses a client ID metadata document (https, test CA) instead of registering', async () => {
    const documents = await startClientMetadataServer();
    cleanups.push(() => documents.close());
    const listener = await callbackListener();
    const clientId = documents.publish({
      client_name: 'patchbay',
      redirect_uris: ['http://127.0.0.1/callback'],
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    });
    const as = await authorizationServer({ cimd: true, registration: false });
    const mcp = await protectedServer(as);
    const provider = new TestOAuthProvider(listener.redirectUrl, { clientMetadataUrl: clientId });

    await login(provider, listener, mcp);
    expect(provider.client?.client_id).toBe(clientId);
    expect(as.outboundFetches).toContain(clientId);
    expect(documents.requests.length).toBeGreaterThanOrEqual(1);
    expect(decodeJwt(provider.saved!.access_token)).toMatchObject({ client_id: clientId });
    expect(await listToolNames(provider, mcp)).toEqual(['echo', 'add', 'get_time']);
  });

  it('also accepts an http client ID metadata document on loopback (tests only)', async () => {
    const documents = await startClientMetadataServer({ tls: false });
    cleanups.push(() => documents.close());
    const listener = await callbackListener();
    const clientId = documents.publish({
      client_name: 'patchbay',
      redirect_uris: ['http://127.0.0.1/callback'],
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
    });
    const as = await authorizationServer({ cimd: true, registration: false });
    const mcp = await protectedServer(as);
    // The SDK's auth() accepts only https client ID URLs; its lower-level steps take any client ID.
    const metadata = (await discoverAuthorizationServerMetadata(as.issuer))!;
    const { authorizationUrl, codeVerifier } = await startAuthorization(as.issuer, {
      metadata,
      clientInformation: { client_id: clientId },
      redirectUrl: listener.redirectUrl,
      scope: 'mcp:read',
      resource: new URL(mcp.url),
    });
    expect(await runBrowser(authorizationUrl.href)).toMatchObject({ code: 0 });
    const callback = await listener.next();
    const tokens = await exchangeAuthorization(as.issuer, {
      metadata,
      clientInformation: { client_id: clientId },
      authorizationCode: callback.get('code')!,
      iss: callback.get('iss')!,
      codeVerifier,
      redirectUri: listener.redirectUrl,
      resource: new URL(mcp.url),
    });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ client_id: clientId, aud: mcp.url });
    expect((await mcpPost(mcp, TOOLS_LIST, tokens.access_token)).status).toBe(200);
  });

  it('delivers error=access_denied to the callback when the user refuses', async () => {
    const as = await authorizationServer({ denyConsent: true });
    const mcp = await protectedServer(as);
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl);
    expect(await auth(provider, { serverUrl: mcp.url })).toBe('REDIRECT');
    const callback = await listener.next();
    expect(callback.get('error')).toBe('access_denied');
    expect(callback.get('code')).toBeNull();
    expect(as.tokenRequests()).toBe(0);
  });
});

describe('refresh, rotation and revocation', () => {
  it('refreshes an expired access token with rotation; the old refresh token is then refused', async () => {
    // 2 s, not 1: oidc-provider counts expiry in whole seconds, so a "1 s" token — the refreshed
    // one below too — may already be expired when it is used a moment later under load.
    const as = await authorizationServer({ rotateRefreshTokens: true, accessTokenTtlSeconds: 2 });
    const mcp = await protectedServer(as);
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl);
    await login(provider, listener, mcp);
    const first = provider.saved!;
    expect(first.expires_in).toBe(2);

    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const expired = await mcpPost(mcp, TOOLS_LIST, first.access_token);
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('error="invalid_token"');

    expect(await auth(provider, { serverUrl: mcp.url })).toBe('AUTHORIZED'); // no browser: a refresh
    expect(provider.opened).toHaveLength(1);
    expect(as.tokenRequests('refresh_token')).toBe(1);
    const second = provider.saved!;
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await mcpPost(mcp, TOOLS_LIST, second.access_token)).status).toBe(200);

    const metadata = (await discoverAuthorizationServerMetadata(as.issuer))!;
    const reuse = refreshAuthorization(as.issuer, {
      metadata,
      clientInformation: provider.client!,
      refreshToken: first.refresh_token!,
      resource: new URL(mcp.url),
    });
    await expect(reuse).rejects.toMatchObject({ code: 'invalid_grant' });
    expect(as.tokenRequests('refresh_token')).toBe(2);
  });

  it('with rotation, lets only one of two concurrent refreshes succeed and then revokes the grant', async () => {
    const as = await authorizationServer({ rotateRefreshTokens: true });
    const mcp = await protectedServer(as);
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl);
    await login(provider, listener, mcp);
    const metadata = (await discoverAuthorizationServerMetadata(as.issuer))!;
    const refresh = (refreshToken: string) =>
      refreshAuthorization(as.issuer, {
        metadata,
        clientInformation: provider.client!,
        refreshToken,
        resource: new URL(mcp.url),
      });

    const results = await Promise.allSettled([
      refresh(provider.saved!.refresh_token!),
      refresh(provider.saved!.refresh_token!),
    ]);
    expect(as.tokenRequests('refresh_token')).toBe(2);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'invalid_grant' });
    // Reuse of a rotated-out token is taken as theft: the winner's new token dies with the grant.
    const winner = (won[0] as PromiseFulfilledResult<StoredOAuthTokens>).value;
    await expect(refresh(winner.refresh_token!)).rejects.toMatchObject({ code: 'invalid_grant' });
  });

  it('refuses an expired refresh token', async () => {
    const as = await authorizationServer({ refreshTokenTtlSeconds: 1 });
    const mcp = await protectedServer(as);
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl);
    await login(provider, listener, mcp);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const metadata = (await discoverAuthorizationServerMetadata(as.issuer))!;
    const refresh = refreshAuthorization(as.issuer, {
      metadata,
      clientInformation: provider.client!,
      refreshToken: provider.saved!.refresh_token!,
      resource: new URL(mcp.url),
    });
    await expect(refresh).rejects.toMatchObject({ code: 'invalid_grant' });
  });

  it('keeps the refresh token when rotation is off', async () => {
    const as = await authorizationServer({ rotateRefreshTokens: false });
    const mcp = await protectedServer(as);
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl);
    await login(provider, listener, mcp);
    const first = provider.saved!;
    expect(await auth(provider, { serverUrl: mcp.url })).toBe('AUTHORIZED');
    const second = provider.saved!;
    expect(second.access_token).not.toBe(first.access_token);
    expect(second.refresh_token).toBe(first.refresh_token);
    expect(as.tokenRequests()).toBe(2);
  });

  it('refuses a refresh token revoked at the revocation endpoint, or by revokeAll()', async () => {
    const as = await authorizationServer({ revocation: true });
    const mcp = await protectedServer(as);
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl);
    await login(provider, listener, mcp);
    const metadata = (await discoverAuthorizationServerMetadata(as.issuer))!;
    const refresh = (refreshToken: string) =>
      refreshAuthorization(as.issuer, {
        metadata,
        clientInformation: provider.client!,
        refreshToken,
        resource: new URL(mcp.url),
      });

    const revoked = await fetch(as.endpoints.revocation!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: provider.saved!.refresh_token!,
        token_type_hint: 'refresh_token',
        client_id: provider.client!.client_id,
      }),
    });
    expect(revoked.status).toBe(200);
    await expect(refresh(provider.saved!.refresh_token!)).rejects.toMatchObject({ code: 'invalid_grant' });

    await login(provider, listener, mcp);
    expect((await refresh(provider.saved!.refresh_token!)).access_token).toBeTruthy();
    as.revokeAll();
    await expect(refresh(provider.saved!.refresh_token!)).rejects.toMatchObject({ code: 'invalid_grant' });
  });
});

describe('scopes', () => {
  it('answers 403 insufficient_scope for the step-up tool, and accepts it after re-authorizing', async () => {
    const as = await authorizationServer();
    const mcp = await protectedServer(as, { stepUpTool: { name: 'add', scopes: ['mcp:write'] } });
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl);
    await login(provider, listener, mcp);
    expect(decodeJwt(provider.saved!.access_token).scope).toBe('mcp:read');

    expect((await mcpPost(mcp, TOOLS_LIST, provider.saved!.access_token)).status).toBe(200);
    const denied = await mcpPost(mcp, CALL_ADD, provider.saved!.access_token);
    expect(denied.status).toBe(403);
    expect(denied.headers.get('www-authenticate')).toMatch(
      /^Bearer error="insufficient_scope", error_description="[^"]+", scope="mcp:read mcp:write", resource_metadata="/,
    );
    expect(mcp.forbidden).toBe(1);
    expect(mcp.requests.at(-1)).toMatchObject({ rpcMethods: ['tools/call'], status: 403 });

    await login(provider, listener, mcp, 'mcp:read mcp:write');
    expect(decodeJwt(provider.saved!.access_token).scope).toBe('mcp:read mcp:write');
    const allowed = await mcpPost(mcp, CALL_ADD, provider.saved!.access_token);
    expect(allowed.status).toBe(200);
  });

  it('holds a registered client to its registered scope when told to, as oidc-provider would', async () => {
    const as = await authorizationServer({ restrictRegisteredScope: true });
    const mcp = await protectedServer(as);
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl);
    await login(provider, listener, mcp);
    expect(as.requests.find((r) => r.path === '/reg')?.body).toMatchObject({ scope: 'mcp:read' });

    const force = { serverUrl: mcp.url, scope: 'mcp:read mcp:write', forceReauthorization: true };
    expect(await auth(provider, force)).toBe('REDIRECT');
    const callback = await listener.next();
    expect(callback.get('error')).toBe('invalid_scope');
  });

  it('rejects a token issued for another resource', async () => {
    const as = await authorizationServer();
    const mcp = await protectedServer(as);
    const other = await protectedServer(as, { path: '/other' });
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl);
    await login(provider, listener, other);
    expect((await mcpPost(other, TOOLS_LIST, provider.saved!.access_token)).status).toBe(200);
    expect((await mcpPost(mcp, TOOLS_LIST, provider.saved!.access_token)).status).toBe(401);
  });
});

describe('device flow', () => {
  it('approves a device code when the browser script opens the verification URL', async () => {
    const as = await authorizationServer({
      deviceFlow: true,
      registration: false,
      clients: [
        {
          client_id: 'patchbay-device',
          redirect_uris: ['http://127.0.0.1/callback'],
          grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        },
      ],
    });
    const mcp = await protectedServer(as);
    const started = await fetch(as.endpoints.deviceAuthorization!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'patchbay-device', scope: 'mcp:read', resource: mcp.url }),
    });
    expect(started.status).toBe(200);
    const device = (await started.json()) as { device_code: string; verification_uri_complete: string };

    const poll = () =>
      fetch(as.endpoints.token, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
          device_code: device.device_code,
          client_id: 'patchbay-device',
        }),
      });
    const pending = await poll();
    expect(pending.status).toBe(400);
    expect(await pending.json()).toMatchObject({ error: 'authorization_pending' });

    // Without the code in the URL the page asks for it: nothing a script can answer.
    const bare = await runBrowser(device.verification_uri_complete.split('?')[0]!);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('asks for input');

    expect(await runBrowser(device.verification_uri_complete)).toMatchObject({ code: 0 });
    const done = await poll();
    expect(done.status).toBe(200);
    const tokens = (await done.json()) as { access_token: string; refresh_token?: string };
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: mcp.url, scope: 'mcp:read' });
    expect((await mcpPost(mcp, TOOLS_LIST, tokens.access_token)).status).toBe(200);
  });
});

describe('browser.mjs', () => {
  it('prints the callback URL instead of requesting it, in print-redirect mode', async () => {
    const as = await authorizationServer();
    const mcp = await protectedServer(as);
    const listener = await callbackListener();
    const provider = new TestOAuthProvider(listener.redirectUrl, {
      browserEnv: { BROWSER_MODE: 'print-redirect' },
    });
    expect(await auth(provider, { serverUrl: mcp.url })).toBe('REDIRECT');
    const run = provider.browserRuns[0]!;
    expect(run.code).toBe(0);
    const pasted = new URL(run.stdout.trim());
    expect(`${pasted.origin}${pasted.pathname}`).toBe(listener.redirectUrl);
    expect(pasted.searchParams.get('code')).toBeTruthy();
    expect(pasted.searchParams.get('iss')).toBe(as.issuer);

    // The pasted URL carries everything the exchange needs.
    expect(
      await auth(provider, {
        serverUrl: mcp.url,
        authorizationCode: pasted.searchParams.get('code')!,
        iss: pasted.searchParams.get('iss')!,
      }),
    ).toBe('AUTHORIZED');
  });

  it('refuses in refuse mode, and never opens a URL off loopback, but logs both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchbay-browser-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, 'opened.log');

    const refused = await runBrowser('http://127.0.0.1:9/authorize', {
      BROWSER_MODE: 'refuse',
      BROWSER_LOG: log,
    });
    expect(refused.code).toBe(1);

    for (const url of ['https://example.com/authorize', 'file:///etc/passwd', 'http://user@127.0.0.1:9/x']) {
      const run = await runBrowser(url, { BROWSER_LOG: log });
      expect(run.code, url).toBe(3);
      expect(run.stderr).toContain('refusing');
    }
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      'http://127.0.0.1:9/authorize',
      'https://example.com/authorize',
      'file:///etc/passwd',
      'http://user@127.0.0.1:9/x',
    ]);
  });

  it('gives up on a server that never answers', async () => {
    const hanging = await startHangingServer();
    cleanups.push(() => hanging.close());
    const run = await runBrowser(hanging.url, { BROWSER_TIMEOUT_MS: '300' });
    expect(run.code).toBe(124);
    expect(run.stderr).toContain('gave up');
  });

  it('stops at a redirect that leaves loopback', async () => {
    const as = await authorizationServer({
      registration: false,
      clients: [{ client_id: 'evil', redirect_uris: ['https://attacker.example/callback'] }],
    });
    const url = new URL(as.endpoints.authorization);
    url.search = new URLSearchParams({
      client_id: 'evil',
      response_type: 'code',
      redirect_uri: 'https://attacker.example/callback',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      scope: 'mcp:read',
    }).toString();
    const run = await runBrowser(url.href);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('https://attacker.example/callback');
  });
});
