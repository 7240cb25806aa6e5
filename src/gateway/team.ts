/**
 * The front door of a team gateway (`patchbay serve --config FILE`): from the deployment file,
 * the authenticators that say who each request is (inbound.ts; API keys, OAuth access tokens, the
 * static token) and the routes besides `/mcp` that go with them (protected-resource metadata, the
 * gateway's own authorization server, members' sign-in pages). Each credential kind is built in
 * its own module; this file only puts them together in the order they are tried.
 */

import type { Paths } from '../core/paths.js';
import type { StateStore } from '../state/store.js';
import type { Deployment } from './deployment.js';
import { firstOf, staticToken, type Authenticator, type GatewayRoute } from './inbound.js';
import type { MemberLogins } from './signin.js';
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
}

export async function teamFront({ deployment, paths, members, resource }: TeamContext): Promise<TeamFront> {
  const authenticators: Authenticator[] = [];
  const routes: GatewayRoute[] = [];
  const closers: Array<() => Promise<void>> = [];
  const { auth } = deployment;
  if (auth.staticToken) authenticators.push(staticToken(await gatewayToken(paths)));
  if (authenticators.length === 0)
    throw new Error('a team gateway needs at least one way in: auth.staticToken, auth.apiKeys or auth.oauth');
  const authenticator = firstOf(authenticators, 'Sign in: this gateway needs a bearer credential.');
  if (members) routes.push(...members.routes({ authenticator, base: new URL('/', resource) }));
  return {
    authenticator,
    routes,
    close: async () => {
      await Promise.all(closers.map((close) => close()));
    },
  };
}
