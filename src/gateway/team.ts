/**
 * The front door of a team gateway (`patchbay serve --config FILE`): from the deployment file,
 * the authenticators that say who each request is (inbound.ts; API keys, OAuth access tokens, the
 * static token) and the routes besides `/mcp` that go with them (protected-resource metadata, the
 * gateway's own authorization server, members' sign-in pages). Each credential kind is built in
 * its own module; this file only puts them together in the order they are tried.
 */

import type { Paths } from '../core/paths.js';
import { PatchbayError } from '../errors.js';
import type { StateStore } from '../state/store.js';
import { apiKeysFront } from './api-keys.js';
import type { Deployment } from './deployment.js';
import { accessTokens } from './access-tokens.js';
import { externalIssuerFront } from './external-issuer.js';
import { firstOf, staticToken, type Authenticator, type GatewayRoute } from './inbound.js';
import type { TrustedProxies } from './proxies.js';
import { resourceMetadataRoutes, resourceMetadataUrl } from './resource-metadata.js';
import type { BrowserSessionsHook, MemberLogins } from './signin.js';
import { gatewayToken } from './token.js';

export interface TeamFront {
  authenticator: Authenticator;
  routes: GatewayRoute[];
  close(): Promise<void>;
}

export interface TeamContext {
  deployment: Deployment;
  paths: Paths;
  state: StateStore;
  /** The gateway's MCP endpoint as hosts reach it: the resource its tokens are bound to (RFC 8707). */
  resource: URL;
  /** Members' own upstream logins (a deployment with a vault): their sign-in and links pages. */
  members?: MemberLogins;
  /** The listener's trusted proxies: whose client address the authorization server believes. */
  trustedProxies?: TrustedProxies;
}

export async function teamFront({
  deployment,
  paths,
  state,
  resource,
  members,
  trustedProxies,
}: TeamContext): Promise<TeamFront> {
  const authenticators: Authenticator[] = [];
  const routes: GatewayRoute[] = [];
  const closers: Array<() => Promise<void>> = [];
  const { auth } = deployment;
  let browser: BrowserSessionsHook | undefined;
  if (auth.apiKeys) {
    const keys = apiKeysFront(deployment, state);
    authenticators.push(keys);
    closers.push(() => keys.close());
  }
  if (auth.staticToken) authenticators.push(staticToken(await gatewayToken(paths)));
  // OAuth last: it refuses any bearer it is given (an opaque one goes to introspection).
  if (auth.oauth) {
    const oauth = await externalIssuerFront(auth.oauth, resource, deployment.file);
    authenticators.push(oauth.authenticator);
    routes.push(...oauth.routes);
  }
  if (auth.authorizationServer) {
    const { startAuthorizationServer } = await import('./authorization-server/index.js');
    const own = await startAuthorizationServer({
      settings: auth.authorizationServer,
      state,
      resource,
      ...(trustedProxies ? { trustedProxies } : {}),
    });
    closers.push(own.close);
    browser = own.browser;
    // Its own tokens are checked like any issuer's, against its keys read locally (no round trip).
    authenticators.push(
      accessTokens({
        issuer: own.issuer,
        resource,
        scopes: own.scopes,
        claims: auth.authorizationServer.claims,
        resourceMetadataUrl: resourceMetadataUrl(resource),
        keys: { local: () => own.jwks() },
      }),
    );
    routes.push(
      ...own.routes,
      ...resourceMetadataRoutes({ resource, authorizationServers: [own.issuer], scopes: own.scopes }),
    );
  }
  if (authenticators.length === 0)
    throw new PatchbayError('config-shape', `${deployment.file}: auth: no way in is turned on.`, {
      hint: 'Turn on auth.apiKeys, auth.oauth or auth.authorizationServer (or auth.staticToken for one person).',
    });
  const authenticator = firstOf(authenticators, 'Sign in: this gateway needs a bearer credential.');
  // Members' sign-in pages for their own upstream logins: they sign in as they do to /mcp (a
  // browser through the gateway's own authorization server's IdP sign-in, when it runs).
  if (members)
    routes.push(
      ...members.routes({ authenticator, base: new URL('/', resource), ...(browser ? { browser } : {}) }),
    );
  return {
    authenticator,
    routes,
    close: async () => {
      await Promise.all(closers.map((close) => close()));
    },
  };
}
