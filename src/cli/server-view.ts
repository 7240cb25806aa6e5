/**
 * The one shape of a server in `list` and `get` output, human and `--json`. The JSON keys are
 * documented in the README and must stay stable.
 */

import type { Scope, ServerEntry, Transport } from '../config/entry.js';
import { maskEntry } from '../config/mask.js';
import type { EffectiveServer, ScopedEntry } from '../config/registry.js';
import type { ServerStatus, StaticState } from '../config/status.js';
import type { ProbeResult } from '../connect/probe.js';

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
  server: { name: string; version: string; protocolVersion?: string } | null;
  toolCount: number | null;
  durationMs: number | null;
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
    hint: probe ? probeHint(server.name, probe) : (state.hint ?? null),
    shadows: server.shadowed.map((shadowed: ScopedEntry) => ({ scope: shadowed.scope, file: shadowed.path })),
    server: probe?.server ?? null,
    toolCount: probe?.toolCount ?? null,
    durationMs: probe?.durationMs ?? null,
  };
}

function probeHint(name: string, probe: ProbeResult): string | null {
  if (probe.status === 'needs-auth') return `patchbay login ${name}`;
  if (probe.status === 'failed')
    return `patchbay get ${name} shows the entry; check that the server is running and the URL or command is right.`;
  return null;
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

/** Statuses that make `list` exit 8 (degraded). A server the user disabled is their choice, not a fault. */
export function isDegraded(status: ServerStatus): boolean {
  return status === 'failed' || status === 'needs-auth' || status === 'pending-approval';
}
