import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { MemberVault, processLock, readVaultKey } from '../../src/auth/member-vault.js';
import type { StoredTokens } from '../../src/auth/store-records.js';
import { FileState } from '../../src/state/files.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'patchbay-vault-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tokens = (accessToken: string): StoredTokens => ({
  issuer: 'https://as.example',
  resource: 'https://crm.example/mcp',
  accessToken,
  tokenType: 'Bearer',
  refreshToken: `refresh-${accessToken}`,
  obtainedAt: 1,
});
const KEY = 'https://as.example https://crm.example/mcp';

describe('the member vault', () => {
  it("keeps each member's tokens sealed, and a record moved to another member does not open", async () => {
    const state = new FileState(dir);
    const vault = new MemberVault(state, randomBytes(32));
    await vault.check();
    await vault.forMember('alice', 'crm').saveTokens(KEY, tokens('alice-secret-token'));
    await vault.forMember('bob', 'crm').saveTokens(KEY, tokens('bob-secret-token'));
    const file = join(dir, 'vault.json');
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('secret-token');
    expect((await vault.forMember('alice', 'crm').getTokens(KEY))?.accessToken).toBe('alice-secret-token');
    expect(await vault.forMember('alice', 'other').getTokens(KEY)).toBeUndefined();
    expect(await vault.links()).toEqual([
      expect.objectContaining({ member: 'alice', server: 'crm', issuer: 'https://as.example' }),
      expect.objectContaining({ member: 'bob', server: 'crm' }),
    ]);

    // Swap bob's sealed value into alice's record: it must not open as alice's.
    const records = JSON.parse(text) as Record<string, { value: { sealed: unknown } }>;
    records['tokens alice crm']!.value.sealed = records['tokens bob crm']!.value.sealed;
    await writeFile(file, JSON.stringify(records));
    await expect(vault.forMember('alice', 'crm').getTokens(KEY)).rejects.toThrow(/does not open/);
    expect((await vault.forMember('bob', 'crm').getTokens(KEY))?.accessToken).toBe('bob-secret-token');

    expect(await vault.revoke('alice')).toBe(1);
    expect(await vault.links({ member: 'alice' })).toEqual([]);
  });

  it('seals a value kept outside the vault for one context: another context, key or shape does not open', () => {
    const key = randomBytes(32);
    const vault = new MemberVault(new FileState(dir), key);
    const sealed = vault.sealFor('signin-pending s1 alice crm', 'the-verifier');
    expect(JSON.stringify(sealed)).not.toContain('the-verifier');
    expect(vault.openFor('signin-pending s1 alice crm', sealed)).toBe('the-verifier');
    expect(vault.openFor('signin-pending s1 bob crm', sealed)).toBeUndefined();
    expect(
      new MemberVault(new FileState(dir), randomBytes(32)).openFor('signin-pending s1 alice crm', sealed),
    ).toBeUndefined();
    // A shortened tag, a changed ciphertext, or no sealed value at all.
    expect(
      vault.openFor('signin-pending s1 alice crm', { ...sealed, tag: sealed.tag.slice(0, 8) }),
    ).toBeUndefined();
    const data = `${sealed.data[0] === 'A' ? 'B' : 'A'}${sealed.data.slice(1)}`;
    expect(vault.openFor('signin-pending s1 alice crm', { ...sealed, data })).toBeUndefined();
    for (const other of [undefined, 'the-verifier', { verifier: 'the-verifier' }])
      expect(vault.openFor('signin-pending s1 alice crm', other)).toBeUndefined();
  });

  it('refuses a key that is not the one the vault was written with', async () => {
    await new MemberVault(new FileState(dir), randomBytes(32)).check();
    await expect(new MemberVault(new FileState(dir), randomBytes(32)).check()).rejects.toThrow(
      /vault key does not open this gateway's member vault/,
    );
  });

  it('reads a 32-byte key from the environment or a file, never from beside the data', async () => {
    const key = randomBytes(32);
    const state = join(dir, 'gateway');
    expect(await readVaultKey({ from: 'env', name: 'K' }, { K: key.toString('base64') }, state)).toEqual(key);
    expect(await readVaultKey({ from: 'env', name: 'K' }, { K: key.toString('hex') }, state)).toEqual(key);
    await expect(readVaultKey({ from: 'env', name: 'K' }, {}, state)).rejects.toThrow(/K .*is not set/);
    await expect(readVaultKey({ from: 'env', name: 'K' }, { K: 'c2hvcnQ=' }, state)).rejects.toThrow(
      /32-byte key/,
    );
    await writeFile(join(dir, 'vault.key'), `${key.toString('base64')}\n`);
    expect(await readVaultKey({ from: 'file', path: join(dir, 'vault.key') }, {}, state)).toEqual(key);
    await expect(readVaultKey({ from: 'file', path: join(state, 'vault.key') }, {}, state)).rejects.toThrow(
      /beside the data/,
    );
  });

  it('lets one refresh of a login run at a time', async () => {
    const lock = processLock();
    const order: string[] = [];
    const slow = (name: string) =>
      lock.run('alice crm', async () => {
        order.push(`${name} in`);
        await new Promise((resolve) => setTimeout(resolve, 20));
        order.push(`${name} out`);
      });
    await Promise.all([slow('a'), slow('b'), lock.run('bob crm', async () => void order.push('bob'))]);
    expect(order.indexOf('a out')).toBeLessThan(order.indexOf('b in'));
    expect(order.indexOf('bob')).toBeLessThan(order.indexOf('a out'));
  });
});
