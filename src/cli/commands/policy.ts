/**
 * `patchbay policy [name]`: what decides each tool of each server, and where that was written;
 * `patchbay review <name> [--accept [tool...]]`: the tool definitions that changed since they were
 * pinned, as a diff, and accepting them.
 *
 * `policy` is a read command. It pins nothing: verdicts come from the rules (policy/rules) and the
 * pins are only compared. A tool that differs from its pin is recorded as changed (never re-pinned),
 * so that `patchbay review` can show the change `policy` flagged. A server the administrator's
 * policy blocks, or one that is disabled or not approved, is never contacted.
 *
 * `policy --json` prints an array, one object per server, with these keys (all always present):
 *
 *   server      the server's name
 *   status      connected | needs-auth | failed (checked), unchecked (--no-check),
 *               disabled | pending-approval (not contacted), as in `patchbay list`
 *   reason      why it is not usable or could not be reached; null otherwise
 *   hint        the next command to run; null when there is none
 *   default     { decision, scope, path }: the strictest `default` of the policy files; null when
 *               none is set (then annotations decide)
 *   tools       null when not contacted; else one object per listed tool:
 *                 name, decision (allow|ask|deny),
 *                 source { kind: rule|default|annotations, scope, path, pattern } (null when n/a),
 *                 because (the reason in words), changed (its definition differs from its pin),
 *                 changedAt (when that change was first seen; null), pinned (a pin exists),
 *                 limits [ limit objects, below: every limit that counts its calls ]
 *   rules       every tool rule of the policy files for this server:
 *                 { pattern, decision, scope, path, matches, heldBack } — matches: the listed
 *                 tools the pattern names (null when not contacted; [] points at a typo);
 *                 heldBack: true for a rule of the unapproved project file that would loosen
 *                 (it has no effect until `patchbay approve --policy`)
 *               audience: present only on a rule for some members: { members, groups } (the
 *                 tools' verdicts above are those of a caller no rule names: stdio, the token)
 *   limits      every limit of the policy files for this server: limit objects
 *   memberLimits  (present only when there are any) limits counted per member or only for some
 *               members: { pattern, limit, scope,
 *               path, perMember (counted for each member apart), audience ({ members, groups },
 *               null: everyone) }
 *   changes     tools recorded as changed since pinned and not reviewed: [{ tool, changedAt }]
 *   upstreamCredential  only for a perMember server: "member" (a team gateway calls it with each
 *               member's own login); absent: "shared" (one login for every caller)
 *   projectPolicy  null when the project has no readable .patchbay.json; else { path, sha256,
 *               state: approved | pending | rejected | not-needed (it only tightens), hint,
 *               changes: [{ effect: loosens|tightens|none, server, what, why }] } — the file's
 *               entries about this server and its default; what loosens waits for approval
 *
 * A limit object: { pattern, limit, scope, path, used, reopensAt, problem } — used: calls in the
 * current window; reopensAt: ISO time the window ends; both null with `problem` (the reason the
 * limit text cannot be used) when it is invalid.
 *
 * `review --json` prints { server, changes: [{ tool, summary, fields, pinnedAt, changedAt,
 * pinnedDigest, newDigest, old, new, diff }], accept: null | { accepted, stale, notChanged } }.
 */

import { EXIT, PatchbayError } from '../../errors.js';
import type { Decision, PolicyScope, PolicySource } from '../../config/policy-files.js';
import {
  findServer,
  selectServers,
  notFoundError,
  type EffectiveServer,
  type PolicySet,
  type Registry,
} from '../../config/registry.js';
import { staticState, type ServerStatus, type StaticState } from '../../config/status.js';
import { validateName } from '../../config/validate.js';
import { parseStateOption } from '../../state/open.js';
import { formatDuration, parseLimit, type LimitCounter } from '../../policy/limits.js';
import {
  configuredServerKey,
  acceptChanges,
  changedTools,
  type ListedTool,
  type PinStoreOptions,
  type ToolChange,
} from '../../policy/pins.js';
import { diffViews } from '../../policy/pin-diff.js';
import { limitStates, type LimitState } from '../../policy/limit-usage.js';
import {
  classifyPolicyFile,
  loosensText,
  projectPolicyStatus,
  type ProjectPolicyStatus,
} from '../../policy/project-file.js';
import { audienceText, defaultInEffect, globMatches, type DecisionSource } from '../../policy/rules.js';
import { timeoutFrom } from '../health.js';
import { CHECK_POOL_SIZE, mapBounded } from '../../core/pool.js';
import { listServerTools, toolPermissionViews, type ToolListing } from '../../use/tool-views.js';
import { note, paint, printJson, useColor, writeLine, type Io, type Paint } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import { liveView } from '../progress.js';
import { hasBrokenFile, loadForCommand } from '../registry-loader.js';
import { healthExitCode, printNoServers } from '../server-view.js';

// ---------------------------------------------------------------------------------------------
// patchbay policy

export interface PolicyOptions {
  /** One server, or every configured server. */
  name: string | undefined;
  json: boolean;
  /** false with --no-check: the files only, nothing contacted. */
  check: boolean;
  timeoutMs: number;
  /** `--state redis://…`: a team gateway's pins and limit counts, in its state store; unset: this machine's. */
  state?: string;
}

export function parsePolicyOptions(
  name: string | undefined,
  raw: { json?: boolean; check?: boolean; timeout?: string; state?: string },
  env: NodeJS.ProcessEnv,
): PolicyOptions {
  const state = parseStateOption(raw.state);
  return {
    name: name === undefined ? undefined : validateName(name),
    json: Boolean(raw.json),
    check: raw.check !== false,
    timeoutMs: timeoutFrom(raw.timeout, env),
    ...(state !== undefined ? { state } : {}),
  };
}

export type LimitView = LimitState;

export interface ToolPolicyView {
  name: string;
  decision: Decision;
  source: {
    kind: DecisionSource['kind'];
    scope: PolicyScope | null;
    path: string | null;
    pattern: string | null;
  };
  because: string;
  changed: boolean;
  changedAt: string | null;
  pinned: boolean;
  limits: LimitView[];
}

export interface RuleView {
  pattern: string;
  decision: Decision;
  scope: PolicyScope;
  path: string;
  matches: string[] | null;
  /** A rule of the unapproved project file that would loosen: no effect until approved. */
  heldBack: boolean;
  /** A rule for some members only: whom it names. */
  audience?: { members: string[]; groups: string[] };
}

export interface MemberLimitView {
  pattern: string;
  limit: string;
  scope: PolicyScope;
  path: string;
  /** Counted for each member apart. */
  perMember: boolean;
  /** Only for these members or groups; null: everyone. */
  audience: { members: string[]; groups: string[] } | null;
}

export interface ServerPolicyView {
  server: string;
  status: ServerStatus;
  reason: string | null;
  hint: string | null;
  default: { decision: Decision; scope: PolicyScope; path: string } | null;
  tools: ToolPolicyView[] | null;
  rules: RuleView[];
  limits: LimitView[];
  /** Present only when a policy file sets limits per member or for some members. */
  memberLimits?: MemberLimitView[];
  changes: Array<{ tool: string; changedAt: string }>;
  projectPolicy: ProjectPolicyStatus | null;
  /** Only for a perMember server (absent means the one shared login). */
  upstreamCredential?: 'member';
}

/** What a contact with the server gave: its tools, or why there are none. */
type Listing = ToolListing;

export async function runPolicy(options: PolicyOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const servers = selectServers(registry, options.name);
  const targets = servers.map((server) => ({ server, state: staticState(server, io.env) }));
  const listings = options.check
    ? await listAll(targets, options.timeoutMs, io)
    : new Array<Listing | undefined>(targets.length).fill(undefined);
  const views = await withSharedState(options.state, io, (shared) =>
    Promise.all(
      targets.map(({ server, state }, index) =>
        policyView(server, state, listings[index], registry.policy, shared, io),
      ),
    ),
  );

  if (options.json) printJson(io, views);
  else printPolicies(views, options, io, registry, projectPolicyStatus(registry.policy));

  if (hasBrokenFile(registry)) return EXIT.usage;
  // The codes of `list`: a login missing 4, an approval pending 5, a server not reached 8.
  return healthExitCode(views);
}

/** Every contactable server's tools at once (bounded pool, each within its own timeout). */
async function listAll(
  targets: Array<{ server: EffectiveServer; state: StaticState }>,
  timeoutMs: number,
  io: Io,
): Promise<Array<Listing | undefined>> {
  const results = new Array<Listing | undefined>(targets.length).fill(undefined);
  const work = targets.flatMap(({ server, state }, index) =>
    state.resolved ? [{ server, entry: state.resolved, index }] : [],
  );
  if (work.length === 0) return results;
  const live = liveView(io);
  let done = 0;
  const status = () =>
    `Listing the tools of ${work.length} server${work.length === 1 ? '' : 's'}… ${done}/${work.length} done`;
  live.status(status());
  try {
    // The SDK is loaded only when something is to be contacted: --no-check never pays for it.
    await mapBounded(work, CHECK_POOL_SIZE, async ({ server, entry, index }) => {
      results[index] = await listServerTools(server.name, entry, {
        timeoutMs: entry.timeout ?? timeoutMs,
        cwd: io.cwd,
        env: io.env,
        paths: io.paths,
        ...(io.interrupt ? { signal: io.interrupt } : {}),
      });
      done++;
      live.status(status());
    });
  } finally {
    live.finish();
  }
  return results;
}

async function policyView(
  server: EffectiveServer,
  state: StaticState,
  listing: Listing | undefined,
  policy: PolicySet,
  shared: SharedState,
  io: Io,
): Promise<ServerPolicyView> {
  const sources = policy.sources;
  const key = configuredServerKey(server);
  const limits = await limitStates(server.name, sources, {
    paths: io.paths,
    onWarning: (message) => note(io, message),
    ...(shared.limits ? { counter: shared.limits } : {}),
  });
  const memberLimits = memberLimitViews(server.name, sources);
  const view: ServerPolicyView = {
    server: server.name,
    status: state.status,
    reason: state.reason,
    hint: state.hint ?? null,
    default: defaultView(sources),
    tools: null,
    rules: ruleViews(server.name, sources),
    limits,
    changes: [],
    projectPolicy: projectPolicyStatus(policy, server.name),
    ...(memberLimits.length > 0 ? { memberLimits } : {}),
    ...(server.winner.entry?.perMember ? { upstreamCredential: 'member' as const } : {}),
  };
  if (listing && !listing.ok) {
    view.status = listing.status;
    view.reason = listing.reason;
    view.hint = listing.hint;
  } else if (listing?.ok) {
    view.status = 'connected';
    view.reason = null;
    view.hint = null;
    view.tools = await toolViews(server.name, key, listing.tools, sources, limits, shared.pins);
    for (const rule of view.rules)
      rule.matches = listing.tools
        .map((tool) => tool.name)
        .filter((name) => rule.pattern === name || globMatches(rule.pattern, name));
  }
  // Read after the listing: a change this run just noticed is among them.
  view.changes = (await changedTools(key, shared.pins)).map((change) => ({
    tool: change.name,
    changedAt: change.changedAt,
  }));
  return view;
}

async function toolViews(
  server: string,
  key: string,
  tools: ListedTool[],
  sources: PolicySource[],
  limits: LimitView[],
  pins: PinStoreOptions,
): Promise<ToolPolicyView[]> {
  const views = await toolPermissionViews(server, key, tools, sources, limits, pins.paths, pins.storage);
  return views.map((view) => ({
    name: view.name,
    decision: view.decision,
    source: {
      kind: view.source.kind,
      scope: view.source.scope,
      path: view.source.path,
      pattern: view.source.pattern,
    },
    because: view.because,
    changed: view.changed,
    changedAt: view.changedAt,
    pinned: view.pinned,
    limits: view.limits,
  }));
}

/** The `default` in effect (an unapproved project file's only where it tightens). */
function defaultView(sources: PolicySource[]): ServerPolicyView['default'] {
  const verdict = defaultInEffect(sources);
  if (!verdict || verdict.source.kind !== 'default') return null;
  return { decision: verdict.decision, scope: verdict.source.scope, path: verdict.source.path };
}

function ruleViews(server: string, sources: PolicySource[]): RuleView[] {
  const trusted = sources.filter((source) => source.unapproved === undefined);
  return sources.flatMap((source) => {
    const loosening = source.unapproved
      ? new Set(
          classifyPolicyFile(source.doc, trusted)
            .filter(
              (change) => change.effect === 'loosens' && change.kind === 'rule' && change.server === server,
            )
            .map((change) => change.pattern),
        )
      : undefined;
    const everyone = Object.entries(source.doc.servers?.[server]?.tools ?? {}).map(([pattern, decision]) => ({
      pattern,
      decision,
      scope: source.scope,
      path: source.path,
      matches: null,
      heldBack: loosening?.has(pattern) ?? false,
    }));
    // Rules for some members (the project file's are held back like its others when they loosen).
    const scoped = (source.doc.servers?.[server]?.rules ?? []).flatMap((rule) =>
      Object.entries(rule.tools ?? {}).map(([pattern, decision]) => ({
        pattern,
        decision,
        scope: source.scope,
        path: source.path,
        matches: null,
        heldBack: source.unapproved !== undefined && decision !== 'deny',
        audience: { members: rule.members ?? [], groups: rule.groups ?? [] },
      })),
    );
    return [...everyone, ...scoped];
  });
}

function memberLimitViews(server: string, sources: PolicySource[]): MemberLimitView[] {
  return sources.flatMap((source) => {
    const policy = source.doc.servers?.[server];
    const at = { scope: source.scope, path: source.path };
    return [
      ...Object.entries(policy?.memberLimits ?? {}).map(([pattern, limit]) => ({
        pattern,
        limit,
        ...at,
        perMember: true,
        audience: null,
      })),
      ...(policy?.rules ?? []).flatMap((rule) => {
        const audience = { members: rule.members ?? [], groups: rule.groups ?? [] };
        return [
          ...Object.entries(rule.limits ?? {}).map(([pattern, limit]) => ({
            pattern,
            limit,
            ...at,
            perMember: false,
            audience,
          })),
          ...Object.entries(rule.memberLimits ?? {}).map(([pattern, limit]) => ({
            pattern,
            limit,
            ...at,
            perMember: true,
            audience,
          })),
        ];
      }),
    ];
  });
}

// ---------------------------------------------------------------------------------------------
// patchbay policy: the human output

const STATUS_WORDS: Record<ServerStatus, string> = {
  connected: 'usable',
  unchecked: 'usable',
  disabled: 'disabled',
  'pending-approval': 'pending approval',
  failed: 'not reached',
  'needs-auth': 'needs login',
};

function printPolicies(
  views: ServerPolicyView[],
  options: PolicyOptions,
  io: Io,
  registry: Registry,
  projectPolicy: ProjectPolicyStatus | null,
): void {
  const p = paint(useColor(io, 'stdout'));
  if (views.length === 0) return printNoServers(io);
  writeLine(io.stderr, p.dim(`Project: ${registry.context.projectRoot}`));
  if (registry.policy.sources.length === 0)
    writeLine(io.stderr, p.dim('No policy files set anything: annotations decide every tool.'));
  if (projectPolicy) {
    printProjectPolicy(projectPolicy, io, p);
    writeLine(io.stdout);
  }
  views.forEach((view, index) => {
    if (index > 0) writeLine(io.stdout);
    printServer(view, options, io, p);
  });
}

/**
 * The project's .patchbay.json: its state, and each entry with what it does —
 *   pending: /…/.patchbay.json would set default allow, allow ev/*
 *     only what it tightens is in effect until you approve it
 *     waits    allow ev/*  …
 */
function printProjectPolicy(status: ProjectPolicyStatus, io: Io, p: Paint): void {
  const out = (line: string) => writeLine(io.stdout, line);
  const text = (value: string) => terminalText(value);
  const waiting = status.state === 'pending' || status.state === 'rejected';
  const would = loosensText(status);
  const path = p.bold(text(status.path));
  if (status.state === 'approved') out(`${p.green('approved:')} ${path} ${p.dim('(in effect as written)')}`);
  else if (status.state === 'not-needed')
    out(`${path} ${p.dim('only tightens: in effect, nothing to approve')}`);
  else {
    const colour = status.state === 'pending' ? p.yellow : p.red;
    out(`${colour(`${status.state}:`)} ${path}${would ? ` would ${text(would)}` : ''}`);
    out(`  ${p.dim(`only what it tightens is in effect until you approve it`)}`);
  }
  for (const change of status.changes) {
    const label =
      change.effect === 'loosens'
        ? waiting
          ? p.yellow('waits   ')
          : p.green('loosens ')
        : change.effect === 'tightens'
          ? p.green('applies ')
          : p.dim('no effect');
    out(`  ${label} ${text(change.what)}  ${p.dim(text(change.why))}`);
  }
  if (status.hint) out(`  ${p.dim(`\u2192 to take what waits: ${status.hint}`)}`);
}

function printServer(view: ServerPolicyView, options: PolicyOptions, io: Io, p: Paint): void {
  const out = (line: string) => writeLine(io.stdout, line);
  const text = (value: string) => terminalText(value);
  const usable = view.status === 'connected' || view.status === 'unchecked';
  const state = usable
    ? p.green(STATUS_WORDS[view.status])
    : (view.status === 'disabled' || view.status === 'pending-approval' ? p.yellow : p.red)(
        STATUS_WORDS[view.status],
      );
  const detail = view.reason
    ? `: ${text(view.reason)}`
    : view.status === 'unchecked'
      ? p.dim(' (not contacted: --no-check)')
      : '';
  out(`${p.bold(view.server)}  ${state}${detail}`);
  if (view.hint) out(`  ${p.dim(`\u2192 ${text(view.hint)}`)}`);
  if (!usable && view.tools === null && (view.status === 'disabled' || view.status === 'pending-approval'))
    out(`  ${p.dim('not contacted')}`);

  out(
    `  default  ${
      view.default
        ? `${decisionText(view.default.decision, p)} (${text(view.default.path)}, ${view.default.scope})`
        : p.dim('none set: annotations decide (read-only → allow, destructive → ask, otherwise allow)')
    }`,
  );
  out(
    `  login    ${
      view.upstreamCredential === 'member'
        ? "per member (a team gateway calls it with each member's own login)"
        : 'shared (one login for every caller)'
    }`,
  );
  const serverWide = view.limits.filter((limit) => limit.pattern === '*');
  for (const limit of serverWide) out(`  limit    ${limitText(limit, p)}`);

  if (view.tools) {
    if (view.tools.length === 0) out(`  ${p.dim('tools    none listed')}`);
    else {
      out('  tools');
      const width = Math.min(40, Math.max(...view.tools.map((tool) => text(tool.name).length)));
      for (const tool of view.tools) {
        const unpinned = tool.pinned ? '' : `  ${p.dim('not pinned yet')}`;
        out(
          `    ${decisionText(tool.decision, p, 5)}  ${text(tool.name).padEnd(width)}  ${text(tool.because)}${unpinned}`,
        );
        const pad = ' '.repeat(width + 13);
        if (tool.changed)
          out(
            `${pad}${p.yellow(`changed since pinned${tool.changedAt ? ` (seen ${tool.changedAt})` : ''} — patchbay review ${view.server}`)}`,
          );
        for (const limit of tool.limits.filter((limit) => limit.pattern !== '*'))
          out(`${pad}limit ${limitText(limit, p)}`);
      }
    }
  } else if (view.changes.length > 0) {
    for (const change of view.changes)
      out(
        `  ${p.yellow(`${text(change.tool)}: changed since pinned (seen ${change.changedAt}) — patchbay review ${view.server}`)}`,
      );
  }

  const toolLimits = view.limits.filter((limit) => limit.pattern !== '*');
  if (view.rules.length > 0 || (view.tools === null && toolLimits.length > 0)) {
    out('  rules');
    const width = Math.max(...view.rules.map((rule) => text(rule.pattern).length), 0);
    for (const rule of view.rules) {
      const matches =
        rule.matches === null
          ? ''
          : rule.matches.length === 0
            ? `  ${p.yellow('matches no listed tool')}`
            : `  ${p.dim(`matches ${rule.matches.map(text).join(', ')}`)}`;
      const held = rule.heldBack ? `  ${p.yellow('not in effect: the project file is not approved')}` : '';
      const audience = rule.audience ? `  for ${text(audienceText(rule.audience))}` : '';
      out(
        `    ${text(rule.pattern).padEnd(width)}  ${decisionText(rule.decision, p, 5)}${audience}  ${p.dim(`${rule.scope}, ${text(rule.path)}`)}${held}${matches}`,
      );
    }
    // Limits on some tools: with the tools listed they are shown under each; else here.
    if (view.tools === null) for (const limit of toolLimits) out(`    limit ${limitText(limit, p)}`);
  }
  if (view.tools !== null) {
    const named = new Set(view.tools.map((tool) => tool.name));
    for (const limit of toolLimits)
      if (![...named].some((name) => limit.pattern === name || globMatches(limit.pattern, name)))
        out(
          `  ${p.yellow(`limit ${text(limit.pattern)} ${text(limit.limit)} matches no listed tool`)} ${p.dim(`(${limit.scope}, ${text(limit.path)})`)}`,
        );
  }
  for (const limit of view.memberLimits ?? []) {
    const who = [
      limit.audience ? `for ${audienceText(limit.audience)}` : '',
      limit.perMember ? 'per member' : '',
    ]
      .filter(Boolean)
      .join(', ');
    out(
      `  limit    ${text(limit.pattern === '*' ? 'all tools' : limit.pattern)} ${text(limit.limit)} ${text(who)}  ${p.dim(`(${limit.scope}, ${text(limit.path)})`)}`,
    );
  }
  if (!options.check && usable && view.rules.length === 0 && view.limits.length === 0 && !view.memberLimits)
    out(`  ${p.dim('no rules or limits for this server in the policy files')}`);
}

function decisionText(decision: Decision, p: Paint, width = 0): string {
  const padded = decision.padEnd(width);
  return decision === 'allow' ? p.green(padded) : decision === 'ask' ? p.yellow(padded) : p.red(padded);
}

const WINDOW_WORDS = { minute: 'this minute', hour: 'this hour', day: 'today' } as const;

/** `* 100/hour: 37/100 this hour, reopens 20:00 UTC (local, /…/config.json)`. */
function limitText(limit: LimitView, p: Paint, now = new Date()): string {
  const where = p.dim(`(${limit.scope}, ${terminalText(limit.path)})`);
  const head = `${terminalText(limit.pattern)} ${terminalText(limit.limit)}`;
  if (limit.problem !== null || limit.used === null || limit.reopensAt === null)
    return `${head}: ${p.red(`cannot be used: ${terminalText(limit.problem ?? 'invalid')}`)} ${where}`;
  const { count, unit } = parseLimit(limit.limit);
  const reopens = new Date(limit.reopensAt);
  const counted = `${limit.used}/${count} ${WINDOW_WORDS[unit]}`;
  const full = limit.used >= count;
  const when = `reopens ${utcClock(reopens, now)}${full ? ` (in ${formatDuration(reopens.getTime() - now.getTime())})` : ''}`;
  return `${head}: ${full ? p.red(counted) : counted}, ${when} ${where}`;
}

/** `20:00 UTC`, with the date when it is not today's (UTC). */
function utcClock(date: Date, now: Date): string {
  const iso = date.toISOString();
  const clock = `${iso.slice(11, 16)} UTC`;
  return iso.slice(0, 10) === now.toISOString().slice(0, 10) ? clock : `${iso.slice(0, 10)} ${clock}`;
}

/** Where policy and review read pins and limit counts. */
interface SharedState {
  pins: PinStoreOptions;
  /** Undefined: the usage file of this machine. */
  limits?: LimitCounter;
}

/**
 * This machine's pins and usage files, or a team gateway's pins and counts in the store
 * `--state` names (opened here, closed after): what its replicas enforce, not this machine's.
 */
async function withSharedState<T>(
  state: string | undefined,
  io: Io,
  run: (shared: SharedState) => Promise<T>,
): Promise<T> {
  if (state === undefined) return run({ pins: { paths: io.paths } });
  const [{ openState }, { storePins }, { storeLimitCounter }] = await Promise.all([
    import('../../state/open.js'),
    import('../../policy/pin-records.js'),
    import('../../policy/limits.js'),
  ]);
  const store = await openState(state, io.paths.gatewayState);
  try {
    return await run({
      pins: { paths: io.paths, storage: storePins(store) },
      ...(store.windows ? { limits: storeLimitCounter(store.windows, store.description) } : {}),
    });
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------
// patchbay review

export interface ReviewOptions {
  name: string;
  /** undefined: only show; 'all': every change shown; else these tools. */
  accept: 'all' | string[] | undefined;
  json: boolean;
  /** `--state redis://…`: a team gateway's pins, in its state store; unset: this machine's pins file. */
  state?: string;
}

export function parseReviewOptions(
  name: string,
  raw: { accept?: boolean | string[]; json?: boolean; state?: string },
): ReviewOptions {
  let accept: ReviewOptions['accept'];
  if (raw.accept === true) accept = 'all';
  else if (Array.isArray(raw.accept)) {
    for (const tool of raw.accept)
      if (tool.trim() === '')
        throw new PatchbayError('usage', 'A tool name given to --accept is empty.', {
          hint: `patchbay review ${name} lists the changed tools.`,
        });
    accept = raw.accept.length === 0 ? 'all' : [...new Set(raw.accept)];
  }
  const state = parseStateOption(raw.state);
  return {
    name: validateName(name),
    accept,
    json: Boolean(raw.json),
    ...(state !== undefined ? { state } : {}),
  };
}

export async function runReview(options: ReviewOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const server = findServer(registry, options.name);
  if (!server) throw notFoundError(registry, options.name);
  const key = configuredServerKey(server);
  return withSharedState(options.state, io, ({ pins }) => review(options, server.name, key, pins, io));
}

async function review(
  options: ReviewOptions,
  serverName: string,
  key: string,
  pins: PinStoreOptions,
  io: Io,
): Promise<number> {
  const changes = await changedTools(key, pins);
  const accepted = options.accept ? await accept(key, changes, options.accept, pins) : undefined;

  if (options.json) {
    printJson(io, {
      server: serverName,
      changes: changes.map((change) => {
        const diff = diffViews(change.pinnedView, change.newView);
        return {
          tool: change.name,
          summary: diff.summary,
          fields: diff.fields,
          pinnedAt: change.pinnedAt,
          changedAt: change.changedAt,
          pinnedDigest: change.pinnedDigest,
          newDigest: change.newDigest,
          old: change.pinnedView,
          new: change.newView,
          diff: diff.lines,
        };
      }),
      accept: accepted ?? null,
    });
    return accepted && accepted.stale.length > 0 ? EXIT.error : EXIT.ok;
  }

  const p = paint(useColor(io, 'stdout'));
  if (changes.length === 0) {
    note(
      io,
      `No changes to review for ${serverName}: every pinned tool is as it was pinned. ` +
        `(A change is recorded when patchbay call, patchbay serve or patchbay policy ${serverName} lists the tools.)`,
    );
  }
  changes.forEach((change, index) => {
    if (index > 0) writeLine(io.stdout);
    printChange(change, io, p);
  });
  if (!accepted) {
    if (changes.length > 0)
      note(
        io,
        `Until reviewed, ${changes.length === 1 ? 'this tool is' : 'these tools are'} asked about before each call (unless denied). ` +
          `To accept: patchbay review ${serverName} --accept${changes.length > 1 ? ' [tool...]' : ''}`,
      );
    return EXIT.ok;
  }
  if (accepted.accepted.length > 0)
    note(
      io,
      `Accepted: ${accepted.accepted.map((name) => terminalText(name)).join(', ')} (pinned as shown above).`,
    );
  if (accepted.stale.length > 0)
    note(
      io,
      `Not accepted, changed again since it was read: ${accepted.stale.map((name) => terminalText(name)).join(', ')}. ` +
        `Review the new version: patchbay review ${serverName}`,
    );
  if (accepted.notChanged.length > 0)
    note(io, `No change to accept for: ${accepted.notChanged.map((name) => terminalText(name)).join(', ')}.`);
  return accepted.stale.length > 0 ? EXIT.error : EXIT.ok;
}

/**
 * Accept exactly what this run showed: each tool with the digest that was on screen, so a change
 * that moved on meanwhile is reported stale rather than approved unseen. A tool named but not
 * shown has nothing reviewed to accept.
 */
async function accept(
  key: string,
  shown: ToolChange[],
  which: 'all' | string[],
  pins: PinStoreOptions,
): Promise<{ accepted: string[]; stale: string[]; notChanged: string[] }> {
  const reviewed = new Map(shown.map((change) => [change.name, change.newDigest]));
  const wanted = which === 'all' ? [...reviewed.keys()] : which;
  const names = wanted.filter((name) => reviewed.has(name));
  const notShown = wanted.filter((name) => !reviewed.has(name));
  if (names.length === 0) return { accepted: [], stale: [], notChanged: notShown };
  const result = await acceptChanges(key, names, { ...pins, reviewed });
  return { accepted: result.accepted, stale: result.stale, notChanged: [...result.notChanged, ...notShown] };
}

function printChange(change: ToolChange, io: Io, p: Paint): void {
  const diff = diffViews(change.pinnedView, change.newView);
  const text = (value: string) => terminalText(value);
  writeLine(io.stdout, `${p.bold(text(change.name))}: ${text(diff.summary)}`);
  writeLine(io.stdout, p.dim(`  pinned ${change.pinnedAt}, changed ${change.changedAt}`));
  for (const line of diff.lines) {
    const shown = text(line);
    if (line.startsWith('@@')) writeLine(io.stdout, p.dim(shown));
    else if (line.startsWith('-')) writeLine(io.stdout, p.red(shown));
    else if (line.startsWith('+')) writeLine(io.stdout, p.green(shown));
    else writeLine(io.stdout, shown);
  }
}
