/**
 * The parts of the gateway's own authorization server that need no peer: oidc-provider's storage
 * on the state store (file backend), and the claim mapping that makes a member of the IdP's answer.
 */

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { StateAdapter } from '../../src/gateway/authorization-server/adapter.js';
import { claimAt, memberFromClaims } from '../../src/gateway/authorization-server/members.js';
import type { ClaimMapping } from '../../src/gateway/deployment.js';
import { FileState } from '../../src/state/files.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function state(): { state: FileState; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'patchbay-as-parts-'));
  dirs.push(dir);
  return { state: new FileState(dir), dir };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('StateAdapter (oidc-provider storage on the state store)', () => {
  it('keeps one namespace per model, as secrets, and forgets a record when it expires', async () => {
    const { state: store, dir } = state();
    const tokens = new StateAdapter('RefreshToken', store);
    await tokens.upsert('rt-1', { accountId: 'a', grantId: 'g1' }, 1);
    await new StateAdapter('Client', store).upsert('client-1', { client_id: 'client-1' });
    expect(await tokens.find('rt-1')).toMatchObject({ accountId: 'a' });
    expect(await tokens.find('client-1')).toBeUndefined();
    expect(statSync(join(dir, 'as-refresh-token.json')).mode & 0o777).toBe(0o600);
    await sleep(1_100);
    expect(await tokens.find('rt-1')).toBeUndefined();
    expect(await new StateAdapter('Client', store).find('client-1')).toMatchObject({ client_id: 'client-1' });
  });

  it('marks a record consumed and keeps its lifetime', async () => {
    const { state: store } = state();
    const codes = new StateAdapter('AuthorizationCode', store);
    await codes.upsert('code-1', { grantId: 'g' }, 1);
    await codes.consume('code-1');
    expect((await codes.find('code-1'))?.consumed).toBeTypeOf('number');
    await sleep(1_100);
    expect(await codes.find('code-1')).toBeUndefined();
    // Consuming what is gone stores nothing.
    await codes.consume('code-1');
    expect(await codes.find('code-1')).toBeUndefined();
  });

  it('finds a session by uid and a device code by user code, within their model', async () => {
    const { state: store } = state();
    const sessions = new StateAdapter('Session', store);
    await sessions.upsert('s-1', { uid: 'u-1', accountId: 'alice' }, 60);
    expect(await sessions.findByUid('u-1')).toMatchObject({ accountId: 'alice' });
    expect(await new StateAdapter('Interaction', store).findByUid('u-1')).toBeUndefined();
    await sessions.destroy('s-1');
    expect(await sessions.findByUid('u-1')).toBeUndefined();
    const devices = new StateAdapter('DeviceCode', store);
    await devices.upsert('d-1', { userCode: 'ABCD-EFGH' }, 60);
    expect(await devices.findByUserCode('ABCD-EFGH')).toMatchObject({ userCode: 'ABCD-EFGH' });
  });

  it("revokes every record of a grant in that model, and no other grant's", async () => {
    const { state: store } = state();
    const refresh = new StateAdapter('RefreshToken', store);
    const codes = new StateAdapter('AuthorizationCode', store);
    await refresh.upsert('rt-1', { grantId: 'g1' }, 60);
    await refresh.upsert('rt-2', { grantId: 'g1' }, 120);
    await refresh.upsert('rt-3', { grantId: 'g2' }, 60);
    await codes.upsert('c-1', { grantId: 'g1' }, 60);
    await refresh.revokeByGrantId('g1');
    expect(await refresh.find('rt-1')).toBeUndefined();
    expect(await refresh.find('rt-2')).toBeUndefined();
    expect(await refresh.find('rt-3')).toBeDefined();
    // oidc-provider revokes per model: the code goes when AuthorizationCode's adapter is asked.
    expect(await codes.find('c-1')).toBeDefined();
    await codes.revokeByGrantId('g1');
    expect(await codes.find('c-1')).toBeUndefined();
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
