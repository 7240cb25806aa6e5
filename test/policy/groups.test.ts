/**
 * Group settings ("Read-only tools" / "Other tools", as Claude's connectors have them): where they
 * sit among rules, defaults and annotations, how scopes combine, how the project file's are held
 * back, and how they are written and read back.
 */

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { readJsonFile } from '../../src/core/file-store.js';
import {
  readPolicyDoc,
  setGroupRule,
  type PolicyDoc,
  type PolicySource,
} from '../../src/config/policy-files.js';
import { classifyPolicyFile } from '../../src/policy/project-file.js';
import { toolVerdict } from '../../src/policy/rules.js';

const source = (scope: PolicySource['scope'], doc: PolicyDoc, extra: Partial<PolicySource> = {}) => ({
  scope,
  path: scope === 'project' ? '/p/.patchbay.json' : '/home/u/.config/patchbay/config.json',
  doc,
  ...extra,
});
const groups = (set: NonNullable<NonNullable<PolicyDoc['servers']>[string]['groups']>): PolicyDoc => ({
  servers: { gh: { groups: set } },
});
const READ = { readOnlyHint: true };

describe('group settings in toolVerdict', () => {
  it('decide a read-only tool and every other tool by their annotations', () => {
    const sources = [source('local', groups({ 'read-only': 'allow', other: 'ask' }))];
    const read = toolVerdict('gh', { name: 'search', annotations: READ }, sources);
    expect(read).toMatchObject({ decision: 'allow', source: { kind: 'group', group: 'read-only' } });
    expect(read.because).toContain('read-only tools: allow');
    // No annotations at all, or a false hint, is "other": a server's silence is no claim.
    for (const annotations of [undefined, { readOnlyHint: false }, { destructiveHint: true }]) {
      const other = toolVerdict('gh', { name: 'create', ...(annotations ? { annotations } : {}) }, sources);
      expect(other).toMatchObject({ decision: 'ask', source: { kind: 'group', group: 'other' } });
    }
  });

  it('a rule naming the tool wins; a group wins over default and annotations', () => {
    const doc: PolicyDoc = {
      default: 'deny',
      servers: { gh: { tools: { search: 'deny' }, groups: { 'read-only': 'allow' } } },
    };
    const sources = [source('local', doc)];
    expect(toolVerdict('gh', { name: 'search', annotations: READ }, sources).source.kind).toBe('rule');
    expect(toolVerdict('gh', { name: 'list', annotations: READ }, sources)).toMatchObject({
      decision: 'allow',
      source: { kind: 'group' },
    });
    // The "other" group is not set: the default decides.
    expect(toolVerdict('gh', { name: 'create' }, sources).source.kind).toBe('default');
  });

  it('between scopes, the most restrictive group setting wins; another server is untouched', () => {
    const sources = [source('local', groups({ other: 'allow' })), source('user', groups({ other: 'deny' }))];
    expect(toolVerdict('gh', { name: 'create' }, sources)).toMatchObject({
      decision: 'deny',
      source: { kind: 'group', scope: 'user' },
    });
    expect(toolVerdict('other-server', { name: 'create' }, sources).source.kind).toBe('annotations');
  });

  it("an unapproved project file's allow for a group is held back; its deny applies", () => {
    const allow = [source('project', groups({ other: 'allow' }), { unapproved: 'pending' })];
    const destructive = { name: 'drop', annotations: { destructiveHint: true } };
    expect(toolVerdict('gh', destructive, allow)).toMatchObject({ decision: 'ask', heldBack: {} });
    const deny = [source('project', groups({ 'read-only': 'deny' }), { unapproved: 'pending' })];
    expect(toolVerdict('gh', { name: 'search', annotations: READ }, deny).decision).toBe('deny');
    expect(classifyPolicyFile(groups({ other: 'allow', 'read-only': 'deny' }), [])).toEqual([
      expect.objectContaining({ kind: 'group', effect: 'loosens', what: "allow gh's other tools" }),
      expect.objectContaining({ kind: 'group', effect: 'tightens', what: "deny gh's read-only tools" }),
    ]);
  });
});

describe('group settings in the files', () => {
  it('are written, read back, removed with "default", and a wrong group is a shape error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'patchbay-groups-'));
    try {
      const paths = { userConfigPath: join(dir, 'config.json'), projectRoot: join(dir, 'project') };
      await setGroupRule('user', paths, 'gh', 'read-only', 'allow');
      await setGroupRule('user', paths, 'gh', 'other', 'ask');
      let file = await readJsonFile(paths.userConfigPath);
      expect(readPolicyDoc(file, ['policy']).doc).toEqual({
        servers: { gh: { groups: { 'read-only': 'allow', other: 'ask' } } },
      });
      await setGroupRule('user', paths, 'gh', 'read-only', 'default');
      await setGroupRule('user', paths, 'gh', 'other', 'default');
      // Nothing left behind: no empty `groups`, server or `servers`.
      expect(JSON.parse(await readFile(paths.userConfigPath, 'utf8'))).toEqual({ policy: {} });

      await writeFile(
        paths.userConfigPath,
        JSON.stringify({ policy: { servers: { gh: { groups: { writes: 'deny', other: 'maybe' } } } } }),
      );
      file = await readJsonFile(paths.userConfigPath);
      const { error } = readPolicyDoc(file, ['policy']);
      expect(error?.message).toContain(
        'policy.servers.gh.groups.writes: expected a group named "read-only" or "other"',
      );
      expect(error?.message).toContain('policy.servers.gh.groups.other: expected "allow", "ask" or "deny"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
