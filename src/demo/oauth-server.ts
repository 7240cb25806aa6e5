/**
 * The authorization server of `patchbay demo`, so that logging in to the demo MCP server is the
 * same flow as logging in to a remote one: discovery, dynamic client registration, a login page
 * in the browser, PKCE, a code exchanged for tokens, refresh. It is `oidc-provider` (a certified
 * OpenID Connect / OAuth 2 server), configured for the demo; what is ours is the configuration,
 * the login page (login-page.ts) and the in-memory store (oauth-store.ts).
 *
 * - RFC 8414 metadata at `/.well-known/oauth-authorization-server`, scopes: `mcp`.
 * - RFC 7591 registration at `/register`: public clients only (`token_endpoint_auth_method`
 *   `none`) with loopback `http` redirect URIs, registered as native apps, so that any port
 *   matches (RFC 8252 §7.3).
 * - `/authorize`: PKCE S256 required (RFC 7636), `resource` required and must be the demo MCP
 *   server (RFC 8707), `iss` in the response (RFC 9207). The login page, at `/interaction/<uid>`,
 *   asks for the demo user's password on every authorization and grants what was asked for.
 * - `/token`: `authorization_code` and `refresh_token`, rotated (a retired refresh token presented
 *   again revokes the grant; so does a code used twice). `/revoke` (RFC 7009).
 * - Opaque access tokens; `verify(token, resource)` is what the MCP server asks.
 *
 * It binds 127.0.0.1, answers only to its own Host (DNS rebinding), keeps nothing on disk and
 * forgets everything when closed.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { exportJWK, generateKeyPair } from 'jose';
import type { errors as OidcErrors, Interaction, KoaContextLike } from 'oidc-provider';

import { loadOidcProvider } from '../gateway/authorization-server/library.js';

import { closeServer, listen } from '../core/web-handler.js';
import { DEMO_USER, pageHeaders, renderErrorPage, renderLoginPage } from './login-page.js';
import { DemoOAuthStore } from './oauth-store.js';

export { DEMO_USER } from './login-page.js';

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
  verify(token: string, resource: string): Promise<TokenGrant | undefined>;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]{1,64})$/;
const MAX_PASSWORD_ATTEMPTS = 5;
const MAX_FORM_BYTES = 16 * 1024;
const MAX_REDIRECT_URIS = 10;
/** Cookie names of their own: the gateway's authorization server may run on another port of 127.0.0.1, and cookies ignore ports. */
const COOKIE_NAMES = {
  session: 'demo_as_session',
  interaction: 'demo_as_interaction',
  resume: 'demo_as_resume',
};

/** The parts of oidc-provider's koa context the configuration below reads. */
interface ProviderContext {
  oidc: {
    params: Record<string, unknown>;
    route?: string;
    result?: { login?: unknown };
  };
  type: string;
  body: unknown;
  set(name: string, value: string): void;
}

export async function startDemoAuthorizationServer(
  options: DemoAuthorizationServerOptions,
): Promise<DemoAuthorizationServer> {
  const accessTtl = options.accessTokenTtlSeconds ?? 3_600;
  const refreshTtl = options.refreshTokenTtlSeconds ?? 30 * 24 * 3_600;
  const { resource } = options;
  const scopes = Object.keys(DEMO_SCOPES);

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

  const { default: Provider, errors, interactionPolicy } = await loadOidcProvider();
  const store = new DemoOAuthStore();
  const policy = interactionPolicy.base();
  // The demo shows its login page on every authorization, even to a browser that logged in before.
  policy
    .get('login')!
    .checks.add(
      new interactionPolicy.Check(
        'demo_login_every_time',
        'the demo asks for the password every time',
        (ctx) =>
          ctx.oidc.result?.login
            ? interactionPolicy.Check.NO_NEED_TO_PROMPT
            : interactionPolicy.Check.REQUEST_PROMPT,
      ),
    );

  const provider = new Provider(issuer, {
    adapter: (model: string) => store.adapter(model),
    jwks: { keys: [await signingKey()] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      names: COOKIE_NAMES,
      // Every step of a demo login is on this site: the page opened from patchbay or its console (both 127.0.0.1).
      long: { httpOnly: true, sameSite: 'strict' },
      short: { httpOnly: true, sameSite: 'strict' },
    },
    routes: {
      authorization: '/authorize',
      token: '/token',
      registration: '/register',
      revocation: '/revoke',
    },
    responseTypes: ['code'],
    clientAuthMethods: ['none'],
    scopes,
    clientDefaults: {
      application_type: 'native',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: scopes.join(' '),
      id_token_signed_response_alg: 'ES256',
    },
    // Validators run on every client, registered or loaded: loopback redirect URIs only.
    extraClientMetadata: {
      properties: ['redirect_uris', 'client_name'],
      validator: checkClientMetadata(errors),
    },
    // A loopback redirect URI's port changes from login to login: the client must always name it.
    allowOmittingSingleRegisteredRedirectUri: false,
    findAccount: (_ctx: unknown, sub: string) =>
      sub === DEMO_USER.username
        ? { accountId: sub, claims: () => ({ sub, name: DEMO_USER.displayName }) }
        : undefined,
    interactions: {
      url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
      policy,
    },
    pkce: { required: () => true },
    rotateRefreshToken: () => true,
    issueRefreshToken: (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) =>
      client.grantTypeAllowed('refresh_token'),
    // MCP clients do not ask for offline_access; their refresh tokens outlive the browser session.
    expiresWithSession: () => false,
    clockTolerance: 0,
    ttl: {
      AccessToken: accessTtl,
      AuthorizationCode: 60,
      Grant: refreshTtl,
      IdToken: 3_600,
      Interaction: 600,
      RefreshToken: refreshTtl,
      Session: 600,
    },
    clientBasedCORS: () => false,
    renderError: (ctx: ProviderContext, out: { error?: string; error_description?: string }) => {
      for (const [name, value] of Object.entries(pageHeaders())) ctx.set(name, value);
      ctx.body = renderErrorPage(errorPageMessage(out));
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: false },
      registration: {
        enabled: true,
        idFactory: () => `demo-client-${randomBytes(16).toString('base64url')}`,
        // No RFC 7592 management of registrations: a demo client registers again instead.
        issueRegistrationAccessToken: false,
      },
      revocation: {
        enabled: true,
        // A client may revoke its own tokens; another client's are silently left alone (RFC 7009 §2.1).
        allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) =>
          token.clientId === client.clientId,
      },
      resourceIndicators: {
        enabled: true,
        // Called with no choice when an authorization request names no resource: the demo requires one.
        defaultResource: (_ctx: unknown, _client: unknown, oneOf?: string | string[]) => {
          if (oneOf === undefined) throw new errors.InvalidTarget(`resource must be ${resource}.`);
          return oneOf;
        },
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx: ProviderContext, indicator: string) => {
          if (indicator !== resource) throw new errors.InvalidTarget(`resource must be ${resource}.`);
          // oidc-provider drops scopes it does not know; the demo refuses them, as RFC 6749 §4.1.2.1 allows.
          const asked = typeof ctx.oidc.params.scope === 'string' ? ctx.oidc.params.scope.split(' ') : [];
          const unknown = asked.filter((name) => name && !scopes.includes(name));
          if (unknown.length) {
            throw new errors.InvalidScope!(`Unknown scope; this server knows: ${scopes.join(' ')}.`);
          }
          return {
            scope: scopes.join(' '),
            audience: resource,
            accessTokenTTL: accessTtl,
            accessTokenFormat: 'opaque',
          };
        },
      },
    },
  });

  provider.use(async (ctx: KoaContextLike, next) => {
    // RFC 6749 §3.3: an authorization request without scope gets the default, every demo scope
    // (oidc-provider would refuse it: it grants nothing without a scope).
    if (ctx.method === 'GET' && ctx.path === '/authorize' && ctx.query.scope === undefined) {
      ctx.query = { ...ctx.query, scope: scopes.join(' ') };
    }
    await next();
    // The metadata names the scopes of the demo only (oidc-provider adds OpenID Connect's `openid`).
    if (ctx.oidc?.route === 'discovery' && isRecord(ctx.body)) {
      ctx.body = { ...ctx.body, scopes_supported: scopes };
    }
  });

  /** Wrong passwords so far, per interaction. */
  const attempts = new Map<string, number>();

  async function showLoginPage(
    res: ServerResponse,
    details: Interaction,
    status: number,
    problem?: string,
  ): Promise<void> {
    const params = details.params;
    const client = await provider.Client.find(String(params.client_id));
    const redirectTo = new URL(String(params.redirect_uri)).origin;
    const html = renderLoginPage({
      action: `/interaction/${details.uid}`,
      clientName: client?.clientName ?? String(params.client_id),
      redirectTo,
      resource: String(params.resource),
      scopes: String(params.scope ?? '')
        .split(' ')
        .filter(Boolean)
        .map((name) => ({ name, meaning: DEMO_SCOPES[name] ?? '' })),
      ...(problem ? { problem } : {}),
    });
    // The form posts here, is redirected back to /authorize and then to the client (CSP 3 form-action).
    res.writeHead(status, pageHeaders(`'self' ${redirectTo}`)).end(html);
  }

  /** The login page of one authorization request: oidc-provider's interaction, answered by the user. */
  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'POST') {
      res
        .writeHead(405, { allow: 'GET, POST', 'content-type': 'text/plain; charset=utf-8' })
        .end('Method not allowed.\n');
      return;
    }
    let details: Interaction;
    try {
      // Found through the interaction cookie this browser was given: a form posted from elsewhere has none.
      details = await provider.interactionDetails(req, res);
      if (details.uid !== uid) throw new Error('another interaction');
    } catch {
      sendErrorPage(
        res,
        'This login page has expired, was already used or was opened in another browser. Start the login again from patchbay.',
      );
      return;
    }
    if (req.method === 'GET') return showLoginPage(res, details, 200);

    const form = await readForm(req);
    if (!form) {
      sendErrorPage(res, 'The login form was not sent as a form.');
      return;
    }
    const finish = (result: Record<string, unknown>) => {
      attempts.delete(details.uid);
      return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    };
    if (form.get('decision') === 'deny') {
      return finish({ error: 'access_denied', error_description: 'The user did not allow access.' });
    }
    if (!passwordMatches(form.get('username') ?? '', form.get('password') ?? '')) {
      const count = (attempts.get(details.uid) ?? 0) + 1;
      if (count >= MAX_PASSWORD_ATTEMPTS) {
        return finish({ error: 'access_denied', error_description: 'Too many wrong passwords.' });
      }
      attempts.delete(details.uid);
      if (attempts.size >= 1_000) attempts.delete(attempts.keys().next().value!);
      attempts.set(details.uid, count);
      return showLoginPage(
        res,
        details,
        403,
        'Wrong user name or password. The demo user is demo, password demo.',
      );
    }
    // Logged in, and the user allowed what the client asked for: the scopes, for the demo server.
    const clientId = String(details.params.client_id);
    const grant =
      (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ??
      new provider.Grant({ accountId: DEMO_USER.username, clientId });
    const asked = typeof details.params.scope === 'string' ? details.params.scope : '';
    if (asked) {
      // `mcp` is a scope of this server (clients may register it) and of the demo MCP server.
      grant.addOIDCScope(asked);
      grant.addResourceScope(String(details.params.resource), asked);
    }
    const grantId = await grant.save();
    return finish({
      login: { accountId: DEMO_USER.username, remember: false },
      consent: { grantId },
    });
  }

  const callback = provider.callback();
  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!allowedHosts.has(req.headers.host ?? '')) {
      res
        .writeHead(403, { 'content-type': 'text/plain; charset=utf-8' })
        .end('This server answers on 127.0.0.1 only.\n');
      return;
    }
    const uid = INTERACTION_PATH.exec((req.url ?? '/').split('?', 1)[0]!)?.[1];
    if (uid === undefined) {
      callback(req, res);
      return;
    }
    interaction(req, res, uid).catch(() => {
      if (res.headersSent) res.destroy();
      else sendErrorPage(res, 'The login failed on the server. Start the login again from patchbay.', 500);
    });
  });

  let closing: Promise<void> | undefined;
  return {
    issuer,
    metadataUrl: `${issuer}${METADATA_PATH}`,
    endpoints,
    resource,
    async verify(value, forResource) {
      const token = await provider.AccessToken.find(value);
      if (!token) return undefined;
      const audience = Array.isArray(token.aud) ? token.aud : [token.aud];
      if (!audience.includes(forResource)) return undefined;
      // A revoked grant takes its tokens with it.
      if (token.grantId && !(await provider.Grant.find(token.grantId))) return undefined;
      return {
        clientId: token.clientId,
        subject: token.accountId,
        scope: token.scope ?? '',
        resource: forResource,
        expiresAt: token.exp * 1000,
      };
    },
    close() {
      closing ??= closeServer(httpServer).then(() => {
        store.clear();
        attempts.clear();
      });
      return closing;
    },
  };
}

/**
 * RFC 7591 §2 for this server: 1 to 10 redirect URIs, each `http` to a loopback host, any port,
 * no fragment or user info (RFC 8252 §7.3): the clients are apps on this machine, registered
 * as native apps so that a loopback redirect URI matches on any port.
 */
function checkClientMetadata(errors: typeof OidcErrors) {
  return (_ctx: unknown, key: string, value: unknown, metadata: Record<string, unknown>): void => {
    if (key === 'client_name') {
      if (typeof value === 'string' && value.length > 200) metadata.client_name = value.slice(0, 200);
      return;
    }
    if (key !== 'redirect_uris') return;
    const uris = Array.isArray(value) ? value : [];
    if (
      uris.length === 0 ||
      uris.length > MAX_REDIRECT_URIS ||
      !uris.every((uri) => typeof uri === 'string' && isLoopbackRedirectUri(uri))
    ) {
      throw new errors.InvalidClientMetadata!(
        'redirect_uris must be 1 to 10 loopback URIs: http://127.0.0.1, http://[::1] or http://localhost, any port.',
      );
    }
    metadata.application_type = 'native';
  };
}

function isLoopbackRedirectUri(text: string): boolean {
  const url = URL.parse(text);
  return (
    url !== null &&
    url.protocol === 'http:' &&
    !url.username &&
    !url.password &&
    !text.includes('#') &&
    ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)
  );
}

/** What the error page says when oidc-provider cannot send an error back to the client. */
function errorPageMessage(out: { error?: string; error_description?: string }): string {
  switch (out.error) {
    case 'invalid_client':
      return 'The application asking to log in is not registered here (unknown client_id).';
    case 'invalid_redirect_uri':
      return 'The address to return to (redirect_uri) is missing or not one the application registered.';
    default:
      return `${out.error_description ?? out.error ?? 'The request failed'}. Start the login again from patchbay.`;
  }
}

function sendErrorPage(res: ServerResponse, message: string, status = 400): void {
  res.writeHead(status, pageHeaders()).end(renderErrorPage(message));
}

/** The login form's fields; undefined when it is not a form or is larger than MAX_FORM_BYTES. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** oidc-provider signs with it (ID tokens, which the demo never issues, need a key all the same). */
async function signingKey(): Promise<Record<string, unknown>> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig' };
}
