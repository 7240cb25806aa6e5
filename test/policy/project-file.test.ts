/**
 * The project's .patchbay.json may only tighten until the user approves it: the decision for each
 * tool with an unapproved file (pending or rejected) against the same file approved, the
 * classification `patchbay policy` shows, limits, enable/disable, and the approval bound to the
 * file's content in the user's config (real files in a temporary directory).
 */

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  recordPolicyFileChoice,
  setLimit,
  setToolRule,
  type Decision,
  type PolicyDoc,
  type PolicySource,
} from '../../src/config/policy-files.js';
import { createContext, loadRegistry, resetProjectChoices } from '../../src/config/registry.js';
import { staticState } from '../../src/config/status.js';
import { classifyPolicyFile, projectPolicyStatus } from '../../src/policy/project-file.js';
import { limitsFor, toolVerdict, type ToolFacts } from '../../src/policy/rules.js';

const USER_PATH = '/home/u/.config/patchbay/config.json';
const TEAM_PATH = '/p/.patchbay.json';
const user = (doc: PolicyDoc): PolicySource => ({ scope: 'user', path: USER_PATH, doc });
const local = (doc: PolicyDoc): PolicySource => ({ scope: 'local', path: USER_PATH, doc });
const team = (doc: PolicyDoc, unapproved?: 'pending' | 'rejected'): PolicySource => ({
  scope: 'project',
  path: TEAM_PATH,
  doc,
  ...(unapproved ? { unapproved } : {}),
});
const rules = (tools: Record<string, Decision>): PolicyDoc => ({ servers: { gh: { tools } } });

const destructive: ToolFacts = { name: 'delete_repo', annotations: { destructiveHint: true } };
const plain: ToolFacts = { name: 'create_issue' };
const readOnly: ToolFacts = { name: 'search', annotations: { readOnlyHint: true } };

describe('an unapproved project policy file only tightens', () => {
  it.each([
    // [case, the user's own files, the project file, tool, unapproved → , approved → , effect]
    [
      '"*": allow vs the annotations\' ask',
      [],
      rules({ '*': 'allow' }),
      destructive,
      'ask',
      'allow',
      'loosens',
    ],
    ['an exact allow rule', [], rules({ delete_repo: 'allow' }), destructive, 'ask', 'allow', 'loosens'],
    [
      "default allow vs the annotations' ask",
      [],
      { default: 'allow' },
      destructive,
      'ask',
      'allow',
      'loosens',
    ],
    [
      '"*": allow vs the user\'s default ask',
      [user({ default: 'ask' })],
      rules({ '*': 'allow' }),
      plain,
      'ask',
      'allow',
      'loosens',
    ],
    [
      '"*": allow vs the user\'s default deny',
      [user({ default: 'deny' })],
      rules({ '*': 'allow' }),
      plain,
      'deny',
      'allow',
      'loosens',
    ],
    [
      "an ask rule vs the user's default deny",
      [user({ default: 'deny' })],
      rules({ create_issue: 'ask' }),
      plain,
      'deny',
      'ask',
      'loosens',
    ],
    [
      "default allow vs the user's default ask",
      [user({ default: 'ask' })],
      { default: 'allow' },
      plain,
      'ask',
      'ask',
      'none',
    ],
    ['a deny rule', [], rules({ 'delete_*': 'deny' }), destructive, 'deny', 'deny', 'tightens'],
    [
      "a deny rule over the user's own allow rule",
      [local(rules({ delete_repo: 'allow' }))],
      rules({ 'delete_*': 'deny' }),
      destructive,
      'deny',
      'deny',
      'tightens',
    ],
    ['an ask rule on a plain tool', [], rules({ create_issue: 'ask' }), plain, 'ask', 'ask', 'tightens'],
    ['default ask on a plain tool', [], { default: 'ask' }, plain, 'ask', 'ask', 'tightens'],
    ['default deny', [], { default: 'deny' }, readOnly, 'deny', 'deny', 'tightens'],
    [
      "default deny over the user's default allow",
      [user({ default: 'allow' })],
      { default: 'deny' },
      plain,
      'deny',
      'deny',
      'tightens',
    ],
  ] as Array<[string, PolicySource[], PolicyDoc, ToolFacts, Decision, Decision, string]>)(
    '%s',
    (_, own, doc, tool, unapproved, approved, effect) => {
      for (const state of ['pending', 'rejected'] as const)
        expect(toolVerdict('gh', tool, [...own, team(doc, state)]).decision).toBe(unapproved);
      expect(toolVerdict('gh', tool, [...own, team(doc)]).decision).toBe(approved);
      const effects = classifyPolicyFile(doc, own).map((change) => change.effect);
      expect(effects).toContain(effect);
    },
  );

  it('says what is held back and how to take it, in the decision itself', () => {
    const verdict = toolVerdict('gh', destructive, [team(rules({ '*': 'allow' }), 'pending')]);
    expect(verdict).toMatchObject({
      decision: 'ask',
      source: { kind: 'annotations' },
      heldBack: { path: TEAM_PATH, decision: 'allow', state: 'pending' },
    });
    expect(verdict.because).toContain(`${TEAM_PATH} would allow it, but you have not approved that file`);
    expect(verdict.because).toContain('patchbay approve --policy');
    const rejected = toolVerdict('gh', destructive, [team(rules({ '*': 'allow' }), 'rejected')]);
    expect(rejected.because).toContain('you rejected that file');
  });

  it("keeps the deny of a file that also allows everything else, and the user's own allows", () => {
    const doc = rules({ '*': 'allow', 'delete_*': 'deny' });
    expect(toolVerdict('gh', destructive, [team(doc, 'pending')]).decision).toBe('deny');
    const other: ToolFacts = { name: 'drop_table', annotations: { destructiveHint: true } };
    expect(toolVerdict('gh', other, [team(doc, 'pending')]).decision).toBe('ask');
    const own = local(rules({ drop_table: 'allow' }));
    expect(toolVerdict('gh', other, [own, team(doc, 'pending')]).decision).toBe('allow');
    // An ask of the unapproved file applies, so it is the reason even where the annotations agree.
    expect(toolVerdict('gh', destructive, [team({ default: 'ask' }, 'pending')]).because).toBe(
      `default ask in ${TEAM_PATH} (project)`,
    );
    // A read-only tool was allowed by its annotations, not by the unapproved rule.
    expect(toolVerdict('gh', readOnly, [team(doc, 'pending')]).because).toBe('read-only (its annotations)');
  });

  it('a changed definition still moves allow to ask, and a broken unapproved file still denies', () => {
    const verdict = toolVerdict('gh', readOnly, [team(rules({ '*': 'allow' }), 'pending')], {
      definitionChanged: true,
    });
    expect(verdict).toMatchObject({ decision: 'ask', changed: true });
    const broken: PolicySource = { ...team({}, 'pending'), broken: 'no' };
    expect(toolVerdict('gh', readOnly, [broken]).decision).toBe('deny');
  });

  it('limits: the project file can only add one (a higher one does not raise, none removes)', () => {
    const own = user({ servers: { gh: { limits: { '*': '10/hour' } } } });
    const higher = team({ servers: { gh: { limits: { '*': '1000/hour' } } } }, 'pending');
    const lower = team({ servers: { gh: { limits: { 'delete_*': '1/day' } } } }, 'pending');
    const without = team({ servers: { gh: { tools: { '*': 'deny' } } } }, 'pending');
    const texts = (sources: PolicySource[]) => limitsFor('gh', 'delete_repo', sources).map((l) => l.text);
    expect(texts([own, higher])).toEqual(['10/hour', '1000/hour']);
    expect(texts([own, lower])).toEqual(['10/hour', '1/day']);
    expect(texts([own, without])).toEqual(['10/hour']);
    for (const doc of [higher.doc, lower.doc])
      expect(classifyPolicyFile(doc, [own]).map((change) => change.effect)).toEqual(['tightens']);
  });

  it('enable has no effect and disable applies: classified so', () => {
    const changes = classifyPolicyFile({ servers: { gh: { enabled: true }, other: { enabled: false } } }, [
      user({ servers: { gh: { enabled: false } } }),
    ]);
    expect(changes.map(({ what, effect }) => [what, effect])).toEqual([
      ['enable gh', 'none'],
      ['disable other', 'tightens'],
    ]);
  });
});

describe('the approval of the project policy file, in real files', () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  let project: string;
  let teamFile: string;
  let userConfig: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'patchbay-project-policy-'));
    project = join(root, 'project');
    await mkdir(project, { recursive: true });
    env = { HOME: join(root, 'home'), XDG_CONFIG_HOME: join(root, 'config'), PATCHBAY_PROJECT_DIR: project };
    teamFile = join(project, '.patchbay.json');
    userConfig = join(root, 'config', 'patchbay', 'config.json');
    await mkdir(join(root, 'config', 'patchbay'), { recursive: true });
    await writeFile(
      userConfig,
      JSON.stringify({
        mcpServers: { gh: { type: 'http', url: 'https://gh.example/mcp' } },
        policy: { servers: { off: { enabled: false } } },
      }),
    );
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const load = () => loadRegistry(createContext(env, project));
  const decide = async (tool: ToolFacts = destructive) =>
    toolVerdict('gh', tool, (await load()).policy.sources).decision;
  const paths = () => ({ userConfigPath: userConfig, projectRoot: project });

  it('is pending until approved, bound to the content: an edit makes it pending again', async () => {
    await writeFile(teamFile, JSON.stringify({ servers: { gh: { tools: { '*': 'allow' } } } }));
    let registry = await load();
    expect(registry.policy.projectFile).toMatchObject({ path: teamFile, choice: 'pending' });
    expect(projectPolicyStatus(registry.policy)).toMatchObject({
      state: 'pending',
      hint: 'patchbay approve --policy',
      changes: [{ effect: 'loosens', what: 'allow gh/*' }],
    });
    expect(await decide()).toBe('ask');

    await recordPolicyFileChoice(paths(), 'approved', registry.policy.projectFile!.sha256);
    expect(await decide()).toBe('allow');
    // Kept in the user's config, not in the project.
    expect(JSON.parse(await readFile(userConfig, 'utf8')).projects[project].policyFileChoice).toMatchObject({
      decision: 'approved',
    });
    expect(JSON.parse(await readFile(teamFile, 'utf8'))).toEqual({
      servers: { gh: { tools: { '*': 'allow' } } },
    });

    // Reformatting changes nothing; a change of meaning makes it pending again.
    await writeFile(teamFile, JSON.stringify({ servers: { gh: { tools: { '*': 'allow' } } } }, null, 4));
    expect(await decide()).toBe('allow');
    await writeFile(
      teamFile,
      JSON.stringify({ default: 'allow', servers: { gh: { tools: { '*': 'allow' } } } }),
    );
    registry = await load();
    expect(registry.policy.projectFile!.choice).toBe('pending');
    expect(await decide()).toBe('ask');

    await recordPolicyFileChoice(paths(), 'rejected', registry.policy.projectFile!.sha256);
    expect((await load()).policy.projectFile!.choice).toBe('rejected');
    expect(await decide()).toBe('ask');
    expect(await resetProjectChoices(createContext(env, project))).toEqual({ servers: 0, policyFile: true });
    expect((await load()).policy.projectFile!.choice).toBe('pending');
  });

  it('a file that only tightens needs nothing: in effect at once, nothing to approve', async () => {
    await writeFile(teamFile, JSON.stringify({ servers: { gh: { tools: { 'delete_*': 'deny' } } } }));
    const registry = await load();
    expect(projectPolicyStatus(registry.policy)).toMatchObject({ state: 'not-needed', hint: null });
    expect(await decide()).toBe('deny');
  });

  it('an unapproved enable does not enable; an unapproved disable disables', async () => {
    await writeFile(
      teamFile,
      JSON.stringify({ servers: { off: { enabled: true }, gh: { enabled: false } } }),
    );
    await writeFile(
      userConfig,
      JSON.stringify({
        mcpServers: {
          gh: { type: 'http', url: 'https://gh.example/mcp' },
          off: { type: 'http', url: 'https://off.example/mcp' },
        },
        policy: { servers: { off: { enabled: false } } },
      }),
    );
    const registry = await load();
    const status = (name: string) =>
      staticState(
        registry.servers.find((server) => server.name === name)!,
        env,
      ).status;
    expect(status('off')).toBe('disabled');
    expect(status('gh')).toBe('disabled');
  });

  it("the user's own edit of a file they approved stays approved; of a teammate's pending one, not", async () => {
    // No file yet: what the user writes is theirs.
    await setToolRule('project', paths(), 'gh', 'delete_repo', 'allow');
    expect((await load()).policy.projectFile!.choice).toBe('approved');
    expect(await decide()).toBe('allow');
    await setLimit('project', paths(), 'gh', '*', '5/hour');
    expect((await load()).policy.projectFile!.choice).toBe('approved');

    // A teammate's change arrives (git pull): pending, and the user's next edit does not approve it.
    await writeFile(
      teamFile,
      JSON.stringify({ default: 'allow', servers: { gh: { tools: { delete_repo: 'allow' } } } }),
    );
    await setToolRule('project', paths(), 'gh', 'push', 'ask');
    expect((await load()).policy.projectFile!.choice).toBe('pending');
    expect(await decide()).toBe('ask');
  });
});
