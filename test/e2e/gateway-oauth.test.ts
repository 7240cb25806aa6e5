/**
 * A team gateway in mode 1 (`auth.oauth`: an issuer that speaks the MCP authorization spec), the
 * built binary with `serve --config`, in front of the demo server, with oidc-provider as the
 * organisation's authorization server. Two hosts find everything from the gateway's URL alone —
 * 401 → protected-resource metadata → authorization server metadata → registration → PKCE →
 * token — and list the tools: the SDK's client and patchbay's own `add` + `login` + `tools`.
 */

import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import {
  Client,
  StreamableHTTPClientTransport,
  UnauthorizedError,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
} from '@modelcontextprotocol/client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { BROWSER, JWT, oauthEnv } from '../helpers/oauth.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let as: AuthorizationServer;
let demo: DemoServer;
let served: Sandbox;
let gateway: RunningGateway;
let metadataUrl: string;

beforeAll(async () => {
  [as, demo, served] = await Promise.all([startAuthorizationServer(), startDemoServer(), createSandbox()]);
  await served.run(['add', 'demo', demo.url]);
  const config = join(served.root, 'deployment.jsonc');
  await writeFile(
    config,
    // API keys beside OAuth: machines and members through one door.
    JSON.stringify({ auth: { apiKeys: true, oauth: { issuer: as.issuer, scopes: ['mcp:read'] } } }, null, 2),
  );
  gateway = await startGateway(served, ['--config', config]);
  metadataUrl = `http://127.0.0.1:${gateway.port}/.well-known/oauth-protected-resource/mcp`;
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await Promise.all([demo?.close(), as?.close()]);
  await served?.cleanup();
  expect(as?.serverErrors ?? []).toEqual([]);
});

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
});

function post(token?: string): Promise<Response> {
  return fetch(gateway.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: INITIALIZE,
  });
}

describe('the gateway as a protected resource', () => {
  it('answers 401 with a challenge pointing to its metadata, and serves the metadata', async () => {
    const response = await post();
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${metadataUrl}", scope="mcp:read"`,
    );
    for (const url of [
      metadataUrl,
      `http://127.0.0.1:${gateway.port}/.well-known/oauth-protected-resource`,
    ]) {
      const metadata = await fetch(url);
      expect(metadata.status).toBe(200);
      expect(metadata.headers.get('content-type')).toBe('application/json');
      expect(await metadata.json()).toEqual({
        resource: gateway.url,
        authorization_servers: [as.issuer],
        scopes_supported: ['mcp:read'],
        bearer_methods_supported: ['header'],
        resource_name: 'patchbay team gateway',
      });
    }
  });

  it('an API key still goes in beside OAuth (the scopes are the same), and an unknown one gets the OAuth challenge', async () => {
    const created = await served.run(['keys', 'create', 'ci', '--service', '--scope', 'mcp:read']);
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    expect((await post(key)).status).toBe(200);
    const unknown = await post(`${key.slice(0, -4)}zzzz`);
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toContain(`resource_metadata="${metadataUrl}"`);
  });

  it('a bad token: 401 invalid_token with why, never the token', async () => {
    const response = await post('not-a-token-of-anyone');
    expect(response.status).toBe(401);
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toContain(`resource_metadata="${metadataUrl}"`);
    expect(challenge).not.toContain('not-a-token-of-anyone');
    expect(await response.text()).not.toContain('not-a-token-of-anyone');
  });
});

describe('a deployment whose issuer cannot be used', () => {
  it('does not start, and says why', async () => {
    const config = join(served.root, 'deployment-wrong.jsonc');
    await writeFile(config, JSON.stringify({ auth: { oauth: { issuer: `${as.issuer}/elsewhere` } } }));
    await expect(startGateway(served, ['--config', config])).rejects.toThrow(
      /auth\.oauth\.issuer: no authorization server metadata for .*\/elsewhere/,
    );
  });
});

/** The host's side of the redirect: a loopback `/callback` listener. */
async function callbackListener(): Promise<{
  url: string;
  next(): Promise<URLSearchParams>;
  server: Server;
}> {
  const arrived: URLSearchParams[] = [];
  const waiting: Array<(params: URLSearchParams) => void> = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    res.writeHead(200, { 'content-type': 'text/plain' }).end('done\n');
    if (url.pathname !== '/callback') return;
    const resolve = waiting.shift();
    if (resolve) resolve(url.searchParams);
    else arrived.push(url.searchParams);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`,
    next: () => {
      const ready = arrived.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiting.push(resolve));
    },
    server,
  };
}

/** An in-memory OAuthClientProvider whose browser is browser.mjs, as a host's would be. */
class HostProvider implements OAuthClientProvider {
  client?: StoredOAuthClientInformation;
  saved?: StoredOAuthTokens;
  verifier = '';
  discovery?: OAuthDiscoveryState;
  opened: string[] = [];
  constructor(private readonly redirect: string) {}
  get redirectUrl() {
    return this.redirect;
  }
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'sdk host', redirect_uris: [this.redirect], token_endpoint_auth_method: 'none' };
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
    this.opened.push(url.href);
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, [BROWSER, url.href], { timeout: 25_000 }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
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
}

describe('hosts find everything from the gateway URL alone', () => {
  it('the SDK client: 401 → metadata → registration → PKCE → token, then lists tools', async () => {
    const callback = await callbackListener();
    try {
      const provider = new HostProvider(callback.url);
      const first = new StreamableHTTPClientTransport(new URL(gateway.url), { authProvider: provider });
      const client = new Client({ name: 'sdk-host', version: '1.0.0' });
      await expect(client.connect(first, { timeout: 20_000 })).rejects.toBeInstanceOf(UnauthorizedError);
      const params = await callback.next();
      expect(params.get('code')).toBeTruthy();
      await first.finishAuth(params);
      expect(provider.discovery?.resourceMetadataUrl).toBe(metadataUrl);
      expect(provider.discovery?.authorizationServerUrl).toBe(as.issuer);
      expect(provider.opened[0]).toMatch(/code_challenge_method=S256/);
      expect(new URL(provider.opened[0]!).searchParams.get('resource')).toBe(gateway.url);
      expect(as.count('/reg')).toBeGreaterThanOrEqual(1);
      expect(decodeJwt(provider.saved!.access_token).aud).toBe(gateway.url);

      const connected = new Client({ name: 'sdk-host', version: '1.0.0' });
      await connected.connect(
        new StreamableHTTPClientTransport(new URL(gateway.url), { authProvider: provider }),
        { timeout: 20_000 },
      );
      try {
        const names = (await connected.listTools()).tools.map((tool) => tool.name);
        expect(names.some((name) => name.includes('echo'))).toBe(true);
        const result = await connected.callTool({
          name: names.find((name) => name.includes('add'))!,
          arguments: { a: 2, b: 3 },
        });
        expect(JSON.stringify(result.content)).toContain('5');
      } finally {
        await connected.close();
      }
      // The member the token names reaches the audit log (and every control before it).
      const log = await served.run(['log', '--json']);
      expect(log.code, log.stderr).toBe(0);
      const entries = JSON.parse(log.stdout) as Array<{ host?: string; caller?: Record<string, unknown> }>;
      const mine = entries.filter((entry) => entry.host === 'sdk-host');
      expect(mine.length).toBeGreaterThan(0);
      expect(mine[0]!.caller).toMatchObject({
        transport: 'http',
        auth: 'oauth',
        subject: 'test-user',
        client: provider.client!.client_id,
      });
      expect(log.stdout).not.toMatch(JWT);
    } finally {
      callback.server.close();
      callback.server.closeAllConnections();
    }
  }, 60_000);

  it("patchbay's own client: add + login + tools", async () => {
    const host = await createSandbox();
    try {
      const env = oauthEnv(host);
      expect((await host.run(['add', 'team', gateway.url])).code).toBe(0);
      const login = await host.run(['login', 'team', '--timeout', '30'], { env });
      expect(login.code, login.stderr).toBe(0);
      expect(login.stdout).toContain(`Logged in to team at ${as.issuer}`);
      expect(login.stdout + login.stderr).not.toMatch(JWT);
      const tools = await host.run(['tools', 'team'], { env });
      expect(tools.code, tools.stderr).toBe(0);
      expect(tools.stdout).toContain('echo');
    } finally {
      await host.cleanup();
    }
  }, 60_000);

  // Last: it restarts the gateway.
  it('too few scopes: 403 insufficient_scope naming them, and the SDK client steps up', async () => {
    // A token for the gateway with the one scope it asks for…
    const callback = await callbackListener();
    let stricter: RunningGateway | undefined;
    try {
      const provider = new HostProvider(callback.url);
      const first = new StreamableHTTPClientTransport(new URL(gateway.url), { authProvider: provider });
      await expect(new Client({ name: 'h', version: '1' }).connect(first)).rejects.toBeInstanceOf(
        UnauthorizedError,
      );
      await first.finishAuth(await callback.next());
      expect(decodeJwt(provider.saved!.access_token).scope).toBe('mcp:read');

      // …then the gateway, restarted at the same URL, asks for one more.
      const config = join(served.root, 'deployment-stepup.jsonc');
      await writeFile(
        config,
        JSON.stringify({ auth: { oauth: { issuer: as.issuer, scopes: ['mcp:read', 'mcp:write'] } } }),
      );
      await gateway.stop();
      stricter = await startGateway(served, ['--config', config, '--http', `127.0.0.1:${gateway.port}`]);
      const direct = stricter.url;
      expect(direct).toBe(gateway.url);

      const response = await fetch(direct, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${provider.saved!.access_token}`,
        },
        body: INITIALIZE,
      });
      expect(response.status).toBe(403);
      const challenge = response.headers.get('www-authenticate') ?? '';
      expect(challenge).toContain('error="insufficient_scope"');
      expect(challenge).toContain('scope="mcp:read mcp:write"');
      expect(challenge).toContain(`resource_metadata="${metadataUrl}"`);

      // The SDK's transport reads the 403, asks for the scopes named, and the new token is enough.
      const stepUp = new StreamableHTTPClientTransport(new URL(direct), { authProvider: provider });
      await expect(new Client({ name: 'h', version: '1' }).connect(stepUp)).rejects.toBeInstanceOf(
        UnauthorizedError,
      );
      await stepUp.finishAuth(await callback.next());
      expect(decodeJwt(provider.saved!.access_token).scope).toBe('mcp:read mcp:write');
      const client = new Client({ name: 'h', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(direct), { authProvider: provider }));
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
      await client.close();
    } finally {
      callback.server.close();
      callback.server.closeAllConnections();
      await stricter?.stop();
    }
  }, 60_000);
});
