/**
 * The oidc-provider instance of the gateway's own authorization server, configured for MCP hosts:
 * open dynamic client registration (bounded: registration.ts), client ID metadata documents (fetched only from public https
 * URLs), PKCE S256 required, the gateway's `/mcp` URL as the one resource (RFC 8707) with JWT
 * access tokens carrying the member's email and groups, rotating refresh tokens, revocation, and
 * every lifetime from the deployment. Its records are in the state store (adapter.ts).
 */

import { isIP } from 'node:net';

import type { JWK } from 'jose';
import type Provider from 'oidc-provider';

import type { StateStore } from '../../state/store.js';
import type { OwnAuthorizationServer } from '../deployment.js';
import { StateAdapter, type NewRecordGate } from './adapter.js';
import { SIGNING_ALG, type ServerKeys } from './keys.js';
import type { Members } from './members.js';
import { escapeHtml } from './pages.js';
import { loadOidcProvider } from './library.js';
import type { RegistrationLimits } from './registration.js';

/** Tests only: which client ID metadata document URLs may be fetched, and how. */
export interface ClientDocumentFetch {
  allow(url: URL): boolean;
  fetch(url: string, init: RequestInit): Promise<Response>;
}

export interface ProviderOptions {
  issuer: string;
  resource: string;
  settings: OwnAuthorizationServer;
  state: StateStore;
  keys: ServerKeys;
  members: Members;
  /** Open registration's bounds: the cap is kept as oidc-provider stores a new client. */
  registration: RegistrationLimits;
  clientDocuments?: ClientDocumentFetch;
}

const AUTHORIZATION_CODE_TTL = 60;
const INTERACTION_TTL = 600;
/** The gateway's own browser session: a member signing in again within it skips the IdP. */
const SESSION_TTL = 8 * 3600;

interface ClientLike {
  clientId: string;
  redirectUris: string[];
  clientAuthMethod: string;
  grantTypeAllowed(type: string): boolean;
}

export async function makeProvider(options: ProviderOptions): Promise<Provider> {
  const { default: Provider, errors } = await loadOidcProvider();
  const { issuer, resource, settings, members } = options;
  const accessTtl = settings.accessTokenTtlSeconds;
  const refreshTtl = settings.refreshTokenTtlSeconds;
  const documents = options.clientDocuments;
  const registration = options.registration;
  // The registration cap, checked in the one step that stores a new client (any replica, at once).
  const newClients: NewRecordGate = {
    admit: async () => {
      const refusal = await registration.claim();
      if (!refusal) return;
      const error = new errors.OIDCProviderError(refusal.status, refusal.error);
      error.error_description = refusal.description;
      throw error;
    },
    undo: () => registration.release(),
  };
  const provider = new Provider(issuer, {
    adapter: (model: string) =>
      new StateAdapter(model, options.state, model === 'Client' ? newClients : undefined),
    jwks: { keys: options.keys.signing as JWK[] },
    cookies: { keys: options.keys.cookies },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: SIGNING_ALG,
    },
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access', ...settings.scopes],
    claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
    findAccount: async (_ctx: unknown, sub: string) => {
      const member = await members.get(sub);
      if (!member) return undefined;
      return {
        accountId: sub,
        claims: () => ({ sub, ...(member.email ? { email: member.email } : {}), groups: member.groups }),
      };
    },
    // The member in every access token, for the gateway's policy and audit without a lookup.
    extraTokenClaims: async (_ctx: unknown, token: { accountId?: string }) => {
      if (!token.accountId) return undefined;
      const member = await members.get(token.accountId);
      if (!member) return undefined;
      return { ...(member.email ? { email: member.email } : {}), groups: member.groups };
    },
    interactions: {
      url: (_ctx: unknown, interaction: { uid: string }) =>
        `${new URL(issuer).pathname}/interaction/${interaction.uid}`,
    },
    pkce: { required: () => true },
    rotateRefreshToken: () => true,
    // MCP hosts do not ask for offline_access: a host allowed the refresh grant gets a refresh token.
    issueRefreshToken: (_ctx: unknown, client: ClientLike) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: () => false,
    clockTolerance: 5,
    ttl: {
      AccessToken: accessTtl,
      AuthorizationCode: AUTHORIZATION_CODE_TTL,
      BackchannelAuthenticationRequest: INTERACTION_TTL,
      ClientCredentials: accessTtl,
      DeviceCode: INTERACTION_TTL,
      Grant: refreshTtl,
      IdToken: accessTtl,
      Interaction: INTERACTION_TTL,
      PreAuthorizedCode: INTERACTION_TTL,
      RefreshToken: refreshTtl,
      Session: SESSION_TTL,
    },
    // Browser-based hosts: a public client may call from the origin of one of its redirect URIs.
    clientBasedCORS: (_ctx: unknown, origin: string, client: ClientLike) =>
      origin !== 'null' &&
      client.clientAuthMethod === 'none' &&
      client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin),
    renderError: (ctx: { type: string; body: string }, out: Record<string, string>) => {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title></head><body><h1>Sign-in failed</h1>${Object.entries(
        out,
      )
        .map(([key, value]) => `<p>${escapeHtml(key)}: ${escapeHtml(String(value))}</p>`)
        .join('')}</body></html>`;
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      // Open, as MCP hosts register themselves (RFC 7591), within registration.ts's bounds; no
      // management endpoint to keep.
      registration: { enabled: true, issueRegistrationAccessToken: false },
      revocation: {
        enabled: true,
        // A client revokes its own tokens; another client's are silently left alone (RFC 7009 §2.1).
        allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) =>
          token.clientId === client.clientId,
      },
      clientIdMetadataDocument: {
        enabled: true,
        ack: 'draft-02',
        allowFetch: (_ctx: unknown, clientId: string) => {
          const url = URL.parse(clientId);
          return url !== null && (documents ? documents.allow(url) : publicDocumentUrl(url));
        },
      },
      resourceIndicators: {
        enabled: true,
        // A host that names no resource still gets a token for the gateway, never an opaque one.
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          if (indicator !== resource)
            throw new errors.InvalidTarget(`this authorization server issues tokens for ${resource} only`);
          return {
            scope: settings.scopes.join(' '),
            audience: resource,
            accessTokenTTL: accessTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: SIGNING_ALG } },
          };
        },
      },
    },
    ...(documents ? { fetch: documents.fetch } : {}),
  });
  // Set by the gateway itself from the issuer (index.ts asReachedAt), never taken from a client.
  provider.proxy = true;
  provider.on('server_error', (...args: unknown[]) => {
    const error = args[1];
    // One line, no request data: the member sees oidc-provider's error page.
    process.stderr.write(
      `patchbay: authorization server error: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  });
  return provider;
}

/**
 * A client ID metadata document the gateway will fetch: https on the default port, a host name
 * (no IP literal, no single-label or local name), no credentials — beside oidc-provider's own
 * checks (a valid client ID URL, special-use addresses refused at connect, size and time limits).
 */
export function publicDocumentUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    url.protocol === 'https:' &&
    url.port === '' &&
    url.username === '' &&
    url.password === '' &&
    url.href.length <= 2048 &&
    isIP(host) === 0 &&
    host.includes('.') &&
    !/\.(local|localhost|internal|lan|home\.arpa)$/.test(host)
  );
}
