/**
 * Mode 1 of a team gateway (`auth.oauth` in the deployment): an identity provider that already
 * speaks the MCP authorization spec issues the tokens, and the gateway only points hosts to it.
 * Its metadata is read once at start (a wrong issuer or no keys is a gateway that does not start,
 * with the reason, rather than one that refuses every member).
 */

import { PatchbayError } from '../errors.js';
import type { ExternalIssuer } from './deployment.js';
import { accessTokens } from './access-tokens.js';
import type { Authenticator, GatewayRoute } from './inbound.js';
import { introspection } from './introspection.js';
import { discoverIssuer } from './issuer-metadata.js';
import { resourceMetadataRoutes, resourceMetadataUrl } from './resource-metadata.js';

/** `file`: the deployment file, for messages. */
export async function externalIssuerFront(
  oauth: ExternalIssuer,
  resource: URL,
  file: string,
): Promise<{ authenticator: Authenticator; routes: GatewayRoute[] }> {
  const hint = `Fix ${file} (or the issuer) and start patchbay serve --config again.`;
  let metadata;
  try {
    metadata = await discoverIssuer(oauth.issuer);
  } catch (error) {
    throw new PatchbayError('connect-failed', `${file}: auth.oauth.issuer: ${(error as Error).message}.`, {
      hint: `Check that the issuer is reachable from the gateway and is written exactly as its metadata names it, then start patchbay serve --config again.`,
    });
  }
  const endpoint = oauth.introspection?.endpoint ?? metadata.introspectionEndpoint;
  if (oauth.introspection && !endpoint)
    throw new PatchbayError(
      'config-shape',
      `${file}: auth.oauth.introspection: ${metadata.from.href} names no introspection_endpoint; set auth.oauth.introspection.endpoint.`,
      { hint },
    );
  if (!metadata.jwksUri && !oauth.introspection)
    throw new PatchbayError(
      'config-shape',
      `${file}: auth.oauth.issuer: ${metadata.from.href} names no jwks_uri, so tokens cannot be checked locally; configure auth.oauth.introspection.`,
      { hint },
    );
  const authenticator = accessTokens({
    issuer: metadata.issuer,
    resource,
    scopes: oauth.scopes,
    claims: oauth.claims,
    resourceMetadataUrl: resourceMetadataUrl(resource),
    ...(metadata.jwksUri ? { keys: { jwksUri: metadata.jwksUri } } : {}),
    ...(oauth.introspection && endpoint
      ? {
          introspection: introspection({
            endpoint,
            clientId: oauth.introspection.clientId,
            clientSecret: oauth.introspection.clientSecret,
          }),
        }
      : {}),
  });
  const routes = resourceMetadataRoutes({
    resource,
    authorizationServers: [metadata.issuer],
    scopes: oauth.scopes,
  });
  return { authenticator, routes };
}
