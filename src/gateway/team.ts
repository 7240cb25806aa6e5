/**
 * The front door of a team gateway (`patchbay serve --config FILE`): from the deployment file,
 * the authenticators that say who each request is (inbound.ts; API keys, OAuth access tokens, the
 * static token) and the routes besides `/mcp` that go with them (protected-resource metadata, the
 * gateway's own authorization server, members' sign-in pages). Each credential kind is built in
 * its own module; this file only puts them together in the order they are tried.
 */

import type { Paths } from '../core/paths.js';
import type { StateStore } from '../state/store.js';
import { apiKeysFront } from './api-keys.js';
import type { Deployment } from './deployment.js';
import { firstOf, staticToken, type Authenticator, type GatewayRoute } from './inbound.js';
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
}

export async function teamFront({ deployment, paths, state, resource }: TeamContext): Promise<TeamFront> {
  const authenticators: Authenticator[] = [];
  const routes: GatewayRoute[] = [];
  const closers: Array<() => Promise<void>> = [];
  const { auth } = deployment;
  if (auth.apiKeys) {
    const keys = apiKeysFront(deployment, state);
    authenticators.push(keys);
    closers.push(() => keys.close());
  }
  if (auth.staticToken) authenticators.push(staticToken(await gatewayToken(paths)));
  if (auth.authorizationServer) {
    // Its tokens: iss = own.issuer, aud = own.audience, keys = own.jwks() (local, no round trip).
    const { startAuthorizationServer } = await import('./authorization-server/index.js');
    const own = await startAuthorizationServer({ settings: auth.authorizationServer, state, resource });
    routes.push(...own.routes);
    closers.push(own.close);
  }
  if (authenticators.length === 0)
    throw new Error('a team gateway needs at least one way in: auth.staticToken, auth.apiKeys or auth.oauth');
  return {
    authenticator: firstOf(authenticators, 'Sign in: this gateway needs a bearer credential.'),
    routes,
    close: async () => {
      await Promise.all(closers.map((close) => close()));
    },
  };
}
