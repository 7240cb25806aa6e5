/**
 * Before a connect attempt: the entry checked, a headersHelper's headers, the HTTP client
 * (proxy, TLS) and the credentials a stored login gives (read-only, or a refreshing token source).
 */

import { PatchbayError } from '../errors.js';
import type { ServerEntry } from '../config/entry.js';
import type { Deadline } from '../core/deadline.js';
import type { OAuthTokenSource } from '../auth/refresh.js';
import type { StoredAccess } from '../auth/stored-token.js';
import type { Target } from './classify.js';
import { ConnectError } from './connect-error.js';
import type { HttpClient } from './network.js';
import type { ConnectOptions, ResolvedConnectOptions } from './session-types.js';

export function checkEntry(entry: ServerEntry): Target {
  const invalid = (reason: string) => new ConnectError('failed', 'config', reason);
  if (entry.transport === 'stdio') {
    if (!entry.command) throw invalid('the entry has no command to run');
    return { transport: 'stdio', command: entry.command };
  }
  if (!entry.url) throw invalid('the entry has no URL');
  let url: URL;
  try {
    url = new URL(entry.url);
  } catch {
    throw invalid('the entry\u2019s URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`the entry\u2019s URL must start with http:// or https://, not ${url.protocol}//`);
  }
  return { transport: entry.transport, url };
}

export async function runHelper(
  command: string,
  url: URL,
  options: ConnectOptions,
  deadline: Deadline,
): Promise<Record<string, string>> {
  const { runHeadersHelper } = await import('./headers-helper.js');
  try {
    return await deadline.race(
      runHeadersHelper(command, {
        url: url.href,
        ...(options.name ? { serverName: options.name } : {}),
        ...(options.cwd ? { cwd: options.cwd } : {}),
        env: options.env ?? process.env,
        timeoutMs: Math.min(10_000, deadline.remainingMs()),
        signal: deadline.signal,
      }),
    );
  } catch (error) {
    if (error instanceof PatchbayError && !(error instanceof ConnectError)) {
      throw new ConnectError('failed', 'headers-helper', error.message, {
        cause: error,
        ...(error.hint ? { hint: error.hint } : {}),
      });
    }
    throw error;
  }
}

export async function createHttp(entry: ServerEntry, options: ConnectOptions): Promise<HttpClient> {
  const { createHttpClient } = await import('./network.js');
  try {
    return await createHttpClient({
      env: options.env ?? process.env,
      ...(entry.tls ? { tls: entry.tls } : {}),
      connectTimeoutMs: options.timeoutMs,
    });
  } catch (error) {
    if (error instanceof PatchbayError) {
      throw new ConnectError('failed', 'config', error.message, {
        cause: error,
        ...(error.hint ? { hint: error.hint } : {}),
      });
    }
    throw error;
  }
}

export interface Credentials {
  login?: StoredAccess | undefined;
  tokens?: OAuthTokenSource;
}

/** A stored login for the server, unless the entry sends its own Authorization header. */
export async function credentialsFor(
  entry: ServerEntry,
  url: URL,
  headers: Record<string, string>,
  options: ResolvedConnectOptions,
  http: HttpClient,
  secrets: string[],
): Promise<Credentials> {
  if (options.credentials !== 'refresh') {
    const login = await loginFor(url, headers, options);
    if (options.credentials !== 'renew' || !login?.refreshable) return { login };
    if (login.kind === 'valid' && !login.due) return { login };
    // Due or expired with a refresh token: the token source renews it before the first request.
    return tokenSourceFor(entry, url, options, http, secrets);
  }
  if (hasAuthorization(headers)) return {};
  return tokenSourceFor(entry, url, options, http, secrets);
}

/** The refreshing token source of a login: one refresh across processes, as a call does it. */
async function tokenSourceFor(
  entry: ServerEntry,
  url: URL,
  options: ResolvedConnectOptions,
  http: HttpClient,
  secrets: string[],
): Promise<Credentials> {
  const [{ OAuthTokenSource }, { openCredentialStore }] = await Promise.all([
    import('../auth/refresh.js'),
    import('../auth/store.js'),
  ]);
  const env = options.env ?? process.env;
  return {
    tokens: new OAuthTokenSource({
      resource: entry.url ?? url.href,
      ...(options.name ? { name: options.name } : {}),
      ...(entry.oauth?.clientId ? { clientId: entry.oauth.clientId } : {}),
      ...(entry.oauth ? { oauth: entry.oauth } : {}),
      env,
      ...(entry.oauth?.authServerMetadataUrl
        ? { authServerMetadataUrl: entry.oauth.authServerMetadataUrl }
        : {}),
      fetch: http.fetch,
      store: options.tokenStore ?? (() => openCredentialStore(env, { paths: options.paths })),
      ...(options.refreshState ? { shared: options.refreshState } : {}),
      onToken: (token) => {
        if (!secrets.includes(token)) secrets.push(token);
      },
    }),
  };
}

function hasAuthorization(headers: Record<string, string>): boolean {
  return Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
}

/** Read-only: the stored, unexpired access token as it is. */
async function loginFor(
  url: URL,
  headers: Record<string, string>,
  options: ResolvedConnectOptions,
): Promise<StoredAccess | undefined> {
  if (hasAuthorization(headers)) return undefined;
  const { storedAccess } = await import('../auth/stored-token.js');
  try {
    return await storedAccess(url.href, options.paths);
  } catch {
    // An unreadable credential store is `patchbay auth status`'s to report; the check goes on
    // without a login and says needs-auth if the server wants one.
    return undefined;
  }
}
