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
import type { Decision, PolicyScope, PolicySource, ToolGroup } from '../config/policy-files.js';

export interface ToolFacts {
  name: string;
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean } & Record<string, unknown>;
}

export type DecisionSource =
  | { kind: 'broken'; scope: PolicyScope; path: string }
  | { kind: 'rule'; scope: PolicyScope; path: string; pattern: string }
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
  options: { definitionChanged?: boolean } = {},
): ToolVerdict {
  const verdict = guardedVerdict(server, tool, sources);
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
function guardedVerdict(server: string, tool: ToolFacts, sources: PolicySource[]): ToolVerdict {
  const withAll = plainVerdict(server, tool, sources);
  const unapproved = sources.find((source) => source.unapproved !== undefined);
  if (!unapproved) return withAll;
  const trusted = plainVerdict(
    server,
    tool,
    sources.filter((source) => source.unapproved === undefined),
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

function plainVerdict(server: string, tool: ToolFacts, sources: PolicySource[]): ToolVerdict {
  const broken = sources.find((source) => source.broken !== undefined);
  if (broken)
    return {
      decision: 'deny',
      source: { kind: 'broken', scope: broken.scope, path: broken.path },
      because: `the policy in ${broken.path} cannot be read, so nothing is allowed until it is fixed: ${broken.broken}`,
    };
  return (
    ruledVerdict(server, tool.name, sources) ??
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

function ruledVerdict(server: string, tool: string, sources: PolicySource[]): ToolVerdict | undefined {
  let best: ToolVerdict | undefined;
  for (const source of sources) {
    const rules = source.doc.servers?.[server]?.tools;
    if (!rules) continue;
    const pattern = mostPrecise(Object.keys(rules), tool);
    if (pattern === undefined) continue;
    const decision = rules[pattern]!;
    if (!best || STRICTNESS[decision] > STRICTNESS[best.decision]) {
      best = {
        decision,
        source: { kind: 'rule', scope: source.scope, path: source.path, pattern },
        because: `rule "${pattern}": ${decision} in ${source.path} (${source.scope})`,
      };
    }
  }
  return best;
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
  const body = [...pattern]
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 's').test(name);
}

/** One limit that applies to a call: counted under `key` (the same limit set twice counts once). */
export interface AppliedLimit {
  key: string;
  text: string;
  pattern: string;
  server: string;
  scope: PolicyScope;
  path: string;
}

/** Every limit of every scope whose pattern matches the tool (`*`: the whole server). */
export function limitsFor(server: string, tool: string, sources: PolicySource[]): AppliedLimit[] {
  const found = new Map<string, AppliedLimit>();
  for (const source of sources) {
    const limits = source.doc.servers?.[server]?.limits;
    if (!limits) continue;
    for (const [pattern, text] of Object.entries(limits)) {
      if (pattern !== tool && !globMatches(pattern, tool)) continue;
      const key = `${server}\u0000${pattern}\u0000${text.replace(/\s+/g, '')}`;
      if (!found.has(key))
        found.set(key, { key, text, pattern, server, scope: source.scope, path: source.path });
    }
  }
  return [...found.values()];
}
