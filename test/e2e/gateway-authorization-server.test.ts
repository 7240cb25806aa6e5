/**
 * The gateway's own authorization server on the built binary (`patchbay serve --config` with
 * auth.authorizationServer): oidc-provider runs inside the bundle, a member signs in through the
 * organisation's IdP (another oidc-provider on loopback) with the SDK's `auth()`, and the access
 * token verifies against the gateway's published keys with its `/mcp` URL as audience; the keys
 * stay the same across a restart (kept in the gateway's state).
 * The host starts from the gateway's URL alone: the 401's challenge names the gateway's
 * protected-resource metadata (RFC 9728), which names the gateway's authorization server.
 */

import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { auth } from '@modelcontextprotocol/client';
import { createRemoteJWKSet, jwtVerify, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import { MEMBERS, startOrganisationIdp, type OrganisationIdp } from '../fixtures/oauth/organisation-idp.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { MemoryHost } from '../helpers/oauth-host.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let idp: OrganisationIdp;
let gateway: RunningGateway;
let config: string;

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
    "authorizationServer": {
      "idp": { "issuer": "${idp.issuer}", "clientId": "${idp.clientId}", "clientSecret": "\${IDP_CLIENT_SECRET}" }
    }
  }
}
`,
  );
  gateway = await startTeamGateway();
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await idp?.close();
  await sandbox?.cleanup();
});

describe('a team gateway with its own authorization server (the built binary)', () => {
  it('signs a member in through the IdP and mints a token for its /mcp that names the member', async () => {
    idp.member = 'bob';
    const host = new MemoryHost();
    // From the gateway's URL alone: its 401 names its protected-resource metadata.
    const options = { serverUrl: gateway.url };
    expect(await auth(host, options)).toBe('REDIRECT');
    expect(host.page, 'the sign-in ended on a page instead of the host callback').toBeUndefined();
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
