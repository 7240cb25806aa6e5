/**
 * The gateway as an OAuth-protected resource (RFC 9728): its metadata — which resource it is (its
 * `/mcp` URL as hosts reach it), which authorization servers issue its tokens, which scopes it
 * knows — at the path-inserted well-known URL the MCP spec names (`/.well-known/oauth-protected-resource/mcp`)
 * and at the root one, for hosts that try that. Every 401 points to the first (`resource_metadata`
 * in the challenge), so a host finds everything from the gateway's URL alone.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

import type { GatewayRoute } from './inbound.js';

export const RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource';

export interface ResourceMetadata {
  /** The gateway's MCP endpoint as hosts reach it. */
  resource: URL;
  /** Issuer identifiers. */
  authorizationServers: string[];
  scopes: string[];
  /** Shown by hosts that show one. Default "patchbay team gateway". */
  name?: string;
}

/** Where the metadata of `resource` is: the well-known prefix inserted before its path (RFC 9728 §3.1). */
export function resourceMetadataUrl(resource: URL): URL {
  const path = resource.pathname === '/' ? '' : resource.pathname;
  return new URL(`${RESOURCE_METADATA_PATH}${path}`, resource.origin);
}

/** The routes serving the metadata document. */
export function resourceMetadataRoutes(metadata: ResourceMetadata): GatewayRoute[] {
  const body = JSON.stringify({
    resource: metadata.resource.href,
    authorization_servers: metadata.authorizationServers,
    ...(metadata.scopes.length ? { scopes_supported: metadata.scopes } : {}),
    bearer_methods_supported: ['header'],
    resource_name: metadata.name ?? 'patchbay team gateway',
  });
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('Only GET.\n');
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'max-age=300',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const inserted = resourceMetadataUrl(metadata.resource).pathname;
  return [
    { path: inserted, handle },
    ...(inserted === RESOURCE_METADATA_PATH ? [] : [{ path: RESOURCE_METADATA_PATH, handle }]),
  ];
}
