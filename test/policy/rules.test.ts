/** Tool decisions as pure functions: rules, globs, scopes, defaults, annotations, pins, limits. */

import { describe, expect, it } from 'vitest';

import type { PolicyDoc, PolicySource } from '../../src/config/policy-files.js';
import { globMatches, limitsFor, mostPrecise, toolVerdict } from '../../src/policy/rules.js';

const local = (doc: PolicyDoc): PolicySource => ({
  scope: 'local',
  path: '/home/u/.config/patchbay/config.json',
  doc,
});
const team = (doc: PolicyDoc): PolicySource => ({ scope: 'project', path: '/p/.patchbay.json', doc });
const user = (doc: PolicyDoc): PolicySource => ({
  scope: 'user',
  path: '/home/u/.config/patchbay/config.json',
  doc,
});
const tools = (rules: Record<string, 'allow' | 'ask' | 'deny'>): PolicyDoc => ({
  servers: { gh: { tools: rules } },
});

describe('toolVerdict', () => {
  it.each([
    // [case, sources, tool, annotations, decision, source kind]
    ['nothing set, plain tool', [], 'create_issue', undefined, 'allow', 'annotations'],
    ['nothing set, read-only', [], 'search', { readOnlyHint: true }, 'allow', 'annotations'],
    ['nothing set, destructive', [], 'delete_repo', { destructiveHint: true }, 'ask', 'annotations'],
    [
      'read-only wins over a destructive hint',
      [],
      'x',
      { readOnlyHint: true, destructiveHint: true },
      'allow',
      'annotations',
    ],
    ['destructive hint false', [], 'x', { destructiveHint: false }, 'allow', 'annotations'],
    ['exact rule', [local(tools({ create_issue: 'deny' }))], 'create_issue', undefined, 'deny', 'rule'],
    ['glob rule', [local(tools({ 'delete_*': 'deny' }))], 'delete_repo', undefined, 'deny', 'rule'],
    ['? matches one character', [local(tools({ 'get_?': 'deny' }))], 'get_a', undefined, 'deny', 'rule'],
    [
      '? does not match two',
      [local(tools({ 'get_?': 'deny' }))],
      'get_ab',
      undefined,
      'allow',
      'annotations',
    ],
    [
      'exact beats glob in one file',
      [local(tools({ 'delete_*': 'deny', delete_branch: 'allow' }))],
      'delete_branch',
      undefined,
      'allow',
      'rule',
    ],
    [
      'longer glob beats shorter',
      [local(tools({ '*': 'deny', 'get_*': 'allow' }))],
      'get_file',
      undefined,
      'allow',
      'rule',
    ],
    [
      'explicit allow beats a destructive annotation',
      [user(tools({ delete_repo: 'allow' }))],
      'delete_repo',
      { destructiveHint: true },
      'allow',
      'rule',
    ],
    [
      'most restrictive across scopes: team ask over local allow',
      [local(tools({ push: 'allow' })), team(tools({ push: 'ask' }))],
      'push',
      undefined,
      'ask',
      'rule',
    ],
    [
      'most restrictive across scopes: user deny over team allow',
      [team(tools({ '*': 'allow' })), user(tools({ push: 'deny' }))],
      'push',
      undefined,
      'deny',
      'rule',
    ],
    [
      "other servers' rules do not apply",
      [local({ servers: { other: { tools: { '*': 'deny' } } } })],
      'push',
      undefined,
      'allow',
      'annotations',
    ],
    ['project default', [team({ default: 'ask' })], 'push', { readOnlyHint: true }, 'ask', 'default'],
    [
      'strictest default',
      [local({ default: 'allow' }), team({ default: 'deny' })],
      'push',
      undefined,
      'deny',
      'default',
    ],
    [
      'a rule beats a default',
      [team({ default: 'deny', ...tools({ push: 'allow' }) })],
      'push',
      undefined,
      'allow',
      'rule',
    ],
  ] as const)('%s', (_case, sources, name, annotations, decision, kind) => {
    const verdict = toolVerdict('gh', { name, ...(annotations ? { annotations } : {}) }, [...sources]);
    expect(verdict.decision).toBe(decision);
    expect(verdict.source.kind).toBe(kind);
    expect(verdict.because.length).toBeGreaterThan(5);
  });

  it('denies every tool while a policy file cannot be read, whatever else allows it', () => {
    const verdict = toolVerdict('gh', { name: 'search', annotations: { readOnlyHint: true } }, [
      local(tools({ search: 'allow' })),
      { ...team({}), broken: '/p/.patchbay.json:1:9: default: expected "allow", "ask" or "deny"' },
    ]);
    expect(verdict).toMatchObject({
      decision: 'deny',
      source: { kind: 'broken', path: '/p/.patchbay.json' },
    });
    expect(verdict.because).toContain('cannot be read');
  });

  it('says which file decided', () => {
    const verdict = toolVerdict('gh', { name: 'push' }, [
      local(tools({ push: 'allow' })),
      team(tools({ 'p*': 'deny' })),
    ]);
    expect(verdict.source).toEqual({
      kind: 'rule',
      scope: 'project',
      path: '/p/.patchbay.json',
      pattern: 'p*',
    });
    expect(verdict.because).toContain('/p/.patchbay.json');
  });

  it('moves a changed definition from allow to ask, and leaves deny alone', () => {
    const changed = toolVerdict('gh', { name: 'search' }, [], { definitionChanged: true });
    expect(changed).toMatchObject({ decision: 'ask', changed: true });
    expect(changed.because).toContain('patchbay review gh');
    const denied = toolVerdict('gh', { name: 'x' }, [local(tools({ x: 'deny' }))], {
      definitionChanged: true,
    });
    expect(denied).toMatchObject({ decision: 'deny', changed: true });
  });
});

describe('globs', () => {
  it.each([
    ['*', 'anything', true],
    ['a*c', 'abbbc', true],
    ['a*c', 'abbbd', false],
    ['a.c', 'abc', false],
    ['a+(b)', 'a+(b)', true],
    ['*_file', 'read_file', true],
  ] as const)('%s ~ %s → %s', (pattern, name, expected) => {
    expect(globMatches(pattern, name)).toBe(expected);
  });

  it('picks the most precise pattern', () => {
    expect(mostPrecise(['*', 'read_*', 'read_file'], 'read_file')).toBe('read_file');
    expect(mostPrecise(['*', 'read_*'], 'read_dir')).toBe('read_*');
    expect(mostPrecise(['write_*'], 'read_dir')).toBeUndefined();
  });
});

describe('limitsFor', () => {
  it('collects every matching limit of every scope, the same one once', () => {
    const sources = [
      local({ servers: { gh: { limits: { '*': '100/hour', 'create_*': '5/day' } } } }),
      team({ servers: { gh: { limits: { '*': '100/hour' } } } }),
      user({ servers: { gh: { limits: { '*': '1000/day' } }, other: { limits: { '*': '1/day' } } } }),
    ];
    const applied = limitsFor('gh', 'create_issue', sources);
    expect(applied.map((limit) => `${limit.pattern} ${limit.text} ${limit.scope}`)).toEqual([
      '* 100/hour local',
      'create_* 5/day local',
      '* 1000/day user',
    ]);
    expect(limitsFor('gh', 'search', sources).map((limit) => limit.pattern)).toEqual(['*', '*']);
  });
});
