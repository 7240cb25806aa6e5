/**
 * `patchbay logout <name|url>`: remove a server's stored login (every issuer's tokens for its URL)
 * and revoke the tokens at the authorization server when it offers revocation (RFC 7009). The
 * local tokens go first and whatever the server says; a failed revocation is a warning. The client
 * registration stays: the next login reuses it. A URL instead of a name removes a login whose
 * server is no longer configured (`patchbay auth status` lists them).
 */

import { revocationClient } from '../../auth/revoke-client.js';
import { EXIT, PatchbayError } from '../../errors.js';
import type { ServerEntry } from '../../config/entry.js';
import { expandEntry, expandString } from '../../config/expand.js';
import { findServer, notFoundError, type EffectiveServer } from '../../config/registry.js';
import { staticState } from '../../config/status.js';
import { validateName, validateUrl } from '../../config/validate.js';
import type { RevocationOutcome } from '../../auth/revoke.js';
import type { CredentialListing, CredentialStore, StoredTokens } from '../../auth/store.js';
import { timeoutFrom } from '../health.js';
import { sameResource } from '../../auth/resource-url.js';
import { note, warn, writeLine, type Io } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import { loadForCommand } from '../registry-loader.js';

export type LogoutTarget = { kind: 'name'; name: string } | { kind: 'url'; url: string };

export interface LogoutOptions {
  target: LogoutTarget;
  /** For the revocation requests (discovery included). */
  timeoutMs: number;
}

export function parseLogoutOptions(
  nameOrUrl: string,
  raw: { timeout?: string },
  env: NodeJS.ProcessEnv,
): LogoutOptions {
  // A name never holds ':' (validateName), so anything with a scheme is a URL.
  const target: LogoutTarget = nameOrUrl.includes('://')
    ? { kind: 'url', url: validateUrl(nameOrUrl, 'server URL').url.href }
    : { kind: 'name', name: validateName(nameOrUrl) };
  return { target, timeoutMs: timeoutFrom(raw.timeout, env) };
}

interface RemovedLogin {
  issuer: string;
  tokens: StoredTokens;
}

export async function runLogout(options: LogoutOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  let label: string;
  let resource: string;
  let server: EffectiveServer | undefined;
  if (options.target.kind === 'name') {
    label = options.target.name;
    server = findServer(registry, label);
    if (!server) throw notFoundError(registry, label);
    const url = serverUrl(server, io.env);
    if (url === undefined) {
      writeLine(io.stdout, `${label} is a local command (stdio): it has no OAuth login to remove.`);
      return EXIT.ok;
    }
    resource = url;
  } else {
    resource = options.target.url;
    label = resource;
    server = registry.servers.find((candidate) => {
      const url = safeServerUrl(candidate, io.env);
      return url !== undefined && sameResource(url, resource);
    });
  }
  // The expanded entry, TLS paths resolved, for the revocation requests' CA and client certificate.
  const entry = server && (staticState(server, io.env).resolved ?? safeExpanded(server, io.env, resource));

  const { openCredentialStore } = await import('../../auth/store.js');
  const store = await openCredentialStore(io.env);
  const listing = await store.list();
  const logins = listing.tokens.filter((facts) => sameResource(facts.resource, resource));
  if (logins.length === 0) {
    writeLine(io.stdout, `No login is stored for ${terminalText(label)}; nothing to remove.`);
    return EXIT.ok;
  }

  // Under the server's lock, so a refresh in another process cannot save new tokens behind us.
  const removed: RemovedLogin[] = [];
  for (const facts of logins) {
    const tokens = await store.withServerLock(facts.serverKey, async (current) => {
      await store.deleteTokens(facts.serverKey);
      return current;
    });
    if (tokens) removed.push({ issuer: facts.issuer, tokens });
  }

  const outcomes = await revokeAll(removed, { store, listing, resource, server, entry, io, options });
  const parts = outcomes.map((outcome) => describeOutcome(outcome, outcomes.length > 1));
  for (const outcome of outcomes) {
    if (outcome.status === 'failed')
      warn(io, `the tokens from ${outcome.issuer} were removed here but not revoked: ${outcome.reason}`);
  }
  writeLine(
    io.stdout,
    terminalText(`Logged out of ${label} (tokens removed${parts.length ? `; ${parts.join('; ')}` : ''})`),
  );
  return EXIT.ok;
}

function describeOutcome(outcome: RevocationOutcome, several: boolean): string {
  if (outcome.status === 'revoked') return `revoked at ${outcome.issuer}`;
  return `not revoked${several ? ` at ${outcome.issuer}` : ''}: ${outcome.reason}`;
}

interface RevokeContext {
  store: CredentialStore;
  listing: CredentialListing;
  resource: string;
  server: EffectiveServer | undefined;
  entry: ServerEntry | undefined;
  io: Io;
  options: LogoutOptions;
}

async function revokeAll(removed: RemovedLogin[], context: RevokeContext): Promise<RevocationOutcome[]> {
  if (removed.length === 0) return [];
  const { io, entry } = context;
  const { revokeLogin } = await import('../../auth/revoke.js');
  const { createHttpClient } = await import('../../connect/network.js');
  let http: Awaited<ReturnType<typeof createHttpClient>>;
  try {
    http = await createHttpClient({ env: io.env, ...(entry?.tls ? { tls: entry.tls } : {}) });
  } catch (error) {
    // A bad proxy variable or certificate path: the logout itself is done.
    const reason = error instanceof Error ? error.message : String(error);
    return removed.map(({ issuer }) => ({ status: 'failed', issuer, reason }));
  }
  const signal = AbortSignal.timeout(context.options.timeoutMs);
  try {
    const outcomes: RevocationOutcome[] = [];
    for (const { issuer, tokens } of removed) {
      const client = await revocationClient(issuer, tokens, {
        store: context.store,
        listing: context.listing,
        resource: context.resource,
        serverName: context.server?.name,
        entry: context.entry,
      });
      outcomes.push(
        await revokeLogin(
          {
            issuer,
            accessToken: tokens.accessToken,
            ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
            client,
          },
          {
            fetchFn: http.fetch,
            signal,
            ...(entry?.oauth?.authServerMetadataUrl
              ? { authServerMetadataUrl: entry.oauth.authServerMetadataUrl }
              : {}),
            say: (message) => note(io, message),
          },
        ),
      );
    }
    return outcomes;
  } finally {
    await http.close();
  }
}

/** The server's expanded URL, undefined for a stdio server; a usage error when it cannot be told. */
function serverUrl(server: EffectiveServer, env: NodeJS.ProcessEnv): string | undefined {
  const { winner } = server;
  if (!winner.entry) {
    throw new PatchbayError('usage', `Cannot log out of ${server.name}: its entry is invalid.`, {
      hint: `Fix the entry in ${winner.path}, or log out by URL: patchbay auth status lists stored logins.`,
    });
  }
  if (winner.entry.transport === 'stdio' || winner.entry.url === undefined) return undefined;
  try {
    return expandString(winner.entry.url, env, 'url');
  } catch (error) {
    if (!(error instanceof PatchbayError)) throw error;
    throw new PatchbayError('usage', `Cannot tell which URL ${server.name} points to: ${error.message}`, {
      hint: `${error.hint ? `${error.hint} ` : ''}Or log out by URL: patchbay auth status lists the stored logins, then patchbay logout <url>.`,
    });
  }
}

function safeServerUrl(server: EffectiveServer, env: NodeJS.ProcessEnv): string | undefined {
  const url = server.winner.entry?.url;
  try {
    return url === undefined ? undefined : expandString(url, env, 'url');
  } catch {
    return undefined;
  }
}

/** The entry expanded as far as it can be: an unset variable in a header does not hide its oauth settings. */
function safeExpanded(server: EffectiveServer, env: NodeJS.ProcessEnv, url: string): ServerEntry | undefined {
  const entry = server.winner.entry;
  if (!entry) return undefined;
  try {
    return expandEntry(entry, env);
  } catch {
    return { transport: entry.transport, url, ...(entry.oauth ? { oauth: entry.oauth } : {}) };
  }
}
