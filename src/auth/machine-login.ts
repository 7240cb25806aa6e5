/**
 * `patchbay login` for a machine client: no browser, no callback — one grant (machine-grant.ts)
 * at the authorization server the server names, stored as any login is, marked with its grant so
 * that the token source renews it with a new grant when it expires.
 */

import { PatchbayError } from '../errors.js';
import type { OAuthSettings, ServerEntry } from '../config/entry.js';
import type { Discovered } from './discovery.js';
import type { HttpClient } from './http-client.js';
import { requestMachineTokens, type IdentityAssertionSource, type MachineGrant } from './machine-grant.js';
import { tokenKey } from './oauth-provider.js';
import type { StoredTokens } from './store-records.js';
import type { TokenStore } from './token-store.js';

type ClientSdk = typeof import('@modelcontextprotocol/client');

/** Cross-app access's identity assertion: the entry's IdP, its client secret (if stored), the ID token's place. */
export async function identityAssertionSource(
  store: Pick<TokenStore, 'getClientSecret'>,
  name: string,
  oauth: OAuthSettings | undefined,
  env: NodeJS.ProcessEnv,
  idTokenFile?: string,
): Promise<IdentityAssertionSource | undefined> {
  if (!oauth?.idpIssuer || !oauth.idpClientId) return undefined;
  const idpClientSecret = await store.getClientSecret(name, oauth.idpIssuer);
  const file = idTokenFile ?? oauth.idTokenFile;
  return {
    idpIssuer: oauth.idpIssuer,
    idpClientId: oauth.idpClientId,
    ...(idpClientSecret ? { idpClientSecret } : {}),
    ...(file ? { idTokenFile: file } : oauth.idTokenEnv ? { idTokenEnv: oauth.idTokenEnv } : {}),
    env,
  };
}

export interface MachineLoginRequest {
  sdk: ClientSdk;
  http: HttpClient;
  name: string;
  entry: ServerEntry;
  store: TokenStore;
  env: NodeJS.ProcessEnv;
  grant: MachineGrant;
  /** The stored client secret or key; undefined is explained. */
  credential: string | undefined;
  discovered: Discovered;
  scope: string | undefined;
  /** `login --id-token-file`: this time's ID token, instead of the entry's. */
  idTokenFile?: string;
}

export async function machineLogin(request: MachineLoginRequest): Promise<StoredTokens> {
  const { sdk, entry, name, discovered, store } = request;
  const url = entry.url!;
  const clientId = entry.oauth?.clientId;
  if (!clientId || !request.credential) {
    const what = request.grant === 'client_credentials' ? 'client credentials' : 'cross-app access';
    throw new PatchbayError(
      'usage',
      `${name} logs in with ${what}, which needs a client ID and its secret or private key, and patchbay holds ${clientId ? 'no secret or key' : 'no client ID'} for it`,
      {
        hint: `patchbay add ${name} ${url} --client-id <id> --client-secret --force   (or --client-key <private-key-file>)`,
      },
    );
  }
  const metadata = discovered.authorizationServerMetadata;
  if (!metadata) {
    throw new PatchbayError('auth-failed', `${name}'s authorization server publishes no metadata`, {
      hint: 'If the server documents its authorization server, set oauth.authServerMetadataUrl in the entry.',
    });
  }
  const resource = resourceIndicator(url, discovered, sdk);
  const identity =
    request.grant === 'cross_app_access'
      ? await identityAssertionSource(store, name, entry.oauth, request.env, request.idTokenFile)
      : undefined;
  const tokens = await requestMachineTokens({
    sdk,
    name,
    grant: request.grant,
    clientId,
    credential: request.credential,
    ...(entry.oauth?.clientAuthMethod ? { clientAuthMethod: entry.oauth.clientAuthMethod } : {}),
    metadata,
    authorizationServerUrl: discovered.authorizationServerUrl,
    resource,
    ...(request.scope ? { scope: request.scope } : {}),
    ...(identity ? { identity } : {}),
    fetchFn: request.http.fetch,
  });
  if (tokens.token_type.toLowerCase() !== 'bearer') {
    throw new PatchbayError(
      'auth-refused',
      `${metadata.issuer} granted a "${tokens.token_type.slice(0, 40)}" token; patchbay sends Bearer tokens only`,
    );
  }
  const now = Date.now();
  const stored: StoredTokens = {
    issuer: metadata.issuer,
    resource: url,
    accessToken: tokens.access_token,
    tokenType: tokens.token_type,
    ...(tokens.expires_in !== undefined ? { expiresAt: now + tokens.expires_in * 1000 } : {}),
    ...(tokens.scope || request.scope ? { scope: tokens.scope ?? request.scope } : {}),
    clientId,
    obtainedAt: now,
    grant: request.grant,
  };
  await store.saveTokens(tokenKey(metadata.issuer, url), stored);
  return stored;
}

/**
 * RFC 8707 `resource`: what the protected resource metadata names, when it is this server (the
 * MCP spec: a client must refuse metadata for another resource); else the server's URL.
 */
function resourceIndicator(url: string, discovered: Discovered, sdk: ClientSdk): string {
  const published = discovered.resourceMetadata?.resource;
  if (!published) return url;
  if (!sdk.checkResourceAllowed({ requestedResource: url, configuredResource: published })) {
    throw new PatchbayError(
      'auth-refused',
      `the server's protected resource metadata is for ${published.slice(0, 200)}, not ${url}; patchbay does not obtain a token for another resource`,
      { hint: 'Check the URL of the entry (patchbay get <name>), or tell the server operator.' },
    );
  }
  return published;
}
