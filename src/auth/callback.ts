/**
 * The loopback redirect of an OAuth login (RFC 8252 §7.3): a one-shot HTTP listener on
 * `http://localhost:<port>/callback` that takes the browser's authorization response, checks it
 * (RFC 9207 `iss`, then `state`, then the server's `error`), answers the browser with a fixed page
 * and closes.
 *
 * Loopback only: the redirect URI says `localhost` (as the issue asks), so the browser may reach
 * 127.0.0.1 or ::1. Both are bound on the same port, so that no other program can sit on the
 * address we left free and take the code; where the system has no IPv6 loopback, IPv4 is enough.
 * Nothing is ever bound to 0.0.0.0 or ::.
 *
 * What the browser sends is untrusted: the page never echoes it, and the code never appears in
 * a message.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { isLoopbackHost } from '../core/loopback.js';
import { terminalText } from '../core/terminal-text.js';
import { PatchbayError } from '../errors.js';

/** What a successful authorization response carries (RFC 6749 §4.1.2, RFC 9207). */
export interface AuthorizationResponse {
  code: string;
  state: string;
  /** The issuer, when the authorization server sent one (RFC 9207). */
  iss?: string;
}

/** What the response must match: the login's own `state`, and the issuer it was sent to. */
export interface AuthorizationExpectation {
  state: string;
  /** The authorization server's issuer identifier; an `iss` in the response must equal it exactly. */
  expectedIssuer?: string;
  /**
   * The server's metadata says `authorization_response_iss_parameter_supported: true`: a response
   * without `iss` is then refused (it may come from another server: a mix-up attack).
   * Needs `expectedIssuer`.
   */
  requireIssuer?: boolean;
}

export interface CallbackListenerOptions extends AuthorizationExpectation {
  /** A configured port (`--callback-port`, `oauth.callbackPort`); absent or 0: one the system picks. */
  port?: number;
  /** The login's deadline or cancel: aborting rejects `result` with the signal's reason and closes. */
  signal?: AbortSignal;
  /**
   * Where the browser goes back to once the login has its answer (the console that started it):
   * an http URL on loopback only, linked from the page, which moves on to it by itself when the
   * login succeeded.
   */
  returnTo?: string;
}

export interface CallbackListener {
  /** `http://localhost:<port>/callback`, to send as `redirect_uri`. */
  redirectUri: string;
  port: number;
  /** Where the listener is bound: 127.0.0.1, and ::1 where the system has it. */
  addresses: AddressInfo[];
  /**
   * The first request to GET /callback, checked. Rejects with PatchbayError for a refused or
   * forged response, with the signal's reason on abort, and when `close()` comes first.
   */
  result: Promise<AuthorizationResponse>;
  /** Stops listening and drops open connections. Safe to call more than once. */
  close(): Promise<void>;
}

export const CALLBACK_PATH = '/callback';

const IPV4_LOOPBACK = '127.0.0.1';
const IPV6_LOOPBACK = '::1';
/** An ephemeral port free on 127.0.0.1 but taken on ::1 is given back and another tried, this often. */
const EPHEMERAL_ATTEMPTS = 5;
/** A browser sends its request at once; a connection that sends nothing is not waited on long. */
const REQUEST_TIMEOUT_MS = 10_000;

const RETRY_HINT = 'run the login again and finish it in the browser tab it opens';

/**
 * Starts the listener. Throws PatchbayError('usage') when a configured port is taken (saying
 * which, and how to pick another), and the signal's reason when it has already aborted.
 */
export async function startCallbackListener(options: CallbackListenerOptions): Promise<CallbackListener> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new PatchbayError('usage', `the OAuth callback port must be a whole number from 1 to 65535`, {
      hint: 'fix --callback-port or oauth.callbackPort in the server entry',
    });
  }
  if (options.requireIssuer && options.expectedIssuer === undefined) {
    throw new TypeError('requireIssuer needs expectedIssuer');
  }
  const returnTo = options.returnTo === undefined ? undefined : loopbackReturnUrl(options.returnTo);
  options.signal?.throwIfAborted();

  let settle: ((outcome: { response: AuthorizationResponse } | { error: unknown }) => void) | undefined;
  const result = new Promise<AuthorizationResponse>((resolve, reject) => {
    settle = (outcome) => {
      settle = undefined;
      if ('response' in outcome) resolve(outcome.response);
      else reject(outcome.error);
    };
  });
  // A rejection nobody awaited yet (an abort before the caller got to `result`) must not crash the process.
  result.catch(() => undefined);

  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const outcome = handleRequest(request, options, settle !== undefined);
    respond(response, outcome.page, returnTo);
    if (outcome.verdict && settle) {
      settle(outcome.verdict);
      // Once the page is written (or the browser went away), nothing more is taken.
      response.once('close', () => void close());
    }
  };

  const servers = await listenOnLoopback(port, handler);
  let closing: Promise<void> | undefined;
  const onAbort = () => {
    settle?.({ error: options.signal!.reason });
    void close();
  };
  const close = (): Promise<void> => {
    closing ??= (async () => {
      options.signal?.removeEventListener('abort', onAbort);
      settle?.({
        error: new PatchbayError('auth-failed', 'the login stopped waiting for the browser', {
          hint: RETRY_HINT,
        }),
      });
      await Promise.all(servers.map(closeServer));
    })();
    return closing;
  };
  if (options.signal?.aborted) {
    await close();
    throw options.signal.reason;
  }
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const addresses = servers.map((server) => server.address() as AddressInfo);
  const boundPort = addresses[0]!.port;
  return {
    redirectUri: `http://localhost:${boundPort}${CALLBACK_PATH}`,
    port: boundPort,
    addresses,
    result,
    close,
  };
}

// ---------------------------------------------------------------------------------------------
// Checking the response (shared with the pasted redirect)

/**
 * Checks an authorization response's parameters, in the order oauth4webapi does: `iss` (RFC 9207),
 * then `state` (constant-time), then the server's `error`, then `code`. Throws
 * PatchbayError ('auth-failed', or 'auth-refused' for the wrong issuer) saying what is wrong; no message contains the code or the state.
 */
export function checkAuthorizationResponse(
  params: URLSearchParams,
  expected: AuthorizationExpectation,
): AuthorizationResponse {
  const outcome = inspectAuthorizationResponse(params, expected);
  if ('response' in outcome) return outcome.response;
  throw outcome.error;
}

/** Why a response was refused: `state` is the one a user may fix (a stale tab: use the new one). */
export type RefusalReason = 'malformed' | 'issuer' | 'state' | 'server-error';

/** checkAuthorizationResponse, returning the refusal with its reason instead of throwing it. */
export function inspectAuthorizationResponse(
  params: URLSearchParams,
  expected: AuthorizationExpectation,
): { response: AuthorizationResponse } | { error: PatchbayError; reason: RefusalReason } {
  const refuse = (reason: RefusalReason, message: string) => ({
    // A response from the wrong issuer is the server's fault (or an attack); the rest, a login to redo.
    error: new PatchbayError(reason === 'issuer' ? 'auth-refused' : 'auth-failed', message, {
      hint: RETRY_HINT,
    }),
    reason,
  });
  for (const name of ['code', 'state', 'iss', 'error', 'error_description', 'error_uri']) {
    if (params.getAll(name).length > 1) {
      return refuse(
        'malformed',
        `the authorization response carried "${name}" more than once (RFC 6749 forbids that); refusing it`,
      );
    }
  }
  const iss = params.get('iss') ?? undefined;
  if (iss === undefined && expected.requireIssuer) {
    return refuse(
      'issuer',
      'the authorization response has no "iss" although the authorization server says it always sends one; ' +
        'it may come from another server (a mix-up attack), so it is refused',
    );
  }
  if (iss !== undefined && expected.expectedIssuer !== undefined && iss !== expected.expectedIssuer) {
    return refuse(
      'issuer',
      `the authorization response comes from issuer "${terminalText(iss, { max: 200 })}", ` +
        `but this login was sent to "${terminalText(expected.expectedIssuer, { max: 200 })}"; ` +
        'refusing it (it may be a mix-up attack)',
    );
  }
  const state = params.get('state');
  if (state === null || !sameSecret(state, expected.state)) {
    return refuse(
      'state',
      state === null
        ? 'the authorization response carries no "state", so it cannot be matched to this login; refusing it'
        : 'the authorization response carries a "state" that does not belong to this login ' +
            '(a browser tab left from an earlier login, or a forged request); refusing it',
    );
  }
  const error = params.get('error');
  if (error !== null) {
    return {
      error: authorizationServerError(error, params.get('error_description')),
      reason: 'server-error',
    };
  }
  const code = params.get('code');
  if (code === null || code === '') {
    return refuse('malformed', 'the authorization response has neither a "code" nor an "error"');
  }
  return { response: { code, state, ...(iss === undefined ? {} : { iss }) } };
}

/** `error` codes a user can act on, and what to do. */
const ERROR_HINTS: Record<string, string> = {
  access_denied: 'the login was declined in the browser; run the login again and approve access',
  invalid_scope: "the server refused the requested scopes; check the scopes in the server's oauth settings",
  unauthorized_client:
    "the server does not allow this client to log in this way; check the server's oauth client settings",
  temporarily_unavailable: 'the authorization server is busy; try the login again in a moment',
  server_error: 'the authorization server failed; try the login again, or tell its operator',
};

function authorizationServerError(error: string, description: string | null): PatchbayError {
  // RFC 6749 §4.1.2.1: error codes are printable ASCII without `"` and `\`; anything else is not one.
  const code = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(error) ? error : '(an invalid error code)';
  const said =
    description === null || description === '' ? '' : `: "${terminalText(description, { max: 300 })}"`;
  return new PatchbayError('auth-failed', `the authorization server refused the login with ${code}${said}`, {
    hint: ERROR_HINTS[error] ?? RETRY_HINT,
  });
}

/** Compared through fixed-size digests, so neither the content nor the length leaks through timing. */
function sameSecret(received: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(received), digest(expected)) && received === expected;
}

// ---------------------------------------------------------------------------------------------
// HTTP

type Page = 'done' | 'failed' | 'not-found' | 'method' | 'bad-host' | 'finished';

interface Outcome {
  page: Page;
  verdict?: { response: AuthorizationResponse } | { error: unknown };
}

function handleRequest(request: IncomingMessage, expected: AuthorizationExpectation, open: boolean): Outcome {
  // DNS rebinding: a web page whose name points at 127.0.0.1 must not get to play the browser.
  if (!isLoopbackHostHeader(request.headers.host)) return { page: 'bad-host' };
  const target = request.url ?? '';
  if (!target.startsWith('/')) return { page: 'not-found' };
  // Concatenated, not resolved: `//host/callback` is a path here, not another origin.
  const url = new URL(`http://localhost${target}`);
  if (url.pathname !== CALLBACK_PATH) return { page: 'not-found' };
  if (request.method !== 'GET') return { page: 'method' };
  if (!open) return { page: 'finished' };
  try {
    return { page: 'done', verdict: { response: checkAuthorizationResponse(url.searchParams, expected) } };
  } catch (error) {
    return { page: 'failed', verdict: { error } };
  }
}

/** The page to return to: http on a loopback address, nothing else (no page may send the browser off-machine). */
function loopbackReturnUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError('returnTo is not a URL');
  }
  const loopback = isLoopbackHost(url.hostname, { localhostSubdomains: false });
  if (url.protocol !== 'http:' || !loopback || url.username !== '' || url.password !== '')
    throw new TypeError('returnTo must be an http URL on a loopback address');
  return url.href;
}

function isLoopbackHostHeader(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.toLowerCase().replace(/:\d{1,5}$/, '');
  return isLoopbackHost(name, { localhostSubdomains: false });
}

const PAGES: Record<Page, { status: number; title: string; text: string; returning?: string }> = {
  done: {
    status: 200,
    title: 'patchbay: logged in',
    text: 'Login complete. You can close this tab and return to the terminal.',
    returning: 'Login complete. Returning to patchbay\u2026',
  },
  failed: {
    status: 400,
    title: 'patchbay: login failed',
    text: 'The login did not complete. You can close this tab and return to the terminal, which says why.',
    returning: 'The login did not complete.',
  },
  finished: {
    status: 409,
    title: 'patchbay: login already finished',
    text: 'This login has already received its answer. You can close this tab and return to the terminal.',
    returning: 'This login has already received its answer.',
  },
  'not-found': { status: 404, title: 'Not found', text: 'Not found.' },
  method: { status: 405, title: 'Method not allowed', text: 'Method not allowed.' },
  'bad-host': {
    status: 400,
    title: 'Bad request',
    text: 'This listener only answers requests to localhost.',
  },
};

/**
 * Fixed text only: nothing the request carried is ever written back. With `returnTo` (checked when
 * the listener started), the page links back to it, and a successful login moves on by itself.
 */
function respond(response: ServerResponse, page: Page, returnTo: string | undefined): void {
  const { status, title, text, returning } = PAGES[page];
  const back = returning === undefined ? undefined : returnTo && escapeHtml(returnTo);
  const refresh = back && page === 'done' ? `<meta http-equiv="refresh" content="0;url=${back}">` : '';
  const paragraph = back ? `${returning} <a href="${back}">Return to patchbay</a>` : text;
  const body = `<!doctype html>\n<html><head><meta charset="utf-8">${refresh}<title>${title}</title></head><body><p>${paragraph}</p></body></html>\n`;
  response.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy':
      "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    // The callback URL holds the code: never pass it on, never keep it.
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
    ...(page === 'method' ? { Allow: 'GET' } : {}),
    Connection: 'close',
  });
  response.end(body);
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
  );
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

async function listenOnLoopback(port: number, handler: Handler): Promise<Server[]> {
  for (let attempt = 1; ; attempt++) {
    const v4 = makeServer(handler);
    await listen(v4, port, IPV4_LOOPBACK).catch((error: NodeJS.ErrnoException) => {
      throw portFailure(error, port, IPV4_LOOPBACK);
    });
    const boundPort = (v4.address() as AddressInfo).port;
    const v6 = makeServer(handler);
    try {
      await listen(v6, boundPort, IPV6_LOOPBACK);
      return [v4, v6];
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // No IPv6 loopback on this system: nobody else can be there either.
      if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') return [v4];
      await closeServer(v4);
      // Someone else holds the port on ::1, where a browser resolving `localhost` may well go.
      if (port !== 0) throw portFailure(error as NodeJS.ErrnoException, port, IPV6_LOOPBACK);
      if (attempt >= EPHEMERAL_ATTEMPTS) {
        throw new PatchbayError(
          'internal',
          `could not find a port free on both 127.0.0.1 and ::1 for the OAuth callback (${attempt} tries)`,
          {
            hint: 'choose a free port with --callback-port <port> (or oauth.callbackPort in the server entry)',
          },
        );
      }
    }
  }
}

function makeServer(handler: Handler): Server {
  const server = createServer(handler);
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  return server;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function portFailure(error: NodeJS.ErrnoException, port: number, host: string): PatchbayError {
  const change = 'choose another with --callback-port <port> (or oauth.callbackPort in the server entry)';
  if (error.code === 'EADDRINUSE') {
    return new PatchbayError('usage', `the OAuth callback port ${port} is already in use on ${host}`, {
      hint: `stop the program that uses port ${port}, or ${change}`,
      cause: error,
    });
  }
  if (error.code === 'EACCES') {
    return new PatchbayError(
      'usage',
      `the OAuth callback port ${port} may not be used here (permission denied)`,
      {
        hint: `${change}; ports below 1024 usually need administrator rights`,
        cause: error,
      },
    );
  }
  return new PatchbayError(
    'internal',
    `could not listen for the OAuth callback on ${host} port ${port} (${error.code ?? error.message})`,
    { hint: port === 0 ? 'check that the loopback interface is up' : change, cause: error },
  );
}
