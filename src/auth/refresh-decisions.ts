/**
 * The decisions of a token refresh, apart from its I/O (as oauth4webapi keeps its processing
 * functions apart from its requests): whether a token is due, what to do when one is asked for or
 * refused, whether a refresh is still needed once the lock is held, what the token endpoint's
 * answer means for the stored login, and whether a failure is final (`needs-login`) or passing.
 *
 * Pure: no store, no network, no clock (callers pass `now`), no SDK at run time. `refresh.ts`
 * does the locking, the requests and the storing around these.
 */

import type { OAuthTokens } from '@modelcontextprotocol/client';

import { terminalText } from '../core/terminal-text.js';
import { PatchbayError } from '../errors.js';
import { isExpired, tokenState } from './expiry.js';
import { normalUrl, sameResource } from './resource-url.js';
import { redactSecrets, type StoredTokens } from './store-records.js';

/**
 * What went wrong getting a usable token:
 * - `needs-login`: only a new `patchbay login` helps (no login, expired without a refresh token,
 *   refresh token rejected, registration gone);
 * - `unreachable`: the authorization server could not be reached (the cause has the network error);
 * - `failed`: it answered, but not usefully (a server error, malformed metadata, a timeout).
 */
export type CredentialFailureKind = 'needs-login' | 'unreachable' | 'failed';

export class CredentialError extends PatchbayError {
  readonly kind: CredentialFailureKind;
  /** The authorization server endpoint involved, for network messages. */
  readonly endpoint: URL | undefined;
  /** The MCP server's status that led here, when there was one (401). */
  readonly httpStatus: number | undefined;
  /** The authorization server's refusal of the refresh token, as recorded with the tokens. */
  readonly refusal: string | undefined;

  constructor(
    kind: CredentialFailureKind,
    message: string,
    options: { hint?: string; cause?: unknown; endpoint?: URL; httpStatus?: number; refusal?: string } = {},
  ) {
    super(kind === 'needs-login' ? 'needs-auth' : 'connect-failed', message, options);
    this.name = 'CredentialError';
    this.kind = kind;
    this.endpoint = options.endpoint;
    this.httpStatus = options.httpStatus;
    this.refusal = options.refusal;
  }
}

export function isCredentialError(error: unknown): error is CredentialError {
  return error instanceof PatchbayError && error.name === 'CredentialError';
}

/** A token refreshed because of a 401 and rejected again within this window is not refreshed again. */
export const LOOP_WINDOW_MS = 60_000;
/** Errors an authorization server reports for a passing condition: not a verdict on the refresh token. */
const TRANSIENT_OAUTH_ERRORS = new Set(['server_error', 'temporarily_unavailable', 'too_many_requests']);

/**
 * Why a refresh is wanted: the token seen was due (`expiry`), or the server refused the token it
 * was sent (`rejected`). It decides whether a token another process stored meanwhile will do.
 */
export type RefreshCause = { kind: 'expiry'; seen: string } | { kind: 'rejected'; rejected: string };

/** The same issuer: lists of authorization servers often differ from `issuer` by a final slash. */
export function sameIssuer(a: string, b: string): boolean {
  return normalUrl(a).replace(/\/$/, '') === normalUrl(b).replace(/\/$/, '');
}

/** When a token should be replaced: the one rule of expiry.ts (due or already expired). */
export function refreshDue(tokens: StoredTokens, now = Date.now()): boolean {
  return tokenState(tokens, now) !== 'fresh';
}

export const expired = (tokens: StoredTokens, now = Date.now()): boolean => isExpired(tokens, now);

/** A refresh token the authorization server already refused (here or in another process). */
export function refusedBefore(tokens: StoredTokens): boolean {
  const error = tokens.lastRefreshError;
  return error !== undefined && error.at >= (tokens.lastRefreshAt ?? tokens.obtainedAt);
}

/**
 * What to do with the token at hand when a request wants one: send it (`use`); re-read the store
 * first, since there is no refresh token but a new login may have replaced it (`reload`); or
 * refresh it (`refresh`). `quietUntil`: until when a failed early refresh is not tried again.
 */
/** A refresh token to refresh with, or a machine login (machine-grant.ts) that a new grant renews. */
export function renewable(tokens: StoredTokens): boolean {
  return Boolean(tokens.refreshToken) || tokens.grant !== undefined;
}

export function planForRequest(
  tokens: StoredTokens,
  now: number,
  quietUntil: number,
): 'use' | 'reload' | 'refresh' {
  if (!refreshDue(tokens, now)) return 'use';
  if (!expired(tokens, now) && now < quietUntil) return 'use';
  if (!renewable(tokens)) return 'reload';
  return 'refresh';
}

/**
 * The same after the re-read: nothing to send (`none`: absent or expired, never an expired token),
 * send it, or refresh it.
 */
export function planAfterReload(tokens: StoredTokens | undefined, now: number): 'none' | 'use' | 'refresh' {
  if (!tokens || expired(tokens, now)) return 'none';
  if (!refreshDue(tokens, now) || !renewable(tokens)) return 'use';
  return 'refresh';
}

/** A refresh that failed while the token is still valid: its use goes on, and the next try waits this long. */
export const RETRY_EARLY_REFRESH_MS = 10_000;

/** An access token obtained because the server answered 401, and when. */
export interface RefreshAfter401 {
  accessToken: string;
  at: number;
}

/**
 * The server answered 401 to `sent` (undefined: a request that carried no token): retry with a
 * newer stored token, refresh for the given cause, or fail with the reason. `lastAfter401` is the
 * token last obtained for this server because of a 401.
 */
export function planForUnauthorized(input: {
  stored: StoredTokens;
  sent: string | undefined;
  lastAfter401: RefreshAfter401 | undefined;
  now: number;
  login: string;
}):
  | { action: 'retry' }
  | { action: 'refresh'; cause: RefreshCause }
  | { action: 'fail'; error: CredentialError } {
  const { stored, sent, lastAfter401: loop, now, login } = input;
  const usable = !expired(stored, now) && !refreshDue(stored, now);
  if (stored.accessToken !== sent && usable) return { action: 'retry' };
  const fail = (message: string) => ({
    action: 'fail' as const,
    error: new CredentialError('needs-login', message, { hint: login, httpStatus: 401 }),
  });
  if (sent === undefined && !renewable(stored)) {
    const when = stored.expiresAt === undefined ? '' : ` at ${new Date(stored.expiresAt).toISOString()}`;
    return fail(
      `the access token from the last login expired${when}, and the authorization server issued no refresh token`,
    );
  }
  if (loop && loop.accessToken === sent && now - loop.at < LOOP_WINDOW_MS) {
    return fail(
      `the server rejected an access token that ${stored.issuer} issued moments ago (HTTP 401); patchbay will not refresh it again`,
    );
  }
  if (!renewable(stored)) {
    return fail(
      'the server rejected the access token from the last login (HTTP 401), and there is no refresh token to get another',
    );
  }
  return {
    action: 'refresh',
    cause:
      sent === undefined
        ? { kind: 'expiry', seen: stored.accessToken }
        : { kind: 'rejected', rejected: sent },
  };
}

/**
 * Under the lock, with the tokens as stored now: use them (another process or request refreshed
 * while this one waited), refresh with this refresh token, or fail with the reason.
 */
export function planUnderLock(input: {
  current: StoredTokens | undefined;
  resource: string;
  cause: RefreshCause;
  now: number;
  login: string;
}):
  | { action: 'use'; tokens: StoredTokens }
  /** `refreshToken` undefined: a machine login, renewed by a new grant of `tokens.grant`. */
  | { action: 'refresh'; tokens: StoredTokens; refreshToken: string | undefined }
  | { action: 'fail'; error: CredentialError } {
  const { current, resource, cause, now, login } = input;
  if (!current || !sameResource(current.resource, resource)) {
    return {
      action: 'fail',
      error: new CredentialError('needs-login', 'the login for this server was removed (patchbay logout?)', {
        hint: login,
      }),
    };
  }
  if (replacedMeanwhile(current, cause, now)) return { action: 'use', tokens: current };
  if (refusedBefore(current)) {
    return {
      action: 'fail',
      error: new CredentialError('needs-login', loginEnded(current.lastRefreshError!.message), {
        hint: login,
      }),
    };
  }
  if (!renewable(current)) {
    return {
      action: 'fail',
      error: new CredentialError(
        'needs-login',
        'the access token from the last login expired, and the authorization server issued no refresh token',
        { hint: login },
      ),
    };
  }
  return { action: 'refresh', tokens: current, refreshToken: current.refreshToken };
}

/** Another process (or request) refreshed while this one waited: use its token, make no request. */
export function replacedMeanwhile(current: StoredTokens, cause: RefreshCause, now = Date.now()): boolean {
  if (expired(current, now)) return false;
  if (cause.kind === 'rejected') return current.accessToken !== cause.rejected;
  return current.accessToken !== cause.seen || !refreshDue(current, now);
}

/**
 * The stored login after a successful refresh: the token endpoint's answer over what was stored,
 * the old refresh token kept when no new one came (RFC 6749 §6), the refusal record cleared.
 */
export function nextTokenSet(
  current: StoredTokens,
  tokens: OAuthTokens,
  endpoint: URL | undefined,
  now: number,
): StoredTokens {
  if (tokens.token_type.toLowerCase() !== 'bearer') {
    throw new CredentialError(
      'failed',
      `the authorization server refreshed the login with a "${redactSecrets(tokens.token_type, []).slice(0, 40)}" token; patchbay sends Bearer tokens only`,
      { ...(endpoint ? { endpoint } : {}) },
    );
  }
  const { lastRefreshError: _cleared, ...kept } = current;
  return {
    ...kept,
    accessToken: tokens.access_token,
    tokenType: tokens.token_type,
    // RFC 6749 §6: no new refresh token means the old one stays valid.
    ...(tokens.refresh_token || current.refreshToken
      ? { refreshToken: tokens.refresh_token ?? current.refreshToken }
      : {}),
    expiresAt: tokens.expires_in === undefined ? undefined : now + tokens.expires_in * 1000,
    ...(tokens.scope || current.scope ? { scope: tokens.scope ?? current.scope } : {}),
    lastRefreshAt: now,
  };
}

/** The issuer's metadata must name the issuer that granted the login. */
export function checkMetadataIssuer(
  metadataIssuer: string,
  issuer: string,
  login: string,
): CredentialError | undefined {
  if (sameIssuer(metadataIssuer, issuer)) return undefined;
  return new CredentialError(
    'needs-login',
    `the authorization server metadata names the issuer ${redactSecrets(metadataIssuer, []).slice(0, 200)}, not ${issuer} that granted the login`,
    { hint: login },
  );
}

/** The server's protected resource metadata must still name the issuer of these tokens, when it names any. */
export function checkAuthorizationServers(
  servers: readonly string[] | undefined,
  issuer: string,
  login: string,
): CredentialError | undefined {
  if (!servers || servers.length === 0 || servers.some((server) => sameIssuer(server, issuer)))
    return undefined;
  return new CredentialError(
    'needs-login',
    `the server no longer names ${issuer}, which granted the login, as its authorization server`,
    { hint: login },
  );
}

/**
 * Which client refreshes: the configured one (`oauth.clientId`) when the tokens were issued to it
 * (or say nothing of their client), else the registration the tokens were issued to.
 */
export function refreshingClient(
  configuredClientId: string | undefined,
  current: StoredTokens,
): { kind: 'configured'; clientId: string } | { kind: 'registered'; clientId: string | undefined } {
  if (configuredClientId && (current.clientId === undefined || current.clientId === configuredClientId)) {
    return { kind: 'configured', clientId: configuredClientId };
  }
  return { kind: 'registered', clientId: current.clientId };
}

/** What a failed refresh request means, as the caller saw it. */
export interface RefreshFailureFacts {
  error: unknown;
  current: StoredTokens;
  endpoint: URL | undefined;
  /** The refresh's time budget, when it ran out. */
  timedOutAfterMs?: number;
  /** The authorization server's OAuth error response, when it gave one. */
  oauth?: { code: string; message: string };
  login: string;
}

/**
 * A failed refresh as a CredentialError: final (`needs-login`, with the refusal to record) when the
 * authorization server refused the refresh token; passing otherwise.
 */
export function explainRefreshFailure(facts: RefreshFailureFacts): CredentialError {
  const { error, current, endpoint, oauth, login } = facts;
  if (isCredentialError(error)) return error;
  const at = endpoint ? { endpoint } : {};
  const secrets = [current.accessToken, current.refreshToken];
  if (facts.timedOutAfterMs !== undefined) {
    const seconds = Math.round(facts.timedOutAfterMs / 1000);
    return new CredentialError(
      'failed',
      `refreshing the access token at ${current.issuer} timed out after ${seconds} s`,
      { ...at, cause: error },
    );
  }
  if (oauth) {
    const said = describeOAuthError(oauth.code, oauth.message, secrets);
    if (TRANSIENT_OAUTH_ERRORS.has(oauth.code)) {
      return new CredentialError(
        'failed',
        `the authorization server ${current.issuer} could not refresh the access token (${said}); try again later`,
        { ...at, cause: error },
      );
    }
    return new CredentialError(
      'needs-login',
      loginEnded(`${current.issuer} refused the refresh token (${said})`),
      {
        ...at,
        cause: error,
        hint: login,
        refusal: `${current.issuer} refused the refresh token (${said})`,
      },
    );
  }
  if (error instanceof PatchbayError) {
    return new CredentialError('failed', `refreshing the access token failed: ${error.message}`, {
      ...at,
      cause: error,
      ...(error.hint ? { hint: error.hint } : {}),
    });
  }
  if (
    error instanceof Error &&
    (error.name === 'IssuerMismatchError' || error.name === 'InsecureTokenEndpointError')
  ) {
    return new CredentialError(
      'failed',
      `refreshing the access token failed: ${redactSecrets(error.message, secrets).slice(0, 200)}`,
      { ...at, cause: error },
    );
  }
  // fetch failed, DNS, TLS, a reset: the session maps the cause to a network reason.
  return new CredentialError(
    'unreachable',
    `could not reach the authorization server ${current.issuer} to refresh the access token`,
    { ...at, cause: error },
  );
}

/** A lock not obtained, a store not writable: the refresh could not be done or kept. */
export function asCredentialError(error: unknown): CredentialError {
  if (isCredentialError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new CredentialError('failed', `the access token could not be refreshed: ${message}`, {
    cause: error,
    ...(error instanceof PatchbayError && error.hint ? { hint: error.hint } : {}),
  });
}

export function loginEnded(refusal: string): string {
  return `the login has expired or was revoked: ${refusal}`;
}

/** `invalid_grant: grant request is invalid`: the server's code and words, printable, bounded, redacted. */
function describeOAuthError(code: string, message: string, secrets: Array<string | undefined>): string {
  const clean = (text: string, max: number) => terminalText(redactSecrets(text, secrets), { max });
  const description = message && message !== code ? `: ${clean(message, 160)}` : '';
  return `${clean(code, 60)}${description}`;
}
