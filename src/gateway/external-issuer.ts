/**
 * Mode 1 of a team gateway (`auth.oauth` in the deployment): an identity provider that already
 * speaks the MCP authorization spec issues the tokens, and the gateway only points hosts to it.
 * Its metadata is read once at start (a wrong issuer or no keys is a gateway that does not start,
 * with the reason, rather than one that refuses every member).
 */

import type { ExternalIssuer } from './deployment.js';
import { accessTokens } from './access-tokens.js';
import type { Authenticator, GatewayRoute } from './inbound.js';
import { introspection } from './introspection.js';
import { discoverIssuer } from './issuer-metadata.js';
import { resourceMetadataRoutes, resourceMetadataUrl } from './resource-metadata.js';

export async function externalIssuerFront(
  oauth: ExternalIssuer,
  resource: URL,
): Promise<{ authenticator: Authenticator; routes: GatewayRoute[] }> {
  let metadata;
  try {
    metadata = await discoverIssuer(oauth.issuer);
  } catch (error) {
    throw new Error(`auth.oauth.issuer: ${(error as Error).message}`);
  }
  const endpoint = oauth.introspection?.endpoint ?? metadata.introspectionEndpoint;
  if (oauth.introspection && !endpoint)
    throw new Error(
      `auth.oauth.introspection: ${metadata.from.href} names no introspection_endpoint; set auth.oauth.introspection.endpoint`,
    );
  if (!metadata.jwksUri && !oauth.introspection)
    throw new Error(
      `auth.oauth.issuer: ${metadata.from.href} names no jwks_uri, so tokens cannot be checked locally; configure auth.oauth.introspection`,
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
