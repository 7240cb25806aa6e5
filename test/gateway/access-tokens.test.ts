/**
 * The access-token check (gateway/access-tokens.ts) against tokens made with jose and a real JWKS
 * server on 127.0.0.1: every refusal the issue names, key rotation with the refetch cooldown,
 * scopes, and opaque tokens through a real RFC 7662 endpoint with its cache.
 */

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { accessTokens, type AccessTokenOptions } from '../../src/gateway/access-tokens.js';
import type { ClaimMapping } from '../../src/gateway/deployment.js';
import type { Authenticated, Authenticator } from '../../src/gateway/inbound.js';
import { introspection } from '../../src/gateway/introspection.js';

const RESOURCE = new URL('https://gateway.example.test/mcp');
const METADATA = new URL('https://gateway.example.test/.well-known/oauth-protected-resource/mcp');
const CLAIMS: ClaimMapping = { subject: 'sub', email: 'email', groups: 'groups', groupNames: {} };
const REQ = {} as IncomingMessage;

interface Key {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function makeKey(kid: string, alg = 'RS256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A JWKS endpoint on loopback whose key set a test swaps, counting fetches. */
interface JwksServer {
  url: URL;
  keys: JWK[];
  fetches: number;
  close(): Promise<void>;
}

async function startJwks(keys: JWK[]): Promise<JwksServer> {
  const state = { keys, fetches: 0 };
  const server = createServer((_req, res) => {
    state.fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
  });
  await listen(server);
  return Object.assign(state, {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`),
    close: () => close(server),
  }) as JwksServer;
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}
function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

let issuer: string;
let keyA: Key;
let keyB: Key;
let jwks: JwksServer;

beforeAll(async () => {
  [keyA, keyB] = await Promise.all([makeKey('key-a'), makeKey('key-b', 'ES256')]);
  jwks = await startJwks([keyA.publicJwk]);
  issuer = 'https://issuer.example.test';
});
afterAll(async () => {
  await jwks?.close();
});

/** A token as an issuer would mint it; `claims` override the defaults (undefined removes one). */
async function mint(
  key: Key,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    iss: issuer,
    aud: RESOURCE.href,
    sub: 'alice',
    email: 'alice@example.test',
    groups: ['eng'],
    client_id: 'host-app',
    scope: 'mcp',
    iat: now,
    exp: now + 300,
    // RS256 signatures are deterministic: without it, two tokens minted in one second are one.
    jti: randomUUID(),
    ...claims,
  };
  for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name];
  return new SignJWT(payload as JWTPayload)
    .setProtectedHeader({ alg: key.publicJwk.alg!, kid: key.kid, typ: 'at+jwt', ...header })
    .sign(key.privateKey);
}

function checker(options: Partial<AccessTokenOptions> = {}): Authenticator {
  return accessTokens({
    issuer,
    resource: RESOURCE,
    scopes: ['mcp'],
    claims: CLAIMS,
    keys: { jwksUri: jwks.url, cooldownMs: 60_000 },
    resourceMetadataUrl: METADATA,
    ...options,
  });
}

function refusal(answer: Authenticated): {
  status: number;
  error?: string;
  description: string;
  scope?: string;
} {
  if (answer.ok || answer.kind !== 'refused') throw new Error(`not refused: ${JSON.stringify(answer)}`);
  return answer;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('JWT access tokens', () => {
  it('accepts a good token and names the member from its claims', async () => {
    const answer = await checker().authenticate(await mint(keyA), REQ);
    expect(answer).toEqual({
      ok: true,
      identity: {
        auth: 'oauth',
        subject: 'alice',
        email: 'alice@example.test',
        groups: ['eng'],
        client: 'host-app',
        scopes: ['mcp'],
      },
    });
  });

  it('maps claims by dotted paths and group names, scp arrays and azp', async () => {
    const check = checker({
      claims: { subject: 'oid', email: 'upn', groups: 'realm.roles', groupNames: { 'g-123': 'eng' } },
    });
    const token = await mint(keyA, {
      oid: 'u-1',
      upn: 'u1@corp.test',
      realm: { roles: ['g-123', 'ops'] },
      scope: undefined,
      scp: ['mcp', 'other'],
      client_id: undefined,
      azp: 'claude',
    });
    expect(await check.authenticate(token, REQ)).toMatchObject({
      ok: true,
      identity: {
        subject: 'u-1',
        email: 'u1@corp.test',
        groups: ['eng', 'ops'],
        client: 'claude',
        scopes: ['mcp', 'other'],
      },
    });
    // A single group as a string.
    const single = await mint(keyA, { groups: 'eng' });
    expect(await checker().authenticate(single, REQ)).toMatchObject({
      ok: true,
      identity: { groups: ['eng'] },
    });
  });

  it('no bearer: not mine, and the challenge points to the metadata with the scopes', async () => {
    const check = checker();
    expect(await check.authenticate(undefined, REQ)).toEqual({ ok: false, kind: 'not-mine' });
    expect(check.challenge()).toEqual({ resource_metadata: METADATA.href, scope: 'mcp' });
  });

  it('refuses a token for another resource (RFC 8707)', async () => {
    const token = await mint(keyA, { aud: 'https://other.example.test/mcp' });
    const answer = refusal(await checker().authenticate(token, REQ));
    expect(answer).toMatchObject({ status: 401, error: 'invalid_token' });
    expect(answer.description).toContain('another resource');
    expect(answer.description).not.toContain(token);
  });

  it('accepts an audience array that includes the resource', async () => {
    const token = await mint(keyA, { aud: ['https://other.example.test', RESOURCE.href] });
    expect((await checker().authenticate(token, REQ)).ok).toBe(true);
  });

  it('refuses a token of another issuer', async () => {
    const token = await mint(keyA, { iss: 'https://evil.example.test' });
    expect(refusal(await checker().authenticate(token, REQ)).description).toContain('another issuer');
  });

  it('refuses an expired token, beyond the clock tolerance only', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await mint(keyA, { iat: now - 600, exp: now - 60 });
    expect(refusal(await checker().authenticate(expired, REQ)).description).toContain('expired');
    const justNow = await mint(keyA, { iat: now - 600, exp: now - 2 });
    expect((await checker().authenticate(justNow, REQ)).ok).toBe(true);
    const noExpiry = await mint(keyA, { exp: undefined });
    expect(refusal(await checker().authenticate(noExpiry, REQ)).description).toContain('no expiry');
    const notYet = await mint(keyA, { nbf: now + 600 });
    expect(refusal(await checker().authenticate(notYet, REQ)).description).toContain('not valid yet');
  });

  it('refuses alg none', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iss: issuer, aud: RESOURCE.href, sub: 'mallory', scope: 'mcp', exp: now + 300 })}.`;
    const answer = refusal(await checker().authenticate(token, REQ));
    expect(answer).toMatchObject({ status: 401, error: 'invalid_token' });
    expect(answer.description).toContain('algorithm');
  });

  it('refuses HS256 signed with the public key as the secret', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(keyA.publicJwk));
    const pem = new TextEncoder().encode(
      await exportSPKI((await generateKeyPair('RS256', { extractable: true })).publicKey),
    );
    for (const key of [secret, pem]) {
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({
        iss: issuer,
        aud: RESOURCE.href,
        sub: 'mallory',
        scope: 'mcp',
        exp: now + 300,
      })
        .setProtectedHeader({ alg: 'HS256', kid: keyA.kid })
        .sign(key);
      expect(refusal(await checker().authenticate(token, REQ)).description).toContain('algorithm');
    }
  });

  it('refuses a bad signature and a token that is not a JWT', async () => {
    const [header, payload] = (await mint(keyA)).split('.');
    const forged = `${header}.${b64({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: 'root' })}.${(await mint(keyA)).split('.')[2]}`;
    expect(refusal(await checker().authenticate(forged, REQ)).description).toContain('signature');
    expect(refusal(await checker().authenticate('opaque-token-value', REQ)).description).toContain(
      'not a JWT',
    );
  });

  it('refuses a token of another type (an ID token marked as such)', async () => {
    const token = await mint(keyA, {}, { typ: 'logout+jwt' });
    expect(refusal(await checker().authenticate(token, REQ)).description).toContain('not an access token');
    // No typ at all: accepted (RFC 9068's at+jwt is welcome, not required).
    const plain = await mint(keyA, {}, { typ: undefined });
    expect((await checker().authenticate(plain, REQ)).ok).toBe(true);
  });

  it('insufficient scope: 403 naming the scopes to step up to', async () => {
    const check = checker({ scopes: ['mcp', 'mcp:write'] });
    const answer = refusal(await check.authenticate(await mint(keyA, { scope: 'mcp' }), REQ));
    expect(answer).toMatchObject({ status: 403, error: 'insufficient_scope', scope: 'mcp mcp:write' });
    expect(answer.description).toContain('mcp:write');
    expect((await check.authenticate(await mint(keyA, { scope: 'mcp:write mcp' }), REQ)).ok).toBe(true);
  });

  it('refuses a token that names no member', async () => {
    const token = await mint(keyA, { sub: undefined });
    expect(refusal(await checker().authenticate(token, REQ)).description).toContain('names no member');
  });

  it('checks against a local key set, with no HTTP at all', async () => {
    let set = { keys: [keyA.publicJwk] };
    const check = checker({ keys: { local: () => set } });
    const before = jwks.fetches;
    expect((await check.authenticate(await mint(keyA), REQ)).ok).toBe(true);
    expect(refusal(await check.authenticate(await mint(keyB), REQ)).description).toContain(
      'does not publish',
    );
    set = { keys: [keyB.publicJwk] };
    expect((await check.authenticate(await mint(keyB), REQ)).ok).toBe(true);
    expect(refusal(await check.authenticate(await mint(keyA), REQ)).description).toContain(
      'does not publish',
    );
    expect(jwks.fetches).toBe(before);
  });
});

describe('accepted tokens remembered', () => {
  it('a repeated token is not verified again, and not past its expiry', async () => {
    const server = await startJwks([keyA.publicJwk]);
    try {
      const check = checker({ keys: { jwksUri: server.url, cooldownMs: 0 }, clockToleranceSeconds: 0 });
      const token = await mint(keyA, { exp: Math.floor(Date.now() / 1000) + 2 });
      expect((await check.authenticate(token, REQ)).ok).toBe(true);
      // Withdrawn key, refetched for an unknown kid: the token already accepted stays accepted.
      server.keys = [keyB.publicJwk];
      refusal(await check.authenticate(await mint(keyB, {}, { kid: 'other' }), REQ));
      expect(server.fetches).toBe(2);
      expect((await check.authenticate(token, REQ)).ok).toBe(true);
      // Until it expires.
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      expect(refusal(await check.authenticate(token, REQ)).description).toMatch(/expired|does not publish/);
      // With no memory, every request verifies the signature.
      const strict = checker({ keys: { jwksUri: server.url, cooldownMs: 0 }, verifiedCacheEntries: 0 });
      server.keys = [keyA.publicJwk];
      const again = await mint(keyA);
      expect((await strict.authenticate(again, REQ)).ok).toBe(true);
      server.keys = [keyB.publicJwk];
      refusal(await strict.authenticate(await mint(keyB, {}, { kid: 'other' }), REQ));
      expect(refusal(await strict.authenticate(again, REQ)).description).toContain('does not publish');
    } finally {
      await server.close();
    }
  });
});

describe('key rotation', () => {
  it('fetches keys once, refetches for an unknown kid only after the cooldown, and drops removed keys', async () => {
    const server = await startJwks([keyA.publicJwk]);
    try {
      const check = checker({ keys: { jwksUri: server.url, cooldownMs: 400 } });
      for (let i = 0; i < 5; i++) expect((await check.authenticate(await mint(keyA), REQ)).ok).toBe(true);
      expect(server.fetches).toBe(1);

      // The issuer rotates: A removed, B published. Within the cooldown, B's tokens are unknown
      // and a stream of made-up kids costs no fetch.
      server.keys = [keyB.publicJwk];
      expect(refusal(await check.authenticate(await mint(keyB), REQ)).description).toContain(
        'does not publish',
      );
      for (let i = 0; i < 20; i++)
        refusal(await check.authenticate(await mint(keyA, {}, { kid: `made-up-${i}` }), REQ));
      expect(server.fetches).toBe(1);

      await new Promise((resolve) => setTimeout(resolve, 450));
      expect((await check.authenticate(await mint(keyB), REQ)).ok).toBe(true);
      expect(server.fetches).toBe(2);
      // The old key is gone with the refetch.
      expect(refusal(await check.authenticate(await mint(keyA), REQ)).description).toContain(
        'does not publish',
      );
      expect(server.fetches).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('an unknown kid with no fetch yet fetches once', async () => {
    const server = await startJwks([keyA.publicJwk]);
    try {
      const check = checker({ keys: { jwksUri: server.url, cooldownMs: 60_000 } });
      const token = await mint(keyA, {}, { kid: 'nobody' });
      for (let i = 0; i < 10; i++)
        expect(refusal(await check.authenticate(token, REQ)).description).toContain('does not publish');
      expect(server.fetches).toBe(1);
    } finally {
      await server.close();
    }
  });
});

/** An RFC 7662 endpoint on loopback: a table of opaque tokens, active until their exp. */
interface IntrospectionServer {
  endpoint: URL;
  tokens: Map<string, Record<string, unknown>>;
  hits: number;
  close(): Promise<void>;
}

async function startIntrospection(): Promise<IntrospectionServer> {
  const state = { tokens: new Map<string, Record<string, unknown>>(), hits: 0 };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      state.hits++;
      // RFC 6749 §2.3.1: the secret s3cret+/ form-encoded before Basic.
      if (
        req.method !== 'POST' ||
        req.headers.authorization !== `Basic ${Buffer.from('gateway:s3cret%2B%2F').toString('base64')}`
      ) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
        return;
      }
      const token = new URLSearchParams(body).get('token') ?? '';
      const claims = state.tokens.get(token);
      const active =
        claims !== undefined && (typeof claims.exp !== 'number' || claims.exp * 1000 > Date.now());
      res
        .writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
        .end(JSON.stringify(active ? { active: true, ...claims } : { active: false }));
    });
  });
  await listen(server);
  return Object.assign(state, {
    endpoint: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`),
    close: () => close(server),
  }) as IntrospectionServer;
}

describe('opaque tokens through introspection', () => {
  let server: IntrospectionServer;
  beforeAll(async () => {
    server = await startIntrospection();
  });
  afterAll(async () => {
    await server?.close();
  });

  const opaqueChecker = (
    options: { maxEntries?: number; maxTtlMs?: number; inactiveTtlMs?: number } = {},
  ) => {
    const cache = introspection({
      endpoint: server.endpoint,
      clientId: 'gateway',
      clientSecret: 's3cret+/',
      ...options,
    });
    return { cache, check: checker({ introspection: cache }) };
  };
  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: issuer,
    aud: RESOURCE.href,
    sub: 'bob',
    scope: 'mcp',
    client_id: 'ci',
    exp: Math.floor(Date.now() / 1000) + 300,
    ...extra,
  });

  it('accepts an active token, once per token whatever the number of requests', async () => {
    server.tokens.set('opaque-1', claims());
    const { cache, check } = opaqueChecker();
    const answers = await Promise.all(Array.from({ length: 10 }, () => check.authenticate('opaque-1', REQ)));
    for (let i = 0; i < 10; i++) await check.authenticate('opaque-1', REQ);
    expect(answers[0]).toMatchObject({ ok: true, identity: { auth: 'oauth', subject: 'bob', client: 'ci' } });
    expect(cache.requests).toBe(1);
  });

  it('refuses an inactive token, and caches that briefly', async () => {
    const { cache, check } = opaqueChecker({ inactiveTtlMs: 300 });
    for (let i = 0; i < 5; i++)
      expect(refusal(await check.authenticate('unknown-token', REQ)).description).toContain('not active');
    expect(cache.requests).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    await check.authenticate('unknown-token', REQ);
    expect(cache.requests).toBe(2);
  });

  it('holds the cache to its size, least recently used first out', async () => {
    for (const name of ['t1', 't2', 't3']) server.tokens.set(name, claims());
    const { cache, check } = opaqueChecker({ maxEntries: 2 });
    await check.authenticate('t1', REQ);
    await check.authenticate('t2', REQ);
    await check.authenticate('t1', REQ); // t1 used last: t2 goes when t3 comes
    await check.authenticate('t3', REQ);
    expect(cache.size).toBe(2);
    expect(cache.requests).toBe(3);
    await check.authenticate('t1', REQ);
    expect(cache.requests).toBe(3);
    await check.authenticate('t2', REQ);
    expect(cache.requests).toBe(4);
  });

  it('keeps an answer no longer than the token lives, nor than the maximum', async () => {
    server.tokens.set('short', claims({ exp: Math.floor(Date.now() / 1000) + 2 }));
    server.tokens.set('long', claims());
    const { cache, check } = opaqueChecker({ maxTtlMs: 300 });
    expect((await check.authenticate('short', REQ)).ok).toBe(true);
    expect((await check.authenticate('long', REQ)).ok).toBe(true);
    expect(cache.requests).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await check.authenticate('long', REQ)).ok).toBe(true); // the maximum passed: asked again
    expect(cache.requests).toBe(3);
    const { cache: slow, check: slowCheck } = opaqueChecker({ maxTtlMs: 60_000 });
    server.tokens.set('short2', claims({ exp: Math.floor(Date.now() / 1000) + 1 }));
    expect((await slowCheck.authenticate('short2', REQ)).ok).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect(refusal(await slowCheck.authenticate('short2', REQ)).description).toContain('not active');
    expect(slow.requests).toBe(2);
  });

  it('refuses an active token of another issuer, another resource, or too few scopes', async () => {
    server.tokens.set('wrong-iss', claims({ iss: 'https://evil.example.test' }));
    server.tokens.set('wrong-aud', claims({ aud: ['https://other.example.test/mcp'] }));
    server.tokens.set('few-scopes', claims({ scope: 'other' }));
    server.tokens.set('no-aud', claims({ aud: undefined }));
    const { check } = opaqueChecker();
    expect(refusal(await check.authenticate('wrong-iss', REQ)).description).toContain('another issuer');
    expect(refusal(await check.authenticate('wrong-aud', REQ)).description).toContain('another resource');
    expect(refusal(await check.authenticate('few-scopes', REQ))).toMatchObject({
      status: 403,
      error: 'insufficient_scope',
    });
    expect((await check.authenticate('no-aud', REQ)).ok).toBe(true);
  });

  it('an endpoint that refuses the gateway is an error, not cached', async () => {
    const cache = introspection({ endpoint: server.endpoint, clientId: 'gateway', clientSecret: 'wrong' });
    const check = checker({ introspection: cache });
    server.tokens.set('fine', claims());
    expect(refusal(await check.authenticate('fine', REQ)).description).toContain('answered 401');
    await check.authenticate('fine', REQ);
    expect(cache.requests).toBe(2);
  });

  it('a JWT still goes to the local check when keys are known', async () => {
    const { cache, check } = opaqueChecker();
    expect((await check.authenticate(await mint(keyA), REQ)).ok).toBe(true);
    expect(cache.requests).toBe(0);
  });
});
