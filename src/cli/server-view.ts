/**
 * The one shape of a server in `list` and `get` output, human and `--json`. The JSON keys are
 * documented in the README and must stay stable.
 */

import { EXIT, type ExitCode } from '../errors.js';
import type { Scope, ServerEntry, Transport } from '../config/entry.js';
import { maskEntry } from '../config/mask.js';
import type { EffectiveServer, ScopedEntry } from '../config/registry.js';
import type { ServerStatus, StaticState } from '../config/status.js';
import type { ConnectStep } from '../connect/connect-error.js';
import type { ProbeResult } from '../connect/probe.js';
import { addCommand } from '../diagnose/fixes.js';
import { note, writeLine, type Io } from './io.js';

export interface ServerView {
  name: string;
  scope: Scope;
  file: string;
  transport: Transport | null;
  url: string | null;
  command: string | null;
  args: string[] | null;
  status: ServerStatus;
  reason: string | null;
  hint: string | null;
  /** Lower-scope entries of the same name that this one hides. */
  shadows: Array<{ scope: Scope; file: string }>;
  /** Where a failed check failed (connect, tls, http, handshake, ...). */
  step: ConnectStep | null;
  server: { name: string; version: string; protocolVersion?: string } | null;
  /** The transport the check actually used (an http entry may have fallen back to sse). */
  transportUsed: Transport | null;
  fellBackToSse: boolean;
  era: 'modern' | 'legacy' | null;
  toolCount: number | null;
  resourceCount: number | null;
  promptCount: number | null;
  /** `perMember`: a team gateway calls it with each member's own login (absent: one shared login). */
  perMember?: true;
  /** Round-trip time of the check: connect, handshake and listings. */
  durationMs: number | null;
  /**
   * needs-auth only because a check with --no-refresh may not renew an expired login that has a
   * refresh token; the next use renews it. Not a problem (exit code 0).
   */
  renewsOnUse: boolean;
  /** Tools whose definition changed since they were first allowed (patchbay review). */
  changedTools: string[];
}

export interface DetailView extends ServerView {
  headers: Record<string, string> | null;
  headersHelper: string | null;
  env: Record<string, string> | null;
  oauth: ServerEntry['oauth'] | null;
  tls: ServerEntry['tls'] | null;
  timeout: number | null;
  projectChoice: string | null;
  /** Present with --resolved: the values after ${VAR} expansion (masked unless --show-secrets). */
  resolved: Partial<ServerEntry> | null;
}

export interface ViewOptions {
  showSecrets: boolean;
}

function displayEntry(entry: ServerEntry | undefined, options: ViewOptions): ServerEntry | undefined {
  if (!entry) return undefined;
  return options.showSecrets ? entry : maskEntry(entry);
}

export function serverView(
  server: EffectiveServer,
  state: StaticState,
  probe: ProbeResult | undefined,
  options: ViewOptions,
): ServerView {
  const entry = displayEntry(server.winner.entry, options);
  const status = probe?.status ?? state.status;
  const reason = probe ? probe.reason : state.reason;
  return {
    name: server.name,
    scope: server.winner.scope,
    file: server.winner.path,
    transport: entry?.transport ?? null,
    url: entry?.url ?? null,
    command: entry?.command ?? null,
    args: entry?.transport === 'stdio' ? (entry.args ?? []) : null,
    status,
    reason,
    hint: probe ? probeHint(server, probe) : (state.hint ?? null),
    shadows: server.shadowed.map((shadowed: ScopedEntry) => ({ scope: shadowed.scope, file: shadowed.path })),
    step: probe?.step ?? null,
    server: probe?.server ?? null,
    transportUsed: probe?.transport ?? null,
    fellBackToSse: probe?.fellBackToSse ?? false,
    era: probe?.era ?? null,
    toolCount: probe?.toolCount ?? null,
    resourceCount: probe?.resourceCount ?? null,
    promptCount: probe?.promptCount ?? null,
    durationMs: probe?.durationMs ?? null,
    renewsOnUse: probe?.renewsOnUse === true,
    changedTools: [],
    ...(entry?.perMember ? { perMember: true as const } : {}),
  };
}

function probeHint(server: EffectiveServer, probe: ProbeResult): string | null {
  const { name } = server;
  if (probe.fellBackToSse) return sseRecordCommand(server);
  if (probe.hint) return probe.hint;
  if (probe.status === 'needs-auth') return `patchbay login ${name}`;
  if (probe.status === 'failed') return `patchbay doctor ${name} checks it layer by layer.`;
  return null;
}

/** The command that records `-t sse` for a server found to speak only legacy SSE. */
function sseRecordCommand(server: EffectiveServer): string {
  const entry = server.winner.entry;
  const command = entry
    ? addCommand(server.name, server.winner.scope, entry, { transport: 'sse' })
    : `patchbay add -t sse --force ${server.name} <url>`;
  return `It speaks only the legacy SSE transport; to skip the probe next time: ${command}`;
}

export function detailView(
  server: EffectiveServer,
  state: StaticState,
  probe: ProbeResult | undefined,
  options: ViewOptions & { resolved: boolean },
): DetailView {
  const entry = displayEntry(server.winner.entry, options);
  const resolved = options.resolved && state.resolved ? displayEntry(state.resolved, options) : undefined;
  return {
    ...serverView(server, state, probe, options),
    headers: entry?.headers ? { ...entry.headers } : null,
    headersHelper: entry?.headersHelper ?? null,
    env: entry?.env ? { ...entry.env } : null,
    oauth: entry?.oauth ?? null,
    tls: entry?.tls ?? null,
    timeout: entry?.timeout ?? null,
    projectChoice: server.projectChoice ?? null,
    resolved: resolved
      ? {
          url: resolved.url,
          headers: resolved.headers,
          command: resolved.command,
          args: resolved.args,
          env: resolved.env,
          headersHelper: resolved.headersHelper,
        }
      : null,
  };
}

export function targetText(view: Pick<ServerView, 'transport' | 'url' | 'command' | 'args'>): string {
  if (view.transport === 'stdio') return [view.command ?? '', ...(view.args ?? [])].map(quoteArg).join(' ');
  return view.url ?? '';
}

function quoteArg(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./${}-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export const STATUS_SYMBOL: Record<ServerStatus, string> = {
  connected: '✔',
  'needs-auth': '!',
  failed: '✘',
  'pending-approval': '?',
  disabled: '-',
  unchecked: '·',
};

/**
 * The exit code of a status, as every command gives it for that situation. A server that is off
 * on purpose (disabled by you, rejected for this project, blocked by the administrator) is
 * reported, not a failure of the report: only a command that needs it is refused (6).
 */
const EXIT_BY_STATUS: Partial<Record<ServerStatus, ExitCode>> = {
  'needs-auth': EXIT.needsAuth,
  'pending-approval': EXIT.needsApproval,
  failed: EXIT.degraded,
};

/** Statuses that make `list` exit non-zero. */
export function isDegraded(status: ServerStatus): boolean {
  return EXIT_BY_STATUS[status] !== undefined;
}

/**
 * 0 when every server is usable or off on purpose (a login that renews on next use is usable);
 * the situation's code when every server that is not has the same trouble (4 logins, 5 approvals,
 * 8 not reached); 8 when the troubles differ.
 */
export function healthExitCode(views: Array<{ status: ServerStatus; renewsOnUse?: boolean }>): ExitCode {
  const troubled = views.filter((view) => !view.renewsOnUse);
  const codes = new Set(troubled.flatMap((view) => EXIT_BY_STATUS[view.status] ?? []));
  if (codes.size === 0) return EXIT.ok;
  return codes.size === 1 ? [...codes][0]! : EXIT.degraded;
}

/** What a connected check found: who answered, how, what it offers and how fast. */
export function connectedDetails(view: ServerView): string[] {
  const extras: string[] = [];
  if (view.server) extras.push(`${view.server.name} ${view.server.version}`);
  if (view.server?.protocolVersion) extras.push(view.server.protocolVersion);
  if (view.transportUsed && view.transportUsed !== view.transport) extras.push(`via ${view.transportUsed}`);
  const counts = [
    count(view.toolCount, 'tool'),
    count(view.resourceCount, 'resource'),
    count(view.promptCount, 'prompt'),
  ].filter((text): text is string => text !== null);
  if (counts.length > 0) extras.push(counts.join(', '));
  return extras;
}

function count(value: number | null, noun: string): string | null {
  return value === null ? null : `${value} ${noun}${value === 1 ? '' : 's'}`;
}

/** Tools whose definitions changed since pinned (read from the pin store, no network). */
export async function flagChangedTools(
  servers: EffectiveServer[],
  views: ServerView[],
  io: Io,
): Promise<void> {
  const { changedTools, configuredServerKey } = await import('../policy/pins.js');
  try {
    for (const [index, server] of servers.entries()) {
      if (!server.winner.entry) continue;
      const key = configuredServerKey(server);
      views[index]!.changedTools = (await changedTools(key, { paths: io.paths })).map(
        (change) => change.name,
      );
    }
  } catch (error) {
    note(
      io,
      `Pinned tool definitions not checked: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** What `list` and `policy` say when there is nothing to show. */
export function printNoServers(io: Io): void {
  writeLine(io.stderr, 'No MCP servers configured.');
  writeLine(
    io.stderr,
    'Add one with: patchbay add <name> <url>   or   patchbay add <name> -- <command> [args...]',
  );
}
