/**
 * Writing policy: `patchbay permit <name> <tool-or-glob> allow|ask|deny|default [-s scope]` (or
 * `--group read-only|other <decision>`, the console's group setting),
 * `patchbay enable|disable <name> [-s scope]`, `patchbay limit <name> [tool-or-glob] <N/unit>|none
 * [-s scope]`. On a team gateway, `permit … --member M --group G` writes a rule only for those
 * members (a `rules` entry; `--group` with a tool and a decision names members' groups, without a
 * tool it stays the tools' group), `limit … --per-member N/unit` counts each member apart, and
 * `limit … --member/--group` limits only them (policy/rules has the precedence). The scope is
 * local by default (you, this project); `project` writes the team's committed `.patchbay.json`;
 * `user` every project. Each says what it wrote where, and when a stricter rule elsewhere still
 * decides.
 */

import { PatchbayError } from '../../errors.js';
import {
  DECISIONS,
  hasAudience,
  isDecision,
  isToolGroup,
  setGroupRule,
  setLimit,
  setMemberLimit,
  setMemberRuleValue,
  type Audience,
  setServerEnabled,
  setToolRule,
  TOOL_GROUPS,
  validToolPattern,
  type Decision,
  type PolicyScope,
  type ToolGroup,
} from '../../config/policy-files.js';
import { findServer, notFoundError, type Registry } from '../../config/registry.js';
import { staticState } from '../../config/status.js';
import { validateName } from '../../config/validate.js';
import { audienceText, toolVerdict } from '../../policy/rules.js';
import { note, writeLine, type Io } from '../io.js';
import { loadForCommand } from '../registry-loader.js';
import { parseScope } from './add.js';

export interface PermitOptions {
  name: string;
  /** A tool's name or a glob; or, with `group`, unused. */
  pattern: string;
  /** `--group`: the rule is for every read-only tool, or every other tool, of the server. */
  group?: ToolGroup;
  /** `default` removes the scope's rule for the pattern. */
  decision: Decision | 'default';
  scope: PolicyScope;
  /** `--member`, `--group <members' group>`: the rule is only for them. */
  audience?: Audience;
}

type AudienceFlags = { group?: string | string[]; member?: string | string[] };

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** The members and members' groups named by `--member` and `--group` (undefined: none). */
function parseAudience(flags: AudienceFlags): Audience | undefined {
  const audience = { members: list(flags.member), groups: list(flags.group) };
  for (const name of [...audience.members, ...audience.groups])
    if (name.trim() === '' || name.length > 256)
      throw new PatchbayError('usage', `Invalid member or group ${JSON.stringify(name)}.`, {
        hint: 'For example: --member alice@example.com --group eng',
      });
  return hasAudience(audience) ? audience : undefined;
}

export function parsePermitOptions(
  name: string,
  pattern: string,
  decisionArgument: string | undefined,
  flags: { scope?: string } & AudienceFlags,
): PermitOptions {
  const groups = list(flags.group);
  // `--group read-only|other`, or any group without a tool: the tools' group (given in place of the tool).
  if (groups.length > 0 && (decisionArgument === undefined || groups.some((group) => isToolGroup(group))))
    return parseGroupPermit(name, pattern, decisionArgument, { ...flags, group: groups.join(',') });
  if (decisionArgument === undefined)
    throw new PatchbayError('usage', 'Missing the decision: allow, ask, deny or default.', {
      hint: `For example: patchbay permit ${name} ${pattern} ask`,
    });
  const decision = decisionArgument;
  if (!isDecision(decision) && decision !== 'default')
    throw new PatchbayError(
      'usage',
      `Invalid decision ${JSON.stringify(decision)}: expected ${DECISIONS.join(', ')} or default.`,
      { hint: `For example: patchbay permit ${name} 'delete_*' deny` },
    );
  const audience = parseAudience(flags);
  return {
    name: validateName(name),
    pattern: validPattern(pattern),
    decision,
    scope: parseScope(flags.scope),
    ...(audience ? { audience } : {}),
  };
}

/** `permit <name> --group read-only|other <decision>`: the decision is the second argument. */
function parseGroupPermit(
  name: string,
  decision: string,
  extra: string | undefined,
  flags: { scope?: string; group?: string; member?: string | string[] },
): PermitOptions {
  if (flags.member !== undefined)
    throw new PatchbayError('usage', '--member takes a tool and a decision, not a tools group.', {
      hint: `For example: patchbay permit ${name} '*' allow --member alice@example.com`,
    });
  const example = `patchbay permit ${name} --group read-only allow`;
  if (!isToolGroup(flags.group))
    throw new PatchbayError(
      'usage',
      `Invalid group ${JSON.stringify(flags.group)}: expected ${TOOL_GROUPS.join(' or ')} (a members' group takes a tool and a decision: patchbay permit ${name} <tool-or-glob> ${decision} --group ${flags.group}).`,
      {
        hint: `For example: ${example}`,
      },
    );
  if (extra !== undefined)
    throw new PatchbayError('usage', 'With --group, give only the decision after the server name.', {
      hint: `For example: ${example}`,
    });
  if (!isDecision(decision) && decision !== 'default')
    throw new PatchbayError(
      'usage',
      `Invalid decision ${JSON.stringify(decision)}: expected ${DECISIONS.join(', ')} or default.`,
      { hint: `For example: ${example}` },
    );
  return {
    name: validateName(name),
    pattern: '',
    group: flags.group,
    decision,
    scope: parseScope(flags.scope),
  };
}

/** A tool name or glob: what a tool name may hold, plus `*` and `?`. */
function validPattern(pattern: string): string {
  if (!validToolPattern(pattern))
    throw new PatchbayError('usage', `Invalid tool or glob ${JSON.stringify(pattern)}.`, {
      hint: "A tool's name, or a glob such as 'delete_*' (quote it for the shell).",
    });
  return pattern;
}

export async function runPermit(options: PermitOptions, io: Io): Promise<number> {
  const registry = await knownServer(options.name, io);
  const { path, changed } = options.group
    ? await setGroupRule(options.scope, paths(registry), options.name, options.group, options.decision)
    : options.audience
      ? await setMemberRuleValue(
          options.scope,
          paths(registry),
          options.name,
          options.audience,
          'tools',
          options.pattern,
          options.decision === 'default' ? undefined : options.decision,
        )
      : await setToolRule(options.scope, paths(registry), options.name, options.pattern, options.decision);
  const what = options.group
    ? `${options.name}'s ${options.group === 'read-only' ? 'read-only tools' : 'other tools (not read-only)'}`
    : `${options.name} ${options.pattern}${options.audience ? ` for ${audienceText(options.audience)}` : ''}`;
  if (options.decision === 'default')
    note(
      io,
      changed
        ? `Removed the rule for ${what} from ${path} (${options.scope}).`
        : `No rule for ${what} in ${path}.`,
    );
  else
    note(
      io,
      `${what}: ${options.decision} (${options.scope}, ${path})${changed ? '' : ', as it already was'}.`,
    );
  // What now decides, for a tool named exactly so: a stricter rule elsewhere may still win.
  if (!options.group && !options.audience && !/[*?]/.test(options.pattern)) {
    const after = await loadForCommand(io);
    const verdict = toolVerdict(options.name, { name: options.pattern }, after.policy.sources);
    if (options.decision === 'default' || verdict.decision !== options.decision)
      note(io, `In effect now: ${verdict.decision} (${verdict.because}).`);
  }
  return 0;
}

export interface EnableOptions {
  name: string;
  enabled: boolean;
  scope: PolicyScope;
}

export function parseEnableOptions(name: string, enabled: boolean, flags: { scope?: string }): EnableOptions {
  return { name: validateName(name), enabled, scope: parseScope(flags.scope) };
}

export async function runEnable(options: EnableOptions, io: Io): Promise<number> {
  const registry = await knownServer(options.name, io);
  const { path, changed } = await setServerEnabled(
    options.scope,
    paths(registry),
    options.name,
    options.enabled,
  );
  const verb = options.enabled ? 'Enabled' : 'Disabled';
  note(io, `${verb} ${options.name} in ${path} (${options.scope})${changed ? '' : ': it already was'}.`);
  const after = await loadForCommand(io);
  const server = findServer(after, options.name);
  if (options.enabled && server) {
    const state = staticState(server, io.env);
    if (state.status === 'disabled')
      note(io, `It is still not used: ${state.reason}. ${state.hint ?? ''}`.trim());
  }
  return 0;
}

export interface LimitOptions {
  name: string;
  /** `*`: every tool of the server together. */
  pattern: string;
  /** `none` removes the limit. */
  limit: string;
  scope: PolicyScope;
  /** `--per-member`: counted for each member apart. */
  perMember?: boolean;
  /** `--member`, `--group`: the limit is only for them. */
  audience?: Audience;
}

export async function parseLimitOptions(
  name: string,
  rest: string[],
  flags: { scope?: string; perMember?: string } & AudienceFlags,
): Promise<LimitOptions> {
  const audience = parseAudience(flags);
  const extra = {
    ...(audience ? { audience } : {}),
    ...(flags.perMember !== undefined ? { perMember: true } : {}),
  };
  if (flags.perMember !== undefined) {
    if (rest.length > 1)
      throw new PatchbayError(
        'usage',
        'With --per-member, give at most the tool or glob after the server name.',
        {
          hint: `For example: patchbay limit ${name} --per-member 20/hour, or patchbay limit ${name} 'create_*' --per-member 5/day`,
        },
      );
    return {
      ...(await parseLimitOptions(name, [...rest, flags.perMember], { ...flags, perMember: undefined })),
      ...extra,
    };
  }
  if (rest.length < 1 || rest.length > 2)
    throw new PatchbayError(
      'usage',
      'Expected: patchbay limit <name> [tool-or-glob] <N>/<minute|hour|day>.',
      {
        hint: `For example: patchbay limit ${name} 100/hour, or patchbay limit ${name} 'create_*' 5/day`,
      },
    );
  const limit = rest[rest.length - 1]!;
  if (limit !== 'none') {
    const { parseLimit } = await import('../../policy/limits.js');
    parseLimit(limit);
  }
  return {
    name: validateName(name),
    pattern: rest.length === 2 ? validPattern(rest[0]!) : '*',
    limit: limit.replace(/\s+/g, ''),
    scope: parseScope(flags.scope),
    ...extra,
  };
}

export async function runLimit(options: LimitOptions, io: Io): Promise<number> {
  const registry = await knownServer(options.name, io);
  const value = options.limit === 'none' ? undefined : options.limit;
  const { path, changed } = options.audience
    ? await setMemberRuleValue(
        options.scope,
        paths(registry),
        options.name,
        options.audience,
        options.perMember ? 'memberLimits' : 'limits',
        options.pattern,
        value,
      )
    : options.perMember
      ? await setMemberLimit(options.scope, paths(registry), options.name, options.pattern, options.limit)
      : await setLimit(options.scope, paths(registry), options.name, options.pattern, options.limit);
  const what =
    (options.pattern === '*'
      ? `${options.name} (all its tools together)`
      : `${options.name} ${options.pattern}`) +
    (options.audience ? ` for ${audienceText(options.audience)}` : '') +
    (options.perMember ? ', per member' : '');
  if (options.limit === 'none')
    note(
      io,
      changed
        ? `Removed the limit of ${what} from ${path} (${options.scope}).`
        : `No limit of ${what} in ${path}.`,
    );
  else
    writeLine(
      io.stderr,
      `Limit of ${what}: ${options.limit} (${options.scope}, ${path})${changed ? '' : ', as it already was'}.`,
    );
  return 0;
}

async function knownServer(name: string, io: Io): Promise<Registry> {
  const registry = await loadForCommand(io);
  if (!findServer(registry, name)) throw notFoundError(registry, name);
  return registry;
}

function paths(registry: Registry) {
  return { userConfigPath: registry.context.userConfigPath, projectRoot: registry.context.projectRoot };
}
