/**
 * The gateway's own authorization server (issue #19, mode 2), with real parts on loopback: the
 * organisation's IdP is another oidc-provider (alice in eng, bob in sales, one pre-registered
 * confidential client: the gateway), the gateway runs in this process from a deployment file
 * (`startGateway`, its real listener), and the MCP host is the SDK's own `auth()` with an
 * OAuthClientProvider whose browser follows redirects in-process.
 *
 * Until the gateway publishes its protected-resource metadata (RFC 9728, another piece of #19),
 * the test serves that one document itself, pointing to the gateway's issuer; everything else the
 * host finds from there.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  auth,
  discoverAuthorizationServerMetadata,
  refreshAuthorization,
} from '@modelcontextprotocol/client';
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import {
  startAuthorizationServer,
  type GatewayAuthorizationServer,
} from '../../src/gateway/authorization-server/index.js';
import { publicDocumentUrl } from '../../src/gateway/authorization-server/provider.js';
import { parseDeployment } from '../../src/gateway/deployment.js';
import { startInProcessGateway } from '../helpers/in-process-gateway.js';
import { FileState } from '../../src/state/files.js';
import { fetchOnLoopback } from '../fixtures/oauth/authorization-server.js';
import { startClientMetadataServer } from '../fixtures/oauth/client-metadata-server.js';
import { MEMBERS, startOrganisationIdp, type OrganisationIdp } from '../fixtures/oauth/organisation-idp.js';
import { isPage, RedirectBrowser } from '../fixtures/oauth/redirect-browser.js';
import { MemoryHost } from '../helpers/oauth-host.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  const results = await Promise.allSettled(
    cleanups
      .splice(0)
      .reverse()
      .map(async (cleanup) => cleanup()),
  );
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
});

/** The host's redirect URI: never requested, the browser stops there and hands the URL back. */
const HOST_CALLBACK = 'http://127.0.0.1:9/callback';

function temporaryDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'patchbay-as-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function organisationIdp(
  options: Parameters<typeof startOrganisationIdp>[0] = {},
): Promise<OrganisationIdp> {
  const idp = await startOrganisationIdp(options);
  cleanups.push(async () => {
    await idp.close();
    expect(idp.serverErrors, 'the IdP answered 500').toEqual([]);
  });
  return idp;
}

interface Team {
  idp: OrganisationIdp;
  mcpUrl: string;
  issuer: string;
  /** The protected-resource metadata the test serves for the gateway. */
  resourceMetadataUrl: URL;
}

/** `patchbay serve --config` in this process: the deployment file, the real listener. */
async function teamGateway(
  options: { claims?: string; groupsClaim?: string; claimsInIdToken?: boolean } = {},
): Promise<Team> {
  const idp = await organisationIdp({
    ...(options.groupsClaim ? { groupsClaim: options.groupsClaim } : {}),
    ...(options.claimsInIdToken === false ? { claimsInIdToken: false } : {}),
  });
  const home = temporaryDirectory();
  const env = {
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_DATA_HOME: join(home, 'data'),
    XDG_STATE_HOME: join(home, 'state'),
    XDG_CACHE_HOME: join(home, 'cache'),
    IDP_SECRET: idp.clientSecret,
  };
  const file = join(home, 'patchbay.jsonc');
  const deployment = parseDeployment(
    `{
      "auth": {
        "staticToken": true,
        "authorizationServer": {
          "idp": { "issuer": "${idp.issuer}", "clientId": "${idp.clientId}", "clientSecret": "\${IDP_SECRET}" },
          ${options.claims ? `"claims": ${options.claims},` : ''}
          "accessTokenTtl": "5m",
          "refreshTokenTtl": "1h"
        }
      }
    }`,
    file,
    env,
  );
  const paths = resolvePaths(env);
  const gateway = await startInProcessGateway({
    env,
    home,
    paths,
    options: { deployment, timeoutMs: 5_000 },
  });
  cleanups.push(() => gateway.stop());
  const mcpUrl = gateway.url;
  const issuer = new URL('/oauth', mcpUrl).href;
  await idp.register(new URL('/oauth/signed-in', mcpUrl).href);
  const metadata = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ resource: mcpUrl, authorization_servers: [issuer], scopes_supported: ['mcp'] }));
  });
  const resourceMetadataUrl = new URL('/.well-known/oauth-protected-resource/mcp', await listen(metadata));
  return { idp, mcpUrl, issuer, resourceMetadataUrl };
}

/** A host connecting for `member` from the gateway's URL: registration, the IdP, the code exchange. */
async function connect(team: Team, member: keyof typeof MEMBERS, host = new MemoryHost()) {
  team.idp.member = member;
  const options = { serverUrl: team.mcpUrl, resourceMetadataUrl: team.resourceMetadataUrl };
  expect(await auth(host, options)).toBe('REDIRECT');
  expect(host.page, 'the browser ended on a page instead of the host callback').toBeUndefined();
  const code = host.landed!.searchParams.get('code');
  expect(code, `${host.landed!.href} via ${host.browser.visited.map((u) => u.href).join(' ')}`).toBeTruthy();
  const iss = host.landed!.searchParams.get('iss') ?? undefined;
  expect(await auth(host, { ...options, authorizationCode: code!, ...(iss ? { iss } : {}) })).toBe(
    'AUTHORIZED',
  );
  return host;
}

/** The access token, checked as a resource server would: the gateway's keys, issuer, audience. */
async function verified(team: Team, token: string) {
  const keys = createRemoteJWKSet(new URL(`${team.issuer}/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, keys, {
    issuer: team.issuer,
    audience: team.mcpUrl,
    typ: 'at+jwt',
  });
  expect(protectedHeader.alg).toBe('RS256');
  return payload;
}

describe("the gateway's own authorization server", () => {
  it('publishes RFC 8414 (path-inserted) and OpenID metadata under the gateway, as MCP hosts look for it', async () => {
    const team = await teamGateway();
    const origin = new URL(team.mcpUrl).origin;
    for (const path of [
      '/.well-known/oauth-authorization-server/oauth',
      '/.well-known/openid-configuration/oauth',
      '/oauth/.well-known/openid-configuration',
    ]) {
      const response = await fetch(`${origin}${path}`);
      expect(response.status, path).toBe(200);
      expect(await response.json(), path).toMatchObject({
        issuer: team.issuer,
        authorization_endpoint: `${team.issuer}/auth`,
        token_endpoint: `${team.issuer}/token`,
        registration_endpoint: `${team.issuer}/reg`,
        revocation_endpoint: `${team.issuer}/token/revocation`,
        jwks_uri: `${team.issuer}/jwks`,
        code_challenge_methods_supported: ['S256'],
        client_id_metadata_document_supported: true,
        scopes_supported: expect.arrayContaining(['mcp']),
      });
    }
    expect(await discoverAuthorizationServerMetadata(team.issuer)).toMatchObject({ issuer: team.issuer });
    // Not a catch-all: other well-known paths stay the listener's 404.
    expect((await fetch(`${origin}/.well-known/oauth-authorization-server`)).status).toBe(404);
  });

  it('signs a member in at the IdP: the SDK registers, is sent there and back, and gets a token for /mcp naming the member', async () => {
    const team = await teamGateway();
    const host = await connect(team, 'alice');
    expect(host.client?.client_id).toBeTruthy();
    // The IdP saw the gateway's one client, with PKCE, state and nonce.
    expect(team.idp.authorizations).toHaveLength(1);
    expect(team.idp.authorizations[0]).toMatchObject({
      client_id: team.idp.clientId,
      redirect_uri: `${team.issuer}/signed-in`,
      code_challenge_method: 'S256',
      scope: 'openid email profile',
    });
    expect(team.idp.authorizations[0]!.state).toBeTruthy();
    expect(team.idp.authorizations[0]!.nonce).toBeTruthy();
    const claims = await verified(team, host.saved!.access_token);
    expect(claims).toMatchObject({
      sub: MEMBERS.alice.sub,
      email: MEMBERS.alice.email,
      groups: ['eng'],
      scope: 'mcp',
      client_id: host.client!.client_id,
    });
    expect(host.saved!.refresh_token).toBeTruthy();
  });

  it('gives a second member their own subject and groups', async () => {
    const team = await teamGateway();
    const alice = await connect(team, 'alice');
    const bob = await connect(team, 'bob');
    expect(await verified(team, alice.saved!.access_token)).toMatchObject({
      sub: MEMBERS.alice.sub,
      groups: ['eng'],
    });
    expect(await verified(team, bob.saved!.access_token)).toMatchObject({
      sub: MEMBERS.bob.sub,
      email: MEMBERS.bob.email,
      groups: ['sales'],
    });
  });

  it('maps nested group claims and renames groups as the deployment says', async () => {
    const team = await teamGateway({
      groupsClaim: 'org.teams',
      claims: '{ "groups": "org.teams", "groupNames": { "sales": "revenue" } }',
    });
    const bob = await connect(team, 'bob');
    expect(await verified(team, bob.saved!.access_token)).toMatchObject({
      sub: MEMBERS.bob.sub,
      groups: ['revenue'],
    });
  });

  it('reads email and groups from UserInfo when the ID token carries only the subject', async () => {
    const team = await teamGateway({ claimsInIdToken: false });
    const bob = await connect(team, 'bob');
    expect(team.idp.userinfoRequests).toBe(1);
    expect(await verified(team, bob.saved!.access_token)).toMatchObject({
      sub: MEMBERS.bob.sub,
      email: MEMBERS.bob.email,
      groups: ['sales'],
    });
  });

  it("shows the IdP's refusal on a page and issues nothing", async () => {
    const team = await teamGateway();
    team.idp.deny = true;
    const host = new MemoryHost();
    expect(await auth(host, { serverUrl: team.mcpUrl, resourceMetadataUrl: team.resourceMetadataUrl })).toBe(
      'REDIRECT',
    );
    expect(host.landed).toBeUndefined();
    expect(host.page).toMatchObject({ status: 403 });
    expect(host.page!.text).toMatch(/access_denied: The member is not assigned to this application/);
    expect(host.saved).toBeUndefined();
  });

  it('rotates refresh tokens: the new one works, the old one is refused', async () => {
    const team = await teamGateway();
    const host = await connect(team, 'alice');
    const first = host.saved!;
    const metadata = (await discoverAuthorizationServerMetadata(team.issuer))!;
    const refreshed = await refreshAuthorization(team.issuer, {
      metadata,
      clientInformation: host.client!,
      refreshToken: first.refresh_token!,
      resource: new URL(team.mcpUrl),
    });
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);
    expect(await verified(team, refreshed.access_token)).toMatchObject({
      sub: MEMBERS.alice.sub,
      groups: ['eng'],
      aud: team.mcpUrl,
    });
    await expect(
      refreshAuthorization(team.issuer, {
        metadata,
        clientInformation: host.client!,
        refreshToken: first.refresh_token!,
        resource: new URL(team.mcpUrl),
      }),
    ).rejects.toThrow(/invalid_grant|grant request is invalid/i);
  });

  it('revokes a refresh token at the revocation endpoint', async () => {
    const team = await teamGateway();
    const host = await connect(team, 'bob');
    const revoked = await fetch(`${team.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: host.saved!.refresh_token!, client_id: host.client!.client_id }),
    });
    expect(revoked.status).toBe(200);
    const metadata = (await discoverAuthorizationServerMetadata(team.issuer))!;
    await expect(
      refreshAuthorization(team.issuer, {
        metadata,
        clientInformation: host.client!,
        refreshToken: host.saved!.refresh_token!,
        resource: new URL(team.mcpUrl),
      }),
    ).rejects.toThrow();
  });

  it('refuses a resource other than its own /mcp', async () => {
    const team = await teamGateway();
    const host = new MemoryHost();
    await connect(team, 'alice', host);
    const response = await fetch(`${team.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: host.saved!.refresh_token!,
        client_id: host.client!.client_id,
        resource: 'https://other.example.com/mcp',
      }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_target' });
  });

  it('refuses a replayed IdP return, and one delivered to another browser', async () => {
    const team = await teamGateway();
    const atIdpReturn = (url: URL) => url.pathname === '/oauth/signed-in';

    // Bob's browser goes to the IdP and back; his return is stopped before it reaches the gateway.
    team.idp.member = 'bob';
    const bobHost = new MemoryHost();
    const { authorizationUrl } = await startFlow(team, bobHost);
    const bobReturn = await bobHost.browser.follow(authorizationUrl, atIdpReturn);
    expect(isPage(bobReturn)).toBe(false);

    // Delivered in alice's browser (login CSRF, or a pasted link): refused, and bob's stays usable.
    const aliceBrowser = new RedirectBrowser();
    const crossed = await aliceBrowser.follow(bobReturn.url);
    expect(crossed).toMatchObject({ status: 400 });
    expect(isPage(crossed) && crossed.text).toMatch(/started in another browser/);

    // Bob's own browser completes the sign-in.
    const landed = await bobHost.browser.follow(bobReturn.url, (url) => url.href.startsWith(HOST_CALLBACK));
    expect(isPage(landed) ? landed.text : landed.url.searchParams.get('code')).toBeTruthy();
    expect(isPage(landed)).toBe(false);

    // The same return again: already used.
    const replayed = await bobHost.browser.follow(bobReturn.url);
    expect(replayed).toMatchObject({ status: 400 });
    expect(isPage(replayed) && replayed.text).toMatch(/already used/);
  });

  it('refuses an interaction opened in a browser that did not start it', async () => {
    const team = await teamGateway();
    const host = new MemoryHost();
    const { authorizationUrl } = await startFlow(team, host);
    const interaction = await host.browser.follow(authorizationUrl, (url) =>
      url.pathname.startsWith('/oauth/interaction/'),
    );
    const elsewhere = await new RedirectBrowser().follow(interaction.url);
    expect(elsewhere).toMatchObject({ status: 400 });
    expect(team.idp.authorizations).toHaveLength(0);
  });
});

/** The host's authorization request, made with the SDK (registration included), not yet opened. */
async function startFlow(team: Team, host: MemoryHost): Promise<{ authorizationUrl: URL }> {
  let opened: URL | undefined;
  host.redirectToAuthorization = async (url: URL) => {
    opened = url;
  };
  expect(await auth(host, { serverUrl: team.mcpUrl, resourceMetadataUrl: team.resourceMetadataUrl })).toBe(
    'REDIRECT',
  );
  return { authorizationUrl: opened! };
}

describe('the authorization server on its own', () => {
  async function ownServer(options: { withDocuments?: boolean; publicOrigin?: string } = {}) {
    const idp = await organisationIdp();
    const dir = temporaryDirectory();
    const state = new FileState(join(dir, 'state'));
    // A stand-in for the gateway's listener: the routes, as http.ts dispatches them.
    const mounted: { server?: GatewayAuthorizationServer } = {};
    const listener = createServer((req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0]!;
      const route = mounted.server?.routes.find((candidate) =>
        candidate.path.endsWith('/') ? path.startsWith(candidate.path) : path === candidate.path,
      );
      if (!route) return void res.writeHead(404).end();
      void route.handle(req, res);
    });
    const origin = await listen(listener);
    const resource = new URL('/mcp', options.publicOrigin ?? origin);
    const start = () =>
      startAuthorizationServer({
        settings: {
          idp: {
            issuer: new URL(idp.issuer),
            clientId: idp.clientId,
            clientSecret: idp.clientSecret,
            scopes: ['openid', 'email', 'profile'],
          },
          scopes: ['mcp'],
          claims: { subject: 'sub', email: 'email', groups: 'groups', groupNames: {} },
          accessTokenTtlSeconds: 300,
          refreshTokenTtlSeconds: 3600,
        },
        state,
        resource,
        ...(options.withDocuments
          ? { clientDocuments: { allow: (url: URL) => url.hostname === '127.0.0.1', fetch: fetchOnLoopback } }
          : {}),
      });
    const server = (mounted.server = await start());
    await idp.register(new URL('/oauth/signed-in', resource).href);
    const metadata = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ resource: resource.href, authorization_servers: [server.issuer] }));
    });
    const team: Team = {
      idp,
      mcpUrl: resource.href,
      issuer: server.issuer,
      resourceMetadataUrl: new URL('/.well-known/oauth-protected-resource/mcp', await listen(metadata)),
    };
    return { server, team, start, origin };
  }

  it('exposes issuer, audience and its public keys; keys made on first start are kept for the next', async () => {
    const { server, start } = await ownServer();
    expect(server.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/oauth$/);
    expect(server.audience).toBe(new URL('/mcp', server.issuer).href);
    const { keys } = server.jwks();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(keys[0]).not.toHaveProperty(secret);
    const again = await start();
    expect(again.jwks()).toEqual(server.jwks());
  });

  it('accepts a host identified by a client ID metadata document; its token verifies against jwks()', async () => {
    const documents = await startClientMetadataServer();
    cleanups.push(() => documents.close());
    const clientId = documents.publish({
      client_name: 'patchbay test host (CIMD)',
      redirect_uris: [HOST_CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    });
    const { server, team } = await ownServer({ withDocuments: true });
    const host = await connect(team, 'bob', new MemoryHost({ clientMetadataUrl: clientId }));
    expect(host.client?.client_id).toBe(clientId);
    expect(documents.requests.length).toBeGreaterThanOrEqual(1);
    const { payload } = await jwtVerify(host.saved!.access_token, createLocalJWKSet(server.jwks()), {
      issuer: server.issuer,
      audience: server.audience,
    });
    expect(payload).toMatchObject({ sub: MEMBERS.bob.sub, groups: ['sales'], client_id: clientId });
    expect(decodeJwt(host.saved!.access_token).exp! - decodeJwt(host.saved!.access_token).iat!).toBe(300);
  });

  it("behind a proxy, names the gateway's public URL in its metadata, whatever the request's Host or forwarded headers say", async () => {
    const { server, origin } = await ownServer({ publicOrigin: 'https://mcp.example.com' });
    expect(server.issuer).toBe('https://mcp.example.com/oauth');
    expect(server.audience).toBe('https://mcp.example.com/mcp');
    const response = await fetch(`${origin}/.well-known/oauth-authorization-server/oauth`, {
      headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' },
    });
    expect(await response.json()).toMatchObject({
      issuer: 'https://mcp.example.com/oauth',
      token_endpoint: 'https://mcp.example.com/oauth/token',
      registration_endpoint: 'https://mcp.example.com/oauth/reg',
    });
  });

  it('fetches client ID metadata documents only from public https URLs', () => {
    expect(publicDocumentUrl(new URL('https://app.example.com/oauth/client.json'))).toBe(true);
    for (const url of [
      'http://app.example.com/client.json',
      'https://127.0.0.1/client.json',
      'https://[::1]/client.json',
      'https://localhost/client.json',
      'https://intranet/client.json',
      'https://printer.local/client.json',
      'https://app.example.com:8443/client.json',
      'https://user:pw@app.example.com/client.json',
    ])
      expect(publicDocumentUrl(new URL(url)), url).toBe(false);
  });
});
