/**
 * The parts of the gateway's own authorization server that need no IdP: oidc-provider's storage on
 * the state store (both backends: files, and a real redis-server on loopback, so that replicas
 * share one authorization server), and the claim mapping that makes a member of the IdP's answer.
 */

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { StateAdapter } from '../../src/gateway/authorization-server/adapter.js';
import { claimAt, memberFromClaims } from '../../src/gateway/authorization-server/members.js';
import type { ClaimMapping } from '../../src/gateway/deployment.js';
import { FileState } from '../../src/state/files.js';
import { RedisState } from '../../src/state/redis.js';
import type { StateStore } from '../../src/state/store.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let redis: RedisServer;
const opened: StateStore[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await redis?.close();
});

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh store of one backend; `dir` for the file backend's files. */
interface Backend {
  name: string;
  open(): Promise<{ state: StateStore; dir?: string }>;
}

const backends: Backend[] = [
  {
    name: 'files',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'patchbay-as-parts-'));
      dirs.push(dir);
      return { state: new FileState(dir), dir };
    },
  },
  {
    name: 'redis',
    open: async () => {
      const store = await RedisState.connect(redis.url);
      opened.push(store);
      return { state: store };
    },
  },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(backends)('StateAdapter (oidc-provider storage on the state store): $name', (backend) => {
  // One Redis serves every test: ids differ per test so that none sees another's records.
  const id = (name: string) => `${name}-${randomUUID()}`;

  it('keeps one namespace per model, as secrets, and forgets a record when it expires', async () => {
    const { state: store, dir } = await backend.open();
    const [token, client] = [id('rt'), id('client')];
    const tokens = new StateAdapter('RefreshToken', store);
    await tokens.upsert(token, { accountId: 'a', grantId: id('g') }, 1);
    await new StateAdapter('Client', store).upsert(client, { client_id: client });
    expect(await tokens.find(token)).toMatchObject({ accountId: 'a' });
    expect(await tokens.find(client)).toBeUndefined();
    if (dir) expect(statSync(join(dir, 'as-refresh-token.json')).mode & 0o777).toBe(0o600);
    await sleep(1_100);
    expect(await tokens.find(token)).toBeUndefined();
    expect(await new StateAdapter('Client', store).find(client)).toMatchObject({ client_id: client });
  });

  it('marks a record consumed and keeps its lifetime', async () => {
    const { state: store } = await backend.open();
    const code = id('code');
    const codes = new StateAdapter('AuthorizationCode', store);
    await codes.upsert(code, { grantId: id('g') }, 1);
    await codes.consume(code);
    expect((await codes.find(code))?.consumed).toBeTypeOf('number');
    await sleep(1_100);
    expect(await codes.find(code)).toBeUndefined();
    // Consuming what is gone stores nothing.
    await codes.consume(code);
    expect(await codes.find(code)).toBeUndefined();
  });

  it('finds a session by uid and a device code by user code, within their model', async () => {
    const { state: store } = await backend.open();
    const [session, uid, userCode] = [id('s'), id('u'), id('ABCD')];
    const sessions = new StateAdapter('Session', store);
    await sessions.upsert(session, { uid, accountId: 'alice' }, 60);
    expect(await sessions.findByUid(uid)).toMatchObject({ accountId: 'alice' });
    expect(await new StateAdapter('Interaction', store).findByUid(uid)).toBeUndefined();
    await sessions.destroy(session);
    expect(await sessions.findByUid(uid)).toBeUndefined();
    const devices = new StateAdapter('DeviceCode', store);
    await devices.upsert(id('d'), { userCode }, 60);
    expect(await devices.findByUserCode(userCode)).toMatchObject({ userCode });
  });

  it("revokes every record of a grant in that model, and no other grant's", async () => {
    const { state: store } = await backend.open();
    const [g1, g2, rt1, rt2, rt3, c1] = [id('g'), id('g'), id('rt'), id('rt'), id('rt'), id('c')];
    const refresh = new StateAdapter('RefreshToken', store);
    const codes = new StateAdapter('AuthorizationCode', store);
    await refresh.upsert(rt1, { grantId: g1 }, 60);
    await refresh.upsert(rt2, { grantId: g1 }, 120);
    await refresh.upsert(rt3, { grantId: g2 }, 60);
    await codes.upsert(c1, { grantId: g1 }, 60);
    await refresh.revokeByGrantId(g1);
    expect(await refresh.find(rt1)).toBeUndefined();
    expect(await refresh.find(rt2)).toBeUndefined();
    expect(await refresh.find(rt3)).toBeDefined();
    // oidc-provider revokes per model: the code goes when AuthorizationCode's adapter is asked.
    expect(await codes.find(c1)).toBeDefined();
    await codes.revokeByGrantId(g1);
    expect(await codes.find(c1)).toBeUndefined();
  });
});

describe('members from IdP claims', () => {
  const mapping: ClaimMapping = { subject: 'sub', email: 'email', groups: 'groups', groupNames: {} };

  it('reads dotted paths, and a claim whose name has a dot', () => {
    expect(claimAt({ realm_access: { roles: ['a'] } }, 'realm_access.roles')).toEqual(['a']);
    expect(claimAt({ 'https://example.com/groups': ['x'] }, 'https://example.com/groups')).toEqual(['x']);
    expect(claimAt({ a: 'text' }, 'a.b')).toBeUndefined();
  });

  it('maps subject, email and groups; a single group string counts; groupNames renames', () => {
    expect(
      memberFromClaims(
        { sub: 's1', email: 'a@example.test', groups: ['0f3e-id', 'eng', 'eng', 7] },
        { ...mapping, groupNames: { '0f3e-id': 'platform' } },
      ),
    ).toEqual({ subject: 's1', email: 'a@example.test', groups: ['platform', 'eng'] });
    expect(memberFromClaims({ sub: 's2', groups: 'sales' }, mapping)).toEqual({
      subject: 's2',
      groups: ['sales'],
    });
    expect(
      memberFromClaims({ oid: 'o-3', upn: 'c@example.test' }, { ...mapping, subject: 'oid', email: 'upn' }),
    ).toEqual({ subject: 'o-3', email: 'c@example.test', groups: [] });
  });

  it('names no member without a subject', () => {
    expect(memberFromClaims({ email: 'a@example.test' }, mapping)).toEqual({
      error: 'the identity provider\'s answer has no "sub" claim to name the member by',
    });
    expect(memberFromClaims({ sub: '' }, mapping)).toHaveProperty('error');
  });
});
