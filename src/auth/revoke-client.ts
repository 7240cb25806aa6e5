/**
 * Which client revokes a login (RFC 7009 authenticates the client as the token endpoint does):
 * the one `patchbay logout` and the console's Log out both use.
 */

import type { ServerEntry } from '../config/entry.js';
import type { RevocationClient } from './revoke.js';
import { sameResource } from './resource-url.js';
import type { StoredTokens } from './store-records.js';
import type { CredentialListing, CredentialStore } from './store.js';

export interface RevocationClientContext {
  store: CredentialStore;
  /** Needed only for a login of a server no longer configured (its kept client secret). */
  listing?: CredentialListing;
  /** The protected resource the tokens were issued for. */
  resource: string;
  /** The configured server, when there is one. */
  serverName: string | undefined;
  entry: ServerEntry | undefined;
}

/**
 * The client the tokens were issued to, authenticated as its registration says: the configured
 * client with its stored secret, else the registration stored for the issuer, else a public
 * client known only by its ID.
 */
export async function revocationClient(
  issuer: string,
  tokens: StoredTokens,
  context: RevocationClientContext,
): Promise<RevocationClient | undefined> {
  const { store, listing, resource, serverName, entry } = context;
  const configuredId = entry?.oauth?.clientId;
  const clientId = tokens.clientId ?? configuredId;
  if (!clientId) return undefined;
  try {
    if (clientId === configuredId && serverName !== undefined) {
      const secret = await store.getClientSecret(serverName, entry?.url ?? resource);
      return secret
        ? { clientId, clientSecret: secret, authMethod: 'client_secret_basic' }
        : { clientId, authMethod: 'none' };
    }
    const registered = await store.getClient(issuer, { clientId });
    if (registered) {
      // Present on a registration response (RFC 7591), absent on a bare client ID.
      const information: Record<string, unknown> = { ...registered.information };
      const method = information.token_endpoint_auth_method;
      return {
        clientId,
        ...(registered.clientSecret ? { clientSecret: registered.clientSecret } : {}),
        ...(typeof method === 'string' ? { authMethod: method } : {}),
      };
    }
    // A pre-registered client of a server no longer configured: its secret is kept by name and URL.
    const kept = listing?.clientSecrets.find((facts) => sameResource(facts.url, resource));
    const secret =
      kept && kept.storedIn !== 'legacy-file' ? await store.getClientSecret(kept.name, kept.url) : undefined;
    return secret ? { clientId, clientSecret: secret, authMethod: 'client_secret_basic' } : { clientId };
  } catch {
    // The secret is out of reach (a keychain this process cannot use): try as a public client.
    return { clientId };
  }
}
