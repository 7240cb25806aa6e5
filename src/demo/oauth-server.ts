/**
 * A small, real OAuth 2.1 authorization server for `patchbay demo` only, so that logging in to the
 * demo MCP server is the same flow as logging in to a remote one: discovery, dynamic client
 * registration, a login page in the browser, PKCE, a code exchanged for tokens, refresh.
 *
 * - RFC 8414 metadata at `/.well-known/oauth-authorization-server`.
 * - RFC 7591 registration at `/register`: public clients only (`token_endpoint_auth_method`
 *   `none`) with loopback `http` redirect URIs (RFC 8252 §7.3), as a native app such as patchbay has.
 * - `/authorize` (OAuth 2.1 §4.1): a login page for one user whose password is printed on it;
 *   PKCE S256 required (RFC 7636), `resource` required and must be the demo MCP server (RFC 8707),
 *   `state` echoed, `iss` added to the response (RFC 9207).
 * - `/token`: `authorization_code` (PKCE checked, codes single-use and short-lived) and
 *   `refresh_token` (rotated; a retired refresh token presented again revokes the grant).
 * - `/revoke` (RFC 7009).
 * - Opaque random tokens, kept in memory with their expiry; `verify(token, resource)` is what the
 *   MCP server asks.
 *
 * It binds 127.0.0.1, keeps nothing on disk and forgets everything when closed. Every string a
 * client sends is escaped before it is put on the page.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { closeServer, listen, serveWebHandler } from '../core/web-handler.js';

/** The one user of the demo. The password is shown on the login page: this is a demo. */
export const DEMO_USER = { username: 'demo', password: 'demo', displayName: 'Demo user' } as const;

/** The scopes the demo issues, with what each one lets a client do (shown on the login page). */
export const DEMO_SCOPES: Readonly<Record<string, string>> = {
  mcp: "use the demo MCP server's tools, resources and prompts",
};

export const METADATA_PATH = '/.well-known/oauth-authorization-server';

export interface DemoAuthorizationServerOptions {
  /** The protected resource tokens are issued for: the demo MCP server's URL. */
  resource: string;
  /** Default 0: any free port on 127.0.0.1. */
  port?: number;
  /** Default 3600 (1 hour). */
  accessTokenTtlSeconds?: number;
  /** Default 30 days. */
  refreshTokenTtlSeconds?: number;
}

/** What an accepted access token stands for. */
export interface TokenGrant {
  clientId: string;
  subject: string;
  scope: string;
  resource: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

export interface DemoAuthorizationServer {
  /** `http://127.0.0.1:<port>`: the issuer identifier, also the base of every endpoint. */
  issuer: string;
  metadataUrl: string;
  endpoints: { authorization: string; token: string; registration: string; revocation: string };
  /** The resource tokens are issued for. */
  resource: string;
  /** The grant behind an access token that is known, unexpired and issued for `resource`; else undefined. */
  verify(token: string, resource: string): TokenGrant | undefined;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
const AUTHORIZATION_CODE_TTL_MS = 60_000;
const LOGIN_PAGE_TTL_MS = 10 * 60_000;
const MAX_PASSWORD_ATTEMPTS = 5;
const MAX_BODY_BYTES = 16 * 1024;
/** Bounds on what strangers can make this server remember (each map is pruned of expired entries too). */
const MAX_CLIENTS = 1_000;
const MAX_PENDING = 1_000;
/** The cookie that ties a login form to the browser it was shown in (login CSRF, RFC 6749 §10.12). */
const BROWSER_COOKIE = 'patchbay_demo_as_browser';

const GRANT_TYPES = ['authorization_code', 'refresh_token'];

interface Client {
  clientId: string;
  clientName: string | undefined;
  redirectUris: string[];
  grantTypes: string[];
  scope: string;
  issuedAt: number;
}

/** A validated authorization request (RFC 6749 §4.1.1), waiting for the user on the login page. */
interface PendingLogin {
  id: string;
  browser: string;
  clientId: string;
  redirectUri: string;
  state: string | undefined;
  codeChallenge: string;
  scope: string;
  resource: string;
  expiresAt: number;
  attempts: number;
}

/** One authorization: every code, access token and refresh token it produced belongs to it. */
interface Grant {
  id: string;
  clientId: string;
  subject: string;
  scope: string;
  resource: string;
}

interface AuthorizationCode {
  grant: Grant;
  redirectUri: string;
  codeChallenge: string;
  expiresAt: number;
}

interface IssuedToken {
  grant: Grant;
  expiresAt: number;
}

type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'access_denied'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata';

export async function startDemoAuthorizationServer(
  options: DemoAuthorizationServerOptions,
): Promise<DemoAuthorizationServer> {
  const accessTtlMs = (options.accessTokenTtlSeconds ?? 3_600) * 1000;
  const refreshTtlMs = (options.refreshTokenTtlSeconds ?? 30 * 24 * 3_600) * 1000;
  const { resource } = options;

  const httpServer = createServer();
  await listen(httpServer, HOST, options.port ?? 0);
  const { port } = httpServer.address() as AddressInfo;
  const issuer = `http://${HOST}:${port}`;
  const endpoints = {
    authorization: `${issuer}/authorize`,
    token: `${issuer}/token`,
    registration: `${issuer}/register`,
    revocation: `${issuer}/revoke`,
  };
  // A page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding) must not reach this server.
  const allowedHosts = new Set([`${HOST}:${port}`, `localhost:${port}`]);

  const clients = new Map<string, Client>();
  const pending = new Map<string, PendingLogin>();
  const codes = new Map<string, AuthorizationCode>();
  /** Codes already exchanged, until they would have expired: a second use revokes the grant. */
  const usedCodes = new Map<string, { grant: Grant; expiresAt: number }>();
  const accessTokens = new Map<string, IssuedToken>();
  const refreshTokens = new Map<string, IssuedToken>();
  /** Refresh tokens rotated away; presented again, they reveal a leak (OAuth 2.1 §4.3.1). */
  const retiredRefreshTokens = new Map<string, IssuedToken>();

  function prune(now: number): void {
    for (const map of [pending, codes, usedCodes, accessTokens, refreshTokens, retiredRefreshTokens]) {
      for (const [key, value] of map) if (value.expiresAt <= now) map.delete(key);
    }
  }

  /** RFC 6749 §4.1.2 / §10.4: a code used twice or a retired refresh token ends the whole grant. */
  function revokeGrant(grant: Grant): void {
    for (const map of [codes, accessTokens, refreshTokens, retiredRefreshTokens]) {
      for (const [key, value] of map) if (value.grant.id === grant.id) map.delete(key);
    }
  }

  // --- RFC 8414 §2, §3: authorization server metadata -------------------------------------------

  const metadata = {
    issuer,
    authorization_endpoint: endpoints.authorization,
    token_endpoint: endpoints.token,
    registration_endpoint: endpoints.registration,
    revocation_endpoint: endpoints.revocation,
    scopes_supported: Object.keys(DEMO_SCOPES),
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: GRANT_TYPES,
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    // The MCP authorization spec: a client must refuse a server that does not advertise S256.
    code_challenge_methods_supported: ['S256'],
    // RFC 9207 §3: `iss` in every authorization response, against mix-up attacks.
    authorization_response_iss_parameter_supported: true,
  };

  // --- RFC 7591 §3: dynamic client registration ------------------------------------------------

  async function register(request: Request): Promise<Response> {
    if (!hasContentType(request, 'application/json')) {
      return oauthError(400, 'invalid_client_metadata', 'Send the client metadata as application/json.');
    }
    const text = await readBody(request);
    if (text === undefined) return oauthError(413, 'invalid_client_metadata', 'The metadata is too large.');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return oauthError(400, 'invalid_client_metadata', 'The body is not JSON.');
    }
    if (!isRecord(body)) return oauthError(400, 'invalid_client_metadata', 'The body is not a JSON object.');

    // §2: redirect_uris. Only loopback http URIs (RFC 8252 §7.3): this server serves native apps on this machine.
    const redirectUris = body.redirect_uris;
    if (
      !Array.isArray(redirectUris) ||
      redirectUris.length === 0 ||
      redirectUris.length > 10 ||
      !redirectUris.every((uri) => typeof uri === 'string' && loopbackRedirectUri(uri))
    ) {
      return oauthError(
        400,
        'invalid_redirect_uri',
        'redirect_uris must be 1 to 10 loopback URIs: http://127.0.0.1, http://[::1] or http://localhost, any port.',
      );
    }
    // §2: token_endpoint_auth_method. Public clients only: this server hands out no secrets.
    const authMethod = body.token_endpoint_auth_method ?? 'none';
    if (authMethod !== 'none') {
      return oauthError(
        400,
        'invalid_client_metadata',
        'This server registers public clients only: token_endpoint_auth_method must be "none".',
      );
    }
    // §2: grant_types and response_types, defaulting as the RFC says.
    const grantTypes = body.grant_types ?? ['authorization_code'];
    if (
      !isStringArray(grantTypes) ||
      !grantTypes.includes('authorization_code') ||
      !grantTypes.every((grant) => GRANT_TYPES.includes(grant))
    ) {
      return oauthError(
        400,
        'invalid_client_metadata',
        'grant_types must include authorization_code and may add refresh_token.',
      );
    }
    const responseTypes = body.response_types ?? ['code'];
    if (!isStringArray(responseTypes) || responseTypes.some((type) => type !== 'code')) {
      return oauthError(400, 'invalid_client_metadata', 'response_types may only be ["code"].');
    }
    const scope = body.scope ?? Object.keys(DEMO_SCOPES).join(' ');
    if (typeof scope !== 'string' || !knownScopes(scope)) {
      return oauthError(
        400,
        'invalid_client_metadata',
        `scope may only name: ${Object.keys(DEMO_SCOPES).join(' ')}.`,
      );
    }
    const clientName = typeof body.client_name === 'string' ? body.client_name.slice(0, 200) : undefined;

    if (clients.size >= MAX_CLIENTS) clients.delete(clients.keys().next().value!);
    const client: Client = {
      clientId: `demo-client-${randomToken(16)}`,
      clientName,
      redirectUris: redirectUris as string[],
      grantTypes: [...new Set(grantTypes)],
      scope,
      issuedAt: Math.floor(Date.now() / 1000),
    };
    clients.set(client.clientId, client);
    // §3.2.1: 201 with the client ID and every metadata value as registered.
    return Response.json(
      {
        client_id: client.clientId,
        client_id_issued_at: client.issuedAt,
        ...(client.clientName !== undefined ? { client_name: client.clientName } : {}),
        redirect_uris: client.redirectUris,
        grant_types: client.grantTypes,
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
        scope: client.scope,
      },
      { status: 201, headers: NO_STORE },
    );
  }

  // --- OAuth 2.1 §4.1.1: the authorization request ---------------------------------------------

  type Checked =
    | { ok: true; login: Omit<PendingLogin, 'id' | 'browser' | 'expiresAt' | 'attempts'> }
    | { ok: false; page: string }
    | { ok: false; redirect: URL };

  function checkAuthorizationRequest(params: URLSearchParams): Checked {
    // §4.1.2.1: while the client or its redirect URI is in doubt, say so here, never redirect.
    const clientId = only(params, 'client_id');
    const client = clientId ? clients.get(clientId) : undefined;
    if (!client) {
      return {
        ok: false,
        page: 'The application asking to log in is not registered here (unknown client_id).',
      };
    }
    // Required, even with one URI registered: a loopback URI's port changes from login to login.
    const redirectUri = only(params, 'redirect_uri');
    if (
      !redirectUri ||
      !client.redirectUris.some((registered) => redirectUriMatches(registered, redirectUri))
    ) {
      return {
        ok: false,
        page: 'The address to return to (redirect_uri) is missing or not one the application registered.',
      };
    }
    // From here on, errors go back to the client (§4.1.2.1), with its state and our iss.
    const state = only(params, 'state');
    const fail = (error: OAuthErrorCode, description: string): Checked => ({
      ok: false,
      redirect: authorizationResponse(redirectUri, { error, error_description: description, state }),
    });
    // RFC 6749 §3.1: request parameters must not be repeated.
    const repeated = [...new Set(params.keys())].find((key) => params.getAll(key).length > 1);
    if (repeated) return fail('invalid_request', `The parameter ${repeated} is repeated.`);
    if (params.get('response_type') !== 'code') {
      return fail('unsupported_response_type', 'Only response_type=code is supported.');
    }
    // RFC 7636 §4.3 and OAuth 2.1 §4.1.1: PKCE is required, and only S256.
    if (params.get('code_challenge_method') !== 'S256') {
      return fail('invalid_request', 'PKCE is required: code_challenge_method must be S256.');
    }
    const codeChallenge = params.get('code_challenge') ?? '';
    if (!/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) {
      return fail('invalid_request', 'code_challenge must be the base64url SHA-256 of the code verifier.');
    }
    // RFC 8707 §2: tokens from here are for the demo MCP server only, and the client must say so.
    if (params.get('resource') !== resource) {
      return fail('invalid_target', `resource must be ${resource}.`);
    }
    // RFC 6749 §3.3: the scopes asked for, or all of the client's by default.
    const scope = normalizeScope(params.get('scope') ?? client.scope);
    if (!scope || !knownScopes(scope)) {
      return fail(
        'invalid_scope',
        `Unknown scope; this server knows: ${Object.keys(DEMO_SCOPES).join(' ')}.`,
      );
    }
    return {
      ok: true,
      login: { clientId: client.clientId, redirectUri, state, codeChallenge, scope, resource },
    };
  }

  function showLoginPage(request: Request, url: URL): Response {
    const checked = checkAuthorizationRequest(url.searchParams);
    if (!checked.ok) {
      return 'page' in checked ? errorPage(400, checked.page) : Response.redirect(checked.redirect.href, 303);
    }
    const existing = cookie(request, BROWSER_COOKIE);
    const browser = existing && /^[A-Za-z0-9_-]{32,64}$/.test(existing) ? existing : randomToken(32);
    if (pending.size >= MAX_PENDING) pending.delete(pending.keys().next().value!);
    const login: PendingLogin = {
      ...checked.login,
      id: randomToken(32),
      browser,
      expiresAt: Date.now() + LOGIN_PAGE_TTL_MS,
      attempts: 0,
    };
    pending.set(login.id, login);
    const response = loginPage(login, 200);
    if (browser !== existing) {
      response.headers.append(
        'set-cookie',
        `${BROWSER_COOKIE}=${browser}; Path=/authorize; HttpOnly; SameSite=Strict; Max-Age=${LOGIN_PAGE_TTL_MS / 1000}`,
      );
    }
    return response;
  }

  function loginPage(login: PendingLogin, status: number, problem?: string): Response {
    const client = clients.get(login.clientId);
    const html = renderLoginPage({
      pendingId: login.id,
      clientName: client?.clientName ?? login.clientId,
      redirectTo: new URL(login.redirectUri).origin,
      resource: login.resource,
      scopes: login.scope.split(' ').map((name) => ({ name, meaning: DEMO_SCOPES[name] ?? '' })),
      ...(problem ? { problem } : {}),
    });
    // The form posts here and is then redirected to the client: form-action must allow both (CSP 3).
    return htmlResponse(status, html, `'self' ${new URL(login.redirectUri).origin}`);
  }

  // --- The user's answer on the login page: authenticate, then OAuth 2.1 §4.1.2 -----------------

  async function submitLogin(request: Request): Promise<Response> {
    if (!hasContentType(request, 'application/x-www-form-urlencoded')) {
      return errorPage(400, 'The login form was not sent as a form.');
    }
    const text = await readBody(request);
    if (text === undefined) return errorPage(413, 'The login form is too large.');
    const form = new URLSearchParams(text);
    const login = pending.get(form.get('login') ?? '');
    if (!login || login.expiresAt <= Date.now()) {
      return errorPage(
        400,
        'This login page has expired or was already used. Start the login again from patchbay.',
      );
    }
    if (cookie(request, BROWSER_COOKIE) !== login.browser) {
      return errorPage(
        400,
        'This login was started in another browser. Start the login again from patchbay.',
      );
    }
    const back = (params: Record<string, string | undefined>): Response => {
      pending.delete(login.id);
      return Response.redirect(
        authorizationResponse(login.redirectUri, { ...params, state: login.state }).href,
        303,
      );
    };
    if (form.get('decision') === 'deny') {
      return back({ error: 'access_denied', error_description: 'The user did not allow access.' });
    }
    if (!passwordMatches(form.get('username') ?? '', form.get('password') ?? '')) {
      login.attempts++;
      if (login.attempts >= MAX_PASSWORD_ATTEMPTS) {
        return back({ error: 'access_denied', error_description: 'Too many wrong passwords.' });
      }
      return loginPage(login, 403, 'Wrong user name or password. The demo user is demo, password demo.');
    }
    // §4.1.2: a code bound to the client, the redirect URI and the PKCE challenge; one minute, one use.
    const grant: Grant = {
      id: randomToken(16),
      clientId: login.clientId,
      subject: DEMO_USER.username,
      scope: login.scope,
      resource: login.resource,
    };
    const code = randomToken(32);
    codes.set(code, {
      grant,
      redirectUri: login.redirectUri,
      codeChallenge: login.codeChallenge,
      expiresAt: Date.now() + AUTHORIZATION_CODE_TTL_MS,
    });
    return back({ code });
  }

  /** The redirect back to the client: its parameters, the state it sent, and `iss` (RFC 9207 §2). */
  function authorizationResponse(redirectUri: string, params: Record<string, string | undefined>): URL {
    const url = new URL(redirectUri);
    for (const [key, value] of Object.entries({ ...params, iss: issuer })) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    return url;
  }

  // --- OAuth 2.1 §3.2: the token endpoint ------------------------------------------------------

  async function token(request: Request): Promise<Response> {
    const params = await readForm(request);
    if (params instanceof Response) return params;
    const repeated = [...new Set(params.keys())].find((key) => params.getAll(key).length > 1);
    if (repeated) return oauthError(400, 'invalid_request', `The parameter ${repeated} is repeated.`);
    // §2.4 / §3.2.1: public clients identify themselves with client_id and no secret.
    if (request.headers.has('authorization')) {
      return oauthError(401, 'invalid_client', 'This server issues no client secrets; send client_id only.');
    }
    const client = clients.get(params.get('client_id') ?? '');
    if (!client) return oauthError(401, 'invalid_client', 'Unknown client_id.');

    const grantType = params.get('grant_type');
    if (grantType === 'authorization_code') return exchangeAuthorizationCode(client, params);
    if (grantType === 'refresh_token') return refresh(client, params);
    return oauthError(
      400,
      'unsupported_grant_type',
      'grant_type must be authorization_code or refresh_token.',
    );
  }

  /** OAuth 2.1 §4.1.3, RFC 7636 §4.6. */
  function exchangeAuthorizationCode(client: Client, params: URLSearchParams): Response {
    const presented = params.get('code') ?? '';
    const code = codes.get(presented);
    if (!code) {
      // OAuth 2.1 §4.1.2: a code used twice means someone else has it; end what it gave.
      const used = usedCodes.get(presented);
      if (used) revokeGrant(used.grant);
      return oauthError(
        400,
        'invalid_grant',
        used ? 'The code was already used.' : 'Unknown or expired code.',
      );
    }
    codes.delete(presented);
    // Remembered a while after it could have been used, so that a late replay still revokes.
    usedCodes.set(presented, { grant: code.grant, expiresAt: Date.now() + LOGIN_PAGE_TTL_MS });
    if (code.expiresAt <= Date.now()) return oauthError(400, 'invalid_grant', 'The code has expired.');
    if (code.grant.clientId !== client.clientId) {
      return oauthError(400, 'invalid_grant', 'The code was issued to another client.');
    }
    if (params.get('redirect_uri') !== code.redirectUri) {
      return oauthError(400, 'invalid_grant', 'redirect_uri differs from the authorization request.');
    }
    // RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) must equal the code_challenge.
    const verifier = params.get('code_verifier') ?? '';
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !sameText(s256(verifier), code.codeChallenge)) {
      return oauthError(400, 'invalid_grant', 'The PKCE code_verifier does not match the code_challenge.');
    }
    // RFC 8707 §2.2: a resource named here must be the one the user authorized.
    const named = params.get('resource');
    if (named !== null && named !== code.grant.resource) {
      return oauthError(400, 'invalid_target', `This grant is for ${code.grant.resource} only.`);
    }
    return issueTokens(client, code.grant);
  }

  /** OAuth 2.1 §4.3: refresh, rotating the refresh token (§4.3.1). */
  function refresh(client: Client, params: URLSearchParams): Response {
    if (!client.grantTypes.includes('refresh_token')) {
      return oauthError(400, 'unauthorized_client', 'The client did not register the refresh_token grant.');
    }
    const presented = params.get('refresh_token') ?? '';
    const current = refreshTokens.get(presented);
    if (!current) {
      const retired = retiredRefreshTokens.get(presented);
      if (retired) revokeGrant(retired.grant);
      return oauthError(
        400,
        'invalid_grant',
        retired
          ? 'The refresh token was already used; the login is revoked.'
          : 'Unknown or expired refresh token.',
      );
    }
    if (current.expiresAt <= Date.now())
      return oauthError(400, 'invalid_grant', 'The refresh token has expired.');
    if (current.grant.clientId !== client.clientId) {
      return oauthError(400, 'invalid_grant', 'The refresh token was issued to another client.');
    }
    // §4.3.1: a narrower scope may be asked for, never a wider one.
    const asked = params.get('scope');
    let grant = current.grant;
    if (asked !== null) {
      const scope = normalizeScope(asked);
      const granted = grant.scope.split(' ');
      if (!scope || !scope.split(' ').every((name) => granted.includes(name))) {
        return oauthError(400, 'invalid_scope', `The login granted: ${grant.scope}.`);
      }
      grant = { ...grant, scope };
    }
    const named = params.get('resource');
    if (named !== null && named !== grant.resource) {
      return oauthError(400, 'invalid_target', `This grant is for ${grant.resource} only.`);
    }
    refreshTokens.delete(presented);
    retiredRefreshTokens.set(presented, current);
    return issueTokens(client, grant, current.grant);
  }

  /** OAuth 2.1 §3.2.3: the access token response. `family` keeps a narrowed refresh in its grant. */
  function issueTokens(client: Client, grant: Grant, family: Grant = grant): Response {
    const now = Date.now();
    const accessToken = randomToken(32);
    accessTokens.set(accessToken, { grant, expiresAt: now + accessTtlMs });
    let refreshToken: string | undefined;
    if (client.grantTypes.includes('refresh_token')) {
      refreshToken = randomToken(32);
      // The refresh token keeps the whole grant's scope; a narrower access token does not narrow it.
      refreshTokens.set(refreshToken, { grant: family, expiresAt: now + refreshTtlMs });
    }
    return Response.json(
      {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: Math.floor(accessTtlMs / 1000),
        scope: grant.scope,
        ...(refreshToken ? { refresh_token: refreshToken } : {}),
      },
      { headers: NO_STORE },
    );
  }

  // --- RFC 7009 §2: revocation ------------------------------------------------------------------

  async function revoke(request: Request): Promise<Response> {
    const params = await readForm(request);
    if (params instanceof Response) return params;
    const client = clients.get(params.get('client_id') ?? '');
    if (!client) return oauthError(401, 'invalid_client', 'Unknown client_id.');
    const presented = params.get('token') ?? '';
    // §2.1: a refresh token ends its grant; an access token, itself. Both are looked up whatever the hint.
    const refreshed = refreshTokens.get(presented);
    if (refreshed?.grant.clientId === client.clientId) revokeGrant(refreshed.grant);
    if (accessTokens.get(presented)?.grant.clientId === client.clientId) accessTokens.delete(presented);
    // §2.2: 200 for a token that is unknown or already gone, too.
    return new Response(null, { status: 200, headers: NO_STORE });
  }

  // --- Routing ---------------------------------------------------------------------------------

  async function handle(request: Request): Promise<Response> {
    if (!allowedHosts.has(request.headers.get('host') ?? '')) {
      return new Response('This server answers on 127.0.0.1 only.\n', { status: 403, headers: TEXT });
    }
    prune(Date.now());
    const url = new URL(request.url);
    const route = `${request.method} ${url.pathname}`;
    switch (route) {
      case `GET ${METADATA_PATH}`:
      case `HEAD ${METADATA_PATH}`:
        return Response.json(metadata, { headers: { 'cache-control': 'no-cache' } });
      case 'POST /register':
        return register(request);
      case 'GET /authorize':
        return showLoginPage(request, url);
      case 'POST /authorize':
        return submitLogin(request);
      case 'POST /token':
        return token(request);
      case 'POST /revoke':
        return revoke(request);
      case 'GET /':
        return new Response(`patchbay's demo authorization server. Metadata: ${issuer}${METADATA_PATH}\n`, {
          headers: TEXT,
        });
    }
    const known = ['/register', '/authorize', '/token', '/revoke', METADATA_PATH].includes(url.pathname);
    return new Response(known ? 'Method not allowed.\n' : 'Not found.\n', {
      status: known ? 405 : 404,
      headers: TEXT,
    });
  }

  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void serveWebHandler(req, res, issuer, handle);
  });

  let closing: Promise<void> | undefined;
  return {
    issuer,
    metadataUrl: `${issuer}${METADATA_PATH}`,
    endpoints,
    resource,
    verify(accessToken, forResource) {
      const issued = accessTokens.get(accessToken);
      if (!issued || issued.expiresAt <= Date.now() || issued.grant.resource !== forResource)
        return undefined;
      const { clientId, subject, scope } = issued.grant;
      return { clientId, subject, scope, resource: forResource, expiresAt: issued.expiresAt };
    },
    close() {
      closing ??= closeServer(httpServer).then(() => {
        for (const map of [
          clients,
          pending,
          codes,
          usedCodes,
          accessTokens,
          refreshTokens,
          retiredRefreshTokens,
        ])
          map.clear();
      });
      return closing;
    },
  };
}

// --- Helpers ---------------------------------------------------------------------------------

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };
const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** Compared in constant time, so that how long a comparison takes says nothing about a secret. */
function sameText(a: string, b: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(a), digest(b));
}

function passwordMatches(username: string, password: string): boolean {
  // Both compared, always: which one was wrong is not for the caller to learn from timing.
  const user = sameText(username, DEMO_USER.username);
  const pass = sameText(password, DEMO_USER.password);
  return user && pass;
}

function normalizeScope(scope: string): string {
  return [...new Set(scope.split(' ').filter(Boolean))].join(' ');
}

function knownScopes(scope: string): boolean {
  const names = scope.split(' ').filter(Boolean);
  return names.length > 0 && names.every((name) => Object.hasOwn(DEMO_SCOPES, name));
}

/** RFC 8252 §7.3: `http` to a loopback host, any port, no fragment, written in its normal form. */
function loopbackRedirectUri(text: string): URL | undefined {
  if (!URL.canParse(text)) return undefined;
  const url = new URL(text);
  if (url.protocol !== 'http:' || url.username || url.password || url.hash || text.includes('#'))
    return undefined;
  if (!['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)) return undefined;
  return url.href === text ? url : undefined;
}

/** Exact match, except that a loopback redirect URI may use any port (RFC 8252 §7.3, OAuth 2.1 §8.4.2). */
function redirectUriMatches(registered: string, requested: string): boolean {
  const a = loopbackRedirectUri(registered);
  const b = loopbackRedirectUri(requested);
  if (!a || !b) return false;
  a.port = '';
  b.port = '';
  return a.href === b.href;
}

/** A parameter given exactly once; undefined when absent or repeated. */
function only(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  return values.length === 1 ? values[0] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function hasContentType(request: Request, type: string): boolean {
  return (request.headers.get('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase() === type;
}

function cookie(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The body as text, or undefined when it is larger than MAX_BODY_BYTES. */
async function readBody(request: Request): Promise<string | undefined> {
  if (!request.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** RFC 6749 §3.2: token and revocation requests are POSTed as forms. */
async function readForm(request: Request): Promise<URLSearchParams | Response> {
  if (!hasContentType(request, 'application/x-www-form-urlencoded')) {
    return oauthError(400, 'invalid_request', 'Send the request as application/x-www-form-urlencoded.');
  }
  const text = await readBody(request);
  if (text === undefined) return oauthError(413, 'invalid_request', 'The request is too large.');
  return new URLSearchParams(text);
}

/** OAuth 2.1 §3.2.4 (and RFC 7591 §3.2.2): `error` and `error_description` as JSON. */
function oauthError(status: number, error: OAuthErrorCode, description: string): Response {
  return Response.json({ error, error_description: description }, { status, headers: NO_STORE });
}

// --- The login page ----------------------------------------------------------------------------

/** Everything a client supplied (its name above all) passes through here before it is on the page. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1d1d1f; --bg: #f5f5f7; --card: #fff; --muted: #5f6368; --accent: #0b57d0; --line: #d0d4da; --bad: #b3261e; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8eaed; --bg: #151618; --card: #212226; --muted: #a4a9b1; --accent: #8ab4f8; --line: #3c4043; --bad: #f2b8b5; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 28rem; margin: 3rem auto; padding: 1.5rem; background: var(--card); border: 1px solid var(--line); border-radius: 12px; }
h1 { font-size: 1.35rem; margin: 0 0 0.75rem; }
p, dl { margin: 0 0 1rem; }
dt { color: var(--muted); font-size: 0.875rem; }
dd { margin: 0 0 0.5rem; overflow-wrap: anywhere; }
code { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.hint { padding: 0.75rem; border: 1px dashed var(--line); border-radius: 8px; }
.problem { color: var(--bad); font-weight: 600; }
label { display: block; margin: 0.75rem 0 0.25rem; font-weight: 600; }
input { width: 100%; padding: 0.5rem; font: inherit; color: inherit; background: transparent; border: 1px solid var(--line); border-radius: 6px; }
input:focus-visible, button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.actions { display: flex; gap: 0.75rem; margin-top: 1.25rem; }
button { padding: 0.5rem 1.25rem; font: inherit; border-radius: 6px; border: 1px solid var(--accent); cursor: pointer; }
button[value="allow"] { background: var(--accent); color: var(--card); }
button[value="deny"] { background: transparent; color: var(--accent); }
`;

/** CSP 3 §8.3: a hash lets this one style element in, and nothing else. */
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

interface LoginPageView {
  pendingId: string;
  clientName: string;
  /** Where the browser goes afterwards (origin only). */
  redirectTo: string;
  resource: string;
  scopes: Array<{ name: string; meaning: string }>;
  problem?: string;
}

export function renderLoginPage(view: LoginPageView): string {
  const e = escapeHtml;
  const scopes = view.scopes
    .map(({ name, meaning }) => `<dd><code>${e(name)}</code>${meaning ? `: ${e(meaning)}` : ''}</dd>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Log in: patchbay demo</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>Log in to the patchbay demo server</h1>
<p><strong>${e(view.clientName)}</strong> asks to use the demo MCP server as you.</p>
<dl>
<dt>Server</dt><dd><code>${e(view.resource)}</code></dd>
<dt>Permissions</dt>${scopes}
<dt>Afterwards, your browser goes back to</dt><dd><code>${e(view.redirectTo)}</code></dd>
</dl>
<p class="hint">This is the demo's own authorization server, running on this computer.
${e(DEMO_USER.displayName)}: user name <code>${e(DEMO_USER.username)}</code>, password <code>${e(DEMO_USER.password)}</code>.</p>
${view.problem ? `<p class="problem" role="alert">${e(view.problem)}</p>` : ''}
<form method="post" action="/authorize">
<input type="hidden" name="login" value="${e(view.pendingId)}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required value="${e(DEMO_USER.username)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
<div class="actions">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</div>
</form>
</main>
</body>
</html>
`;
}

function htmlResponse(status: number, html: string, formAction = "'none'"): Response {
  return new Response(html, {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      // No script at all; the one style element by hash; the form may post here and go to the client.
      'content-security-policy': [
        "default-src 'none'",
        `style-src ${STYLE_HASH}`,
        `form-action ${formAction}`,
        "frame-ancestors 'none'",
        "base-uri 'none'",
      ].join('; '),
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      ...NO_STORE,
    },
  });
}

function errorPage(status: number, message: string): Response {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Login failed: patchbay demo</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>This login cannot go on</h1>
<p class="problem" role="alert">${escapeHtml(message)}</p>
</main>
</body>
</html>
`;
  return htmlResponse(status, html);
}
