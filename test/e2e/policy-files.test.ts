/** Policy files as written by permit/limit/disable, and a broken one: reported, never rewritten. */

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
  await sandbox.run(['add', 'gh', 'https://gh.example/mcp']);
});
afterEach(async () => {
  await sandbox.cleanup();
});

describe('policy files', () => {
  it("writes each scope where it belongs, the team's beside .mcp.json, and removes emptied rules", async () => {
    expect((await sandbox.run(['permit', 'gh', 'delete_*', 'deny'])).code).toBe(0);
    expect((await sandbox.run(['permit', 'gh', 'push', 'ask', '-s', 'project'])).code).toBe(0);
    expect((await sandbox.run(['limit', 'gh', '100/hour', '-s', 'user'])).code).toBe(0);
    const user = JSON.parse(await readFile(sandbox.userConfig, 'utf8')) as {
      policy: unknown;
      projects: Record<string, { policy: unknown }>;
    };
    expect(user.policy).toEqual({ servers: { gh: { limits: { '*': '100/hour' } } } });
    expect(user.projects[sandbox.project]!.policy).toEqual({
      servers: { gh: { tools: { 'delete_*': 'deny' } } },
    });
    const team = join(sandbox.project, '.patchbay.json');
    expect(JSON.parse(await readFile(team, 'utf8'))).toEqual({ servers: { gh: { tools: { push: 'ask' } } } });
    // Nothing in the .mcp.json other hosts rewrite.
    await expect(readFile(sandbox.projectConfig, 'utf8')).rejects.toThrow();
    expect((await sandbox.run(['permit', 'gh', 'push', 'default', '-s', 'project'])).code).toBe(0);
    expect(JSON.parse(await readFile(team, 'utf8'))).toEqual({});
  });

  it('permit --group writes the group setting the console writes, and says what is wrong with a bad one', async () => {
    expect((await sandbox.run(['permit', 'gh', '--group', 'read-only', 'allow'])).code).toBe(0);
    const other = await sandbox.run(['permit', 'gh', '--group', 'other', 'ask', '-s', 'project']);
    expect(other.code).toBe(0);
    expect(other.stderr).toContain("gh's other tools (not read-only): ask");
    const user = JSON.parse(await readFile(sandbox.userConfig, 'utf8')) as {
      projects: Record<string, { policy: unknown }>;
    };
    expect(user.projects[sandbox.project]!.policy).toEqual({
      servers: { gh: { groups: { 'read-only': 'allow' } } },
    });
    const team = join(sandbox.project, '.patchbay.json');
    expect(JSON.parse(await readFile(team, 'utf8'))).toEqual({
      servers: { gh: { groups: { other: 'ask' } } },
    });
    expect((await sandbox.run(['permit', 'gh', '--group', 'other', 'default', '-s', 'project'])).code).toBe(
      0,
    );
    expect(JSON.parse(await readFile(team, 'utf8'))).toEqual({});

    const badGroup = await sandbox.run(['permit', 'gh', '--group', 'writes', 'deny']);
    expect(badGroup.code).toBe(2);
    expect(badGroup.stderr).toContain('Invalid group "writes": expected read-only or other');
    const tooMany = await sandbox.run(['permit', 'gh', '--group', 'other', 'push', 'deny']);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toContain('With --group, give only the decision');
    const noDecision = await sandbox.run(['permit', 'gh', 'push']);
    expect(noDecision.code).toBe(2);
    expect(noDecision.stderr).toContain('Missing the decision');
  });

  it('reports a broken team file with its position and never rewrites it', async () => {
    const team = join(sandbox.project, '.patchbay.json');
    const broken = '{ "servers": { "gh": { "tools": { "push": "sometimes" } } } }';
    await writeFile(team, broken);
    const list = await sandbox.run(['list', '--no-check']);
    expect(list.code).toBe(2);
    expect(list.stderr).toMatch(
      /\.patchbay\.json:1:\d+: servers\.gh\.tools\.push: expected "allow", "ask" or "deny"/,
    );
    const permit = await sandbox.run(['permit', 'gh', 'push', 'deny', '-s', 'project']);
    expect(permit.code).toBe(2);
    expect(permit.stderr).toContain('left unchanged');
    expect(await readFile(team, 'utf8')).toBe(broken);
  });

  it('disable keeps the entry and stops every use; enable brings it back', async () => {
    expect((await sandbox.run(['disable', 'gh'])).code).toBe(0);
    const listed = await sandbox.run(['list', '--no-check', '--json']);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ name: 'gh', status: 'disabled' }]);
    const call = await sandbox.run(['call', 'gh', 'anything']);
    expect(call.code).toBe(6);
    expect(call.stderr).toContain('disabled in');
    expect(call.stderr).toContain('patchbay enable gh -s local');
    expect((await sandbox.run(['enable', 'gh'])).code).toBe(0);
    const again = await sandbox.run(['list', '--no-check', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject([{ name: 'gh', status: 'unchecked' }]);
  });
});
