/**
 * The gateway's own authorization server on the built binary (`patchbay serve --config` with
 * auth.authorizationServer): oidc-provider runs inside the bundle, a member signs in through the
 * organisation's IdP (another oidc-provider on loopback) with the SDK's `auth()`, and the access
 * token verifies against the gateway's published keys with its `/mcp` URL as audience; the keys
 * stay the same across a restart (kept in the gateway's state).
 *
 * Until the gateway publishes its protected-resource metadata (RFC 9728, another piece of #19),
 * the test serves that one document itself.
 */

import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import {
  auth,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
} from '@modelcontextprotocol/client';
import { createRemoteJWKSet, jwtVerify, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import { MEMBERS, startOrganisationIdp, type OrganisationIdp } from '../fixtures/oauth/organisation-idp.js';
import { isPage, RedirectBrowser } from '../fixtures/oauth/redirect-browser.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const HOST_CALLBACK = 'http://127.0.0.1:9/callback';

let sandbox: Sandbox;
let idp: OrganisationIdp;
let gateway: RunningGateway;
let config: string;
let metadataServer: Server;
let resourceMetadataUrl: URL;

async function startTeamGateway(): Promise<RunningGateway> {
  const started = await startGateway(sandbox, ['--config', config]);
  await idp.register(new URL('/oauth/signed-in', started.url).href);
  return started;
}

beforeAll(async () => {
  sandbox = await createSandbox();
  idp = await startOrganisationIdp();
  sandbox.env.IDP_CLIENT_SECRET = idp.clientSecret;
  config = join(sandbox.root, 'deployment.jsonc');
  await writeFile(
    config,
    `{
  // The organisation's IdP does not speak MCP: the gateway signs members in there.
  "auth": {
    // Until the access-token checker lands, the gateway needs one way in it already has.
    "staticToken": true,
    "authorizationServer": {
      "idp": { "issuer": "${idp.issuer}", "clientId": "${idp.clientId}", "clientSecret": "\${IDP_CLIENT_SECRET}" }
    }
  }
}
`,
  );
  gateway = await startTeamGateway();
  metadataServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        resource: gateway.url,
        authorization_servers: [new URL('/oauth', gateway.url).href],
        scopes_supported: ['mcp'],
      }),
    );
  });
  await new Promise<void>((resolve) => metadataServer.listen(0, '127.0.0.1', resolve));
  const { port } = metadataServer.address() as AddressInfo;
  resourceMetadataUrl = new URL(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`);
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  metadataServer?.closeAllConnections();
  await new Promise<void>((resolve) => (metadataServer ? metadataServer.close(() => resolve()) : resolve()));
  await idp?.close();
  await sandbox?.cleanup();
});

/** An MCP host's OAuth state in memory; its browser follows redirects until the host's callback. */
class Host implements OAuthClientProvider {
  client: StoredOAuthClientInformation | undefined;
  saved: StoredOAuthTokens | undefined;
  verifier = '';
  discovery: OAuthDiscoveryState | undefined;
  landed: URL | undefined;
  readonly browser = new RedirectBrowser();

  get redirectUrl() {
    return HOST_CALLBACK;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'patchbay e2e host',
      redirect_uris: [HOST_CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
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
    const result = await this.browser.follow(url, (next) => next.href.startsWith(HOST_CALLBACK));
    if (isPage(result)) throw new Error(`the sign-in ended on a page: ${result.status} ${result.text}`);
    this.landed = result.url;
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

describe('a team gateway with its own authorization server (the built binary)', () => {
  it('signs a member in through the IdP and mints a token for its /mcp that names the member', async () => {
    idp.member = 'bob';
    const host = new Host();
    const options = { serverUrl: gateway.url, resourceMetadataUrl };
    expect(await auth(host, options)).toBe('REDIRECT');
    const code = host.landed!.searchParams.get('code')!;
    const iss = host.landed!.searchParams.get('iss')!;
    expect(await auth(host, { ...options, authorizationCode: code, iss })).toBe('AUTHORIZED');
    const issuer = new URL('/oauth', gateway.url).href;
    const { payload } = await jwtVerify(
      host.saved!.access_token,
      createRemoteJWKSet(new URL(`${issuer}/jwks`)),
      {
        issuer,
        audience: gateway.url,
        typ: 'at+jwt',
      },
    );
    expect(payload).toMatchObject({
      sub: MEMBERS.bob.sub,
      email: MEMBERS.bob.email,
      groups: ['sales'],
      scope: 'mcp',
    });
    // The deployment's default lifetime: oidc-provider's model names survive the bundle's minifier.
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(readdirSync(resolvePaths(sandbox.env).gatewayState)).toEqual(
      expect.arrayContaining(['as-keys.json', 'as-members.json', 'as-refresh-token.json', 'as-session.json']),
    );
    expect(gateway.stderr()).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
  });

  it('keeps its signing keys across a restart', async () => {
    const keysOf = async (url: string) =>
      ((await (await fetch(new URL('/oauth/jwks', url))).json()) as { keys: JWK[] }).keys;
    const before = await keysOf(gateway.url);
    await gateway.stop();
    gateway = await startTeamGateway();
    expect(await keysOf(gateway.url)).toEqual(before);
  }, 30_000);
});
