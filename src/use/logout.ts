/**
 * Log out: every stored login for a server's URL removed under the server's lock (so a refresh
 * in another process cannot save new tokens behind it), then revoked at the authorization
 * server where it offers revocation (RFC 7009). The local tokens go first, whatever the server
 * says; a revocation that fails is an outcome to report, not an error. The client registration
 * stays: the next login reuses it. `patchbay logout` and the console's Log out both run this.
 */

import { revocationClient } from '../auth/revoke-client.js';
import type { RevocationOutcome } from '../auth/revoke.js';
import { sameResource } from '../auth/resource-url.js';
import type { StoredTokens } from '../auth/store.js';
import type { ServerEntry } from '../config/entry.js';

export interface LogoutRequest {
  /** The URLs whose logins are removed (the server's URL; as written too, when it cannot be expanded). */
  resources: string[];
  /** The URL the revocation client is looked up by. */
  resource: string;
  /** The configured server's name (its pre-registered client's secret is kept by it); none for a bare URL. */
  serverName: string | undefined;
  /** The entry, expanded where it can be: its TLS settings, client ID and metadata URL. */
  entry: ServerEntry | undefined;
  env: NodeJS.ProcessEnv;
  /** For the revocation requests (discovery included), all together. */
  timeoutMs: number;
  /** A revocation step's progress, in words. */
  say: (message: string) => void;
  /** Told when the logins are removed here, before any revocation is tried. */
  onRemoved?: (count: number) => void;
}

export interface LogoutResult {
  /** How many stored logins were found for the URLs (0: nothing was stored). */
  found: number;
  /** How many were removed here (another process may have removed one first). */
  removed: number;
  /** One per removed login, in order. */
  outcomes: RevocationOutcome[];
}

export async function logout(request: LogoutRequest): Promise<LogoutResult> {
  const { openCredentialStore } = await import('../auth/store.js');
  const store = await openCredentialStore(request.env);
  const listing = await store.list();
  const logins = listing.tokens.filter((facts) =>
    request.resources.some((resource) => sameResource(facts.resource, resource)),
  );
  const removed: Array<{ issuer: string; tokens: StoredTokens }> = [];
  for (const facts of logins) {
    const tokens = await store.withServerLock(facts.serverKey, async (current) => {
      await store.deleteTokens(facts.serverKey);
      return current;
    });
    if (tokens) removed.push({ issuer: facts.issuer, tokens });
  }
  if (removed.length === 0) return { found: logins.length, removed: 0, outcomes: [] };
  request.onRemoved?.(removed.length);

  const { entry } = request;
  const [{ revokeLogin }, { createHttpClient }] = await Promise.all([
    import('../auth/revoke.js'),
    import('../connect/network.js'),
  ]);
  let http: Awaited<ReturnType<typeof createHttpClient>>;
  try {
    http = await createHttpClient({ env: request.env, ...(entry?.tls ? { tls: entry.tls } : {}) });
  } catch (error) {
    // A bad proxy variable or certificate path: the logout itself is done.
    const reason = error instanceof Error ? error.message : String(error);
    return {
      found: logins.length,
      removed: removed.length,
      outcomes: removed.map(({ issuer }) => ({ status: 'failed', issuer, reason })),
    };
  }
  const signal = AbortSignal.timeout(request.timeoutMs);
  try {
    const outcomes: RevocationOutcome[] = [];
    for (const { issuer, tokens } of removed) {
      const client = await revocationClient(issuer, tokens, {
        store,
        listing,
        resource: request.resource,
        serverName: request.serverName,
        entry,
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
            say: request.say,
          },
        ),
      );
    }
    return { found: logins.length, removed: removed.length, outcomes };
  } finally {
    await http.close();
  }
}
