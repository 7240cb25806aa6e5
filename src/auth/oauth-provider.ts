/**
 * patchbay's OAuthClientProvider for the SDK's `auth()`: the SDK runs the flow (discovery,
 * registration, PKCE, the token requests, RFC 9207 `iss`, RFC 8707 `resource`); this class says
 * who patchbay is, where its credentials live, and refuses what the MCP authorization spec says
 * to refuse before a browser ever opens.
 *
 * Client identity in the spec's order: a pre-registered client (config) → a Client ID Metadata
 * Document (when the server supports it and a URL is configured) → dynamic registration. A
 * registration is keyed by the authorization server's issuer, so it is reused by every login to
 * that server and never offered to another one.
 */

import { randomBytes } from 'node:crypto';

import type {
  OAuthClientInformationContext,
  OAuthClientMetadata,
  OAuthClientProvider,
  OAuthDiscoveryState,
  StoredOAuthClientInformation,
  StoredOAuthTokens,
} from '@modelcontextprotocol/client';

import { PatchbayError } from '../errors.js';
import type { ClientKind } from './store-records.js';
import type { ClientMatch } from './store.js';
import type { TokenStore } from './token-store.js';

/** The key of a server's tokens in the credential store: the issuer and the protected resource. */
export function tokenKey(issuer: string, resource: string): string {
  return `${issuer} ${resource}`;
}

/** An unguessable `state` for one authorization request. */
export function newState(): string {
  return randomBytes(24).toString('base64url');
}

export interface ProviderSettings {
  /** The `state` to send (and expect back); one is generated when absent. */
  state?: string;
  /** The MCP server's URL: the protected resource the tokens are for. */
  resource: string;
  /** A pre-registered client (`add --client-id`, `.mcp.json` oauth.clientId). */
  clientId?: string;
  clientSecret?: string;
  /** An https URL serving patchbay's Client ID Metadata Document, used where the server supports CIMD. */
  clientMetadataUrl?: string;
  /** Where the authorization server sends the browser back (the loopback listener); unset for non-interactive use. */
  redirectUrl?: string;
  /** Discovery done beforehand (the login needs the issuer before it picks its port). */
  discovery?: OAuthDiscoveryState;
  /**
   * What a dynamic registration is stored under, besides the issuer: by default the redirect
   * URI it is bound to; the device flow's clients (no redirect, another grant) keep their own.
   */
  registrationSlot?: string;
}

/** The registration slot of clients registered for the device authorization grant. */
export const DEVICE_REGISTRATION_SLOT = 'device-authorization-grant';

export interface ProviderEvents {
  /** The authorization URL, checked and safe to open or print. */
  onAuthorizationUrl?(url: URL): void | Promise<void>;
  /** Something worth a line on stderr (never a secret). */
  onNotice?(message: string): void;
}

export class PatchbayOAuthProvider implements OAuthClientProvider {
  /** The `state` of the authorization request in flight, to compare with the callback's. */
  authorizationState: string;
  private verifier: string | undefined;
  /** Set while a new grant (not a refresh) is being obtained: its tokens start a new login. */
  private newGrant = false;
  private discovery: OAuthDiscoveryState | undefined;

  constructor(
    private readonly store: TokenStore,
    private readonly settings: ProviderSettings,
    private readonly events: ProviderEvents = {},
  ) {
    this.authorizationState = settings.state ?? newState();
    this.discovery = settings.discovery;
  }

  get redirectUrl(): string | undefined {
    return this.settings.redirectUrl;
  }

  get clientMetadataUrl(): string | undefined {
    return this.settings.clientMetadataUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'patchbay',
      client_uri: 'https://github.com/patchbay-dev/patchbay',
      redirect_uris: this.settings.redirectUrl ? [this.settings.redirectUrl] : [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: this.settings.clientSecret ? 'client_secret_basic' : 'none',
    };
  }

  state(): string {
    return this.authorizationState;
  }

  /** A new authorization request (a step-up round) gets a new `state`. */
  renewState(state: string = newState()): string {
    this.authorizationState = state;
    return state;
  }

  async clientInformation(
    ctx?: OAuthClientInformationContext,
  ): Promise<StoredOAuthClientInformation | undefined> {
    if (this.settings.clientId) {
      return {
        client_id: this.settings.clientId,
        ...(this.settings.clientSecret ? { client_secret: this.settings.clientSecret } : {}),
        ...(ctx ? { issuer: ctx.issuer } : {}),
      };
    }
    if (!ctx) return undefined;
    const stored = await this.store.getClient(ctx.issuer, this.clientMatch());
    return stored?.information;
  }

  async saveClientInformation(
    information: StoredOAuthClientInformation,
    ctx?: OAuthClientInformationContext,
  ): Promise<void> {
    if (this.settings.clientId) return; // configured, not ours to store
    const issuer = ctx?.issuer ?? information.issuer;
    if (!issuer) return;
    const kind: ClientKind =
      information.client_id === this.settings.clientMetadataUrl ? 'metadata-document' : 'dynamic';
    await this.store.saveClient({
      issuer,
      kind,
      clientId: information.client_id,
      ...(kind === 'dynamic' && this.slot() ? { redirectUri: this.slot() } : {}),
      ...(information.client_secret ? { clientSecret: information.client_secret } : {}),
      registeredAt: Date.now(),
      information,
    });
  }

  async tokens(ctx?: OAuthClientInformationContext): Promise<StoredOAuthTokens | undefined> {
    if (!ctx) return undefined;
    const stored = await this.store.getTokens(tokenKey(ctx.issuer, this.settings.resource));
    if (!stored) return undefined;
    const tokens: StoredOAuthTokens = {
      access_token: stored.accessToken,
      token_type: stored.tokenType,
      issuer: stored.issuer,
    };
    if (stored.refreshToken) tokens.refresh_token = stored.refreshToken;
    if (stored.scope) tokens.scope = stored.scope;
    if (stored.expiresAt !== undefined)
      tokens.expires_in = Math.max(0, Math.floor((stored.expiresAt - Date.now()) / 1000));
    return tokens;
  }

  async saveTokens(tokens: StoredOAuthTokens, ctx?: OAuthClientInformationContext): Promise<void> {
    const issuer = ctx?.issuer ?? tokens.issuer;
    if (!issuer) throw new PatchbayError('internal', 'tokens arrived without the issuer that granted them');
    const key = tokenKey(issuer, this.settings.resource);
    const previous = await this.store.getTokens(key);
    const now = Date.now();
    const client = await this.clientInformation({ issuer });
    // A grant that follows this provider's own authorization request starts a new login.
    const fresh = this.newGrant || this.verifier !== undefined || !previous;
    const refreshToken = tokens.refresh_token ?? (fresh ? undefined : previous?.refreshToken);
    const scope = tokens.scope ?? (fresh ? undefined : previous?.scope);
    await this.store.saveTokens(key, {
      issuer,
      resource: this.settings.resource,
      accessToken: tokens.access_token,
      tokenType: tokens.token_type,
      // A refresh that returns no refresh token keeps the one it used (RFC 6749 §6).
      ...(refreshToken ? { refreshToken } : {}),
      ...(tokens.expires_in !== undefined ? { expiresAt: now + tokens.expires_in * 1000 } : {}),
      ...(scope ? { scope } : {}),
      ...(client ? { clientId: client.client_id } : {}),
      obtainedAt: fresh ? now : previous.obtainedAt,
      ...(fresh ? {} : { lastRefreshAt: now }),
    });
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    this.requirePkce();
    const { checkAuthorizationUrl } = await import('./browser.js');
    // The URL is built by the SDK from the server's metadata: as hostile as anything it sends.
    const checked = checkAuthorizationUrl(authorizationUrl.href);
    await this.events.onAuthorizationUrl?.(checked);
  }

  /** The tokens saved next come from a new grant (a device code), not from a refresh. */
  beginNewGrant(): void {
    this.newGrant = true;
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.verifier = codeVerifier;
  }

  codeVerifier(): string {
    if (this.verifier === undefined)
      throw new PatchbayError('internal', 'no PKCE code verifier for this login; start it again');
    return this.verifier;
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.discovery = state;
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.discovery;
  }

  async invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): Promise<void> {
    const issuer = this.discovery?.authorizationServerMetadata?.issuer;
    if ((scope === 'all' || scope === 'client') && issuer && !this.settings.clientId) {
      this.events.onNotice?.(
        `The authorization server ${issuer} no longer accepts patchbay's registration; registering again.`,
      );
      await this.store.deleteClient(issuer, this.clientMatch());
    }
    if ((scope === 'all' || scope === 'tokens') && issuer)
      await this.store.deleteTokens(tokenKey(issuer, this.settings.resource));
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }

  private slot(): string | undefined {
    return this.settings.registrationSlot ?? this.settings.redirectUrl;
  }

  private clientMatch(): ClientMatch {
    const slot = this.slot();
    return slot ? { redirectUri: slot } : {};
  }

  /**
   * PKCE S256 always, and only with a server that says it supports it: the SDK would go ahead
   * when `code_challenge_methods_supported` is missing; the MCP spec says a client must refuse.
   */
  private requirePkce(): void {
    const metadata = this.discovery?.authorizationServerMetadata;
    const methods = metadata?.code_challenge_methods_supported;
    if (!Array.isArray(methods) || !methods.includes('S256')) {
      const issuer = metadata?.issuer ?? 'the authorization server';
      throw new PatchbayError(
        'auth-refused',
        `${issuer} does not advertise PKCE (code_challenge_methods_supported with S256); patchbay does not log in without it`,
        {
          hint: 'Ask the server operator to enable PKCE S256; it protects the login from code interception.',
        },
      );
    }
  }
}
