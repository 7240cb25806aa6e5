/**
 * `patchbay login`: one interactive OAuth authorization for one server, run by the SDK's `auth()`
 * with patchbay's provider. The browser comes back to a loopback listener, or the user pastes
 * the redirect URL (for a browser on another machine); whichever comes first wins.
 */

import { PatchbayError } from '../errors.js';
import type { ServerEntry } from '../config/entry.js';
import type { HttpClient } from '../connect/network.js';
import type { AuthorizationResponse } from './callback.js';
import { newState, PatchbayOAuthProvider, tokenKey } from './oauth-provider.js';
import type { StoredTokens } from './store-records.js';
import type { CredentialStore } from './store.js';

export interface LoginRequest {
  name: string;
  /** The expanded entry (http or sse). */
  entry: ServerEntry;
  store: CredentialStore;
  env: NodeJS.ProcessEnv;
  /** `--scope "a b"`; else the entry's pinned `oauth.scopes`; else what the server asks for. */
  scope?: string;
  /** Print the URL instead of opening a browser (also when there is no display). */
  noBrowser: boolean;
  /** Where a pasted redirect URL may come from (a terminal), if anywhere. */
  pasteFrom?: NodeJS.ReadableStream;
  /** The whole login, browser included. */
  timeoutMs: number;
  /** Lines for the person at the terminal (stderr). */
  say(message: string): void;
}

export interface LoginResult {
  issuer: string;
  scope: string | undefined;
  expiresAt: number | undefined;
  refreshable: boolean;
  registration: 'pre-registered' | 'metadata-document' | 'dynamic';
}

export async function login(request: LoginRequest): Promise<LoginResult> {
  const { entry, store, env } = request;
  if (entry.transport === 'stdio' || !entry.url) {
    throw new PatchbayError('usage', `${request.name} is a local command; OAuth applies to remote servers.`);
  }
  const url = entry.url;
  const deadline = AbortSignal.timeout(request.timeoutMs);
  const { createHttpClient } = await import('../connect/network.js');
  const http: HttpClient = await createHttpClient({ env, ...(entry.tls ? { tls: entry.tls } : {}) });
  const { startCallbackListener } = await import('./callback.js');
  const state = newState();
  const listener = await startCallbackListener({
    state,
    signal: deadline,
    ...(entry.oauth?.callbackPort ? { port: entry.oauth.callbackPort } : {}),
  });
  try {
    const clientSecret = entry.oauth?.clientId ? await store.getClientSecret(request.name, url) : undefined;
    const provider = new PatchbayOAuthProvider(
      store,
      {
        resource: url,
        state,
        redirectUrl: listener.redirectUri,
        ...(entry.oauth?.clientId ? { clientId: entry.oauth.clientId } : {}),
        ...(clientSecret ? { clientSecret } : {}),
        ...(env.PATCHBAY_CLIENT_METADATA_URL ? { clientMetadataUrl: env.PATCHBAY_CLIENT_METADATA_URL } : {}),
      },
      {
        onAuthorizationUrl: (authorizationUrl) => showAuthorizationUrl(authorizationUrl, request),
        onNotice: request.say,
      },
    );
    const sdk = await import('@modelcontextprotocol/client');
    const scope = request.scope ?? entry.oauth?.scopes;
    const base = { serverUrl: url, fetchFn: http.fetch, ...(scope ? { scope } : {}) };
    const first = await sdk.auth(provider, { ...base, forceReauthorization: true });
    if (first === 'REDIRECT') {
      const response = await firstResponse(listener.result, request, listener.redirectUri, state, deadline);
      await sdk.auth(provider, {
        ...base,
        authorizationCode: response.code,
        ...(response.iss ? { iss: response.iss } : {}),
      });
    }
    const issuer = provider.discoveryState()?.authorizationServerMetadata?.issuer;
    if (!issuer) throw new PatchbayError('auth-failed', 'the login finished without an authorization server');
    const tokens = await store.getTokens(tokenKey(issuer, url));
    if (!tokens) throw new PatchbayError('auth-failed', 'the login finished but no tokens were stored');
    return describeLogin(tokens, entry, provider.clientMetadataUrl);
  } catch (error) {
    throw explainLoginFailure(error, request.name);
  } finally {
    await listener.close();
    await http.close();
  }
}

async function showAuthorizationUrl(url: URL, request: LoginRequest): Promise<void> {
  const { hasDisplay, openAuthorizationUrl } = await import('./browser.js');
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
