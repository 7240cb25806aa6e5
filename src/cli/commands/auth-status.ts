/**
 * `patchbay auth status [--json]`: how patchbay authenticates to each configured server — a
 * header (static or from a headersHelper), an OAuth login (issuer, client registration, scopes,
 * expiry, refresh), or nothing — and the stored logins no configured server uses any more.
 *
 * No network, and no keychain: the credential store's index holds every fact shown here, and no
 * token is ever read, so none can be printed.
 */

import { sameResource } from '../../auth/resource-url.js';
import { EXIT } from '../../errors.js';
import type { Scope, ServerEntry, Transport } from '../../config/entry.js';
import { expandString } from '../../config/expand.js';
import { maskUrl } from '../../config/mask.js';
import type { EffectiveServer, Registry } from '../../config/registry.js';
import type { ClientKind, CredentialListing, StoredIn, TokenFacts } from '../../auth/store.js';
import { paint, printJson, sanitizeForTerminal, useColor, writeLine, type Io } from '../io.js';
import { hasBrokenFile, loadForCommand } from '../registry-loader.js';

export interface AuthStatusOptions {
  json: boolean;
}

export function parseAuthStatusOptions(raw: { json?: boolean }): AuthStatusOptions {
  return { json: Boolean(raw.json) };
}

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
  row.expired = login.expiresAt === undefined ? false : login.expiresAt <= context.now;
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
  const expired = login.expiresAt !== undefined && login.expiresAt <= now;
  if (expired && !login.refreshable) return 'the token has expired and there is no refresh token';
  if (login.lastRefreshError && (login.lastRefreshAt ?? 0) < login.lastRefreshError.at)
    return 'the last refresh failed';
  return null;
}

/** `42 min`, `3 h`, `2 d`: how far a time is from now, roughly. */
export function roughDuration(ms: number): string {
  const seconds = Math.round(Math.abs(ms) / 1000);
  if (seconds < 90) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.round(hours / 24)} d`;
}

/** `in 42 min` or `3 h ago`. */
export function relativeTime(at: number, now: number): string {
  return at >= now ? `in ${roughDuration(at - now)}` : `${roughDuration(now - at)} ago`;
}

export async function runAuthStatus(options: AuthStatusOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const { openCredentialStore } = await import('../../auth/store.js');
  // The file backend reads the index without probing the keychain; no secret is read at all.
  const store = await openCredentialStore(io.env, { backend: 'file' });
  const listing = await store.list();
  const { KEYCHAIN_SERVICE } = await import('../../auth/store-keychain.js');
  const fileLocation = store.describe().location;
  const now = Date.now();
  const rows = authStatusRows(registry, {
    listing,
    env: io.env,
    now,
    locationOf: (storedIn) =>
      storedIn === 'file' ? fileLocation : `the OS keychain (service "${KEYCHAIN_SERVICE}")`,
  });

  if (options.json) printJson(io, rows);
  else printStatus(rows, io, now, listing.store.indexPath);
  return hasBrokenFile(registry) ? EXIT.usage : EXIT.ok;
}

const METHOD_TEXT: Record<AuthMethod, string> = { header: 'header', oauth: 'oauth', none: 'none' };

function printStatus(rows: AuthStatusRow[], io: Io, now: number, indexPath: string): void {
  const p = paint(useColor(io, 'stdout'));
  const configured = rows.filter((row) => !row.orphan);
  const orphans = rows.filter((row) => row.orphan);
  if (configured.length === 0 && orphans.length === 0) {
    writeLine(io.stderr, 'No MCP servers configured, and no stored logins.');
    writeLine(io.stderr, 'Add one with: patchbay add <name> <url>');
    return;
  }
  const clean = sanitizeForTerminal;
  const nameWidth = Math.max(4, ...configured.map((row) => row.name!.length));
  const indent = ' '.repeat(nameWidth + 2 + 6 + 2);
  const detail = (label: string, text: string) =>
    writeLine(io.stdout, `${indent}${p.dim(label.padEnd(15))}${clean(text)}`);

  const printLogin = (row: AuthStatusRow) => {
    if (!row.loggedIn) return;
    const client = row.clientKind ?? 'unknown registration';
    detail('client', row.clientId ? `${client} (client ID ${row.clientId})` : client);
    detail('scopes', row.scopes && row.scopes.length ? row.scopes.join(' ') : '(none granted explicitly)');
    const expiry =
      row.expiresAt === null
        ? 'no expiry given'
        : `${row.expired ? 'expired' : 'expires'} ${row.expiresAt} (${relativeTime(Date.parse(row.expiresAt), now)})`;
    detail(
      'token',
      `${expiry}, ${row.refreshable ? 'refreshed automatically' : 'no refresh token (log in again when it expires)'}`,
    );
    if (row.lastRefreshAt)
      detail('refreshed', `${row.lastRefreshAt} (${relativeTime(Date.parse(row.lastRefreshAt), now)})`);
    if (row.lastRefreshError) {
      const { at, message } = row.lastRefreshError;
      detail('refresh error', `${at} (${relativeTime(Date.parse(at), now)}): ${message}`);
    }
    if (row.storeLocation) detail('stored in', row.storeLocation);
    if (row.otherIssuers.length) detail('also from', row.otherIssuers.join(', '));
  };

  for (const row of configured) {
    const summary = summaryOf(row);
    const colour = row.hint ? p.yellow : row.method === 'none' ? p.dim : (text: string) => text;
    writeLine(
      io.stdout,
      `${row.name!.padEnd(nameWidth)}  ${METHOD_TEXT[row.method].padEnd(6)}  ${colour(clean(summary))}`,
    );
    printLogin(row);
    if (row.hint) writeLine(io.stdout, `${indent}${p.dim(`\u2192 ${clean(row.hint)}`)}`);
  }

  if (orphans.length) {
    if (configured.length) writeLine(io.stdout);
    writeLine(io.stdout, 'Stored logins for URLs no configured server uses:');
    for (const row of orphans) {
      writeLine(io.stdout, `  ${clean(row.url ?? '')}  logged in at ${clean(row.issuer ?? '?')}`);
      printLogin(row);
    }
    writeLine(io.stdout, p.dim('Remove one with: patchbay logout <url>'));
  }
  writeLine(io.stderr, p.dim(`Credential index: ${indexPath}`));
}

function summaryOf(row: AuthStatusRow): string {
  const notes = row.note ? `; ${row.note}` : '';
  if (row.method === 'header') {
    const from = row.headerSources
      .map((source) => (source === 'headers' ? 'a static Authorization header' : 'a headersHelper'))
      .join(' and ');
    return `${from}${notes}`;
  }
  if (row.method === 'oauth') {
    if (!row.loggedIn) return row.note ?? 'not logged in';
    return `logged in at ${row.issuer}${notes}`;
  }
  return row.note ?? '';
}
