/**
 * Where policy is written, and its format. Three scopes, like servers, plus the administrator's:
 *
 * - `user`: patchbay's config.json, under `policy`;
 * - `local`: the same file, under `projects["<project root>"].policy`;
 * - `project`: the team's `.patchbay.json` beside `.mcp.json` (never inside `.mcp.json`, which
 *   other hosts rewrite), the whole file being the policy;
 * - `managed`: the administrator's file (`/etc/patchbay/managed.json`, or PATCHBAY_MANAGED_POLICY)
 *   with Claude Code's `allowedMcpServers` / `deniedMcpServers` lists (managed.ts).
 *
 * A policy document:
 *
 *   { "default": "ask",                                  // tools no rule names (else annotations)
 *     "servers": { "sentry": { "enabled": false,
 *                              "tools": { "delete_*": "deny", "search": "allow" },
 *                              "groups": { "read-only": "allow", "other": "ask" },
 *                              "limits": { "*": "100/hour", "create_*": "5/day" },
 *                              "memberLimits": { "*": "20/hour" },     // counted per member
 *                              "rules": [                              // for some members only
 *                                { "groups": ["sales"], "tools": { "*": "deny" } },
 *                                { "members": ["alice@example.com"], "groups": ["eng"],
 *                                  "tools": { "delete_*": "allow" }, "memberLimits": { "*": "50/hour" } }
 *                              ] } } }
 *
 * A `rules` entry applies only to callers it names: a member by subject or email (`members`), or
 * anyone in one of its `groups` (the member's groups, as the gateway's sign-in maps them); an
 * entry that names neither applies to everyone. How such rules rank against the others is in
 * policy/rules.ts. `memberLimits` are counted for each member apart (callers without a subject
 * share one count, "local"); `limits` are counted for everyone they apply to together.
 *
 * A document that does not have this shape makes its file "broken" like a malformed server
 * entry: reported with file:line:col, and never rewritten.
 */

import { join } from 'node:path';

import { PatchbayError } from '../errors.js';
import { readJsonFile, updateJsonFile, type LoadedFile } from '../core/file-store.js';
import {
  contentDigest,
  createObject,
  getOwn,
  isObject,
  objectAt,
  setOwn,
  type JsonObject,
  type JsonValue,
} from '../core/json-source.js';

export const DECISIONS = ['allow', 'ask', 'deny'] as const;
export type Decision = (typeof DECISIONS)[number];

export interface ServerPolicy {
  enabled?: boolean;
  /** Tool name or glob (`*`, `?`) → decision. */
  tools?: Record<string, Decision>;
  /** Tool name or glob (`*` = the whole server) → `N/minute|hour|day`. */
  limits?: Record<string, string>;
  /**
   * A decision for a group of the server's tools, as Claude's connectors offer it: `read-only`
   * (tools whose annotations say `readOnlyHint: true`) and `other` (every other tool). A rule
   * naming the tool wins over its group; a group wins over `default` and the annotations.
   */
  groups?: Partial<Record<ToolGroup, Decision>>;
  /** Tool name or glob → `N/minute|hour|day`, counted for each member apart. */
  memberLimits?: Record<string, string>;
  /** Rules and limits for some members or groups only. */
  rules?: MemberRule[];
}

/** Rules and limits that apply only to the callers named (neither named: everyone). */
export interface MemberRule {
  /** Members by subject or email. */
  members?: string[];
  /** Members' groups (not the tool groups `read-only` / `other`). */
  groups?: string[];
  tools?: Record<string, Decision>;
  limits?: Record<string, string>;
  memberLimits?: Record<string, string>;
}

export const TOOL_GROUPS = ['read-only', 'other'] as const;
export type ToolGroup = (typeof TOOL_GROUPS)[number];

export function isToolGroup(value: unknown): value is ToolGroup {
  return typeof value === 'string' && (TOOL_GROUPS as readonly string[]).includes(value);
}

export interface PolicyDoc {
  default?: Decision;
  servers?: Record<string, ServerPolicy>;
}

export type PolicyScope = 'local' | 'project' | 'user';

export interface PolicySource {
  scope: PolicyScope;
  path: string;
  doc: PolicyDoc;
  /** The document cannot be read (why): every tool is denied until it is fixed. */
  broken?: string;
  /**
   * The project's file, not approved by this user as it reads now (pending, or rejected): only
   * what it tightens is in effect (policy/rules decides each tool both with and without it).
   */
  unapproved?: 'pending' | 'rejected';
}

/** The one command that approves the project's policy file; every hint names it. */
export const APPROVE_POLICY_COMMAND = 'patchbay approve --policy';

export const TEAM_POLICY_FILE = '.patchbay.json';

export function teamPolicyPath(projectRoot: string): string {
  return join(projectRoot, TEAM_POLICY_FILE);
}

/** Where a scope's policy lives: the file, and the JSON path of the document in it. */
export function policyLocation(
  scope: PolicyScope,
  paths: { userConfigPath: string; projectRoot: string },
): { path: string; at: string[] } {
  if (scope === 'project') return { path: teamPolicyPath(paths.projectRoot), at: [] };
  if (scope === 'local') return { path: paths.userConfigPath, at: ['projects', paths.projectRoot, 'policy'] };
  return { path: paths.userConfigPath, at: ['policy'] };
}

/** The policy document at `at` in a parsed file (none when absent), or the shape error. */
export function readPolicyDoc(file: LoadedFile, at: string[]): { doc?: PolicyDoc; error?: PatchbayError } {
  if (!file.parsed) return {};
  let value: JsonValue | undefined = file.parsed.value;
  for (const key of at) {
    if (!isObject(value)) return {};
    value = getOwn(value, key);
  }
  if (value === undefined) return {};
  const problems: Array<{ path: string[]; expected: string }> = [];
  const doc = checkDoc(value, at, problems);
  if (problems.length > 0) {
    const messages = problems.map(({ path, expected }) => {
      const position = file.parsed!.positionOf(path);
      const where = position ? `${file.path}:${position.line}:${position.column}` : file.path;
      return `${where}: ${path.join('.') || 'the file'}: expected ${expected}`;
    });
    return {
      error: new PatchbayError('config-shape', messages.join('\n'), {
        hint: `Fix the policy in ${file.path}; patchbay will not rewrite it while it is broken.`,
      }),
    };
  }
  return { doc };
}

const DECISION_TEXT = '"allow", "ask" or "deny"';

function checkDoc(
  value: JsonValue,
  at: string[],
  problems: Array<{ path: string[]; expected: string }>,
): PolicyDoc {
  const doc: PolicyDoc = {};
  if (!isObject(value)) {
    problems.push({ path: at, expected: 'an object' });
    return doc;
  }
  const fallback = getOwn(value, 'default');
  if (fallback !== undefined) {
    if (isDecision(fallback)) doc.default = fallback;
    else problems.push({ path: [...at, 'default'], expected: DECISION_TEXT });
  }
  const servers = getOwn(value, 'servers');
  if (servers === undefined) return doc;
  if (!isObject(servers)) {
    problems.push({ path: [...at, 'servers'], expected: 'an object of server names' });
    return doc;
  }
  doc.servers = {};
  for (const [name, raw] of Object.entries(servers)) {
    const here = [...at, 'servers', name];
    if (!isObject(raw)) {
      problems.push({
        path: here,
        expected: 'an object ({ "enabled", "tools", "groups", "limits", "memberLimits", "rules" })',
      });
      continue;
    }
    const server: ServerPolicy = {};
    const enabled = getOwn(raw, 'enabled');
    if (enabled !== undefined) {
      if (typeof enabled === 'boolean') server.enabled = enabled;
      else problems.push({ path: [...here, 'enabled'], expected: 'true or false' });
    }
    const tools = getOwn(raw, 'tools');
    if (tools !== undefined) {
      if (!isObject(tools))
        problems.push({ path: [...here, 'tools'], expected: 'an object of tool → decision' });
      else {
        server.tools = {};
        for (const [pattern, decision] of Object.entries(tools)) {
          if (isDecision(decision)) server.tools[pattern] = decision;
          else problems.push({ path: [...here, 'tools', pattern], expected: DECISION_TEXT });
        }
      }
    }
    const groups = getOwn(raw, 'groups');
    if (groups !== undefined) {
      if (!isObject(groups))
        problems.push({
          path: [...here, 'groups'],
          expected: 'an object of "read-only" | "other" → decision',
        });
      else {
        server.groups = {};
        for (const [group, decision] of Object.entries(groups)) {
          if (!isToolGroup(group))
            problems.push({
              path: [...here, 'groups', group],
              expected: 'a group named "read-only" or "other"',
            });
          else if (isDecision(decision)) server.groups[group] = decision;
          else problems.push({ path: [...here, 'groups', group], expected: DECISION_TEXT });
        }
      }
    }
    const limits = checkLimits(raw, 'limits', here, problems);
    if (limits) server.limits = limits;
    const memberLimits = checkLimits(raw, 'memberLimits', here, problems);
    if (memberLimits) server.memberLimits = memberLimits;
    const rules = getOwn(raw, 'rules');
    if (rules !== undefined) {
      if (!Array.isArray(rules))
        problems.push({
          path: [...here, 'rules'],
          expected: 'a list of { "members", "groups", "tools", "limits", "memberLimits" }',
        });
      else
        server.rules = rules.map((rule, index) =>
          checkMemberRule(rule, [...here, 'rules', String(index)], problems),
        );
    }
    doc.servers[name] = server;
  }
  return doc;
}

function checkTools(
  raw: JsonObject,
  here: string[],
  problems: Array<{ path: string[]; expected: string }>,
): Record<string, Decision> | undefined {
  const tools = getOwn(raw, 'tools');
  if (tools === undefined) return undefined;
  if (!isObject(tools)) {
    problems.push({ path: [...here, 'tools'], expected: 'an object of tool → decision' });
    return undefined;
  }
  const checked: Record<string, Decision> = {};
  for (const [pattern, decision] of Object.entries(tools)) {
    if (isDecision(decision)) checked[pattern] = decision;
    else problems.push({ path: [...here, 'tools', pattern], expected: DECISION_TEXT });
  }
  return checked;
}

function checkLimits(
  raw: JsonObject,
  field: 'limits' | 'memberLimits',
  here: string[],
  problems: Array<{ path: string[]; expected: string }>,
): Record<string, string> | undefined {
  const limits = getOwn(raw, field);
  if (limits === undefined) return undefined;
  if (!isObject(limits)) {
    problems.push({ path: [...here, field], expected: 'an object of tool → "N/minute|hour|day"' });
    return undefined;
  }
  const checked: Record<string, string> = {};
  for (const [pattern, limit] of Object.entries(limits)) {
    if (typeof limit === 'string') checked[pattern] = limit;
    else problems.push({ path: [...here, field, pattern], expected: 'a string like "100/hour"' });
  }
  return checked;
}

function checkNames(
  raw: JsonObject,
  field: 'members' | 'groups',
  here: string[],
  problems: Array<{ path: string[]; expected: string }>,
): string[] | undefined {
  const names = getOwn(raw, field);
  if (names === undefined) return undefined;
  if (!Array.isArray(names) || !names.every((name) => typeof name === 'string' && name.length > 0)) {
    problems.push({
      path: [...here, field],
      expected: field === 'members' ? 'a list of subjects or emails' : 'a list of group names',
    });
    return undefined;
  }
  return names as string[];
}

function checkMemberRule(
  raw: JsonValue,
  here: string[],
  problems: Array<{ path: string[]; expected: string }>,
): MemberRule {
  const rule: MemberRule = {};
  if (!isObject(raw)) {
    problems.push({
      path: here,
      expected: 'an object ({ "members", "groups", "tools", "limits", "memberLimits" })',
    });
    return rule;
  }
  const members = checkNames(raw, 'members', here, problems);
  if (members) rule.members = members;
  const groups = checkNames(raw, 'groups', here, problems);
  if (groups) rule.groups = groups;
  const tools = checkTools(raw, here, problems);
  if (tools) rule.tools = tools;
  const limits = checkLimits(raw, 'limits', here, problems);
  if (limits) rule.limits = limits;
  const memberLimits = checkLimits(raw, 'memberLimits', here, problems);
  if (memberLimits) rule.memberLimits = memberLimits;
  return rule;
}

export function isDecision(value: unknown): value is Decision {
  return typeof value === 'string' && (DECISIONS as readonly string[]).includes(value);
}

export async function readTeamPolicyFile(projectRoot: string): Promise<LoadedFile> {
  return readJsonFile(teamPolicyPath(projectRoot));
}

// ---------------------------------------------------------------------------------------------
// The user's decision about the project's file: in their own config (never in the project), under
// `projects["<project root>"].policyFileChoice`, bound to the file's content digest.

export const POLICY_FILE_CHOICE = 'policyFileChoice';

export interface PolicyFileChoice {
  decision: 'approved' | 'rejected';
  /** `contentDigest` of the file's JSON as it was when the decision was made. */
  sha256: string;
}

/** The stored decision (undefined when none, or malformed: then the file is pending). */
export function readPolicyFileChoice(
  userFile: LoadedFile,
  projectRoot: string,
): PolicyFileChoice | undefined {
  const root = userFile.parsed?.value;
  if (!isObject(root)) return undefined;
  const projects = getOwn(root, 'projects');
  const project = isObject(projects) ? getOwn(projects, projectRoot) : undefined;
  const stored = isObject(project) ? getOwn(project, POLICY_FILE_CHOICE) : undefined;
  if (!isObject(stored)) return undefined;
  const decision = getOwn(stored, 'decision');
  const sha256 = getOwn(stored, 'sha256');
  if ((decision !== 'approved' && decision !== 'rejected') || typeof sha256 !== 'string') return undefined;
  return { decision, sha256 };
}

/** Record the user's decision about the project's policy file as it reads with digest `sha256`. */
export async function recordPolicyFileChoice(
  paths: PolicyPaths,
  decision: 'approved' | 'rejected',
  sha256: string,
): Promise<void> {
  await updateJsonFile(
    paths.userConfigPath,
    (root) => {
      const project = objectAt(root, ['projects', paths.projectRoot], paths.userConfigPath);
      const choice = createObject();
      setOwn(choice, 'decision', decision);
      setOwn(choice, 'sha256', sha256);
      setOwn(choice, 'at', new Date().toISOString());
      setOwn(project, POLICY_FILE_CHOICE, choice);
      return { write: true, result: undefined };
    },
    { secret: true },
  );
}

// ---------------------------------------------------------------------------------------------
// Writing: one scope's document, changed under the file's lock (a broken file is refused).

/**
 * Change one scope's policy document. `edit` sees the live server policy object (created when
 * missing) and returns whether it changed anything.
 */
export async function editServerPolicy(
  scope: PolicyScope,
  paths: { userConfigPath: string; projectRoot: string },
  server: string,
  edit: (policy: JsonObject) => boolean,
): Promise<{ path: string; changed: boolean }> {
  const { path, at } = policyLocation(scope, paths);
  // The user's own edit of the project's file: if they had approved the file as it was (or there
  // was none), they approve it with their edit; a teammate's unapproved content stays pending.
  const approved =
    scope === 'project'
      ? readPolicyFileChoice(await readJsonFile(paths.userConfigPath), paths.projectRoot)
      : undefined;
  let carried: string | undefined;
  const changed = await updateJsonFile(
    path,
    (root, file) => {
      const before = file.parsed ? contentDigest(file.parsed.value) : undefined;
      const trusted =
        before === undefined || (approved?.decision === 'approved' && approved.sha256 === before);
      const check = readPolicyDoc(file, at);
      if (check.error)
        throw new PatchbayError(check.error.code, `${check.error.message}\nThe file was left unchanged.`, {
          hint: check.error.hint,
        });
      const doc = objectAt(root, at, path);
      const servers = objectAt(doc, ['servers'], path);
      const policy = objectAt(servers, [server], path);
      const changed = edit(policy);
      // Leave no empty shells behind (an emptied server, then an emptied `servers`).
      for (const key of ['tools', 'groups', 'limits', 'memberLimits']) {
        const inner = getOwn(policy, key);
        if (isObject(inner) && Object.keys(inner).length === 0) delete policy[key];
      }
      const rules = getOwn(policy, 'rules');
      if (Array.isArray(rules) && rules.length === 0) delete policy['rules'];
      if (Object.keys(policy).length === 0) delete servers[server];
      if (Object.keys(servers).length === 0) delete doc['servers'];
      if (scope === 'project' && changed && trusted) carried = contentDigest(root);
      return { write: changed, result: changed };
    },
    // The user's config holds secrets (headers, env) and stays private; the team file is committed.
    scope === 'project' ? {} : { secret: true },
  );
  if (carried) await recordPolicyFileChoice(paths, 'approved', carried);
  return { path, changed };
}

type PolicyPaths = { userConfigPath: string; projectRoot: string };

/** A tool rule of one scope: a decision for a name or glob, or `default` to remove it. */
export function setToolRule(
  scope: PolicyScope,
  paths: PolicyPaths,
  server: string,
  pattern: string,
  decision: Decision | 'default',
): Promise<{ path: string; changed: boolean }> {
  return setPatternValue(
    scope,
    paths,
    server,
    'tools',
    pattern,
    decision === 'default' ? undefined : decision,
  );
}

/** A group's decision in one scope (`read-only` or `other` tools), or `default` to remove it. */
export function setGroupRule(
  scope: PolicyScope,
  paths: PolicyPaths,
  server: string,
  group: ToolGroup,
  decision: Decision | 'default',
): Promise<{ path: string; changed: boolean }> {
  return setPatternValue(
    scope,
    paths,
    server,
    'groups',
    group,
    decision === 'default' ? undefined : decision,
  );
}

/** A limit of one scope (`*`: the whole server), or `none` to remove it. */
export function setLimit(
  scope: PolicyScope,
  paths: PolicyPaths,
  server: string,
  pattern: string,
  limit: string,
): Promise<{ path: string; changed: boolean }> {
  return setPatternValue(scope, paths, server, 'limits', pattern, limit === 'none' ? undefined : limit);
}

/** The members and groups a rule names (both empty: everyone). */
export interface Audience {
  members: string[];
  groups: string[];
}

export function hasAudience(audience: Audience | undefined): audience is Audience {
  return audience !== undefined && (audience.members.length > 0 || audience.groups.length > 0);
}

const sameNames = (a: unknown, b: string[]) => {
  const have = Array.isArray(a) ? (a as unknown[]).map(String) : [];
  return have.length === b.length && [...have].sort().join('\u0000') === [...b].sort().join('\u0000');
};

/**
 * Set (or, given undefined, remove) a value of the `rules` entry for exactly these members and
 * groups (made when missing, dropped when emptied): a member-scoped permission or limit.
 */
export function setMemberRuleValue(
  scope: PolicyScope,
  paths: PolicyPaths,
  server: string,
  audience: Audience,
  field: 'tools' | 'limits' | 'memberLimits',
  pattern: string,
  value: string | undefined,
): Promise<{ path: string; changed: boolean }> {
  return editServerPolicy(scope, paths, server, (policy) => {
    const existing = getOwn(policy, 'rules');
    const rules: JsonValue[] = Array.isArray(existing) ? existing : [];
    let rule = rules.find(
      (entry) =>
        isObject(entry) &&
        sameNames(getOwn(entry, 'members'), audience.members) &&
        sameNames(getOwn(entry, 'groups'), audience.groups),
    ) as JsonObject | undefined;
    if (!rule) {
      if (value === undefined) return false;
      rule = createObject();
      if (audience.members.length > 0) setOwn(rule, 'members', [...audience.members]);
      if (audience.groups.length > 0) setOwn(rule, 'groups', [...audience.groups]);
      rules.push(rule);
      if (!Array.isArray(existing)) setOwn(policy, 'rules', rules);
    }
    const inner = getOwn(rule, field);
    const values = (isObject(inner) ? inner : createObject()) as Record<string, JsonValue>;
    if (!isObject(inner)) setOwn(rule, field, values as JsonObject);
    let changed: boolean;
    if (value === undefined) {
      changed = Object.hasOwn(values, pattern);
      delete values[pattern];
    } else {
      changed = values[pattern] !== value;
      values[pattern] = value;
    }
    if (Object.keys(values).length === 0) delete rule[field];
    if (!['tools', 'limits', 'memberLimits'].some((key) => getOwn(rule!, key) !== undefined))
      rules.splice(rules.indexOf(rule), 1);
    return changed;
  });
}

/** A per-member limit of one scope (`*`: the whole server), or `none` to remove it. */
export function setMemberLimit(
  scope: PolicyScope,
  paths: PolicyPaths,
  server: string,
  pattern: string,
  limit: string,
): Promise<{ path: string; changed: boolean }> {
  return setPatternValue(scope, paths, server, 'memberLimits', pattern, limit === 'none' ? undefined : limit);
}

/** Set (or, given undefined, remove) the value a server's `tools`, `groups` or `limits` holds for a key. */
function setPatternValue(
  scope: PolicyScope,
  paths: PolicyPaths,
  server: string,
  field: 'tools' | 'groups' | 'limits' | 'memberLimits',
  pattern: string,
  value: string | undefined,
): Promise<{ path: string; changed: boolean }> {
  return editServerPolicy(scope, paths, server, (policy) => {
    const values = (policy[field] ??= {}) as Record<string, string>;
    if (value === undefined) {
      if (!Object.hasOwn(values, pattern)) return false;
      delete values[pattern];
      return true;
    }
    if (values[pattern] === value) return false;
    values[pattern] = value;
    return true;
  });
}

/** Disable a server in one scope, or take that scope's `enabled: false` away. */
export function setServerEnabled(
  scope: PolicyScope,
  paths: PolicyPaths,
  server: string,
  enabled: boolean,
): Promise<{ path: string; changed: boolean }> {
  return editServerPolicy(scope, paths, server, (policy) => {
    if (enabled) {
      if (policy['enabled'] === undefined) return false;
      delete policy['enabled'];
      return true;
    }
    if (policy['enabled'] === false) return false;
    policy['enabled'] = false;
    return true;
  });
}

/** A tool's name or a glob a rule or limit may name: 1–128 characters, no spaces or controls. */
export function validToolPattern(pattern: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  return pattern.length > 0 && pattern.length <= 128 && !/[\s\u0000-\u001f]/.test(pattern);
}
