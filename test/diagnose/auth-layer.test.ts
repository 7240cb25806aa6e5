/**
 * The auth layer against OAuth-protected servers on 127.0.0.1: challenge, protected-resource and
 * authorization-server metadata reported; nothing registered, no token requested.
 */

import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { diagnose } from '../../src/diagnose/doctor.js';
import { AS_METADATA_PATH, PRM_PATH, startOAuthProtectedServer } from '../fixtures/doctor-servers.js';
import { startUnauthorizedServer, type FaultServer } from '../fixtures/fault-servers.js';
import { layer, optionsWith, serverFor } from './helpers.js';

const servers: FaultServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
});
async function started(start: Promise<FaultServer>): Promise<FaultServer> {
  const server = await start;
  servers.push(server);
  return server;
}

/** Only reading: GETs of metadata, and the one POST of initialize to the MCP endpoint. */
function expectNothingChanged(server: FaultServer): void {
  for (const request of server.requests) {
    const path = new URL(request.url, 'http://x').pathname;
    expect(path).not.toBe('/register');
    expect(path).not.toBe('/token');
    if (request.method !== 'GET')
      expect({ method: request.method, path }).toEqual({ method: 'POST', path: '/mcp' });
  }
}

describe('a server behind OAuth', () => {
  it('reports the challenge and both metadata documents, and says to log in', async () => {
    const server = await started(startOAuthProtectedServer());
    const origin = `http://127.0.0.1:${server.port}`;
    const diagnosis = await diagnose(serverFor('corp', { type: 'http', url: server.url }), optionsWith());
    expect(diagnosis.verdict).toBe('needs-auth');
    const http = layer(diagnosis, 'http');
    expect(http.status).toBe('pass');
    expect(http.evidence.status).toBe(401);
    const auth = layer(diagnosis, 'auth');
    expect(auth.status).toBe('fail');
    expect(auth.summary).toBe(
      `login required: OAuth with ${origin} (PKCE S256, dynamic client registration)`,
    );
    expect(auth.fix).toBe('patchbay login corp');
    expect(auth.evidence).toMatchObject({
      status: 401,
      scheme: 'Bearer',
      error: 'invalid_token',
      scope: 'mcp:tools',
      resourceMetadata: `${origin}${PRM_PATH}`,
      resource: `${origin}/mcp`,
      authorizationServers: origin,
      issuer: origin,
      authorizationEndpoint: true,
      tokenEndpoint: true,
      pkceS256: true,
      registrationEndpoint: true,
      clientIdMetadataDocument: false,
    });
    expect(layer(diagnosis, 'mcp').summary).toBe('skipped: auth failed');
    const paths = server.requests.map(
      (request) => `${request.method} ${new URL(request.url, origin).pathname}`,
    );
    expect(paths).toContain(`GET ${PRM_PATH}`);
    expect(paths).toContain(`GET ${AS_METADATA_PATH}`);
    expectNothingChanged(server);
  });

  it('a machine client (client credentials) needs no PKCE nor registration: login, no browser', async () => {
    const server = await started(startOAuthProtectedServer({ pkce: false, registration: false }));
    const origin = `http://127.0.0.1:${server.port}`;
    const entry = { type: 'http', url: server.url, oauth: { clientId: 'bot', grant: 'client_credentials' } };
    const diagnosis = await diagnose(serverFor('build', entry), optionsWith());
    expect(diagnosis.verdict).toBe('needs-auth');
    const auth = layer(diagnosis, 'auth');
    expect(auth.summary).toBe(
      `login required: OAuth with ${origin} (client credentials, the configured client ID, no browser)`,
    );
    expect(auth.fix).toBe('patchbay login build');
    expectNothingChanged(server);
  });

  it('finds the metadata at the well-known address when the challenge does not point at it', async () => {
    const server = await started(startOAuthProtectedServer({ resourceMetadata: false }));
    const diagnosis = await diagnose(serverFor('corp', { type: 'http', url: server.url }), optionsWith());
    expect(diagnosis.verdict).toBe('needs-auth');
    expect(layer(diagnosis, 'auth').evidence).toMatchObject({ resourceMetadata: null, pkceS256: true });
    expectNothingChanged(server);
  });

  it('an authorization server without PKCE S256 is a failure login cannot fix', async () => {
    const server = await started(startOAuthProtectedServer({ pkce: false }));
    const diagnosis = await diagnose(serverFor('corp', { type: 'http', url: server.url }), optionsWith());
    expect(diagnosis.verdict).toBe('failed');
    const auth = layer(diagnosis, 'auth');
    expect(auth.summary).toMatch(/does not offer PKCE with S256/);
    expect(auth.evidence.pkceS256).toBe(false);
    expectNothingChanged(server);
  });

  it('without a way to register, the fix is a client ID', async () => {
    const server = await started(startOAuthProtectedServer({ registration: false }));
    const diagnosis = await diagnose(serverFor('corp', { type: 'http', url: server.url }), optionsWith());
    expect(diagnosis.verdict).toBe('failed');
    expect(layer(diagnosis, 'auth').fix).toMatch(/--client-id '<client-id>' corp/);
    // A configured client ID is a way in.
    const withClient = await diagnose(
      serverFor('corp', { type: 'http', url: server.url, oauth: { clientId: 'my-app' } }),
      optionsWith(),
    );
    expect(withClient.verdict).toBe('needs-auth');
    expect(layer(withClient, 'auth').summary).toMatch(/the configured client ID/);
  });

  it('metadata for another resource is refused', async () => {
    const server = await started(startOAuthProtectedServer({ resource: () => 'https://other.example/mcp' }));
    const diagnosis = await diagnose(serverFor('corp', { type: 'http', url: server.url }), optionsWith());
    expect(diagnosis.verdict).toBe('failed');
    expect(layer(diagnosis, 'auth').summary).toMatch(/is for https:\/\/other\.example\/mcp, not this server/);
  });
});

describe('a 401 without OAuth metadata', () => {
  it('says no metadata is published and suggests a token header or a login', async () => {
    const server = await started(startUnauthorizedServer(401));
    const diagnosis = await diagnose(serverFor('keyed', { type: 'http', url: server.url }), optionsWith());
    expect(diagnosis.verdict).toBe('needs-auth');
    const auth = layer(diagnosis, 'auth');
    expect(auth.status).toBe('fail');
    expect(auth.summary).toBe('HTTP 401: the server wants credentials but publishes no OAuth metadata');
    expect(auth.fix).toMatch(/-H 'Authorization: Bearer \$\{TOKEN\}' keyed/);
    expect(auth.evidence).toMatchObject({ scheme: 'Bearer', error: 'invalid_token', resource: null });
    expectNothingChanged(server);
  });
});

describe('a rejected static Authorization header', () => {
  it('says to update the variable behind the header, not to log in, and never shows the value', async () => {
    const server = await started(startUnauthorizedServer(401));
    const diagnosis = await diagnose(
      serverFor('keyed', {
        type: 'http',
        url: server.url,
        headers: { Authorization: 'Bearer ${DOCTOR_TEST_TOKEN}' },
      }),
      optionsWith({ DOCTOR_TEST_TOKEN: 'sk-very-secret-value' }),
    );
    expect(server.requests[0]!.headers.authorization).toBe('Bearer sk-very-secret-value');
    expect(diagnosis.verdict).toBe('failed');
    const auth = layer(diagnosis, 'auth');
    expect(auth.summary).toBe(
      'the server rejected the configured Authorization header (HTTP 401, invalid_token)',
    );
    expect(auth.fix).toMatch(/^Set a valid token: export DOCTOR_TEST_TOKEN=…$/);
    expect(layer(diagnosis, 'http').evidence.headers).toBe('Authorization');
    expect(JSON.stringify(diagnosis)).not.toContain('sk-very-secret-value');
  });

  it('a literal header: the fix rebuilds the add command with the value masked', async () => {
    const server = await started(startUnauthorizedServer(401));
    const diagnosis = await diagnose(
      serverFor('keyed', {
        type: 'http',
        url: server.url,
        headers: { Authorization: 'Bearer literal-secret-1' },
      }),
      optionsWith(),
    );
    const auth = layer(diagnosis, 'auth');
    expect(auth.fix).toBe(
      `Replace the header's value: patchbay add --force -s local -H 'Authorization: Bearer ****' keyed ${server.url}`,
    );
    expect(JSON.stringify(diagnosis)).not.toContain('literal-secret-1');
  });
});

describe('headersHelper', () => {
  const helper = (mode: string) =>
    `'${process.execPath}' '${fileURLToPath(new URL('../fixtures/stdio/headers-helper.mjs', import.meta.url))}' ${mode}`;

  it('its Authorization header is sent; when rejected, the fix points at the helper; values never show', async () => {
    const server = await started(startUnauthorizedServer(401));
    const diagnosis = await diagnose(
      serverFor('helped', { type: 'http', url: server.url, headersHelper: helper('ok') }),
      optionsWith(),
    );
    expect(server.requests[0]!.headers.authorization).toBe('Bearer tok-123');
    expect(layer(diagnosis, 'http').evidence.headersHelper).toMatch(/^Authorization, X-Server-Name/);
    const auth = layer(diagnosis, 'auth');
    expect(auth.summary).toMatch(/rejected the Authorization header from the headersHelper/);
    expect(auth.fix).toMatch(/headers-helper\.mjs' ok$/);
    expect(JSON.stringify(diagnosis)).not.toContain('tok-123');
  });

  it('a failing helper fails the HTTP layer with its reason', async () => {
    const server = await started(startUnauthorizedServer(401));
    const diagnosis = await diagnose(
      serverFor('helped', { type: 'http', url: server.url, headersHelper: helper('fail') }),
      optionsWith(),
    );
    const http = layer(diagnosis, 'http');
    expect(http.status).toBe('fail');
    expect(http.summary).toMatch(/^headersHelper failed: .*token expired/);
    expect(http.fix).toMatch(/^Run it by hand to see why: /);
    expect(server.requests).toHaveLength(0);
  });
});
