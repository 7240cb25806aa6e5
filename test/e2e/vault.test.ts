import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MemberVault } from '../../src/auth/member-vault.js';
import { resolvePaths } from '../../src/core/paths.js';
import { FileState } from '../../src/state/files.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await createSandbox();
  const vault = new MemberVault(new FileState(resolvePaths(sandbox.env).gatewayState), randomBytes(32));
  await vault.check();
  for (const [member, server] of [
    ['alice', 'crm'],
    ['alice', 'tickets'],
    ['bob', 'crm'],
  ] as const)
    await vault.forMember(member, server).saveTokens('k', {
      issuer: 'https://as.example',
      resource: `https://${server}.example/mcp`,
      accessToken: `secret-${member}-${server}`,
      tokenType: 'Bearer',
      obtainedAt: Date.UTC(2026, 0, 1),
    });
});
afterAll(() => sandbox?.cleanup());

describe('patchbay vault', () => {
  it("lists members' links without the key and without a token, and revokes them", async () => {
    const listed = await sandbox.run(['vault', 'list', '--json']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain('secret-');
    expect(JSON.parse(listed.stdout).links).toEqual([
      expect.objectContaining({ member: 'alice', server: 'crm', issuer: 'https://as.example' }),
      expect.objectContaining({ member: 'alice', server: 'tickets' }),
      expect.objectContaining({ member: 'bob', server: 'crm' }),
    ]);
    const revoked = await sandbox.run(['vault', 'revoke', '--member', 'alice', '--server', 'crm']);
    expect(revoked.code).toBe(0);
    expect(revoked.stderr).toContain('Removed 1 link of alice to crm');
    const left = JSON.parse((await sandbox.run(['vault', 'list', '--member', 'alice', '--json'])).stdout);
    expect(left.links.map((link: { server: string }) => link.server)).toEqual(['tickets']);
    expect((await sandbox.run(['vault', 'revoke'])).code).toBe(2);
    expect((await sandbox.run(['vault', 'revoke', '--member', 'carol'])).code).toBe(1);
  });

  it('refuses to serve a perMember server over HTTP without a vault key, or with the wrong one', async () => {
    await sandbox.run(['add', '-s', 'user', 'crm', 'http://127.0.0.1:9/mcp']);
    expect((await sandbox.run(['set', 'crm', 'per-member', 'true'])).code).toBe(0);
    const get = await sandbox.run(['get', 'crm', '--no-check']);
    expect(get.stdout).toContain('per member');
    const noVault = join(sandbox.root, 'no-vault.jsonc');
    await writeFile(noVault, '{ "listen": "127.0.0.1:0" }');
    const refused = await sandbox.run(['serve', '--config', noVault]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("crm is called with each member's own login (perMember)");
    const withVault = join(sandbox.root, 'vault.jsonc');
    await writeFile(withVault, '{ "listen": "127.0.0.1:0", "vault": { "key": "env:VAULT_KEY" } }');
    const short = await sandbox.run(['serve', '--config', withVault], { env: { VAULT_KEY: 'c2hvcnQ=' } });
    expect(short.stderr).toContain('does not hold a 32-byte key');
    // The vault was written (beforeAll) under another key.
    const wrong = await sandbox.run(['serve', '--config', withVault], {
      env: { VAULT_KEY: randomBytes(32).toString('base64') },
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("The vault key does not open this gateway's member vault");
  });
});
