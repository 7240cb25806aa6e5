/**
 * How patchbay authenticates to each configured server — a header (static or from a
 * headersHelper), an OAuth login (issuer, client registration, scopes, expiry, refresh), or
 * nothing — and the stored logins no configured server uses any more. Pure: the credential
 * store's index holds every fact, and no token is read. `patchbay auth status` prints these rows;
 * the console shows them.
 */

import type { Scope, ServerEntry, Transport } from '../config/entry.js';
import { expandString } from '../config/expand.js';
import { maskUrl } from '../config/mask.js';
import type { EffectiveServer, Registry } from '../config/registry.js';
import { isExpired } from './expiry.js';
import { sameResource } from './resource-url.js';
import type { ClientKind, CredentialListing, StoredIn, TokenFacts } from './store.js';

export type AuthMethod = 'header' | 'oauth' | 'none';
export type HeaderSource = 'headers' | 'headersHelper';

/** One line of `auth status --json`. Keys are stable (README: "`--json` output of `auth status`"). */
export interface AuthStatusRow {
  /** null for a stored login whose server is no longer configured (`orphan`). */
  name: string | null;
  scope: Scope | null;
  transport: Transport | null;
  /** As written (templates, masked); for an orphan, the resource the tokens are for. */
  url: string | null;
  orphan: boolean;
  method: AuthMethod;
  /** Where a header comes from: a static Authorization header, a headersHelper, or both. */
  headerSources: HeaderSource[];
  loggedIn: boolean;
  issuer: string | null;
  clientKind: ClientKind | null;
  clientId: string | null;
  scopes: string[] | null;
  /** ISO 8601. */
  expiresAt: string | null;
  expired: boolean | null;
  refreshable: boolean | null;
  obtainedAt: string | null;
  lastRefreshAt: string | null;
  lastRefreshError: { at: string; message: string } | null;
  storedIn: StoredIn | null;
  storeLocation: string | null;
  /** Issuers of further logins for the same URL (the most recent one is described). */
  otherIssuers: string[];
  note: string | null;
  hint: string | null;
}

type Login = CredentialListing['tokens'][number];

export interface StatusContext {
  listing: CredentialListing;
  env: NodeJS.ProcessEnv;
  now: number;
  /** Where a secret with `storedIn` lives, in words. */
  locationOf(storedIn: StoredIn): string;
}

/** Every configured server in config order, then the orphaned logins. Pure: no I/O. */
export function authStatusRows(registry: Registry, context: StatusContext): AuthStatusRow[] {
  const claimed = new Set<string>();
  const rows = registry.servers.map((server) => serverRow(server, context, claimed));
  const orphans = context.listing.tokens.filter((login) => !claimed.has(login.serverKey));
  return [...rows, ...orphanRows(orphans, context)];
}

function emptyRow(): AuthStatusRow {
  return {
    name: null,
    scope: null,
    transport: null,
    url: null,
    orphan: false,
    method: 'none',
    headerSources: [],
    loggedIn: false,
    issuer: null,
    clientKind: null,
    clientId: null,
    scopes: null,
    expiresAt: null,
    expired: null,
    refreshable: null,
    obtainedAt: null,
    lastRefreshAt: null,
    lastRefreshError: null,
    storedIn: null,
    storeLocation: null,
    otherIssuers: [],
    note: null,
    hint: null,
  };
}

/** One configured server's row (the console shows one server at a time). */
export function serverAuthRow(server: EffectiveServer, context: StatusContext): AuthStatusRow {
  return serverRow(server, context, new Set());
}

function serverRow(server: EffectiveServer, context: StatusContext, claimed: Set<string>): AuthStatusRow {
  const { winner, name } = server;
  const entry = winner.entry;
  const row: AuthStatusRow = {
    ...emptyRow(),
    name,
    scope: winner.scope,
    transport: entry?.transport ?? null,
    url: entry?.url !== undefined ? maskUrl(entry.url) : null,
  };
  if (!entry) {
    row.note = 'the entry is invalid';
    row.hint = `Fix the entry in ${winner.path} (patchbay list says what is wrong).`;
    return row;
  }
  if (entry.transport === 'stdio') {
    row.note = 'a local command (stdio): HTTP authentication does not apply';
    return row;
  }

  let resolvedUrl: string | undefined;
  let unresolved: string | undefined;
  try {
    // Only the URL: an unset variable in a header is `list`'s to report, not this command's.
    resolvedUrl = entry.url === undefined ? undefined : expandString(entry.url, context.env, 'url');
  } catch (error) {
    unresolved = error instanceof Error ? error.message : String(error);
  }
  const urls = [resolvedUrl, entry.url].filter((url): url is string => url !== undefined);
  const logins = newestFirst(
    context.listing.tokens.filter((login) => urls.some((url) => sameResource(login.resource, url))),
  );
  for (const login of logins) claimed.add(login.serverKey);

  row.headerSources = headerSources(entry);
  const hasSecret = context.listing.clientSecrets.some(
    (facts) => facts.name === name && urls.some((url) => sameResource(facts.url, url)),
  );
  row.method =
    row.headerSources.length > 0
      ? 'header'
      : logins.length > 0 || entry.oauth !== undefined || hasSecret
        ? 'oauth'
        : 'none';

  const [current, ...others] = logins;
  if (current) describeLogin(row, current, others, entry, context);

  const notes: string[] = [];
  if (unresolved) notes.push(`its URL cannot be expanded (${unresolved})`);
  if (row.method === 'header') {
    if (current) {
      notes.push(
        row.headerSources.includes('headers')
          ? `the stored login from ${current.issuer} is not sent while the entry has an Authorization header`
          : `the stored login from ${current.issuer} is sent only when the headersHelper gives no Authorization header`,
      );
    }
  } else if (row.method === 'oauth' && !current) {
    notes.push('not logged in');
    row.hint = `patchbay login ${name}`;
  } else if (row.method === 'oauth' && current) {
    const problem = loginProblem(current, context.now);
    if (problem) {
      notes.push(problem);
      row.hint = `patchbay login ${name}`;
    }
  } else {
    notes.push('not logged in, and no Authorization header or headersHelper');
  }
  row.note = notes.length ? notes.join('; ') : null;
  return row;
}

function orphanRows(orphans: Login[], context: StatusContext): AuthStatusRow[] {
  const byResource = new Map<string, Login[]>();
  for (const login of orphans) {
    const key = byResource.has(login.resource)
      ? login.resource
      : ([...byResource.keys()].find((resource) => sameResource(resource, login.resource)) ?? login.resource);
    byResource.set(key, [...(byResource.get(key) ?? []), login]);
  }
  return [...byResource.entries()].map(([resource, logins]) => {
    const [current, ...others] = newestFirst(logins);
    const row: AuthStatusRow = { ...emptyRow(), url: maskUrl(resource), orphan: true, method: 'oauth' };
    describeLogin(row, current!, others, undefined, context);
    row.note = 'no configured server has this URL';
    row.hint = `patchbay logout ${resource}`;
    return row;
  });
}

function newestFirst(logins: Login[]): Login[] {
  const last = (login: Login) => login.lastRefreshAt ?? login.obtainedAt;
  return [...logins].sort((a, b) => last(b) - last(a));
}

function headerSources(entry: ServerEntry): HeaderSource[] {
  const sources: HeaderSource[] = [];
  if (Object.keys(entry.headers ?? {}).some((header) => header.toLowerCase() === 'authorization'))
    sources.push('headers');
  if (entry.headersHelper !== undefined) sources.push('headersHelper');
  return sources;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

function describeLogin(
  row: AuthStatusRow,
  login: Login,
  others: Login[],
  entry: ServerEntry | undefined,
  context: StatusContext,
): void {
  row.loggedIn = true;
  row.issuer = login.issuer;
  row.clientId = login.clientId ?? entry?.oauth?.clientId ?? null;
  row.clientKind = clientKind(login, entry, context.listing);
  row.scopes = login.scope ? login.scope.split(' ').filter(Boolean) : [];
  row.expiresAt = iso(login.expiresAt);
  row.expired = isExpired(login, context.now);
  row.refreshable = login.refreshable;
  row.obtainedAt = iso(login.obtainedAt);
  row.lastRefreshAt = iso(login.lastRefreshAt);
  row.lastRefreshError = login.lastRefreshError
    ? { at: iso(login.lastRefreshError.at)!, message: login.lastRefreshError.message }
    : null;
  row.storedIn = login.storedIn;
  row.storeLocation = context.locationOf(login.storedIn);
  row.otherIssuers = [...new Set(others.map((other) => other.issuer))].filter(
    (issuer) => issuer !== login.issuer,
  );
}

/** Configured client → the store's registration at the issuer → unknown. */
function clientKind(
  login: TokenFacts,
  entry: ServerEntry | undefined,
  listing: CredentialListing,
): ClientKind | null {
  const configured = entry?.oauth?.clientId;
  if (configured && (login.clientId === undefined || login.clientId === configured)) return 'pre-registered';
  const registration = listing.clients.find(
    (client) =>
      client.issuer === login.issuer && (login.clientId === undefined || client.clientId === login.clientId),
  );
  return registration?.kind ?? null;
}

/** Why a login will not work without a new one, if it will not. */
function loginProblem(login: TokenFacts, now: number): string | null {
  const expired = isExpired(login, now);
  if (expired && !login.refreshable) return 'the token has expired and there is no refresh token';
  if (login.lastRefreshError && (login.lastRefreshAt ?? 0) < login.lastRefreshError.at)
    return 'the last refresh failed';
  return null;
}
