/**
 * Tokens that keep working: the token source a transport asks before every request, which
 * refreshes the stored access token shortly before it expires and once when the server answers
 * 401 to it, then lets the transport retry.
 *
 * A refresh is single flight. Across processes, `withServerLock` serialises it and re-reads the
 * token set under the lock: a process that finds the token already replaced by another uses that
 * one and makes no token request. Within a process, concurrent requests share one refresh. The
 * new token set (with a rotated refresh token) is stored before anyone uses it, so a rotating
 * authorization server never sees a retired refresh token from us, which would revoke the grant.
 *
 * A refresh the server rejects is recorded with the tokens (`lastRefreshError`) and ends in
 * `needs-login`; the next attempt, in this process or another, sees the record and makes no
 * request until a new login replaces the tokens. Tokens are used only for the resource they were
 * granted for and refreshed only at the issuer that granted them, as the client it granted them to.
 */

import { isExpired, tokenState } from './expiry.js';
import { normalUrl, sameResource } from './resource-url.js';
import type {
  AuthorizationServerMetadata,
  AuthProvider,
  OAuthClientInformationMixed,
  OAuthTokens,
} from '@modelcontextprotocol/client';

import { terminalText } from '../core/terminal-text.js';
import { PatchbayError } from '../errors.js';
import { tokenKey } from './oauth-provider.js';
import { redactSecrets, type StoredTokens } from './store-records.js';
import type { CredentialStore } from './store.js';

/** The fetch signature of the SDK's transports and auth functions. */
export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

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

export interface TokenSourceSettings {
  /** The MCP server's URL as configured: the protected resource the tokens are for. */
  resource: string;
  /** The server's configured name: the login hint, and the key of a pre-registered client's secret. */
  name?: string;
  /** A pre-registered client (`oauth.clientId`). */
  clientId?: string;
  /** `oauth.authServerMetadataUrl`: where the issuer's metadata is, instead of discovery. */
  authServerMetadataUrl?: string;
  /** Every request (MCP server and authorization server) goes through it: proxies, TLS. */
  fetch: FetchLike;
  store: CredentialStore | (() => Promise<CredentialStore>);
  /** Called with each access token this source hands out, so messages can be redacted of it. */
  onToken?(accessToken: string): void;
  /** Bound on one refresh (discovery and the token request); default 15 s. */
  refreshTimeoutMs?: number;
  /** How long to wait for another process's refresh; default 45 s. */
  lockTimeoutMs?: number;
}

export { EXPIRY_SLACK_MS } from './expiry.js';
/** Well under the 30 s after which a waiting process takes a lock for stale. */
const REFRESH_TIMEOUT_MS = 15_000;
const LOCK_TIMEOUT_MS = 45_000;
/** A token refreshed because of a 401 and rejected again within this window is not refreshed again. */
const LOOP_WINDOW_MS = 60_000;
/** After an early refresh failed, the still-valid token is used this long before the next try. */
const RETRY_EARLY_REFRESH_MS = 10_000;
/** Errors an authorization server reports for a passing condition: not a verdict on the refresh token. */
const TRANSIENT_OAUTH_ERRORS = new Set(['server_error', 'temporarily_unavailable', 'too_many_requests']);

type ClientSdk = typeof import('@modelcontextprotocol/client');
/** What the transport passes to `onUnauthorized` (the SDK does not export the type by name). */
type UnauthorizedContext = Parameters<NonNullable<AuthProvider['onUnauthorized']>>[0];

/** One refresh per credential store and server key in this process, whoever asks. */
const refreshesInFlight = new Map<string, Promise<StoredTokens>>();
/** Authorization server metadata per issuer (or configured metadata URL), for this process, a while. */
const metadataCache = new Map<string, { at: number; metadata: Promise<AuthorizationServerMetadata> }>();
const METADATA_CACHE_MS = 10 * 60_000;
/**
 * Access tokens obtained because the server answered 401, per store and server key: if the server
 * refuses one of those too, refreshing again would only repeat that.
 */
const refreshedAfter401 = new Map<string, { accessToken: string; at: number }>();

type RefreshCause = { kind: 'expiry'; seen: string } | { kind: 'rejected'; rejected: string };

/** The same issuer: lists of authorization servers often differ from `issuer` by a final slash. */
function sameIssuer(a: string, b: string): boolean {
  return normalUrl(a).replace(/\/$/, '') === normalUrl(b).replace(/\/$/, '');
}

/** When a token should be replaced: the one rule of expiry.ts (due or already expired). */
export function refreshDue(tokens: StoredTokens, now = Date.now()): boolean {
  return tokenState(tokens, now) !== 'fresh';
}

const expired = (tokens: StoredTokens, now = Date.now()): boolean => isExpired(tokens, now);

/** A refresh token the authorization server already refused (here or in another process). */
function refusedBefore(tokens: StoredTokens): boolean {
  const error = tokens.lastRefreshError;
  return error !== undefined && error.at >= (tokens.lastRefreshAt ?? tokens.obtainedAt);
}

/**
 * The AuthProvider patchbay hands to the SDK's HTTP transports when requests may refresh
 * (`connect(entry, { credentials: 'refresh' })`). Pass `fetch` (not the plain one) to the
 * transport too: it remembers which token each response answered, so a 401 refreshes only when
 * the rejected token is still the current one, and it never sends the token to another origin.
 */
export class OAuthTokenSource implements AuthProvider {
  readonly fetch: FetchLike;
  private readonly origin: string;
  private store: Promise<CredentialStore> | undefined;
  private key: string | undefined;
  private current: StoredTokens | undefined;
  private loaded = false;
  private readonly sentWith = new WeakMap<Response, string>();
  /** Until when a failed early refresh (of a token still valid) is not tried again. */
  private quietUntil = 0;

  constructor(private readonly settings: TokenSourceSettings) {
    this.origin = new URL(settings.resource).origin;
    this.fetch = (url, init) => this.send(url, init);
  }

  /** The access token to send, refreshed first when it is about to expire. */
  async token(): Promise<string | undefined> {
    let tokens = this.loaded ? this.current : await this.reloadQuietly();
    if (!tokens) return undefined;
    if (!refreshDue(tokens)) return this.use(tokens);
    if (!expired(tokens) && Date.now() < this.quietUntil) return this.use(tokens);
    if (!tokens.refreshToken) {
      // A new login may have replaced it; otherwise send what is still valid, never an expired token.
      tokens = await this.reloadQuietly();
      if (!tokens || expired(tokens)) return undefined;
      if (!refreshDue(tokens) || !tokens.refreshToken) return this.use(tokens);
    }
    try {
      return this.use(await this.refresh(tokens, { kind: 'expiry', seen: tokens.accessToken }));
    } catch (error) {
      if (expired(tokens)) throw error;
      // Still valid for a little while: use it, and try again in a moment rather than on every request.
      this.quietUntil = Date.now() + RETRY_EARLY_REFRESH_MS;
      return this.use(tokens);
    }
  }

  /** The server answered 401: get a token it may accept, or say why there is none. */
  async onUnauthorized(ctx: UnauthorizedContext): Promise<void> {
    const sent = this.sentWith.get(ctx.response);
    const login = this.loginHint();
    const stored = await this.reload().catch((error: unknown) => {
      throw new CredentialError(
        'failed',
        `the server requires authentication (HTTP 401), and the credential store could not be read: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
          hint: error instanceof PatchbayError && error.hint ? error.hint : login,
          httpStatus: 401,
        },
      );
    });
    if (!stored) {
      throw new CredentialError('needs-login', 'the server requires authentication (HTTP 401)', {
        hint: login,
        httpStatus: 401,
      });
    }
    const usable = !expired(stored) && !refreshDue(stored);
    if (stored.accessToken !== sent && usable) return; // a newer token than the one refused: retry with it
    if (sent === undefined && !stored.refreshToken) {
      const when = stored.expiresAt === undefined ? '' : ` at ${new Date(stored.expiresAt).toISOString()}`;
      throw new CredentialError(
        'needs-login',
        `the access token from the last login expired${when}, and the authorization server issued no refresh token`,
        { hint: login, httpStatus: 401 },
      );
    }
    const loopKey = await this.flightKey(tokenKey(stored.issuer, stored.resource));
    const loop = refreshedAfter401.get(loopKey);
    if (loop && loop.accessToken === sent && Date.now() - loop.at < LOOP_WINDOW_MS) {
      throw new CredentialError(
        'needs-login',
        `the server rejected an access token that ${stored.issuer} issued moments ago (HTTP 401); patchbay will not refresh it again`,
        { hint: login, httpStatus: 401 },
      );
    }
    if (!stored.refreshToken) {
      throw new CredentialError(
        'needs-login',
        'the server rejected the access token from the last login (HTTP 401), and there is no refresh token to get another',
        { hint: login, httpStatus: 401 },
      );
    }
    const cause: RefreshCause =
      sent === undefined
        ? { kind: 'expiry', seen: stored.accessToken }
        : { kind: 'rejected', rejected: sent };
    const fresh = await this.refresh(stored, cause);
    if (sent !== undefined)
      refreshedAfter401.set(loopKey, { accessToken: fresh.accessToken, at: Date.now() });
  }

  private use(tokens: StoredTokens): string {
    this.settings.onToken?.(tokens.accessToken);
    return tokens.accessToken;
  }

  /** The scope the stored login was granted (or asked for), as the token endpoint said it. */
  grantedScope(): string | undefined {
    return this.current?.scope;
  }

  private loginHint(): string {
    return `patchbay login ${this.settings.name ?? '<name>'}`;
  }

  private openStore(): Promise<CredentialStore> {
    const { store } = this.settings;
    this.store ??= typeof store === 'function' ? store() : Promise.resolve(store);
    return this.store;
  }

  /**
   * The token set stored for this server, re-read. Only a set whose `resource` is this server's
   * URL qualifies; of several (one per issuer), the latest login or refresh.
   */
  private async reload(): Promise<StoredTokens | undefined> {
    const store = await this.openStore();
    const { tokens } = await store.list();
    const candidates = tokens
      .filter((facts) => sameResource(facts.resource, this.settings.resource))
      .sort((a, b) => (b.lastRefreshAt ?? b.obtainedAt) - (a.lastRefreshAt ?? a.obtainedAt));
    this.loaded = true;
    for (const facts of candidates) {
      if (facts.serverKey !== tokenKey(facts.issuer, facts.resource)) continue;
      const full = await store.getTokens(facts.serverKey);
      if (!full || full.issuer !== facts.issuer || !sameResource(full.resource, this.settings.resource))
        continue;
      this.key = facts.serverKey;
      this.current = full;
      return full;
    }
    this.key = undefined;
    this.current = undefined;
    return undefined;
  }

  /**
   * A store that cannot be read is no reason to fail a server that may need no login: requests go
   * without a token, and a 401 reports the store's problem.
   */
  private async reloadQuietly(): Promise<StoredTokens | undefined> {
    try {
      return await this.reload();
    } catch {
      this.loaded = true;
      this.current = undefined;
      return undefined;
    }
  }

  /** One refresh per server key in this process, on top of the cross-process lock. */
  private async refresh(seen: StoredTokens, cause: RefreshCause): Promise<StoredTokens> {
    const store = await this.openStore();
    const key = this.key ?? tokenKey(seen.issuer, seen.resource);
    const flightKey = await this.flightKey(key);
    let flight = refreshesInFlight.get(flightKey);
    if (!flight) {
      flight = this.refreshUnderLock(store, key, cause)
        .catch((error: unknown) => {
          throw asCredentialError(error);
        })
        .finally(() => refreshesInFlight.delete(flightKey));
      refreshesInFlight.set(flightKey, flight);
    }
    const fresh = await flight;
    this.key = key;
    this.current = fresh;
    return fresh;
  }

  /** Server keys are per credential store: two data directories are two worlds. */
  private async flightKey(key: string): Promise<string> {
    return `${(await this.openStore()).describe().dataDirectory}\n${key}`;
  }

  private refreshUnderLock(store: CredentialStore, key: string, cause: RefreshCause): Promise<StoredTokens> {
    const login = this.loginHint();
    return store.withServerLock(
      key,
      async (current) => {
        if (!current || !sameResource(current.resource, this.settings.resource)) {
          throw new CredentialError(
            'needs-login',
            'the login for this server was removed (patchbay logout?)',
            {
              hint: login,
            },
          );
        }
        if (this.replacedMeanwhile(current, cause)) return current;
        if (refusedBefore(current)) {
          throw new CredentialError('needs-login', loginEnded(current.lastRefreshError!.message), {
            hint: login,
          });
        }
        if (!current.refreshToken) {
          throw new CredentialError(
            'needs-login',
            'the access token from the last login expired, and the authorization server issued no refresh token',
            { hint: login },
          );
        }
        const fresh = await this.requestRefresh(store, current, current.refreshToken, key);
        // Durable before anyone uses it: a rotated refresh token must never be lost.
        await store.saveTokens(key, fresh);
        return fresh;
      },
      { timeoutMs: this.settings.lockTimeoutMs ?? LOCK_TIMEOUT_MS },
    );
  }

  /** Another process (or request) refreshed while this one waited: use its token, make no request. */
  private replacedMeanwhile(current: StoredTokens, cause: RefreshCause): boolean {
    if (expired(current)) return false;
    if (cause.kind === 'rejected') return current.accessToken !== cause.rejected;
    return current.accessToken !== cause.seen || !refreshDue(current);
  }

  private async requestRefresh(
    store: CredentialStore,
    current: StoredTokens,
    refreshToken: string,
    key: string,
  ): Promise<StoredTokens> {
    const sdk = await import('@modelcontextprotocol/client');
    const signal = AbortSignal.timeout(this.settings.refreshTimeoutMs ?? REFRESH_TIMEOUT_MS);
    const fetchFn = boundedFetch(this.settings.fetch, signal);
    let endpoint: URL | undefined = safeUrl(current.issuer);
    try {
      const metadata = await this.metadataFor(current.issuer, fetchFn, sdk);
      endpoint = safeUrl(metadata.token_endpoint) ?? endpoint;
      const resource = await this.resourceIndicator(current, fetchFn, sdk);
      const clientInformation = await this.clientFor(store, current);
      const tokens = await sdk.refreshAuthorization(current.issuer, {
        metadata,
        clientInformation,
        refreshToken,
        resource: new URL(resource),
        fetchFn,
      });
      return this.nextTokenSet(current, tokens, endpoint);
    } catch (error) {
      const failure = this.explainRefreshFailure(error, current, endpoint, signal, sdk);
      // The server's verdict on the refresh token, for `auth status` and for every later attempt.
      if (failure.refusal) await store.recordRefreshError(key, failure.refusal).catch(() => false);
      if (failure.kind !== 'needs-login') {
        // Perhaps the server moved its endpoints: discover afresh next time.
        metadataCache.delete(this.metadataCacheKey(current.issuer));
      }
      throw failure;
    }
  }

  private nextTokenSet(current: StoredTokens, tokens: OAuthTokens, endpoint: URL | undefined): StoredTokens {
    if (tokens.token_type.toLowerCase() !== 'bearer') {
      throw new CredentialError(
        'failed',
        `the authorization server refreshed the login with a "${redactSecrets(tokens.token_type, []).slice(0, 40)}" token; patchbay sends Bearer tokens only`,
        { ...(endpoint ? { endpoint } : {}) },
      );
    }
    const now = Date.now();
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

  private metadataCacheKey(issuer: string): string {
    const configured = this.settings.authServerMetadataUrl;
    return configured ? `${configured}\n${issuer}` : issuer;
  }

  /** The issuer's metadata: the configured document, else RFC 8414 / OIDC discovery; its issuer must match. */
  private metadataFor(
    issuer: string,
    fetchFn: FetchLike,
    sdk: ClientSdk,
  ): Promise<AuthorizationServerMetadata> {
    const configured = this.settings.authServerMetadataUrl;
    const cacheKey = this.metadataCacheKey(issuer);
    const cached = metadataCache.get(cacheKey);
    if (cached && Date.now() - cached.at < METADATA_CACHE_MS) return cached.metadata;
    const found = (async () => {
      const metadata = configured
        ? await fetchConfiguredMetadata(configured, fetchFn)
        : await sdk.discoverAuthorizationServerMetadata(issuer, { fetchFn });
      if (!metadata) {
        throw new CredentialError(
          'failed',
          `${issuer} publishes no authorization server metadata (tried RFC 8414 and OpenID discovery)`,
        );
      }
      if (!sameIssuer(metadata.issuer, issuer)) {
        throw new CredentialError(
          'needs-login',
          `the authorization server metadata names the issuer ${redactSecrets(metadata.issuer, []).slice(0, 200)}, not ${issuer} that granted the login`,
          { hint: this.loginHint() },
        );
      }
      return metadata;
    })();
    metadataCache.set(cacheKey, { at: Date.now(), metadata: found });
    found.catch(() => metadataCache.delete(cacheKey));
    return found;
  }

  /**
   * RFC 8707 `resource`, as the protected resource metadata publishes it (which is what the login
   * sent); the server's URL when there is none. The metadata also says whether the server still
   * trusts the issuer of these tokens.
   */
  private async resourceIndicator(
    current: StoredTokens,
    fetchFn: FetchLike,
    sdk: ClientSdk,
  ): Promise<string> {
    const serverUrl = this.settings.resource;
    // Read afresh on each refresh (rare): the server may have changed authorization servers.
    const facts = await sdk.discoverOAuthProtectedResourceMetadata(serverUrl, undefined, fetchFn).then(
      (metadata) => ({ resource: metadata.resource, authorizationServers: metadata.authorization_servers }),
      () => undefined,
    );
    if (!facts) return current.resource;
    const servers = facts.authorizationServers;
    if (servers && servers.length > 0 && !servers.some((server) => sameIssuer(server, current.issuer))) {
      throw new CredentialError(
        'needs-login',
        `the server no longer names ${current.issuer}, which granted the login, as its authorization server`,
        { hint: this.loginHint() },
      );
    }
    const allowed = sdk.checkResourceAllowed({
      requestedResource: serverUrl,
      configuredResource: facts.resource,
    });
    return allowed ? facts.resource : current.resource;
  }

  /** The client the tokens were issued to, at the issuer that issued them. */
  private async clientFor(
    store: CredentialStore,
    current: StoredTokens,
  ): Promise<OAuthClientInformationMixed> {
    const configured = this.settings.clientId;
    if (configured && (current.clientId === undefined || current.clientId === configured)) {
      const secret = this.settings.name
        ? await store.getClientSecret(this.settings.name, this.settings.resource)
        : undefined;
      return { client_id: configured, ...(secret ? { client_secret: secret } : {}) };
    }
    const client = await store.getClient(
      current.issuer,
      current.clientId === undefined ? {} : { clientId: current.clientId },
    );
    if (!client || client.issuer !== current.issuer) {
      throw new CredentialError(
        'needs-login',
        `patchbay's client registration with ${current.issuer} is gone, so the login cannot be refreshed`,
        { hint: this.loginHint() },
      );
    }
    return client.information;
  }

  private explainRefreshFailure(
    error: unknown,
    current: StoredTokens,
    endpoint: URL | undefined,
    signal: AbortSignal,
    sdk: ClientSdk,
  ): CredentialError {
    if (isCredentialError(error)) return error;
    const at = endpoint ? { endpoint } : {};
    const secrets = [current.accessToken, current.refreshToken];
    if (signal.aborted) {
      const seconds = Math.round((this.settings.refreshTimeoutMs ?? REFRESH_TIMEOUT_MS) / 1000);
      return new CredentialError(
        'failed',
        `refreshing the access token at ${current.issuer} timed out after ${seconds} s`,
        { ...at, cause: error },
      );
    }
    if (sdk.OAuthError.isInstance(error)) {
      const said = describeOAuthError(error.code, error.message, secrets);
      if (TRANSIENT_OAUTH_ERRORS.has(error.code)) {
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
          hint: this.loginHint(),
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

  /** The transport's fetch: remembers the token each response answered; the token stays on this origin. */
  private async send(url: string | URL, init?: RequestInit): Promise<Response> {
    const headers = new Headers(init?.headers);
    const authorization = headers.get('authorization');
    const token = authorization && /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    let request = init;
    if (token && new URL(url).origin !== this.origin) {
      headers.delete('authorization');
      request = { ...init, headers };
    }
    const response = await this.settings.fetch(url, request);
    if (token && request === init) this.sentWith.set(response, token);
    return response;
  }
}

/** A lock not obtained, a store not writable: the refresh could not be done or kept. */
function asCredentialError(error: unknown): CredentialError {
  if (isCredentialError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new CredentialError('failed', `the access token could not be refreshed: ${message}`, {
    cause: error,
    ...(error instanceof PatchbayError && error.hint ? { hint: error.hint } : {}),
  });
}

function loginEnded(refusal: string): string {
  return `the login has expired or was revoked: ${refusal}`;
}

function safeUrl(value: string | undefined): URL | undefined {
  if (!value) return undefined;
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** `invalid_grant: grant request is invalid`: the server's code and words, printable, bounded, redacted. */
function describeOAuthError(code: string, message: string, secrets: Array<string | undefined>): string {
  const clean = (text: string, max: number) => terminalText(redactSecrets(text, secrets), { max });
  const description = message && message !== code ? `: ${clean(message, 160)}` : '';
  return `${clean(code, 60)}${description}`;
}

/** Every request of one refresh shares its time budget. */
function boundedFetch(fetch: FetchLike, budget: AbortSignal): FetchLike {
  return (url, init) =>
    fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, budget]) : budget });
}

/** `oauth.authServerMetadataUrl`: fetched as is, checked before use. */
async function fetchConfiguredMetadata(
  url: string,
  fetchFn: FetchLike,
): Promise<AuthorizationServerMetadata> {
  const where = `the authorization server metadata at ${url} (oauth.authServerMetadataUrl)`;
  const response = await fetchFn(url, { headers: { accept: 'application/json' } });
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new CredentialError('failed', `${where} answered HTTP ${response.status}`, {
      endpoint: new URL(url),
    });
  }
  const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  for (const field of ['issuer', 'token_endpoint']) {
    if (typeof body?.[field] !== 'string') {
      throw new CredentialError('failed', `${where} has no ${field}`, { endpoint: new URL(url) });
    }
  }
  return body as unknown as AuthorizationServerMetadata;
}
