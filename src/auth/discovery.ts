/**
 * Before a login: where to log in and what to ask for, read from the server itself — its 401
 * challenge, its protected-resource metadata and its authorization server's metadata — and,
 * after one, whether the new token is enough.
 */

import type { OAuthDiscoveryState } from '@modelcontextprotocol/client';

import { PatchbayError } from '../errors.js';
import { packageVersion } from '../core/version.js';
import type { ServerEntry } from '../config/entry.js';
import type { HttpClient } from './http-client.js';

type ClientSdk = typeof import('@modelcontextprotocol/client');

/**
 * Try the new token on the server: the scopes its 403 `insufficient_scope` challenge asks for,
 * or undefined when the token is accepted (or the answer says nothing about scopes).
 */
export async function scopeStillMissing(
  url: string,
  accessToken: string,
  http: HttpClient,
  sdk: ClientSdk,
): Promise<string | undefined> {
  try {
    const response = await http.fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${accessToken}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: initializeProbe(),
      signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel().catch(() => undefined);
    if (response.status !== 403) return undefined;
    const params = sdk.extractWWWAuthenticateParams(response);
    return params.error === 'insufficient_scope' && params.scope ? params.scope : undefined;
  } catch {
    return undefined; // the login itself succeeded; a check will say more
  }
}

export function unionOfScopes(...lists: Array<string | undefined>): string {
  return [...new Set(lists.flatMap((list) => (list ?? '').split(/\s+/)).filter(Boolean))].join(' ');
}

function initializeProbe(): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'patchbay', version: packageVersion() },
    },
  });
}

export interface Discovered extends OAuthDiscoveryState {
  /** The scopes the server's 401 asked for (`WWW-Authenticate: Bearer scope="…"`). */
  challengeScope?: string;
}

/**
 * Where to log in, in the spec's order: the 401's `resource_metadata` first (an unauthenticated
 * request tells), then the well-known protected-resource locations; the authorization server's
 * metadata by RFC 8414 then OIDC (the SDK's discovery). An explicit `authServerMetadataUrl`
 * replaces the authorization-server part.
 */
export async function discover(
  url: string,
  entry: ServerEntry,
  http: HttpClient,
  sdk: ClientSdk,
): Promise<Discovered> {
  const challenge = await readChallenge(url, http, sdk);
  if (challenge?.answeredAnonymously && !entry.oauth?.authServerMetadataUrl) {
    const none = await noLoginNeeded(url, http, sdk);
    if (none) throw none;
  }
  const resourceMetadataUrl = challenge?.resourceMetadataUrl;
  if (entry.oauth?.authServerMetadataUrl) {
    const metadata = await fetchAuthServerMetadata(entry.oauth.authServerMetadataUrl, http);
    let resourceMetadata: OAuthDiscoveryState['resourceMetadata'];
    try {
      resourceMetadata = await sdk.discoverOAuthProtectedResourceMetadata(
        url,
        resourceMetadataUrl ? { resourceMetadataUrl } : {},
        http.fetch,
      );
    } catch {
      resourceMetadata = undefined; // optional when the authorization server is configured
    }
    return {
      authorizationServerUrl: metadata.issuer,
      authorizationServerMetadata: metadata,
      ...(resourceMetadata ? { resourceMetadata } : {}),
      ...(resourceMetadataUrl ? { resourceMetadataUrl: resourceMetadataUrl.href } : {}),
      ...(challenge?.scope ? { challengeScope: challenge.scope } : {}),
    };
  }
  const info = await sdk.discoverOAuthServerInfo(url, {
    fetchFn: http.fetch,
    ...(resourceMetadataUrl ? { resourceMetadataUrl } : {}),
  });
  if (!info.authorizationServerMetadata) {
    throw new PatchbayError(
      'auth-failed',
      `no authorization server metadata found for ${info.authorizationServerUrl} (tried RFC 8414 and OpenID discovery)`,
      {
        hint: 'If the server documents its authorization server, set oauth.authServerMetadataUrl in the entry.',
      },
    );
  }
  return {
    ...info,
    ...(resourceMetadataUrl ? { resourceMetadataUrl: resourceMetadataUrl.href } : {}),
    ...(challenge?.scope ? { challengeScope: challenge.scope } : {}),
  };
}

/**
 * An unauthenticated MCP request: a 401/403 gives the `WWW-Authenticate` parameters; an answer
 * without one says the server may need no login at all; no answer means it cannot be reached,
 * which is said as such (not as a failed login).
 */
async function readChallenge(
  url: string,
  http: HttpClient,
  sdk: ClientSdk,
): Promise<{ resourceMetadataUrl?: URL; scope?: string; answeredAnonymously?: true } | undefined> {
  let response: Response;
  try {
    response = await http.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: initializeProbe(),
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
  } catch (error) {
    throw new PatchbayError('connect-failed', `cannot reach ${url}: ${unreachableReason(error)}`, {
      cause: error,
    });
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.ok) return { answeredAnonymously: true };
  if (response.status !== 401 && response.status !== 403) return undefined;
  const params = sdk.extractWWWAuthenticateParams(response);
  return {
    ...(params.resourceMetadataUrl ? { resourceMetadataUrl: params.resourceMetadataUrl } : {}),
    ...(params.scope ? { scope: params.scope } : {}),
  };
}

const PROBE_TIMEOUT_MS = 10_000;

function unreachableReason(error: unknown): string {
  const failure = error as { name?: string; cause?: { code?: string } } | undefined;
  if (failure?.name === 'TimeoutError') return `no answer within ${PROBE_TIMEOUT_MS / 1000} s`;
  switch (failure?.cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing is listening there)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name was not found';
    case 'ECONNRESET':
      return 'the connection was reset';
    default:
      return error instanceof Error ? error.message.slice(0, 200) : String(error).slice(0, 200);
  }
}

/**
 * A server that answered without credentials and publishes no protected-resource metadata has
 * no login to run: `patchbay login` says so and succeeds (an entry naming its authorization
 * server is logged in as configured).
 */
async function noLoginNeeded(
  url: string,
  http: HttpClient,
  sdk: ClientSdk,
): Promise<PatchbayError | undefined> {
  try {
    await sdk.discoverOAuthProtectedResourceMetadata(url, {}, http.fetch);
    return undefined;
  } catch {
    return new PatchbayError(
      'no-login-needed',
      'it answers without credentials and publishes no OAuth metadata, so there is no login to run',
      { hint: 'patchbay get <name> checks it.' },
    );
  }
}

async function fetchAuthServerMetadata(
  metadataUrl: string,
  http: HttpClient,
): Promise<NonNullable<OAuthDiscoveryState['authorizationServerMetadata']>> {
  const where = `the authorization server metadata at ${metadataUrl} (oauth.authServerMetadataUrl)`;
  let body: unknown;
  try {
    const response = await http.fetch(metadataUrl, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new PatchbayError('auth-failed', `${where} answered HTTP ${response.status}`);
    body = await response.json();
  } catch (error) {
    if (error instanceof PatchbayError) throw error;
    throw new PatchbayError('auth-failed', `could not read ${where}`, { cause: error });
  }
  const metadata = body as Record<string, unknown> | null;
  for (const field of ['issuer', 'authorization_endpoint', 'token_endpoint']) {
    if (typeof metadata?.[field] !== 'string')
      throw new PatchbayError('auth-failed', `${where} has no ${field}`);
  }
  return metadata as unknown as NonNullable<OAuthDiscoveryState['authorizationServerMetadata']>;
}
