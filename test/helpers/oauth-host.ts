/**
 * An MCP host's OAuth state kept in memory, for the SDK's `auth()`. Its "browser" follows
 * redirects (a RedirectBrowser: the IdP's and the gateway's sign-in pages need no typing in tests)
 * until the host's own callback, which is never served — where it landed is all a test needs — or
 * is a function of the test's (a real browser). A sign-in that ends on a page instead is kept.
 */

import type {
  OAuthClientMetadata,
  OAuthClientProvider,
  OAuthDiscoveryState,
  StoredOAuthClientInformation,
  StoredOAuthTokens,
} from '@modelcontextprotocol/client';

import { isPage, RedirectBrowser } from '../fixtures/oauth/redirect-browser.js';

export const HOST_CALLBACK = 'http://127.0.0.1:9/callback';

export interface MemoryHostOptions {
  /** The in-process browser (one profile: its cookies); a new one by default. */
  browser?: RedirectBrowser;
  /** Opens the authorization URL some other way (Chromium), resolving where it landed. */
  open?: (url: URL) => Promise<URL>;
  /** The host identifies itself by a client ID metadata document at this URL. */
  clientMetadataUrl?: string;
  /** The host's callback (default HOST_CALLBACK). */
  callback?: string;
}

export class MemoryHost implements OAuthClientProvider {
  client: StoredOAuthClientInformation | undefined;
  saved: StoredOAuthTokens | undefined;
  verifier = '';
  discovery: OAuthDiscoveryState | undefined;
  /** Where the browser arrived: the host's callback, with `code`, `state` and `iss`. */
  landed: URL | undefined;
  /** Where it stopped instead: a page (a refusal). */
  page: { status: number; text: string } | undefined;
  readonly browser: RedirectBrowser;
  readonly clientMetadataUrl: string | undefined;
  private readonly callback: string;
  private readonly open: ((url: URL) => Promise<URL>) | undefined;

  constructor(options: MemoryHostOptions = {}) {
    this.browser = options.browser ?? new RedirectBrowser();
    this.clientMetadataUrl = options.clientMetadataUrl;
    this.callback = options.callback ?? HOST_CALLBACK;
    this.open = options.open;
  }

  get redirectUrl() {
    return this.callback;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'patchbay e2e host',
      redirect_uris: [this.callback],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(client: StoredOAuthClientInformation) {
    this.client = client;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: StoredOAuthTokens) {
    this.saved = tokens;
  }
  async redirectToAuthorization(url: URL) {
    if (this.open) {
      this.landed = await this.open(url);
      return;
    }
    const result = await this.browser.follow(url, (next) => next.href.startsWith(this.callback));
    if (isPage(result)) this.page = { status: result.status, text: result.text };
    else this.landed = result.url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery;
  }
  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery') {
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }
}
