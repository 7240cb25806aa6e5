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

import type {
  AuthorizationServerMetadata,
  AuthProvider,
  OAuthClientInformationMixed,
} from '@modelcontextprotocol/client';

import { PatchbayError } from '../errors.js';
import type { OAuthSettings } from '../config/entry.js';
import { tokenKey } from './oauth-provider.js';
import {
  asCredentialError,
  checkAuthorizationServers,
  checkMetadataIssuer,
  CredentialError,
  expired,
  explainRefreshFailure,
  nextTokenSet,
  planAfterReload,
  planForRequest,
  planForUnauthorized,
  planUnderLock,
  refreshingClient,
  RETRY_EARLY_REFRESH_MS,
  type RefreshAfter401,
  type RefreshCause,
} from './refresh-decisions.js';
import { sameResource } from './resource-url.js';
import type { StoredTokens } from './store-records.js';
import type { TokenStore } from './token-store.js';

export {
  CredentialError,
  isCredentialError,
  refreshDue,
  type CredentialFailureKind,
} from './refresh-decisions.js';

/** The fetch signature of the SDK's transports and auth functions. */
export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

export interface TokenSourceSettings {
  /** The MCP server's URL as configured: the protected resource the tokens are for. */
  resource: string;
  /** The server's configured name: the login hint, and the key of a pre-registered client's secret. */
  name?: string;
  /** A pre-registered client (`oauth.clientId`). */
  clientId?: string;
  /**
   * The entry's OAuth settings: how a machine login (client credentials, cross-app access) makes
   * its new grant when the token expires (machine-grant.ts).
   */
  oauth?: OAuthSettings;
  /** Where `oauth.idTokenEnv` is read (cross-app access); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** `oauth.authServerMetadataUrl`: where the issuer's metadata is, instead of discovery. */
  authServerMetadataUrl?: string;
  /** Every request (MCP server and authorization server) goes through it: proxies, TLS. */
  fetch: FetchLike;
  store: TokenStore | (() => Promise<TokenStore>);
  /** Called with each access token this source hands out, so messages can be redacted of it. */
  onToken?(accessToken: string): void;
  /** Bound on one refresh (discovery and the token request); default 15 s. */
  refreshTimeoutMs?: number;
  /** How long to wait for another process's refresh; default 45 s. */
  lockTimeoutMs?: number;
  /** Shared with the owner's other token sources; default `processRefreshState`. */
  shared?: RefreshState;
}

export { EXPIRY_SLACK_MS } from './expiry.js';
/** Well under the 30 s after which a waiting process takes a lock for stale. */
const REFRESH_TIMEOUT_MS = 15_000;
const LOCK_TIMEOUT_MS = 45_000;

type ClientSdk = typeof import('@modelcontextprotocol/client');
/** What the transport passes to `onUnauthorized` (the SDK does not export the type by name). */
type UnauthorizedContext = Parameters<NonNullable<AuthProvider['onUnauthorized']>>[0];

const METADATA_CACHE_MS = 10 * 60_000;

/**
 * What the token sources of one owner share, keyed by credential store and server key: the
 * refresh under way (one at a time, whoever asks), each issuer's metadata for a while, and the
 * access tokens obtained because a server answered 401 (if it refuses one of those too,
 * refreshing again would only repeat that). A gateway or a test owns its own; token sources made
 * without one share `processRefreshState`, so that every session of a command refreshes a login once.
 */
export class RefreshState {
  /** One refresh per credential store and server key, whoever asks. */
  readonly inFlight = new Map<string, Promise<StoredTokens>>();
  /** Authorization server metadata per issuer (or configured metadata URL), a while. */
  readonly metadata = new Map<string, { at: number; metadata: Promise<AuthorizationServerMetadata> }>();
  /** Access tokens obtained because the server answered 401, per store and server key. */
  readonly after401 = new Map<string, RefreshAfter401>();
}

/** The state shared by the token sources not given their own. */
export const processRefreshState = new RefreshState();

/**
 * The AuthProvider patchbay hands to the SDK's HTTP transports when requests may refresh
 * (`connect(entry, { credentials: 'refresh' })`). Pass `fetch` (not the plain one) to the
 * transport too: it remembers which token each response answered, so a 401 refreshes only when
 * the rejected token is still the current one, and it never sends the token to another origin.
 */
export class OAuthTokenSource implements AuthProvider {
  readonly fetch: FetchLike;
  private readonly origin: string;
  private store: Promise<TokenStore> | undefined;
  private key: string | undefined;
  private current: StoredTokens | undefined;
  private loaded = false;
  private readonly sentWith = new WeakMap<Response, string>();
  /** Until when a failed early refresh (of a token still valid) is not tried again. */
  private quietUntil = 0;
  private readonly shared: RefreshState;

  constructor(private readonly settings: TokenSourceSettings) {
    this.origin = new URL(settings.resource).origin;
    this.shared = settings.shared ?? processRefreshState;
    this.fetch = (url, init) => this.send(url, init);
  }

  /** The access token to send, refreshed first when it is about to expire. */
  async token(): Promise<string | undefined> {
    let tokens = this.loaded ? this.current : await this.reloadQuietly();
    if (!tokens) return undefined;
    let plan = planForRequest(tokens, Date.now(), this.quietUntil);
    if (plan === 'reload') {
      // A new login may have replaced it; otherwise send what is still valid, never an expired token.
      const reloaded = await this.reloadQuietly();
      const next = planAfterReload(reloaded, Date.now());
      if (next === 'none' || !reloaded) return undefined;
      tokens = reloaded;
      plan = next;
    }
    if (plan === 'use') return this.use(tokens);
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
    const loopKey = await this.flightKey(tokenKey(stored.issuer, stored.resource));
    const plan = planForUnauthorized({
      stored,
      sent,
      lastAfter401: this.shared.after401.get(loopKey),
      now: Date.now(),
      login,
    });
    if (plan.action === 'retry') return; // a newer token than the one refused: retry with it
    if (plan.action === 'fail') throw plan.error;
    const fresh = await this.refresh(stored, plan.cause);
    if (sent !== undefined)
      this.shared.after401.set(loopKey, { accessToken: fresh.accessToken, at: Date.now() });
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

  private openStore(): Promise<TokenStore> {
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
    let flight = this.shared.inFlight.get(flightKey);
    if (!flight) {
      flight = this.refreshUnderLock(store, key, cause)
        .catch((error: unknown) => {
          throw asCredentialError(error);
        })
        .finally(() => this.shared.inFlight.delete(flightKey));
      this.shared.inFlight.set(flightKey, flight);
    }
    const fresh = await flight;
    this.key = key;
    this.current = fresh;
    return fresh;
  }

  /** Server keys are per credential store: two data directories are two worlds. */
  private async flightKey(key: string): Promise<string> {
    return `${(await this.openStore()).refreshScope()}\n${key}`;
  }

  private refreshUnderLock(store: TokenStore, key: string, cause: RefreshCause): Promise<StoredTokens> {
    const login = this.loginHint();
    return store.withServerLock(
      key,
      async (stored) => {
        const plan = planUnderLock({
          current: stored,
          resource: this.settings.resource,
          cause,
          now: Date.now(),
          login,
        });
        if (plan.action === 'use') return plan.tokens;
        if (plan.action === 'fail') throw plan.error;
        const current = plan.tokens;
        const fresh = await this.requestRefresh(store, current, plan.refreshToken, key);
        // Durable before anyone uses it: a rotated refresh token must never be lost.
        await store.saveTokens(key, fresh);
        return fresh;
      },
      { timeoutMs: this.settings.lockTimeoutMs ?? LOCK_TIMEOUT_MS },
    );
  }

  private async requestRefresh(
    store: TokenStore,
    current: StoredTokens,
    refreshToken: string | undefined,
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
      if (refreshToken === undefined) {
        // A machine login: no refresh token, a new grant as the login made it.
        const tokens = await this.newMachineGrant(store, current, metadata, resource, fetchFn, sdk);
        return nextTokenSet(current, tokens, endpoint, Date.now());
      }
      const clientInformation = await this.clientFor(store, current);
      const tokens = await sdk.refreshAuthorization(current.issuer, {
        metadata,
        clientInformation,
        refreshToken,
        resource: new URL(resource),
        fetchFn,
      });
      return nextTokenSet(current, tokens, endpoint, Date.now());
    } catch (error) {
      const failure = explainRefreshFailure({
        error,
        current,
        endpoint,
        ...(signal.aborted ? { timedOutAfterMs: this.settings.refreshTimeoutMs ?? REFRESH_TIMEOUT_MS } : {}),
        ...(sdk.OAuthError.isInstance(error) ? { oauth: { code: error.code, message: error.message } } : {}),
        login: this.loginHint(),
      });
      // The server's verdict on the refresh token, for `auth status` and for every later attempt.
      if (failure.refusal) await store.recordRefreshError(key, failure.refusal).catch(() => false);
      if (failure.kind !== 'needs-login') {
        // Perhaps the server moved its endpoints: discover afresh next time.
        this.shared.metadata.delete(this.metadataCacheKey(current.issuer));
      }
      throw failure;
    }
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
    const cached = this.shared.metadata.get(cacheKey);
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
      const mismatch = checkMetadataIssuer(metadata.issuer, issuer, this.loginHint());
      if (mismatch) throw mismatch;
      return metadata;
    })();
    this.shared.metadata.set(cacheKey, { at: Date.now(), metadata: found });
    found.catch(() => this.shared.metadata.delete(cacheKey));
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
    const untrusted = checkAuthorizationServers(facts.authorizationServers, current.issuer, this.loginHint());
    if (untrusted) throw untrusted;
    const allowed = sdk.checkResourceAllowed({
      requestedResource: serverUrl,
      configuredResource: facts.resource,
    });
    return allowed ? facts.resource : current.resource;
  }

  /** The grant a machine login was made with, again, as the same client with the stored secret or key. */
  private async newMachineGrant(
    store: TokenStore,
    current: StoredTokens,
    metadata: AuthorizationServerMetadata,
    resource: string,
    fetchFn: FetchLike,
    sdk: ClientSdk,
  ) {
    const name = this.settings.name;
    const clientId = this.settings.clientId ?? current.clientId;
    const credential =
      name && clientId ? await store.getClientSecret(name, this.settings.resource) : undefined;
    if (!current.grant || !name || !clientId || !credential) {
      throw new CredentialError(
        'needs-login',
        'the access token from the last login expired, and patchbay no longer holds the client credentials that obtained it',
        { hint: this.loginHint() },
      );
    }
    const { requestMachineTokens } = await import('./machine-grant.js');
    const { identityAssertionSource } = await import('./machine-login.js');
    const oauth = this.settings.oauth;
    return requestMachineTokens({
      sdk,
      name,
      grant: current.grant,
      clientId,
      credential,
      ...(oauth?.clientAuthMethod ? { clientAuthMethod: oauth.clientAuthMethod } : {}),
      metadata,
      authorizationServerUrl: current.issuer,
      resource,
      ...(current.scope ? { scope: current.scope } : {}),
      ...(current.grant === 'cross_app_access'
        ? {
            identity: await identityAssertionSource(store, name, oauth, this.settings.env ?? process.env),
          }
        : {}),
      fetchFn,
    });
  }

  /** The client the tokens were issued to, at the issuer that issued them. */
  private async clientFor(store: TokenStore, current: StoredTokens): Promise<OAuthClientInformationMixed> {
    const choice = refreshingClient(this.settings.clientId, current);
    if (choice.kind === 'configured') {
      const secret = this.settings.name
        ? await store.getClientSecret(this.settings.name, this.settings.resource)
        : undefined;
      return { client_id: choice.clientId, ...(secret ? { client_secret: secret } : {}) };
    }
    const client = await store.getClient(
      current.issuer,
      choice.clientId === undefined ? {} : { clientId: choice.clientId },
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

function safeUrl(value: string | undefined): URL | undefined {
  if (!value) return undefined;
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
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
