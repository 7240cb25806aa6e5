/**
 * Which decision applies to a tool: pure functions over the policy documents (config/policy-files).
 *
 * 1. Rules. In each scope's document, the rule that names the tool most precisely applies: its
 *    exact name, else the glob with the most literal characters (`*` any run, `?` one character).
 *    Between scopes (local, the team's project file, user) the most restrictive wins:
 *    deny over ask over allow.
 * 2. Groups, for a tool no rule names: the server's setting for its group — `read-only` (its
 *    annotations say `readOnlyHint: true`) or `other` (every other tool) — the most restrictive
 *    any scope sets. This is the "Read-only tools / Other tools" choice of Claude's connectors.
 * 3. Defaults, for a tool no rule or group setting decides: the most restrictive `default` any
 *    scope sets.
 * 4. Annotations, when nothing is set: read-only → allow; destructive (`destructiveHint: true`
 *    and not read-only) → ask; otherwise allow.
 * 5. Pins: a tool whose definition changed since it was pinned is moved from allow to ask until
 *    the change is reviewed (`patchbay review`); deny stays deny.
 *
 * Members. A rule may be written for some members only (a server's `rules` entries, naming
 * `members` by subject or email and/or member `groups`; config/policy-files). For a caller, each
 * scope's document is read as the rules that apply to them, and within it the most specific rule
 * wins: first by whom it names — a rule naming the member beats one naming one of their groups,
 * which beats a rule for everyone — then by the tool (exact name, else the glob with the most
 * literal characters), and among equals the strictest (deny over ask over allow). Between scopes
 * the most restrictive still wins, so a member rule in one file cannot loosen another file's rule
 * for everyone. Rules for members never match a caller the gateway knows nothing of (stdio, the
 * single static token, `patchbay call`). A server is hidden from a member (`serverHidden`: none of
 * its tools, prompts or resources listed or served) when a rule naming them or their group denies
 * its `*` and none of theirs of the same or a higher rank allows or asks for any tool of it.
 *
 * Limits: `limits` are counted for everyone they apply to together, `memberLimits` for each
 * member apart (by subject; callers without one share the count "local"). A `rules` entry's
 * limits apply only to the callers it names.
 *
 * A policy file that cannot be read denies every tool until it is fixed (it is never ignored).
 * A disabled server and the administrator's lists are decided before any tool is (config/status).
 *
 * The project's `.patchbay.json` comes with the repository, so until the user approves it as it
 * reads now (`patchbay approve --policy`), it may only tighten: each tool is decided with and
 * without it, and the stricter of the two applies. Its deny and ask rules, a stricter default and
 * its limits (which only ever add to the others) apply at once; an allow rule or a looser default
 * has no effect until approved.
 */

import { APPROVE_POLICY_COMMAND } from '../config/policy-files.js';
import type { Decision, MemberRule, PolicyScope, PolicySource, ToolGroup } from '../config/policy-files.js';
import type { AuditCaller } from './audit.js';

/** Who a rule may name: the caller's subject, email and groups (absent: nobody in particular). */
export type Member = Pick<AuditCaller, 'subject' | 'email' | 'groups'>;

export interface ToolFacts {
  name: string;
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean } & Record<string, unknown>;
}

export type DecisionSource =
  | { kind: 'broken'; scope: PolicyScope; path: string }
  | {
      kind: 'rule';
      scope: PolicyScope;
      path: string;
      pattern: string;
      /** The rule names members or groups: whom, in words (`group sales`, `member alice`). */
      audience?: string;
    }
  | { kind: 'group'; scope: PolicyScope; path: string; group: ToolGroup }
  | { kind: 'default'; scope: PolicyScope; path: string }
  | { kind: 'annotations' };

export interface ToolVerdict {
  decision: Decision;
  source: DecisionSource;
  /** Why, in words: "rule delete_* in /…/.patchbay.json (project)". */
  because: string;
  /** The definition changed since it was pinned (and this moved allow to ask). */
  changed?: boolean;
  /** The project's policy file, not approved, would make this looser: it is held back. */
  heldBack?: { path: string; decision: Decision; state: 'pending' | 'rejected' };
}

const STRICTNESS: Record<Decision, number> = { allow: 0, ask: 1, deny: 2 };

export function stricter(a: Decision, b: Decision): Decision {
  return STRICTNESS[b] > STRICTNESS[a] ? b : a;
}

export function toolVerdict(
  server: string,
  tool: ToolFacts,
  sources: PolicySource[],
  options: { definitionChanged?: boolean; member?: Member | undefined } = {},
): ToolVerdict {
  const verdict = guardedVerdict(server, tool, sources, options.member);
  if (options.definitionChanged && verdict.decision === 'allow') {
    return {
      ...verdict,
      decision: 'ask',
      changed: true,
      because: `its definition changed since it was first allowed (${verdict.because}); review it: patchbay review ${server}`,
    };
  }
  return options.definitionChanged ? { ...verdict, changed: true } : verdict;
}

/** The stricter of the verdicts with and without the sources the user has not approved. */
function guardedVerdict(
  server: string,
  tool: ToolFacts,
  sources: PolicySource[],
  member: Member | undefined,
): ToolVerdict {
  const withAll = plainVerdict(server, tool, sources, member);
  const unapproved = sources.find((source) => source.unapproved !== undefined);
  if (!unapproved) return withAll;
  const trusted = plainVerdict(
    server,
    tool,
    sources.filter((source) => source.unapproved === undefined),
    member,
  );
  const held = STRICTNESS[trusted.decision] - STRICTNESS[withAll.decision];
  if (held < 0) return withAll;
  // As strict either way: an ask or deny of the unapproved file applies (it tightens), so it is
  // the reason; an allow of it is not (an unapproved "*": allow did not allow a read-only tool,
  // its annotations did).
  if (held === 0) return withAll.decision === 'allow' ? trusted : withAll;
  const state = unapproved.unapproved!;
  return {
    ...trusted,
    heldBack: { path: unapproved.path, decision: withAll.decision, state },
    because: `${trusted.because}; ${unapproved.path} would ${withAll.decision} it, but ${
      state === 'pending' ? 'you have not approved that file' : 'you rejected that file'
    } (${APPROVE_POLICY_COMMAND})`,
  };
}

function plainVerdict(
  server: string,
  tool: ToolFacts,
  sources: PolicySource[],
  member: Member | undefined,
): ToolVerdict {
  const broken = sources.find((source) => source.broken !== undefined);
  if (broken)
    return {
      decision: 'deny',
      source: { kind: 'broken', scope: broken.scope, path: broken.path },
      because: `the policy in ${broken.path} cannot be read, so nothing is allowed until it is fixed: ${broken.broken}`,
    };
  return (
    ruledVerdict(server, tool.name, sources, member) ??
    groupVerdict(server, toolGroup(tool), sources) ??
    defaultVerdict(sources) ??
    annotated(tool)
  );
}

/** The group a tool belongs to: `read-only` only when its annotations say so, as the server claims it. */
export function toolGroup(tool: ToolFacts): ToolGroup {
  return tool.annotations?.readOnlyHint === true ? 'read-only' : 'other';
}

const GROUP_WORDS: Record<ToolGroup, string> = { 'read-only': 'read-only tools', other: 'other tools' };

function groupVerdict(server: string, group: ToolGroup, sources: PolicySource[]): ToolVerdict | undefined {
  let best: ToolVerdict | undefined;
  for (const source of sources) {
    const decision = source.doc.servers?.[server]?.groups?.[group];
    if (decision && (!best || STRICTNESS[decision] > STRICTNESS[best.decision]))
      best = {
        decision,
        source: { kind: 'group', scope: source.scope, path: source.path, group },
        because: `${GROUP_WORDS[group]}: ${decision} in ${source.path} (${source.scope})`,
      };
  }
  return best;
}

/**
 * The `default` in effect (what decides a tool no rule names), as `toolVerdict` applies it: an
 * unapproved file's default only where it is the stricter one. Undefined: annotations decide.
 */
export function defaultInEffect(sources: PolicySource[]): ToolVerdict | undefined {
  const trusted = defaultVerdict(sources.filter((source) => source.unapproved === undefined));
  const all = defaultVerdict(sources);
  if (!all) return undefined;
  if (trusted) return STRICTNESS[all.decision] > STRICTNESS[trusted.decision] ? all : trusted;
  // Only the unapproved file sets one: against the annotations (allow or ask), allow loosens.
  return all.decision === 'allow' ? undefined : all;
}

/** How specifically a rule names its callers: everyone 0, a group of theirs 1, the member 2. */
type Rank = 0 | 1 | 2;

interface Candidate {
  pattern: string;
  decision: Decision;
  rank: Rank;
  audience?: string;
}

/** How a `rules` entry names this caller (undefined: it does not apply to them). */
function ruleRank(
  rule: MemberRule,
  member: Member | undefined,
): { rank: Rank; audience?: string } | undefined {
  const members = rule.members ?? [];
  const groups = rule.groups ?? [];
  if (members.length === 0 && groups.length === 0) return { rank: 0 };
  const named = members.find(
    (name) =>
      member && ((member.subject && name === member.subject) || (member.email && name === member.email)),
  );
  if (named !== undefined) return { rank: 2, audience: `member ${named}` };
  const group = groups.find((name) => member?.groups?.includes(name));
  if (group !== undefined) return { rank: 1, audience: `group ${group}` };
  return undefined;
}

/** The tool rules of one document that apply to this caller, each with its rank. */
function candidates(source: PolicySource, server: string, member: Member | undefined): Candidate[] {
  const policy = source.doc.servers?.[server];
  if (!policy) return [];
  const found: Candidate[] = Object.entries(policy.tools ?? {}).map(([pattern, decision]) => ({
    pattern,
    decision,
    rank: 0,
  }));
  for (const rule of policy.rules ?? []) {
    const ranked = ruleRank(rule, member);
    if (!ranked) continue;
    for (const [pattern, decision] of Object.entries(rule.tools ?? {}))
      found.push({ pattern, decision, ...ranked });
  }
  return found;
}

/** The most specific candidate for a tool: by rank, then pattern precision, then strictness. */
function bestCandidate(found: Candidate[], tool: string): Candidate | undefined {
  for (const rank of [2, 1, 0] as const) {
    const ranked = found.filter((candidate) => candidate.rank === rank);
    const pattern = mostPrecise(
      ranked.map((candidate) => candidate.pattern),
      tool,
    );
    if (pattern === undefined) continue;
    return ranked
      .filter((candidate) => candidate.pattern === pattern)
      .reduce((a, b) => (STRICTNESS[b.decision] > STRICTNESS[a.decision] ? b : a));
  }
  return undefined;
}

function ruledVerdict(
  server: string,
  tool: string,
  sources: PolicySource[],
  member: Member | undefined,
): ToolVerdict | undefined {
  let best: ToolVerdict | undefined;
  for (const source of sources) {
    const found = bestCandidate(candidates(source, server, member), tool);
    if (!found) continue;
    const { decision, pattern, audience } = found;
    if (!best || STRICTNESS[decision] > STRICTNESS[best.decision]) {
      best = {
        decision,
        source: {
          kind: 'rule',
          scope: source.scope,
          path: source.path,
          pattern,
          ...(audience ? { audience } : {}),
        },
        because: `rule "${pattern}"${audience ? ` for ${audience}` : ''}: ${decision} in ${source.path} (${source.scope})`,
      };
    }
  }
  return best;
}

/**
 * Whether a server is hidden from this caller: in some scope, a rule naming them or their group
 * denies `*`, and none of their rules of that rank or above allows or asks for any tool there.
 */
export function serverHidden(server: string, sources: PolicySource[], member: Member | undefined): boolean {
  if (!member || (!member.subject && !member.email && !member.groups?.length)) return false;
  return sources.some((source) => {
    const found = candidates(source, server, member);
    const denial = found.find(
      (candidate) => candidate.rank > 0 && candidate.pattern === '*' && candidate.decision === 'deny',
    );
    if (!denial) return false;
    return !found.some((candidate) => candidate.rank >= denial.rank && candidate.decision !== 'deny');
  });
}

function defaultVerdict(sources: PolicySource[]): ToolVerdict | undefined {
  let best: ToolVerdict | undefined;
  for (const source of sources) {
    const decision = source.doc.default;
    if (decision && (!best || STRICTNESS[decision] > STRICTNESS[best.decision])) {
      best = {
        decision,
        source: { kind: 'default', scope: source.scope, path: source.path },
        because: `default ${decision} in ${source.path} (${source.scope})`,
      };
    }
  }
  return best;
}

function annotated(tool: ToolFacts): ToolVerdict {
  const { readOnlyHint, destructiveHint } = tool.annotations ?? {};
  if (readOnlyHint === true)
    return { decision: 'allow', source: { kind: 'annotations' }, because: 'read-only (its annotations)' };
  if (destructiveHint === true)
    return { decision: 'ask', source: { kind: 'annotations' }, because: 'destructive (its annotations)' };
  return {
    decision: 'allow',
    source: { kind: 'annotations' },
    because: 'nothing set, not marked destructive',
  };
}

/** The pattern that names `name` most precisely: itself, else the matching glob with the most literal characters. */
export function mostPrecise(patterns: string[], name: string): string | undefined {
  if (patterns.includes(name)) return name;
  let best: string | undefined;
  let bestLiterals = -1;
  for (const pattern of patterns) {
    if (!/[*?]/.test(pattern) || !globMatches(pattern, name)) continue;
    const literals = pattern.replace(/[*?]/g, '').length;
    if (literals > bestLiterals) {
      best = pattern;
      bestLiterals = literals;
    }
  }
  return best;
}

export function globMatches(pattern: string, name: string): boolean {
  let compiled = compiledGlobs.get(pattern);
  if (!compiled) {
    const body = [...pattern]
      .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    compiled = new RegExp(`^${body}$`, 's');
    // Patterns come from policy files, a handful per server: bounded all the same.
    if (compiledGlobs.size >= MAX_COMPILED_GLOBS) compiledGlobs.clear();
    compiledGlobs.set(pattern, compiled);
  }
  return compiled.test(name);
}

/** Each pattern compiled once: every call of a gateway matches its tool against the rules. */
const compiledGlobs = new Map<string, RegExp>();
const MAX_COMPILED_GLOBS = 4096;

/** One limit that applies to a call: counted under `key` (the same limit set twice counts once). */
export interface AppliedLimit {
  key: string;
  text: string;
  pattern: string;
  server: string;
  scope: PolicyScope;
  path: string;
  /** A `memberLimits` entry: counted for this member apart (their subject, or "local"). */
  perMember?: string;
  /** A `rules` entry's limit: whom it names, in words. */
  audience?: string;
}

/**
 * Every limit of every scope whose pattern matches the tool (`*`: the whole server), with the
 * caller's: per-member limits counted under their subject, and limits of `rules` entries that
 * name them. Everyone's shared limits keep the keys they always had.
 */
export function limitsFor(
  server: string,
  tool: string,
  sources: PolicySource[],
  member?: Member,
): AppliedLimit[] {
  const found = new Map<string, AppliedLimit>();
  const who = member?.subject ?? 'local';
  const add = (
    source: PolicySource,
    limits: Record<string, string> | undefined,
    options: { perMember: boolean; ruleKey?: string; audience?: string },
  ) => {
    for (const [pattern, text] of Object.entries(limits ?? {})) {
      if (pattern !== tool && !globMatches(pattern, tool)) continue;
      let key = `${server}\u0000${pattern}\u0000${text.replace(/\s+/g, '')}`;
      if (options.ruleKey) key += `\u0000for\u0000${options.ruleKey}`;
      if (options.perMember) key += `\u0000member\u0000${who}`;
      if (!found.has(key))
        found.set(key, {
          key,
          text,
          pattern,
          server,
          scope: source.scope,
          path: source.path,
          ...(options.perMember ? { perMember: who } : {}),
          ...(options.audience ? { audience: options.audience } : {}),
        });
    }
  };
  for (const source of sources) {
    const policy = source.doc.servers?.[server];
    if (!policy) continue;
    add(source, policy.limits, { perMember: false });
    add(source, policy.memberLimits, { perMember: true });
    for (const rule of policy.rules ?? []) {
      const ranked = ruleRank(rule, member);
      if (!ranked) continue;
      const ruleKey = audienceKey(rule);
      const audience = audienceText(rule);
      add(source, rule.limits, { perMember: false, ruleKey, ...(audience ? { audience } : {}) });
      add(source, rule.memberLimits, { perMember: true, ruleKey, ...(audience ? { audience } : {}) });
    }
  }
  return [...found.values()];
}

/** The members and groups a `rules` entry names, as a counter key part (order-free). */
function audienceKey(rule: MemberRule): string {
  return `m=${[...(rule.members ?? [])].sort().join(',')};g=${[...(rule.groups ?? [])].sort().join(',')}`;
}

/** Whom a `rules` entry names, in words: `members alice, bob; groups eng` ('' for everyone). */
export function audienceText(rule: Pick<MemberRule, 'members' | 'groups'>): string {
  const parts: string[] = [];
  if (rule.members?.length)
    parts.push(`${rule.members.length === 1 ? 'member' : 'members'} ${rule.members.join(', ')}`);
  if (rule.groups?.length)
    parts.push(`${rule.groups.length === 1 ? 'group' : 'groups'} ${rule.groups.join(', ')}`);
  return parts.join('; ');
}
