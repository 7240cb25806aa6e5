/** Rules and limits that name members and groups: matching, precedence, hiding, the file format. */

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { readJsonFile } from '../../src/core/file-store.js';
import {
  readPolicyDoc,
  setMemberLimit,
  setMemberRuleValue,
  type PolicyDoc,
  type PolicySource,
  type ServerPolicy,
} from '../../src/config/policy-files.js';
import { limitsFor, serverHidden, toolVerdict, type Member } from '../../src/policy/rules.js';
import { matchesMember, summarizeByMember } from '../../src/policy/audit-members.js';
import type { AuditEntry } from '../../src/policy/audit.js';

const local = (doc: PolicyDoc): PolicySource => ({ scope: 'local', path: '/c/config.json', doc });
const team = (doc: PolicyDoc): PolicySource => ({ scope: 'project', path: '/p/.patchbay.json', doc });
const gh = (policy: ServerPolicy): PolicyDoc => ({ servers: { gh: policy } });

const alice: Member = { subject: 'alice', email: 'alice@example.com', groups: ['eng'] };
const bob: Member = { subject: 'bob', email: 'bob@example.com', groups: ['sales'] };
const carol: Member = { subject: 'carol', groups: ['eng', 'sales'] };
const nobody: Member = { subject: null };

const decide = (sources: PolicySource[], tool: string, member?: Member) =>
  toolVerdict('gh', { name: tool }, sources, { member });

describe('rules naming members and groups', () => {
  it('apply only to the callers they name; a rule naming neither applies to everyone', () => {
    const sources = [
      local(
        gh({
          tools: { '*': 'allow' },
          rules: [
            { groups: ['sales'], tools: { '*': 'deny' } },
            { members: ['alice@example.com'], tools: { delete_repo: 'deny' } },
            { tools: { push: 'ask' } },
          ],
        }),
      ),
    ];
    expect(decide(sources, 'search', alice).decision).toBe('allow');
    expect(decide(sources, 'search', bob).decision).toBe('deny');
    expect(decide(sources, 'search', bob).because).toContain('for group sales');
    expect(decide(sources, 'delete_repo', alice).decision).toBe('deny');
    expect(decide(sources, 'delete_repo', alice).because).toContain('for member alice@example.com');
    expect(decide(sources, 'delete_repo', carol).decision).toBe('deny'); // carol is in sales
    // Nobody in particular (stdio, the static token, patchbay call): only everyone's rules.
    expect(decide(sources, 'search', nobody).decision).toBe('allow');
    expect(decide(sources, 'search').decision).toBe('allow');
    expect(decide(sources, 'push').decision).toBe('ask');
  });

  it('rank by whom they name first (member over group over everyone), then by tool, then deny among equals', () => {
    const sources = [
      local(
        gh({
          tools: { delete_repo: 'deny', search: 'allow' },
          rules: [
            { groups: ['eng'], tools: { '*': 'allow' } },
            { groups: ['sales'], tools: { '*': 'deny' } },
            { members: ['carol'], tools: { 'delete_*': 'ask' } },
            { groups: ['eng'], tools: { 'create_*': 'allow' } },
            { groups: ['sales', 'eng'], tools: { 'create_*': 'deny' } },
          ],
        }),
      ),
    ];
    // A group's `*` beats everyone's exact name: eng may delete.
    expect(decide(sources, 'delete_repo', alice).decision).toBe('allow');
    // Within one rank the most precise pattern wins; among equals deny wins.
    expect(decide(sources, 'create_issue', alice).decision).toBe('deny');
    // carol is in eng and sales (both `*`: deny among equals), but a rule naming her comes first.
    expect(decide(sources, 'delete_repo', carol).decision).toBe('ask');
    expect(decide(sources, 'search', carol).decision).toBe('deny');
    expect(decide(sources, 'search', bob).decision).toBe('deny');
    // Subject or email both name a member.
    const bySubject = [local(gh({ rules: [{ members: ['alice'], tools: { x: 'deny' } }] }))];
    expect(decide(bySubject, 'x', alice).decision).toBe('deny');
  });

  it('cannot loosen another scope: between scopes the strictest wins', () => {
    const sources = [
      local(gh({ rules: [{ members: ['alice'], tools: { '*': 'allow' } }] })),
      team(gh({ tools: { delete_repo: 'deny' } })),
    ];
    expect(decide(sources, 'delete_repo', alice).decision).toBe('deny');
    expect(decide(sources, 'search', alice).decision).toBe('allow');
  });

  it('of an unapproved project file only tighten', () => {
    const sources: PolicySource[] = [
      {
        ...team(gh({ tools: { '*': 'ask' }, rules: [{ groups: ['eng'], tools: { '*': 'allow' } }] })),
        unapproved: 'pending',
      },
    ];
    const verdict = decide(sources, 'search', alice);
    expect(verdict.decision).toBe('allow'); // annotations: not destructive
    const destructive = toolVerdict('gh', { name: 'drop', annotations: { destructiveHint: true } }, sources, {
      member: alice,
    });
    expect(destructive.decision).toBe('ask');
    expect(destructive.heldBack?.decision).toBe('allow');
  });
});

describe('serverHidden', () => {
  it('hides a server whose `*` a rule for the member denies, unless one of theirs allows something there', () => {
    const denySales = gh({
      tools: { search: 'allow' },
      rules: [{ groups: ['sales'], tools: { '*': 'deny' } }],
    });
    expect(serverHidden('gh', [local(denySales)], bob)).toBe(true);
    expect(serverHidden('gh', [local(denySales)], alice)).toBe(false);
    expect(serverHidden('other', [local(denySales)], bob)).toBe(false);
    // Everyone's `*: deny` hides nothing (what a denied tool does today stays so).
    expect(serverHidden('gh', [local(gh({ tools: { '*': 'deny' } }))], bob)).toBe(false);
    expect(serverHidden('gh', [local(denySales)], nobody)).toBe(false);
    const butSearch = gh({ rules: [{ groups: ['sales'], tools: { '*': 'deny', search: 'allow' } }] });
    expect(serverHidden('gh', [local(butSearch)], bob)).toBe(false);
    // A member's own allow outranks their group's denial.
    const butBob = gh({
      rules: [
        { groups: ['sales'], tools: { '*': 'deny' } },
        { members: ['bob'], tools: { search: 'allow' } },
      ],
    });
    expect(serverHidden('gh', [local(butBob)], bob)).toBe(false);
  });
});

describe('limits for members', () => {
  it('count per member by subject (no subject: "local"), and a rule entry limits only those it names', () => {
    const sources = [
      local(
        gh({
          limits: { '*': '100/hour' },
          memberLimits: { '*': '20/hour' },
          rules: [{ groups: ['eng'], limits: { 'create_*': '50/day' }, memberLimits: { '*': '5/minute' } }],
        }),
      ),
    ];
    const keys = (member?: Member) =>
      limitsFor('gh', 'create_issue', sources, member).map((applied) => applied.key);
    const forAlice = keys(alice);
    const forBob = keys(bob);
    expect(forAlice).toHaveLength(4);
    expect(forBob).toHaveLength(2);
    // Everyone's shared limit keeps the key it always had.
    expect(forAlice[0]).toBe('gh\u0000*\u0000100/hour');
    expect(forBob[0]).toBe(forAlice[0]);
    // Per member: different keys for alice and bob, the same for every call of one member.
    expect(forAlice[1]).not.toBe(forBob[1]);
    expect(keys(alice)[1]).toBe(forAlice[1]);
    expect(limitsFor('gh', 'x', sources, nobody)[1]!.perMember).toBe('local');
    expect(limitsFor('gh', 'x', sources)[1]!.perMember).toBe('local');
    // eng's shared limit is one count for the group, its per-member one is alice's own.
    const carolKeys = keys(carol);
    expect(carolKeys).toContain(forAlice[2]);
    expect(carolKeys).not.toContain(forAlice[3]);
  });
});

describe('the file format', () => {
  it('writes, reads back and removes rules for members; a wrong shape is an error with its place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'patchbay-members-'));
    try {
      const paths = { userConfigPath: join(dir, 'config.json'), projectRoot: join(dir, 'project') };
      const eng = { members: [], groups: ['eng'] };
      await setMemberRuleValue('user', paths, 'gh', eng, 'tools', '*', 'allow');
      await setMemberRuleValue(
        'user',
        paths,
        'gh',
        { members: ['alice@example.com'], groups: [] },
        'tools',
        'x',
        'deny',
      );
      await setMemberRuleValue('user', paths, 'gh', eng, 'memberLimits', '*', '20/hour');
      await setMemberLimit('user', paths, 'gh', '*', '10/minute');
      let file = await readJsonFile(paths.userConfigPath);
      expect(readPolicyDoc(file, ['policy']).doc).toEqual({
        servers: {
          gh: {
            memberLimits: { '*': '10/minute' },
            rules: [
              { groups: ['eng'], tools: { '*': 'allow' }, memberLimits: { '*': '20/hour' } },
              { members: ['alice@example.com'], tools: { x: 'deny' } },
            ],
          },
        },
      });
      await setMemberRuleValue('user', paths, 'gh', eng, 'tools', '*', undefined);
      await setMemberRuleValue('user', paths, 'gh', eng, 'memberLimits', '*', undefined);
      await setMemberRuleValue(
        'user',
        paths,
        'gh',
        { members: ['alice@example.com'], groups: [] },
        'tools',
        'x',
        undefined,
      );
      await setMemberLimit('user', paths, 'gh', '*', 'none');
      expect(JSON.parse(await readFile(paths.userConfigPath, 'utf8'))).toEqual({ policy: {} });

      await writeFile(
        paths.userConfigPath,
        JSON.stringify({
          policy: { servers: { gh: { rules: [{ groups: 'eng', tools: { x: 'maybe' } }] } } },
        }),
      );
      file = await readJsonFile(paths.userConfigPath);
      const { error } = readPolicyDoc(file, ['policy']);
      expect(error?.message).toContain('policy.servers.gh.rules.0.groups: expected a list of group names');
      expect(error?.message).toContain(
        'policy.servers.gh.rules.0.tools.x: expected "allow", "ask" or "deny"',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the audit log by member', () => {
  const line = (caller: AuditEntry['caller'], durationMs = 1): AuditEntry => ({
    time: '2026-12-01T00:00:00.000Z',
    host: 'h',
    via: 'gateway',
    ...(caller ? { caller } : {}),
    server: 'gh',
    tool: 'x',
    decision: 'allowed',
    outcome: 'ok',
    durationMs,
    argumentBytes: 0,
    resultBytes: 0,
  });
  const a = line({
    transport: 'http',
    auth: 'oauth',
    subject: 'alice',
    email: 'alice@example.com',
    groups: ['eng'],
  });
  const b = line({ transport: 'http', auth: 'oauth', subject: 'bob', groups: ['sales'] });
  const l = line({ transport: 'stdio', auth: 'parent-process', subject: null });
  const old = line(undefined);

  it('filters by subject, email or group, and groups by member', () => {
    expect([a, b, l, old].filter((entry) => matchesMember(entry, { member: 'alice@example.com' }))).toEqual([
      a,
    ]);
    expect([a, b, l, old].filter((entry) => matchesMember(entry, { member: 'bob' }))).toEqual([b]);
    expect([a, b, l, old].filter((entry) => matchesMember(entry, { group: 'eng' }))).toEqual([a]);
    expect([a, b, l, old].filter((entry) => matchesMember(entry, { member: 'local' }))).toEqual([l, old]);
    const rows = summarizeByMember([a, a, b, l, old]);
    expect(rows.map((row) => [row.member, row.calls])).toEqual([
      ['alice', 2],
      ['bob', 1],
      ['local', 2],
    ]);
    expect(rows[0]).toMatchObject({ email: 'alice@example.com', groups: ['eng'] });
  });
});
