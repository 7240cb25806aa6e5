/**
 * Token revocation (RFC 7009), for `patchbay logout`. The SDK has no revocation function, so this
 * is one small request, checked as the RFC says: a POST of `token` and `token_type_hint` as a
 * form, the client authenticated as it is at the token endpoint, and only HTTP 200 counts as done
 * (RFC 7009 §2.2: the server answers 200 for a token it had already forgotten, too).
 *
 * Nothing here is retried: a revocation that fails is reported, and the caller has already
 * removed the tokens locally. No token appears in any message.
 */

import { PatchbayError } from '../errors.js';
import { isLoopbackHost } from '../core/loopback.js';
import { redactSecrets } from './store-records.js';

/** The fetch signature of the SDK and of connect/network.ts's HttpClient. */
export type FetchFn = (url: string | URL, init?: RequestInit) => Promise<Response>;

export type TokenTypeHint = 'refresh_token' | 'access_token';

/** Who asks: the client the tokens were issued to (RFC 7009 §2.1 requires its authentication). */
export interface RevocationClient {
  clientId: string;
  clientSecret?: string;
  /** The client's `token_endpoint_auth_method`; revocation authenticates the same way. */
  authMethod?: string;
}

export interface RevokeTokenRequest {
  /** The authorization server's `revocation_endpoint`. */
  endpoint: string;
  token: string;
  tokenTypeHint: TokenTypeHint;
  client: RevocationClient;
  fetchFn: FetchFn;
  signal?: AbortSignal;
}

/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 wants a client ID and secret encoded for Basic. */
function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

/**
 * The revocation endpoint, parsed: https, or http to a loopback host (as the MCP spec allows for
 * local authorization servers). Anything else would send a token in clear or somewhere odd.
 */
export function checkRevocationEndpoint(endpoint: unknown, issuer: string): URL {
  let url: URL | undefined;
  try {
    url = typeof endpoint === 'string' ? new URL(endpoint) : undefined;
  } catch {
    url = undefined;
  }
  if (!url) {
    throw new PatchbayError(
      'auth-refused',
      `${issuer} publishes a revocation_endpoint that is not a URL; no token was sent to it`,
    );
  }
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  if (!secure || url.username || url.password) {
    throw new PatchbayError(
      'auth-refused',
      `${issuer} publishes the revocation endpoint ${url.origin}${url.pathname}, which is not https (or http to this machine); no token was sent to it`,
    );
  }
  return url;
}

/**
 * What the revocation endpoint answered. `revoked` only for HTTP 200 (RFC 7009 §2.2). Otherwise
 * `reason` is one sentence for a person; `error` is the server's RFC 6749 §5.2 error code when it
 * sent one (`unsupported_token_type`, `invalid_client`…); `status` is absent when no answer came.
 */
export type RevokeTokenResult =
  { revoked: true } | { revoked: false; reason: string; status?: number; error?: string };

/**
 * RFC 7009 §2.1: ask the authorization server to revoke one token, once. Never throws for what
 * the network or the server does: the answer says it, with the server's words, never the token.
 */
export async function revokeToken(request: RevokeTokenRequest): Promise<RevokeTokenResult> {
  const { client, token } = request;
  const endpoint = new URL(request.endpoint);
  const body = new URLSearchParams({ token, token_type_hint: request.tokenTypeHint });
  const headers = new Headers({
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  });
  const method = client.authMethod;
  if (client.clientSecret && method === 'client_secret_post') {
    body.set('client_id', client.clientId);
    body.set('client_secret', client.clientSecret);
  } else if (client.clientSecret && method !== 'none') {
    const credentials = `${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`;
    headers.set('authorization', `Basic ${Buffer.from(credentials).toString('base64')}`);
  } else {
    // A public client identifies itself in the body (RFC 6749 §2.3, RFC 7009 §2.1).
    body.set('client_id', client.clientId);
  }
  const where = `${endpoint.origin}${endpoint.pathname}`;
  const secrets = [token, client.clientSecret];

  let response: Response;
  try {
    response = await request.fetchFn(endpoint, {
      method: 'POST',
      headers,
      body,
      // A redirect would carry the token to wherever the server points; refuse to follow it.
      redirect: 'manual',
      ...(request.signal ? { signal: request.signal } : {}),
    });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    const why = timedOut
      ? 'no answer in time'
      : redactSecrets(error instanceof Error ? error.message : String(error), secrets);
    return { revoked: false, reason: `could not reach the revocation endpoint ${where}: ${why}` };
  }
  if (response.status === 200) {
    await response.body?.cancel();
    return { revoked: true };
  }
  return refusal(response, where, secrets);
}

/** What a non-200 answer says. */
async function refusal(
  response: Response,
  where: string,
  secrets: ReadonlyArray<string | undefined>,
): Promise<RevokeTokenResult> {
  const { status } = response;
  const http = `HTTP ${status}`;
  if (status >= 300 && status < 400) {
    await response.body?.cancel();
    return {
      revoked: false,
      status,
      reason: `the revocation endpoint ${where} answered with a redirect (${http}), which patchbay does not follow with a token`,
    };
  }
  if (status === 503) {
    await response.body?.cancel();
    const retryAfter = response.headers.get('retry-after');
    const after = retryAfter ? `, retry after ${redactSecrets(retryAfter, secrets).slice(0, 40)}` : '';
    return {
      revoked: false,
      status,
      reason: `the revocation endpoint ${where} is unavailable (${http}${after}); not retried`,
    };
  }
  // RFC 7009 §2.2.1: an error response is RFC 6749 §5.2's JSON object.
  let error: string | undefined;
  let description: string | undefined;
  if (/^application\/(?:[\w.+-]+\+)?json\b/i.test(response.headers.get('content-type') ?? '')) {
    try {
      const parsed = (await response.json()) as unknown;
      if (parsed && typeof parsed === 'object') {
        const fields = parsed as Record<string, unknown>;
        // RFC 6749 §5.2: error codes are printable ASCII without '"' or '\\'.
        if (typeof fields.error === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,100}$/.test(fields.error))
          error = fields.error;
        if (typeof fields.error_description === 'string')
          description = redactSecrets(fields.error_description, secrets).slice(0, 300);
      }
    } catch {
      // Not JSON after all: the status says enough.
    }
  } else {
    await response.body?.cancel();
  }
  const said = [error, description].filter(Boolean).join(': ');
  return {
    revoked: false,
    status,
    ...(error ? { error } : {}),
    reason: redactSecrets(
      `the revocation endpoint ${where} refused: ${said ? `${said} (${http})` : http}`,
      secrets,
    ),
  };
}

export interface RevocationTarget {
  issuer: string;
  accessToken: string;
  refreshToken?: string;
  /** Absent when patchbay no longer knows which client the tokens belong to. */
  client: RevocationClient | undefined;
}

export interface RevocationOptions {
  fetchFn: FetchFn;
  signal?: AbortSignal;
  /** An explicit `authServerMetadataUrl` from the entry: used instead of discovery. */
  authServerMetadataUrl?: string;
  /** A line for stderr per revoked token. */
  say?(message: string): void;
}

/**
 * `revoked`: the server answered 200 for the refresh token (or, without one, the access token).
 * `not-offered`: the server has no revocation endpoint; nothing to do. `failed`: it should have
 * been revoked and was not, with the reason.
 */
export type RevocationOutcome =
  | { status: 'revoked'; issuer: string; endpoint: string; tokens: TokenTypeHint[] }
  | { status: 'not-offered' | 'failed'; issuer: string; reason: string; endpoint?: string };

/**
 * Revoke one login's tokens at its authorization server, when the server's metadata offers a
 * `revocation_endpoint`: the refresh token first (revoking it ends the grant at most servers),
 * then the access token. Never throws: every failure is an outcome with its reason.
 */
export async function revokeLogin(
  target: RevocationTarget,
  options: RevocationOptions,
): Promise<RevocationOutcome> {
  const { issuer } = target;
  let endpoint: URL;
  try {
    const metadata = await authorizationServerMetadata(issuer, options);
    if (!metadata) {
      return {
        status: 'failed',
        issuer,
        reason: `the metadata of ${issuer} could not be found, so its revocation endpoint is unknown`,
      };
    }
    if (metadata.revocation_endpoint === undefined) {
      return { status: 'not-offered', issuer, reason: `${issuer} offers no revocation endpoint` };
    }
    endpoint = checkRevocationEndpoint(metadata.revocation_endpoint, issuer);
  } catch (error) {
    return { status: 'failed', issuer, reason: reasonOf(error, target) };
  }
  const where = `${endpoint.origin}${endpoint.pathname}`;
  if (!target.client) {
    return {
      status: 'failed',
      issuer,
      endpoint: where,
      reason: 'the client the tokens were issued to is no longer known, and revocation needs it',
    };
  }
  const tokens: Array<[TokenTypeHint, string]> = [];
  if (target.refreshToken) tokens.push(['refresh_token', target.refreshToken]);
  tokens.push(['access_token', target.accessToken]);
  const revoked: TokenTypeHint[] = [];
  for (const [hint, token] of tokens) {
    const answer = await revokeToken({
      endpoint: endpoint.href,
      token,
      tokenTypeHint: hint,
      client: target.client,
      fetchFn: options.fetchFn,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (answer.revoked) {
      revoked.push(hint);
      options.say?.(`Revoked the ${hint === 'refresh_token' ? 'refresh' : 'access'} token at ${where}.`);
      continue;
    }
    // The refresh token is what must not outlive a logout; an access token expires on its own, and
    // servers that issue self-contained (JWT) access tokens cannot revoke them (RFC 7009 §2.2.1).
    if (hint === 'access_token' && revoked.includes('refresh_token')) {
      options.say?.(
        answer.error === 'unsupported_token_type'
          ? `${issuer} does not revoke access tokens of this kind; the access token expires on its own.`
          : `The access token was not revoked (${redact(answer.reason, target)}); it expires on its own.`,
      );
      continue;
    }
    return { status: 'failed', issuer, endpoint: where, reason: redact(answer.reason, target) };
  }
  return { status: 'revoked', issuer, endpoint: where, tokens: revoked };
}

interface MetadataWithRevocation {
  issuer: string;
  revocation_endpoint?: unknown;
}

/** RFC 8414 then OIDC discovery through the SDK, or the configured metadata document. */
async function authorizationServerMetadata(
  issuer: string,
  options: RevocationOptions,
): Promise<MetadataWithRevocation | undefined> {
  const fetchFn: FetchFn = options.signal
    ? (url, init) => {
        const signal = init?.signal ? AbortSignal.any([init.signal, options.signal!]) : options.signal!;
        return options.fetchFn(url, { ...init, signal });
      }
    : options.fetchFn;
  if (options.authServerMetadataUrl)
    return fetchMetadataDocument(options.authServerMetadataUrl, issuer, fetchFn);
  const { discoverAuthorizationServerMetadata } = await import('@modelcontextprotocol/client');
  // The SDK checks that the document's `issuer` is the one asked for (RFC 8414 §3.3).
  return discoverAuthorizationServerMetadata(issuer, { fetchFn });
}

/** An explicit `authServerMetadataUrl`: 200, JSON, and the issuer the tokens came from. */
async function fetchMetadataDocument(
  url: string,
  issuer: string,
  fetchFn: FetchFn,
): Promise<MetadataWithRevocation> {
  const where = `the authorization server metadata at ${url} (oauth.authServerMetadataUrl)`;
  const response = await fetchFn(url, { headers: { accept: 'application/json' }, redirect: 'manual' });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new PatchbayError('auth-refused', `${where} answered HTTP ${response.status}`);
  }
  let parsed: unknown;
  try {
    parsed = await response.json();
  } catch {
    throw new PatchbayError('auth-refused', `${where} is not JSON`);
  }
  const document = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  if (document.issuer !== issuer) {
    throw new PatchbayError(
      'auth-refused',
      `${where} is for another issuer than ${issuer}, which issued the tokens; no token was sent`,
    );
  }
  return { issuer, revocation_endpoint: document.revocation_endpoint };
}

function reasonOf(error: unknown, target: RevocationTarget): string {
  const message =
    error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')
      ? `no answer from ${target.issuer} in time`
      : error instanceof Error
        ? error.message
        : String(error);
  return redact(message, target);
}

function redact(message: string, target: RevocationTarget): string {
  return redactSecrets(message, [target.accessToken, target.refreshToken, target.client?.clientSecret]);
}
