/** `permit` and `limit` with --member, --group and --per-member: parsed, and the old forms kept. */

import { describe, expect, it } from 'vitest';

import { parseLimitOptions, parsePermitOptions } from '../../src/cli/commands/permit.js';
import { parseLogOptions, parseStatsOptions } from '../../src/cli/commands/log.js';

describe('permit for members', () => {
  it('takes --member and members’ --group with a tool and a decision', () => {
    expect(
      parsePermitOptions('gh', '*', 'deny', { group: ['sales', 'support'], member: ['alice@example.com'] }),
    ).toEqual({
      name: 'gh',
      pattern: '*',
      decision: 'deny',
      scope: 'local',
      audience: { members: ['alice@example.com'], groups: ['sales', 'support'] },
    });
    expect(parsePermitOptions('gh', 'push', 'allow', { member: ['bob'] }).audience).toEqual({
      members: ['bob'],
      groups: [],
    });
  });

  it('keeps --group read-only|other as the tools’ group', () => {
    expect(parsePermitOptions('gh', 'allow', undefined, { group: ['read-only'] })).toMatchObject({
      group: 'read-only',
      decision: 'allow',
    });
    expect(() => parsePermitOptions('gh', 'push', 'deny', { group: ['other'] })).toThrow(
      'With --group, give only the decision',
    );
    expect(() => parsePermitOptions('gh', 'deny', undefined, { group: ['writes'] })).toThrow(
      'Invalid group "writes": expected read-only or other',
    );
    expect(() =>
      parsePermitOptions('gh', 'allow', undefined, { group: ['read-only'], member: ['a'] }),
    ).toThrow('--member takes a tool and a decision');
  });
});

describe('limit per member', () => {
  it('takes --per-member with or without a tool, and --member/--group', async () => {
    expect(await parseLimitOptions('gh', [], { perMember: '20/hour' })).toEqual({
      name: 'gh',
      pattern: '*',
      limit: '20/hour',
      scope: 'local',
      perMember: true,
    });
    expect(await parseLimitOptions('gh', ['create_*'], { perMember: '5/day', group: ['eng'] })).toEqual({
      name: 'gh',
      pattern: 'create_*',
      limit: '5/day',
      scope: 'local',
      perMember: true,
      audience: { members: [], groups: ['eng'] },
    });
    expect(await parseLimitOptions('gh', ['50/day'], { group: ['eng'] })).toMatchObject({
      limit: '50/day',
      audience: { groups: ['eng'] },
    });
    await expect(parseLimitOptions('gh', ['a', 'b'], { perMember: '5/day' })).rejects.toThrow(
      'With --per-member, give at most the tool or glob',
    );
    await expect(parseLimitOptions('gh', [], { perMember: 'lots' })).rejects.toThrow('Invalid limit');
    await expect(parseLimitOptions('gh', [], {})).rejects.toThrow('Expected: patchbay limit');
  });
});

describe('log and stats by member', () => {
  it('parse --member, --group and --by', () => {
    expect(parseLogOptions(undefined, { member: 'alice', group: 'eng' }).filter).toEqual({
      member: 'alice',
      group: 'eng',
    });
    expect(parseLogOptions(undefined, {}).filter).toBeUndefined();
    expect(parseStatsOptions({ by: 'member' }).by).toBe('member');
    expect(parseStatsOptions({ by: 'tool' }).by).toBeUndefined();
    expect(() => parseStatsOptions({ by: 'host' })).toThrow('Invalid --by "host"');
  });
});
