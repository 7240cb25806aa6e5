/** RFC 9728 protected-resource metadata routes (gateway/resource-metadata.ts) over a real socket. */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resourceMetadataRoutes } from '../../src/gateway/resource-metadata.js';

let server: Server;
let origin: string;

beforeAll(async () => {
  const routes = resourceMetadataRoutes({
    resource: new URL('https://mcp.example.test/mcp'),
    authorizationServers: ['https://login.example.test'],
    scopes: ['mcp'],
  });
  expect(routes.map((route) => route.path)).toEqual([
    '/.well-known/oauth-protected-resource/mcp',
    '/.well-known/oauth-protected-resource',
  ]);
  server = createServer((req, res) => {
    const route = routes.find((candidate) => candidate.path === req.url);
    if (route) void route.handle(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server?.close();
  server?.closeAllConnections();
});

describe('protected-resource metadata', () => {
  it('serves the document at the path-inserted and root well-known URLs', async () => {
    for (const path of [
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-protected-resource',
    ]) {
      const response = await fetch(`${origin}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(await response.json()).toEqual({
        resource: 'https://mcp.example.test/mcp',
        authorization_servers: ['https://login.example.test'],
        scopes_supported: ['mcp'],
        bearer_methods_supported: ['header'],
        resource_name: 'patchbay team gateway',
      });
    }
  });

  it('HEAD has no body; other methods are 405', async () => {
    const head = await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});
