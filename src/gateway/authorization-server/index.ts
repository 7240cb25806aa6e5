/**
 * The gateway's own authorization server (issue #19, mode 2), for an organisation whose IdP does
 * not support the MCP authorization spec (Entra, Okta, Google Workspace): MCP hosts register
 * themselves here (dynamic registration, bounded per address and in number: registration.ts; or a
 * client ID metadata document), sign in with PKCE, and
 * get access tokens bound to the gateway's `/mcp` resource; members sign in at the organisation's
 * IdP through the gateway's one pre-registered client (sign-in.ts).
 *
 * Built on oidc-provider (provider.ts), mounted inside the gateway's listener under `/oauth`:
 *
 *     <origin>/oauth                                           the issuer
 *     <origin>/.well-known/oauth-authorization-server/oauth    RFC 8414 metadata (path-inserted)
 *     <origin>/.well-known/openid-configuration/oauth          the same (path-inserted OIDC, as MCP clients try)
 *     <origin>/oauth/.well-known/openid-configuration          OpenID discovery
 *     <origin>/oauth/{auth,token,reg,token/revocation,jwks}    oidc-provider's endpoints
 *     <origin>/oauth/interaction/…, /oauth/signed-in           the member's sign-in (sign-in.ts)
 *
 * The same sign-in identifies a member's browser on the gateway's own pages (sign-in links,
 * `/me/links`): `browser` (browser-sessions.ts).
 *
 * Access tokens are JWTs (RS256, `typ: at+jwt`): `iss` the issuer, `aud` the gateway's `/mcp`
 * URL, `sub` the member's subject, `email`, `groups`, `scope`, `client_id`. A checker verifies
 * them locally with `jwks()`.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

import type { JWK } from 'jose';

import type { StateStore } from '../../state/store.js';
import { DEFAULT_REGISTRATION, type OwnAuthorizationServer } from '../deployment.js';
import type { GatewayRoute } from '../inbound.js';
import type { TrustedProxies } from '../proxies.js';
import type { BrowserSessionsHook } from '../signin.js';
import { BrowserSessions } from './browser-sessions.js';
import { organisationIdp } from './idp.js';
import { publicJwk, serverKeys } from './keys.js';
import { Members } from './members.js';
import { page } from './pages.js';
import { makeProvider, type ClientDocumentFetch } from './provider.js';
import { RegistrationLimits } from './registration.js';
import { SignIn } from './sign-in.js';

export const ISSUER_PATH = '/oauth';

export interface AuthorizationServerOptions {
  settings: OwnAuthorizationServer;
  state: StateStore;
  /** The gateway's MCP endpoint as hosts reach it: the one resource tokens are minted for. */
  resource: URL;
  /** The proxies whose client address is believed (registration counts per client address). */
  trustedProxies?: TrustedProxies;
  /** Tests only: fetch client ID metadata documents from loopback with a test CA. */
  clientDocuments?: ClientDocumentFetch;
}

export interface GatewayAuthorizationServer {
  /** `<gateway origin>/oauth`: the `iss` of its tokens and the protected resource's `authorization_servers` entry. */
  issuer: string;
  /** The `aud` of its access tokens: the gateway's `/mcp` URL. */
  audience: string;
  /** The scopes tokens may carry (the protected resource metadata's `scopes_supported`). */
  scopes: string[];
  /** The public signing keys (what `<issuer>/jwks` serves), read locally: no HTTP round trip. */
  jwks(): { keys: JWK[] };
  routes: GatewayRoute[];
  /** Members' browser sessions on the gateway's own pages, signed in through the same IdP. */
  browser: BrowserSessionsHook;
  close(): Promise<void>;
}

export async function startAuthorizationServer(
  options: AuthorizationServerOptions,
): Promise<GatewayAuthorizationServer> {
  const { settings, state } = options;
  const issuerUrl = new URL(ISSUER_PATH, options.resource);
  const issuer = issuerUrl.href;
  const resource = options.resource.href;
  const keys = await serverKeys(state);
  const members = new Members(state, settings.refreshTokenTtlSeconds * 1000);
  const registration = new RegistrationLimits(
    settings.registration ?? DEFAULT_REGISTRATION,
    state,
    options.trustedProxies,
  );
  const provider = await makeProvider({
    issuer,
    resource,
    settings,
    state,
    keys,
    members,
    registration,
    ...(options.clientDocuments ? { clientDocuments: options.clientDocuments } : {}),
  });
  const serve = provider.callback();
  const returnUrl = new URL(`${ISSUER_PATH}/signed-in`, issuerUrl);
  const sessions = new BrowserSessions(state, issuerUrl);
  const signIn = new SignIn({
    provider,
    idp: organisationIdp(settings.idp, settings.claims, returnUrl),
    members,
    claims: settings.claims,
    state,
    returnUrl,
    prefix: ISSUER_PATH,
    resource,
    scopes: settings.scopes,
    sessions,
  });
  const forwarded = {
    proto: issuerUrl.protocol.slice(0, -1),
    host: issuerUrl.host,
  };
  /** Hands the request to oidc-provider as if it were mounted at ISSUER_PATH and reached at the issuer's origin. */
  const toProvider = (req: IncomingMessage, res: ServerResponse, inner: string) => {
    asReachedAt(req, forwarded);
    const query = new URLSearchParams((req.url ?? '').split('?').slice(1).join('?'));
    // A host that names no scope (its server's metadata listed none) asks for the deployment's.
    if (inner === '/auth' && req.method === 'GET' && !query.has('scope') && !query.has('request_uri'))
      query.set('scope', settings.scopes.join(' '));
    const search = query.size ? `?${query}` : '';
    // oidc-provider derives its mount path from originalUrl minus url, as under express or koa-mount.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = `${ISSUER_PATH}${inner}${search}`;
    req.url = `${inner}${search}`;
    serve(req, res);
  };
  const guarded =
    (handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void) =>
    async (req: IncomingMessage, res: ServerResponse) => {
      try {
        await handle(req, res);
      } catch {
        page(
          res,
          500,
          'Sign-in failed',
          'The gateway could not finish this step. Try again from your MCP client.',
        );
      }
    };
  const metadata = guarded((req, res) => toProvider(req, res, '/.well-known/openid-configuration'));
  const routes: GatewayRoute[] = [
    { path: `/.well-known/oauth-authorization-server${ISSUER_PATH}`, handle: metadata },
    { path: `/.well-known/openid-configuration${ISSUER_PATH}`, handle: metadata },
    {
      path: `${ISSUER_PATH}/`,
      handle: guarded(async (req, res) => {
        const path = (req.url ?? '/').split('?', 1)[0]!;
        const inner = path.slice(ISSUER_PATH.length);
        // Counted by the client's address, read before asReachedAt drops X-Forwarded-For. The
        // pattern is oidc-provider's router's: case-insensitive, a trailing slash allowed.
        if (req.method === 'POST' && /^\/reg\/?$/i.test(inner) && !(await registration.admit(req, res)))
          return;
        asReachedAt(req, forwarded);
        if (await signIn.serve(path, req, res)) return;
        toProvider(req, res, inner);
      }),
    },
  ];
  const publicKeys = { keys: keys.signing.map(publicJwk) };
  return {
    issuer,
    audience: resource,
    scopes: settings.scopes,
    jwks: () => publicKeys,
    routes,
    browser: {
      find: (req) => sessions.find(req),
      signIn: (req, res, returnTo) => signIn.toIdpForBrowser(req, res, returnTo),
      signOut: (req, res) => signIn.signOutBrowser(req, res),
    },
    close: async () => {
      // Nothing held open: every record is in the state store, which the gateway closes.
    },
  };
}

/**
 * oidc-provider builds its URLs and decides on secure cookies from the request's own URL: make
 * that the issuer's origin, whatever the client (or a proxy) said, with koa's `proxy` trusting
 * exactly these two headers, which the gateway sets.
 */
function asReachedAt(req: IncomingMessage, forwarded: { proto: string; host: string }): void {
  delete req.headers['x-forwarded-for'];
  req.headers['x-forwarded-proto'] = forwarded.proto;
  req.headers['x-forwarded-host'] = forwarded.host;
}
