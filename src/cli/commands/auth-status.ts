/**
 * `patchbay auth status [--json]`: how patchbay authenticates to each configured server — a
 * header (static or from a headersHelper), an OAuth login (issuer, client registration, scopes,
 * expiry, refresh), or nothing — and the stored logins no configured server uses any more.
 *
 * No network, and no keychain: the credential store's index holds every fact shown here, and no
 * token is ever read, so none can be printed.
 */

import { relativeTime } from '../../auth/expiry.js';
import { authStatusRows, type AuthMethod, type AuthStatusRow } from '../../auth/status.js';
import { EXIT } from '../../errors.js';
import { paint, printJson, useColor, writeLine, type Io } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import { hasBrokenFile, loadForCommand } from '../registry-loader.js';

export interface AuthStatusOptions {
  json: boolean;
}

export function parseAuthStatusOptions(raw: { json?: boolean }): AuthStatusOptions {
  return { json: Boolean(raw.json) };
}

// One wording of times for every message about a login (auth/expiry.ts).
export { relativeTime, roughDuration } from '../../auth/expiry.js';

export async function runAuthStatus(options: AuthStatusOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const { openCredentialStore } = await import('../../auth/store.js');
  // The file backend reads the index without probing the keychain; no secret is read at all.
  const store = await openCredentialStore(io.env, { backend: 'file', paths: io.paths });
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
  const clean = (value: string) => terminalText(value);
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
