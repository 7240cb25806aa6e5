/**
 * The gateway reading its issuer's metadata (gateway/issuer-metadata.ts) from a real
 * authorization server (oidc-provider) on loopback: RFC 8414 with path insertion, the OpenID
 * fallback, and an issuer that does not match.
 */

import { afterEach, describe, expect, it } from 'vitest';

import { discoverIssuer, metadataUrls } from '../../src/gateway/issuer-metadata.js';
import { resourceMetadataUrl } from '../../src/gateway/resource-metadata.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
  type AuthorizationServerOptions,
} from '../fixtures/oauth/authorization-server.js';

const servers: AuthorizationServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
async function as(options: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
  const server = await startAuthorizationServer(options);
  servers.push(server);
  return server;
}

describe('issuer metadata', () => {
  it('inserts the well-known prefix before the issuer path (RFC 8414 §3.1), then tries OpenID', () => {
    expect(metadataUrls(new URL('https://as.example/tenant1')).map(String)).toEqual([
      'https://as.example/.well-known/oauth-authorization-server/tenant1',
      'https://as.example/.well-known/openid-configuration/tenant1',
      'https://as.example/tenant1/.well-known/openid-configuration',
    ]);
    expect(metadataUrls(new URL('https://as.example')).map(String)).toEqual([
      'https://as.example/.well-known/oauth-authorization-server',
      'https://as.example/.well-known/openid-configuration',
    ]);
    expect(resourceMetadataUrl(new URL('https://gw.example/mcp')).href).toBe(
      'https://gw.example/.well-known/oauth-protected-resource/mcp',
    );
  });

  it('reads RFC 8414 metadata of a root issuer and takes its keys', async () => {
    const server = await as();
    const metadata = await discoverIssuer(new URL(server.issuer));
    expect(metadata.issuer).toBe(server.issuer);
    expect(metadata.jwksUri?.href).toBe(server.endpoints.jwks);
    expect(metadata.from.href).toBe(server.metadataUrl);
  });

  it('a path issuer, OpenID discovery only', async () => {
    const server = await as({ issuerPath: '/tenant1', only: 'oidc' });
    const metadata = await discoverIssuer(new URL(server.issuer));
    expect(metadata.issuer).toBe(server.issuer);
    expect(metadata.jwksUri?.href).toBe(server.endpoints.jwks);
  });

  it('refuses metadata naming another issuer, and unsafe endpoints', async () => {
    const evil = await as({ metadataOverrides: { issuer: 'https://evil.example' } });
    await expect(discoverIssuer(new URL(evil.issuer))).rejects.toThrow(
      /names the issuer "https:\/\/evil.example"/,
    );
    const bad = await as({ metadataOverrides: { jwks_uri: 'file:///etc/passwd' } });
    await expect(discoverIssuer(new URL(bad.issuer))).rejects.toThrow(/jwks_uri is not an https URL/);
  });

  it('says where it looked when there is no metadata', async () => {
    const server = await as();
    await expect(discoverIssuer(new URL(`${server.origin}/nowhere`))).rejects.toThrow(
      /no authorization server metadata .*\/nowhere \(tried .*404/,
    );
  });
});
