/**
 * A secret saved through the console never comes back out of it: header values, a client secret,
 * a password or token in the URL. Every endpoint is called against a real server and every
 * response body searched.
 */

import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';

import { openCredentialStore } from '../../src/auth/store.js';
import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startTestConsole, type TestConsole } from './helpers.js';

let everything: EverythingServer;
let t: TestConsole;

beforeAll(async () => {
  everything = await startEverything('streamableHttp');
});
afterAll(async () => {
  await everything.close();
});
beforeEach(async () => {
  t = await startTestConsole();
});
afterEach(async () => {
  await t.close();
});

const SECRETS = {
  apiKey: 'kx9Qw2Lr7Tz4Vb1Nm8Ps',
  bearer: 'bearerVALUE7731abcXYZ',
  clientSecret: 'clientSECRET5521qrsTUV',
  urlToken: 'urlTOKEN9042lmnOPQ',
};

it('no response holds a saved secret', async () => {
  const url = `${everything.url}?access_token=${SECRETS.urlToken}`;
  const added = await t.api('POST', '/api/servers', {
    name: 'vault',
    url,
    headers: { 'X-Api-Key': SECRETS.apiKey, Authorization: `Bearer ${SECRETS.bearer}` },
    oauth: { clientId: 'vault-client', clientSecret: SECRETS.clientSecret },
  });
  expect(added.status, added.text).toBe(201);
  // Saved where it belongs: the secret in the credential store, the headers in the config.
  const store = await openCredentialStore(t.env);
  expect(await store.getClientSecret('vault', url)).toBe(SECRETS.clientSecret);
  const get = await t.sandbox.run(['get', 'vault', '--json', '--show-secrets']);
  expect(get.stdout).toContain(SECRETS.apiKey);

  await t.api('PUT', '/api/servers/vault/permissions', { pattern: 'get-env', decision: 'deny' });
  await t.api('PUT', '/api/servers/vault/limits', { pattern: '*', limit: '100/hour' });
  const calls: Array<[string, string, unknown?]> = [
    ['GET', '/api/session'],
    ['GET', '/api/servers'],
    ['GET', '/api/servers?check=1'],
    ['GET', '/api/servers/vault'],
    ['GET', '/api/servers/vault/auth'],
    ['GET', '/api/servers/vault/doctor'],
    ['POST', '/api/servers/vault/call', { tool: 'echo', arguments: { message: 'hello' } }],
    ['POST', '/api/servers/vault/call', { tool: 'get-env', arguments: {} }],
    ['POST', '/api/servers/vault/call', { tool: 'echo', arguments: { message: 7 } }],
    ['POST', '/api/servers/vault/read', { uri: 'demo://resource/static/document/architecture.md' }],
    ['POST', '/api/servers/vault/prompt', { prompt: 'simple-prompt', arguments: {} }],
    ['POST', '/api/servers', { name: 'vault', url }],
    ['GET', '/api/activity'],
    ['POST', '/api/servers/vault/logout'],
  ];
  const statuses: number[] = [];
  for (const [method, path, body] of calls) statuses.push((await t.api(method, path, body)).status);
  expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 403, 400, 200, 200, 409, 200, 204]);
  const detail = JSON.parse(t.seen[3 + 3]!);
  expect(detail.status).toBe('connected');
  expect(detail.target).toBe(`${everything.url}?access_token=****`);
  expect(detail.auth.kind).toBe('header');

  expect(t.seen.length).toBe(3 + calls.length);
  for (const body of t.seen) for (const secret of Object.values(SECRETS)) expect(body).not.toContain(secret);
});
