/**
 * A login whose browser comes back to a route of a server patchbay runs (a team gateway's sign-in
 * page), not to a loopback listener: the same OAuth client as `patchbay login` (discovery,
 * registration, PKCE, RFC 8707, the checks before a browser is sent anywhere) in two halves,
 * because the browser's return is another HTTP request, perhaps minutes later:
 *
 * 1. `beginRoutedLogin`: discover, register if needed, and make the authorization URL; what the
 *    second half needs (the PKCE verifier, the discovery, the `state`) is returned for the caller
 *    to keep (in the state store, single use, short-lived).
 * 2. `finishRoutedLogin`: the code the browser brought back is exchanged, and the tokens are saved
 *    in the caller's TokenStore (for the gateway: the member's vault).
 */

import type { OAuthDiscoveryState } from '@modelcontextprotocol/client';

import type { ServerEntry } from '../config/entry.js';
import { PatchbayError } from '../errors.js';
import { discover } from './discovery.js';
import type { HttpClient } from './http-client.js';
import { authBase, loginProvider } from './login.js';
import { newState, tokenKey } from './oauth-provider.js';
import type { StoredTokens } from './store-records.js';
import type { TokenStore } from './token-store.js';

export interface RoutedLoginRequest {
  http: HttpClient;
  /** The server's configured name (a pre-registered client's secret is kept under it). */
  name: string;
  /** The expanded entry (http or sse). */
  entry: ServerEntry;
  /** Where the login is kept. */
  store: TokenStore;
  env: NodeJS.ProcessEnv;
  /** The route the authorization server sends the browser back to. */
  redirectUrl: string;
}

/** What the second half needs; secret (the PKCE verifier): kept by the caller as a secret. */
export interface PendingLogin {
  /** The OAuth `state` sent, which the browser must bring back. */
  state: string;
  verifier: string;
  discovery: OAuthDiscoveryState;
  issuer: string;
  scope?: string;
}

export async function beginRoutedLogin(
  request: RoutedLoginRequest,
): Promise<{ authorizationUrl: URL; pending: PendingLogin }> {
  const { entry } = request;
  if (entry.transport === 'stdio' || !entry.url)
    throw new PatchbayError('usage', `${request.name} is a local command; OAuth applies to remote servers.`);
  const sdk = await import('@modelcontextprotocol/client');
  const discovered = await discover(entry.url, entry, request.http, sdk);
  const issuer = discovered.authorizationServerMetadata?.issuer ?? discovered.authorizationServerUrl;
  const state = newState();
  let authorizationUrl: URL | undefined;
  const provider = await loginProvider(
    request,
    discovered,
    { state, redirectUrl: request.redirectUrl },
    {
      onAuthorizationUrl: (url) => {
        authorizationUrl = url;
      },
    },
  );
  const scope = entry.oauth?.scopes ?? discovered.challengeScope;
  const outcome = await sdk.auth(provider, {
    ...authBase(entry.url, discovered, request.http, scope),
    forceReauthorization: true,
  });
  if (outcome !== 'REDIRECT' || !authorizationUrl)
    throw new PatchbayError(
      'auth-failed',
      `${request.name}'s authorization server gave no authorization URL`,
    );
  return {
    authorizationUrl,
    pending: {
      state,
      verifier: provider.codeVerifier(),
      discovery: provider.discoveryState() ?? discovered,
      issuer,
      ...(scope ? { scope } : {}),
    },
  };
}

export async function finishRoutedLogin(
  request: RoutedLoginRequest,
  pending: PendingLogin,
  response: { code: string; iss?: string },
): Promise<StoredTokens> {
  const { entry } = request;
  const url = entry.url!;
  const sdk = await import('@modelcontextprotocol/client');
  const provider = await loginProvider(
    request,
    pending.discovery,
    { state: pending.state, redirectUrl: request.redirectUrl },
    {},
  );
  provider.saveCodeVerifier(pending.verifier);
  try {
    await sdk.auth(provider, {
      ...authBase(url, pending.discovery, request.http, pending.scope),
      authorizationCode: response.code,
      ...(response.iss ? { iss: response.iss } : {}),
    });
  } catch (error) {
    if (error instanceof PatchbayError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new PatchbayError(
      'auth-failed',
      `the sign-in to ${request.name} failed: ${message.slice(0, 300)}`,
      {
        cause: error,
      },
    );
  }
  const tokens = await request.store.getTokens(tokenKey(pending.issuer, url));
  if (!tokens) throw new PatchbayError('auth-failed', 'the sign-in finished but no tokens were stored');
  return tokens;
}
