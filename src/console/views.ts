/**
 * Servers as the page sees them (api-types.ts): masked targets, live status, the login in use and
 * the policy in force. Built from the config, the credential store's index (never a secret
 * from it), the pin store and the usage counters; nothing here contacts a server (the checks
 * are use/check-many.ts, the same as `patchbay list`).
 */

import type { Paths } from '../core/paths.js';
import { serverAuthRow } from '../auth/status.js';
import type { ServerEntry } from '../config/entry.js';
import { expandString } from '../config/expand.js';
import { getOwn, isObject } from '../core/json-source.js';
import { maskArgs, maskUrl } from '../config/mask.js';
import type { EffectiveServer } from '../config/registry.js';
import type { StaticState } from '../config/status.js';
import type { CredentialListing } from '../auth/store.js';
import type { ProbeResult } from '../connect/probe.js';
import { changedTools, configuredServerKey } from '../policy/pins.js';
import type { AuthView, ConnectorSummary } from './api-types.js';

/** The URL (masked) or the command line (secret-looking arguments masked), as configured. */
export function targetOf(server: EffectiveServer): string {
  const entry = server.winner.entry;
  if (entry?.transport === 'stdio') return [entry.command ?? '', ...maskArgs(entry.args ?? [])].join(' ');
  if (entry?.url !== undefined) return maskUrl(entry.url);
  // An invalid entry: its URL if it has a string one, else nothing (never the raw object).
  const raw = server.winner.raw;
  const url = isObject(raw) ? getOwn(raw, 'url') : undefined;
  return typeof url === 'string' ? maskUrl(url) : '';
}

export async function changedToolNames(server: EffectiveServer, paths: Paths): Promise<string[]> {
  if (!server.winner.entry) return [];
  try {
    return (await changedTools(configuredServerKey(server), { paths })).map((change) => change.name);
  } catch {
    // An unreadable pins file hides the flags; the call path still refuses what it must.
    return [];
  }
}

export function summaryOf(
  server: EffectiveServer,
  state: StaticState,
  probe: ProbeResult | undefined,
  auth: AuthView,
  changed: string[],
): ConnectorSummary {
  return {
    name: server.name,
    scope: server.winner.scope,
    file: server.winner.path,
    transport: server.winner.entry?.transport ?? null,
    target: targetOf(server),
    status: probe?.status ?? state.status,
    reason: probe ? probe.reason : state.reason,
    hint: probe ? probeHint(server.name, probe) : (state.hint ?? null),
    server: probe?.server ?? null,
    toolCount: probe?.toolCount ?? null,
    changedTools: changed,
    auth,
    ...(server.winner.entry?.perMember ? { upstreamCredential: 'member' as const } : {}),
  };
}

/** The next command to run after a check, as `patchbay list` says it. */
export function probeHint(name: string, probe: Pick<ProbeResult, 'status' | 'hint'>): string | null {
  if (probe.hint) return probe.hint;
  if (probe.status === 'needs-auth') return `patchbay login ${name}`;
  if (probe.status === 'failed') return `patchbay doctor ${name} checks it layer by layer.`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Authentication, from the credential store's index: what `patchbay auth status` shows.

/** The index of stored logins (no keychain access, no secret read); undefined when unreadable. */
export async function credentialListing(paths: Paths): Promise<CredentialListing | undefined> {
  try {
    const { openCredentialStore } = await import('../auth/store.js');
    return await (await openCredentialStore({}, { backend: 'file', paths })).list();
  } catch {
    return undefined;
  }
}

/** The server's URL after `${VAR}` expansion, or as written when a variable is unset. */
export function serverUrls(entry: ServerEntry, env: NodeJS.ProcessEnv): string[] {
  if (entry.url === undefined) return [];
  try {
    return [expandString(entry.url, env, 'url'), entry.url];
  } catch {
    return [entry.url];
  }
}

const NO_AUTH: AuthView = {
  kind: 'none',
  loggedIn: false,
  issuer: null,
  scope: null,
  expiresAt: null,
  refreshable: false,
};

/**
 * How patchbay authenticates to the server: a configured Authorization header or headersHelper
 * (`header`), an OAuth login or OAuth settings (`oauth`), or nothing. The login described is the
 * most recent one stored for the server's URL.
 */
export function authView(
  server: EffectiveServer,
  listing: CredentialListing | undefined,
  env: NodeJS.ProcessEnv,
): AuthView {
  if (!listing) return NO_AUTH;
  // The same facts as `patchbay auth status`, for this one server.
  const row = serverAuthRow(server, { listing, env, now: Date.now(), locationOf: () => '' });
  return {
    kind: row.method,
    loggedIn: row.loggedIn,
    issuer: row.issuer,
    scope: row.scopes ? row.scopes.join(' ') : null,
    expiresAt: row.expiresAt === null ? null : Date.parse(row.expiresAt),
    refreshable: row.refreshable ?? false,
  };
}

// ---------------------------------------------------------------------------------------------
// Limits, with the current count of each window (nothing counted): what `patchbay policy` shows.
