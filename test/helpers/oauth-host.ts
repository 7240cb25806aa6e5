/**
 * An MCP host's OAuth state kept in memory, for the SDK's `auth()`: its "browser" follows
 * redirects (RedirectBrowser: the IdP's and the gateway's sign-in pages need no typing in tests)
 * until the host's own callback, which is never served — where it landed is all a test needs.
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

export class MemoryHost implements OAuthClientProvider {
  client: StoredOAuthClientInformation | undefined;
  saved: StoredOAuthTokens | undefined;
  verifier = '';
  discovery: OAuthDiscoveryState | undefined;
  /** Where the browser arrived: the host's callback, with `code`, `state` and `iss`. */
  landed: URL | undefined;
  readonly browser = new RedirectBrowser();

  get redirectUrl() {
    return HOST_CALLBACK;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'patchbay e2e host',
      redirect_uris: [HOST_CALLBACK],
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
    const result = await this.browser.follow(url, (next) => next.href.startsWith(HOST_CALLBACK));
    if (isPage(result)) throw new Error(`the sign-in ended on a page: ${result.status} ${result.text}`);
    this.landed = result.url;
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
}
