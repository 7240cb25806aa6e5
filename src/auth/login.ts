/**
 * `patchbay login`: one interactive OAuth authorization for one server, run by the SDK's `auth()`
 * with patchbay's provider. The browser comes back to a loopback listener, or the user pastes
 * the redirect URL (for a browser on another machine); whichever comes first wins.
 */

import { PatchbayError } from '../errors.js';
import type { ServerEntry } from '../config/entry.js';

import type { AuthorizationResponse, CallbackListener } from './callback.js';
import type { HttpClient } from './http-client.js';
import { discover, scopeStillMissing, unionOfScopes, type Discovered } from './discovery.js';
import { DEVICE_CODE_GRANT, deviceAuthorizationEndpoint, deviceLogin } from './device.js';
import { grantForLogin, type MachineGrant } from './machine-grant.js';
import { rememberingFetch, schemaIssues, unusableDocument } from './metadata-error.js';
import {
  DEVICE_REGISTRATION_SLOT,
  newState,
  PatchbayOAuthProvider,
  tokenKey,
  type ProviderEvents,
  type ProviderSettings,
} from './oauth-provider.js';
import type { StoredTokens } from './store-records.js';
import type { TokenStore } from './token-store.js';

export interface LoginRequest {
  http: HttpClient;
  name: string;
  /** The expanded entry (http or sse). */
  entry: ServerEntry;
  store: TokenStore;
  env: NodeJS.ProcessEnv;
  /** `--oauth-scope "a b"`; else the entry's pinned `oauth.scopes`; else what the server asks for. */
  scope?: string;
  /** Print the URL instead of opening a browser (also when there is no display). */
  noBrowser: boolean;
  /** RFC 8628: a code to type on another device instead of a redirect to this machine. */
  device?: boolean;
  /** Where a pasted redirect URL may come from (a terminal), if anywhere. */
  pasteFrom?: NodeJS.ReadableStream;
  /** The whole login, browser included. */
  timeoutMs: number;
  /** Lines for the person at the terminal (stderr). */
  say(message: string): void;
  /**
   * Hand the (checked) authorization URL to the caller instead of opening a browser or printing
   * it: the console returns it to its page, which sends the same browser there.
   */
  openUrl?: (url: URL) => Promise<void>;
  /** A loopback page (the console) that the callback's finished page sends the browser back to. */
  returnTo?: string;
  /** Ends the login early (the console closing); the timeout still applies. */
  signal?: AbortSignal;
  /** Cross-app access: this login's ID token file, instead of the entry's `oauth.idTokenFile`. */
  idTokenFile?: string;
}

export interface LoginResult {
  issuer: string;
  scope: string | undefined;
  expiresAt: number | undefined;
  refreshable: boolean;
  registration: 'pre-registered' | 'metadata-document' | 'dynamic';
  /** A login without a browser (machine-grant.ts), renewed by a new grant of this kind. */
  grant?: MachineGrant;
}

export async function login(request: LoginRequest): Promise<LoginResult> {
  const { entry, store } = request;
  if (entry.transport === 'stdio' || !entry.url) {
    throw new PatchbayError('usage', `${request.name} is a local command; OAuth applies to remote servers.`);
  }
  const url = entry.url;
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const deadline = request.signal ? AbortSignal.any([timeout, request.signal]) : timeout;
  // The SDK's schema errors name a field, not its value: the documents read are kept to quote it.
  const reads = rememberingFetch(request.http.fetch);
  const http: HttpClient = { fetch: reads.fetch };
  let listener: CallbackListener | undefined;
  let dropRegistration: (() => Promise<unknown>) | undefined;
  try {
    const sdk = await import('@modelcontextprotocol/client');
    const discovered = await discover(url, entry, http, sdk);
    const issuer = discovered.authorizationServerMetadata?.issuer ?? discovered.authorizationServerUrl;
    const machine = await machineGrantFor(request, discovered);
    if (machine) {
      const { machineLogin } = await import('./machine-login.js');
      const tokens = await machineLogin({
        sdk,
        http,
        name: request.name,
        entry,
        store,
        env: request.env,
        grant: machine.grant,
        credential: machine.credential,
        discovered,
        scope: request.scope ?? entry.oauth?.scopes ?? discovered.challengeScope,
        ...(request.idTokenFile ? { idTokenFile: request.idTokenFile } : {}),
      });
      return { ...describeLogin(tokens, entry, undefined), grant: machine.grant };
    }
    const { startCallbackListener } = await import('./callback.js');
    const state = newState();
    if (!request.device) {
      const port = entry.oauth?.callbackPort ?? (await reusablePort(store, issuer, entry));
      const configured = entry.oauth?.callbackPort !== undefined;
      listener = await startListener(
        startCallbackListener,
        state,
        deadline,
        port,
        configured,
        request.returnTo,
      );
    }
    const registrationMatch = listener ? { redirectUri: listener.redirectUri } : {};
    const previous = entry.oauth?.clientId ? undefined : await store.getClient(issuer, registrationMatch);
    if (previous?.kind === 'dynamic') {
      // If this login fails at the authorization server, the stored registration is the first
      // suspect (servers forget clients); the next login then registers afresh.
      dropRegistration = () => store.deleteClient(issuer, registrationMatch);
    }
    const provider = await loginProvider(
      request,
      discovered,
      {
        state,
        ...(listener
          ? { redirectUrl: listener.redirectUri }
          : { registrationSlot: DEVICE_REGISTRATION_SLOT }),
      },
      {
        onAuthorizationUrl: (authorizationUrl) => showAuthorizationUrl(authorizationUrl, request),
        onNotice: request.say,
      },
    );
    // Pinned scopes win, then the ones the 401 asked for; else the SDK takes scopes_supported.
    const scope = request.scope ?? entry.oauth?.scopes ?? discovered.challengeScope;
    const base = authBase(url, discovered, http, scope);
    if (request.device) {
      await loginWithDeviceCode(request, provider, discovered, http, scope, deadline, sdk);
      const tokens = await store.getTokens(tokenKey(issuer, url));
      if (!tokens) throw new PatchbayError('auth-failed', 'the login finished but no tokens were stored');
      return describeLogin(tokens, entry, provider.clientMetadataUrl);
    }
    // Step-up: when the new token is refused for lack of scope, authorize again for what the
    // server names, a bounded number of times.
    let roundScope = scope;
    for (let round = 1; ; round++) {
      if (round > 1) {
        listener = await startListener(
          startCallbackListener,
          provider.renewState(),
          deadline,
          listener!.port,
          true,
          request.returnTo,
        );
      }
      const roundBase = { ...base, ...(roundScope ? { scope: roundScope } : {}) };
      const first = await sdk.auth(provider, { ...roundBase, forceReauthorization: true });
      if (first === 'REDIRECT') {
        if (!listener) throw new PatchbayError('internal', 'a browser login without its callback listener');
        const response = await firstResponse(
          listener.result,
          request,
          listener.redirectUri,
          provider.authorizationState,
          deadline,
        );
        await sdk.auth(provider, {
          ...roundBase,
          authorizationCode: response.code,
          ...(response.iss ? { iss: response.iss } : {}),
        });
      }
      const tokens = await store.getTokens(tokenKey(issuer, url));
      if (!tokens) throw new PatchbayError('auth-failed', 'the login finished but no tokens were stored');
      const wanted = await scopeStillMissing(url, tokens.accessToken, http, sdk);
      if (wanted === undefined) return describeLogin(tokens, entry, provider.clientMetadataUrl);
      if (round >= MAX_LOGIN_ROUNDS) {
        throw new PatchbayError(
          'auth-failed',
          `the server still refuses the token for lack of permissions (it asks for ${wanted}) after ${round} logins`,
          {
            hint: `Ask the server's operator which scopes ${request.name} needs; then: patchbay login ${request.name} --oauth-scope "…"`,
          },
        );
      }
      request.say(`The server asks for more permissions (${wanted}); logging in again for them.`);
      roundScope = unionOfScopes(tokens.scope, wanted);
      await listener?.close();
    }
  } catch (error) {
    const issues = schemaIssues(error);
    const explained = issues
      ? unusableDocument(issues, await reads.last(), request.name)
      : explainLoginFailure(error, request.name);
    if (dropRegistration && isAuthorizationStepFailure(explained)) {
      await dropRegistration().catch(() => undefined);
      request.say(
        'patchbay dropped its stored client registration at this server (the server may have forgotten it); the next login registers again.',
      );
    }
    throw explained;
  } finally {
    await listener?.close();
  }
}

type ClientSdk = typeof import('@modelcontextprotocol/client');

/** A login without a browser step: the entry's machine grant, or the only one the server offers its client. */
async function machineGrantFor(
  request: LoginRequest,
  discovered: Discovered,
): Promise<{ grant: MachineGrant; credential: string | undefined } | undefined> {
  const oauth = request.entry.oauth;
  const credential = oauth?.clientId
    ? await request.store.getClientSecret(request.name, request.entry.url!)
    : undefined;
  const grant = grantForLogin(oauth, credential !== undefined, discovered.authorizationServerMetadata);
  return grant ? { grant, credential } : undefined;
}

/**
 * The provider of one login: who patchbay is at this server (a configured client and its secret,
 * a Client ID Metadata Document, else a dynamic registration), where the login is kept, and where
 * the browser comes back (`where`: a loopback listener, a gateway's route, or none for the device
 * flow). Shared by `login` and the gateway's sign-in pages (routed-login.ts).
 */
export async function loginProvider(
  request: Pick<LoginRequest, 'name' | 'entry' | 'store' | 'env'>,
  discovered: Discovered,
  where: Pick<ProviderSettings, 'state' | 'redirectUrl' | 'registrationSlot'>,
  events: ProviderEvents,
): Promise<PatchbayOAuthProvider> {
  const { entry, store, env } = request;
  const url = entry.url!;
  const clientSecret = entry.oauth?.clientId ? await store.getClientSecret(request.name, url) : undefined;
  return new PatchbayOAuthProvider(
    store,
    {
      resource: url,
      discovery: discovered,
      ...where,
      ...(entry.oauth?.clientId ? { clientId: entry.oauth.clientId } : {}),
      ...(clientSecret ? { clientSecret } : {}),
      ...(env.PATCHBAY_CLIENT_METADATA_URL ? { clientMetadataUrl: env.PATCHBAY_CLIENT_METADATA_URL } : {}),
    },
    events,
  );
}

/** The options of the SDK's `auth()` for one login round: the server, its metadata URL, the scope. */
export function authBase(url: string, discovered: Discovered, http: HttpClient, scope: string | undefined) {
  return {
    serverUrl: url,
    fetchFn: http.fetch,
    ...(scope ? { scope } : {}),
    ...(discovered.resourceMetadataUrl
      ? { resourceMetadataUrl: new URL(discovered.resourceMetadataUrl) }
      : {}),
  };
}

/** The first login plus step-up rounds for more scopes. */
const MAX_LOGIN_ROUNDS = 3;

/**
 * The port of this issuer's stored registration: a dynamically registered client is bound to its
 * redirect URI, so coming back on the same port reuses it instead of registering again.
 */
async function reusablePort(
  store: TokenStore,
  issuer: string,
  entry: ServerEntry,
): Promise<number | undefined> {
  if (entry.oauth?.clientId) return undefined;
  const client = await store.getClient(issuer);
  if (!client?.redirectUri || !URL.canParse(client.redirectUri)) return undefined;
  const port = Number(new URL(client.redirectUri).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

async function startListener(
  start: typeof import('./callback.js').startCallbackListener,
  state: string,
  signal: AbortSignal,
  port: number | undefined,
  configured: boolean,
  returnTo: string | undefined,
): Promise<CallbackListener> {
  const back = returnTo === undefined ? {} : { returnTo };
  try {
    return await start({ state, signal, ...(port ? { port } : {}), ...back });
  } catch (error) {
    // A remembered port that is busy now costs a new registration, not the login.
    if (port === undefined || configured) throw error;
    return start({ state, signal, ...back });
  }
}

/** The device flow needs a client allowed the device grant: the configured one, else a registration of its own. */
async function loginWithDeviceCode(
  request: LoginRequest,
  provider: PatchbayOAuthProvider,
  discovered: Discovered,
  http: HttpClient,
  scope: string | undefined,
  signal: AbortSignal,
  sdk: ClientSdk,
): Promise<void> {
  const metadata = discovered.authorizationServerMetadata!;
  const issuer = metadata.issuer;
  deviceAuthorizationEndpoint(metadata, issuer); // refuse before registering anything
  if (!(await provider.clientInformation({ issuer }))) {
    const registered = await sdk.registerClient(discovered.authorizationServerUrl, {
      metadata,
      clientMetadata: {
        client_name: 'patchbay',
        redirect_uris: [],
        grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
        response_types: [],
        token_endpoint_auth_method: 'none',
      },
      ...(scope ? { scope } : {}),
      fetchFn: http.fetch,
    });
    await provider.saveClientInformation({ ...registered, issuer }, { issuer });
  }
  await deviceLogin({
    name: request.name,
    http,
    metadata,
    issuer,
    provider,
    resource: request.entry.url!,
    scope,
    signal,
    show: async (authorization) => {
      request.say(`To log in, visit ${authorization.verificationUri} on any device and enter the code:`);
      request.say(`    ${authorization.userCode}`);
      const complete = authorization.verificationUriComplete;
      if (complete && request.env.PATCHBAY_BROWSER?.trim()) {
        // Checked already (deviceLogin refuses an unsafe one), and again as it is opened.
        const { checkAuthorizationUrl, openAuthorizationUrl } = await import('./browser.js');
        await openAuthorizationUrl(checkAuthorizationUrl(complete), request.env);
      }
      request.say('Waiting for the approval…');
    },
  });
}

async function showAuthorizationUrl(url: URL, request: LoginRequest): Promise<void> {
  const { checkAuthorizationUrl, hasDisplay, openAuthorizationUrl } = await import('./browser.js');
  // The URL is the authorization server's: checked before anyone is sent to it.
  if (request.openUrl) return request.openUrl(checkAuthorizationUrl(url.href));
  const browserSet = Boolean(request.env.PATCHBAY_BROWSER?.trim());
  if (!request.noBrowser && (browserSet || hasDisplay(request.env))) {
    const opened = await openAuthorizationUrl(url, request.env);
    if (opened.opened) {
      request.say(`Opened the login page in your browser (${opened.via}). If it did not appear, open:`);
      request.say(url.href);
      return;
    }
    request.say(`Could not open a browser: ${opened.reason}`);
  }
  request.say('Open this URL in a browser to log in:');
  request.say(url.href);
  if (request.pasteFrom)
    request.say(
      'Then come back here; if the browser cannot reach this machine, paste the address it ends on.',
    );
}

/** The loopback callback, or a pasted redirect URL, whichever comes first. */
async function firstResponse(
  fromListener: Promise<AuthorizationResponse>,
  request: LoginRequest,
  redirectUri: string,
  state: string,
  deadline: AbortSignal,
): Promise<AuthorizationResponse> {
  if (!request.pasteFrom) return fromListener;
  const stopPaste = new AbortController();
  const onDeadline = () => stopPaste.abort(deadline.reason);
  deadline.addEventListener('abort', onDeadline, { once: true });
  const { waitForPastedRedirect } = await import('./paste.js');
  const pasted = waitForPastedRedirect(request.pasteFrom, {
    redirectUri,
    state,
    signal: stopPaste.signal,
    explain: request.say,
  });
  pasted.catch(() => undefined);
  try {
    return await Promise.race([fromListener, pasted]);
  } finally {
    deadline.removeEventListener('abort', onDeadline);
    stopPaste.abort(new Error('the login has its answer'));
  }
}

function describeLogin(
  tokens: StoredTokens,
  entry: ServerEntry,
  metadataUrl: string | undefined,
): LoginResult {
  return {
    issuer: tokens.issuer,
    scope: tokens.scope,
    expiresAt: tokens.expiresAt,
    refreshable: Boolean(tokens.refreshToken),
    registration: entry.oauth?.clientId
      ? 'pre-registered'
      : metadataUrl && tokens.clientId === metadataUrl
        ? 'metadata-document'
        : 'dynamic',
  };
}

/** A login that never came back from the browser, or came back refused: where a stale client shows. */
function isAuthorizationStepFailure(error: unknown): boolean {
  if (!(error instanceof PatchbayError) || error.code !== 'auth-failed') return false;
  return /timed out|invalid_client|unauthorized_client|invalid_request|redirect/i.test(error.message);
}

function explainLoginFailure(error: unknown, name: string): unknown {
  if (error instanceof PatchbayError) return error;
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new PatchbayError('auth-failed', 'the login timed out before the browser came back', {
      hint: `Run \`patchbay login ${name}\` again and finish it in the browser; over SSH, use --no-browser and paste the address the browser ends on.`,
      cause: error,
    });
  }
  // The SDK's OAuth errors carry the server's `error` code; their text may quote the server.
  const message = error instanceof Error ? error.message : String(error);
  return new PatchbayError('auth-failed', `the login failed: ${message.slice(0, 300)}`, {
    hint: `patchbay doctor ${name} checks the authorization server step by step.`,
    cause: error,
  });
}
