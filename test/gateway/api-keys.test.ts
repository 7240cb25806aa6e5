/**
 * API keys (gateway/api-keys.ts) over the real file backend: created, checked, expired, revoked
 * (from another store instance, as `patchbay keys revoke` in another process is), scopes, names.
 */

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  ApiKeys,
  apiKeyAuthenticator,
  KEY_CACHE_MS,
  LAST_USED_EVERY_MS,
  parseKey,
} from '../../src/gateway/api-keys.js';
import { PatchbayError } from '../../src/errors.js';
import { FileState } from '../../src/state/files.js';

let dir: string;
const req = {} as IncomingMessage;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'patchbay-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh store on the directory: what another process would see. */
const store = () => new ApiKeys(new FileState(dir));

/** A clock the test moves. */
function clock(start = Date.now()) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('create', () => {
  it('shows the key once and stores only the hash of its secret', async () => {
    const { key, record } = await store().create({
      name: 'ci',
      service: true,
      groups: ['deploy', 'deploy'],
      scopes: ['mcp'],
      expiresInMs: 86_400_000,
    });
    expect(key).toMatch(/^pbk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const { id, secret } = parseKey(key)!;
    expect(record).toMatchObject({ id, name: 'ci', service: 'ci', groups: ['deploy'], scopes: ['mcp'] });
    expect(Date.parse(record.expiresAt!) - Date.parse(record.createdAt)).toBe(86_400_000);
    const file = await readFile(join(dir, 'api-keys.json'), 'utf8');
    expect(file).not.toContain(secret);
    expect(file).toContain(record.secretHash);
    expect(record.secretHash).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
    const listed = await store().list();
    expect(listed).toHaveLength(1);
    expect(listed[0]).not.toHaveProperty('secretHash');
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(listed[0]!.state).toBe('active');
  });

  it('validates names and the owner', async () => {
    for (const name of ['', '-x', 'a b', 'a/b', 'x'.repeat(65)])
      await expect(store().create({ name, service: true, scopes: ['mcp'] })).rejects.toMatchObject({
        code: 'invalid-name',
      });
    await expect(store().create({ name: 'both', service: true, member: 'a', scopes: [] })).rejects.toThrow(
      PatchbayError,
    );
    await expect(store().create({ name: 'none', scopes: [] })).rejects.toThrow(/member or to a service/);
  });

  it('keeps names unique among live keys; a revoked or expired key gives its name up', async () => {
    const t = clock();
    await store().create({ name: 'ci', service: true, scopes: ['mcp'] }, t.now());
    await expect(store().create({ name: 'ci', service: true, scopes: ['mcp'] })).rejects.toMatchObject({
      code: 'duplicate',
    });
    await store().revoke('ci');
    const second = await store().create({ name: 'ci', service: true, scopes: ['mcp'] });
    expect((await store().list()).map((view) => view.state).sort()).toEqual(['active', 'revoked']);
    // Revoking by name reaches the current key.
    expect((await store().revoke('ci'))!.id).toBe(second.record.id);

    await store().create({ name: 'short', member: 'alice', scopes: ['mcp'], expiresInMs: 60_000 }, t.now());
    await expect(store().create({ name: 'short', service: true, scopes: [] }, t.now())).rejects.toMatchObject(
      {
        code: 'duplicate',
      },
    );
    await store().create({ name: 'short', service: true, scopes: [] }, t.advance(60_001));
    expect(await store().revoke('nothing')).toBeUndefined();
  });

  it('loses nothing when many create at once, and gives a contested name to exactly one', async () => {
    const names = Array.from({ length: 12 }, (_, index) => `key-${index}`);
    await Promise.all(names.map((name) => store().create({ name, service: true, scopes: ['mcp'] })));
    expect((await store().list()).map((view) => view.name).sort()).toEqual([...names].sort());
    const contested = await Promise.allSettled(
      Array.from({ length: 6 }, () => store().create({ name: 'one', service: true, scopes: ['mcp'] })),
    );
    expect(contested.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    expect((await store().list()).filter((view) => view.name === 'one')).toHaveLength(1);
  });
});

describe('the authenticator', () => {
  it('accepts a live key as its member or service, with groups, scopes and the key as client', async () => {
    const member = await store().create({
      name: 'alice-laptop',
      member: 'alice',
      email: 'alice@example.com',
      groups: ['eng'],
      scopes: ['mcp', 'extra'],
    });
    const service = await store().create({ name: 'nightly', service: true, scopes: ['mcp'] });
    const auth = apiKeyAuthenticator(store(), { requiredScopes: ['mcp'] });
    expect(await auth.authenticate(member.key, req)).toEqual({
      ok: true,
      identity: {
        auth: 'api-key',
        subject: 'alice',
        email: 'alice@example.com',
        groups: ['eng'],
        client: 'alice-laptop',
        scopes: ['mcp', 'extra'],
      },
    });
    expect(await auth.authenticate(service.key, req)).toMatchObject({
      ok: true,
      identity: { auth: 'api-key', subject: 'service:nightly', groups: [], client: 'nightly' },
    });
    await auth.close();
  });

  it('leaves other bearers to the next authenticator and refuses bad keys without echoing them', async () => {
    const { key } = await store().create({ name: 'ci', service: true, scopes: ['mcp'] });
    const auth = apiKeyAuthenticator(store(), { requiredScopes: ['mcp'] });
    expect(await auth.authenticate(undefined, req)).toEqual({ ok: false, kind: 'not-mine' });
    expect(await auth.authenticate('some-static-token', req)).toEqual({ ok: false, kind: 'not-mine' });
    const { id, secret } = parseKey(key)!;
    const wrongSecret = `pbk_${id}_${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    const unknownId = `pbk_${'0'.repeat(16)}_${secret}`;
    for (const bearer of [wrongSecret, unknownId, 'pbk_nonsense', `${key}x`]) {
      const answer = await auth.authenticate(bearer, req);
      expect(answer).toMatchObject({ ok: false, kind: 'refused', status: 401, error: 'invalid_token' });
      expect(JSON.stringify(answer)).not.toContain(secret.slice(0, 20));
    }
  });

  it('refuses a key lacking a scope the deployment requires with 403 insufficient_scope', async () => {
    const { key } = await store().create({ name: 'narrow', service: true, scopes: ['read'] });
    const auth = apiKeyAuthenticator(store(), { requiredScopes: ['mcp'] });
    expect(await auth.authenticate(key, req)).toMatchObject({
      ok: false,
      kind: 'refused',
      status: 403,
      error: 'insufficient_scope',
      scope: 'mcp',
    });
  });

  it('refuses an expired key, saying so', async () => {
    const t = clock();
    const { key } = await store().create(
      { name: 'brief', service: true, scopes: ['mcp'], expiresInMs: 60_000 },
      t.now(),
    );
    const auth = apiKeyAuthenticator(store(), { requiredScopes: ['mcp'], now: t.now });
    expect(await auth.authenticate(key, req)).toMatchObject({ ok: true });
    t.advance(60_000);
    const answer = await auth.authenticate(key, req);
    expect(answer).toMatchObject({ ok: false, status: 401, error: 'invalid_token' });
    expect(answer.ok === false && answer.kind === 'refused' && answer.description).toMatch(/expired/);
    await auth.close();
  });

  it(`refuses a key revoked by another store instance within ${KEY_CACHE_MS} ms, reading the store at most once per bound`, async () => {
    const t = clock();
    const { key } = await store().create({ name: 'ci', service: true, scopes: ['mcp'] });
    const keys = store();
    let reads = 0;
    const get = keys.get.bind(keys);
    keys.get = (id) => {
      reads++;
      return get(id);
    };
    const auth = apiKeyAuthenticator(keys, { requiredScopes: ['mcp'], now: t.now });
    await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(key, req)));
    expect(reads).toBe(1);
    await store().revoke('ci');
    // Still trusted from the cache until the bound...
    t.advance(KEY_CACHE_MS - 1);
    expect(await auth.authenticate(key, req)).toMatchObject({ ok: true });
    // ...and refused once it has passed.
    t.advance(1);
    const answer = await auth.authenticate(key, req);
    expect(answer).toMatchObject({ ok: false, status: 401, error: 'invalid_token' });
    expect(answer.ok === false && answer.kind === 'refused' && answer.description).toMatch(/revoked/);
    expect(reads).toBe(2);
    await auth.close();
  });

  it('records the last use after the request, at most once a minute', async () => {
    const t = clock();
    const { key, record } = await store().create({ name: 'ci', service: true, scopes: ['mcp'] });
    const auth = apiKeyAuthenticator(store(), { requiredScopes: ['mcp'], now: t.now, cacheMs: 0 });
    const first = t.now();
    await auth.authenticate(key, req);
    await auth.close();
    expect((await store().get(record.id))!.lastUsedAt).toBe(new Date(first).toISOString());
    t.advance(LAST_USED_EVERY_MS - 1);
    await auth.authenticate(key, req);
    await auth.close();
    expect((await store().get(record.id))!.lastUsedAt).toBe(new Date(first).toISOString());
    t.advance(1);
    await auth.authenticate(key, req);
    await auth.close();
    expect((await store().get(record.id))!.lastUsedAt).toBe(new Date(t.now()).toISOString());
    expect((await store().list())[0]!.lastUsedAt).toBe(new Date(t.now()).toISOString());
  });
});
