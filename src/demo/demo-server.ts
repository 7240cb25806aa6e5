/**
 * A small, real MCP server on loopback: what `patchbay demo` serves and what tests connect to.
 *
 * It is built from one factory served by the SDK's web-standard `createMcpHandler`, so it answers
 * both protocol eras (2026-07-28 `server/discover` and the 2025 `initialize` handshake, the latter
 * statelessly), behind node:http through core/web-handler.ts.
 *
 * With `oauth`, it is a protected resource as the MCP authorization spec describes, in front of
 * its own authorization server (oauth-server.ts, on oidc-provider): without a valid bearer token (RFC 6750) it
 * answers 401 with `WWW-Authenticate: Bearer resource_metadata="…"`, and it serves its protected
 * resource metadata (RFC 9728) naming that authorization server.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  createMcpHandler,
  hostHeaderValidationResponse,
  localhostAllowedHostnames,
  localhostAllowedOrigins,
  McpServer,
  originValidationResponse,
} from '@modelcontextprotocol/server';
import * as z from 'zod';

import { isLoopbackHost } from '../core/loopback.js';
import { closeServer, listen, serveWebHandler } from '../core/web-handler.js';
import {
  DEMO_SCOPES,
  startDemoAuthorizationServer,
  type DemoAuthorizationServer,
  type DemoAuthorizationServerOptions,
} from './oauth-server.js';

export const DEMO_SERVER_NAME = 'patchbay-demo';
export const DEMO_SERVER_VERSION = '0.1.0';
export const DEMO_MCP_PATH = '/mcp';
/** The tools the demo server registers, in registration order. */
export const DEMO_TOOL_NAMES: readonly string[] = ['echo', 'add', 'get_time'];

const README = `# patchbay demo server

A loopback MCP server for trying patchbay without a remote account.

- \`echo\` returns the text it is given.
- \`add\` adds two numbers and returns the sum as structured output.
- \`get_time\` returns the current time (read-only).
`;

export interface DemoServerOptions {
  /** Defaults to 127.0.0.1: the demo server is for this machine only. */
  host?: string;
  /** Defaults to 0 (any free port). */
  port?: number;
  /**
   * Require an OAuth access token from the embedded authorization server (loopback only).
   * Off by default: tests and `patchbay demo`'s plain steps connect without one.
   */
  oauth?: boolean | Omit<DemoAuthorizationServerOptions, 'resource'>;
}

export interface DemoServer {
  /** The MCP endpoint, e.g. `http://127.0.0.1:41234/mcp`; with `oauth`, also the resource identifier. */
  url: string;
  /** With `oauth`: the embedded authorization server. */
  authorizationServer?: DemoAuthorizationServer;
  /** With `oauth`: where the protected resource metadata is served (RFC 9728 §3.1). */
  resourceMetadataUrl?: string;
  close(): Promise<void>;
}

/** One fresh McpServer per serving unit, as `createMcpHandler` requires for both eras. */
export function createDemoMcpServer(): McpServer {
  const server = new McpServer(
    { name: DEMO_SERVER_NAME, version: DEMO_SERVER_VERSION },
    { instructions: 'A demo server from patchbay: echo text, add numbers, read the time.' },
  );

  server.registerTool(
    'echo',
    {
      title: 'Echo',
      description: 'Return the given text unchanged.',
      inputSchema: z.object({ text: z.string().describe('The text to send back') }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ text }) => ({ content: [{ type: 'text', text }] }),
  );

  server.registerTool(
    'add',
    {
      title: 'Add',
      description: 'Add two numbers.',
      inputSchema: z.object({ a: z.number(), b: z.number() }),
      outputSchema: z.object({ sum: z.number() }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ a, b }) => {
      const sum = a + b;
      return { content: [{ type: 'text', text: String(sum) }], structuredContent: { sum } };
    },
  );

  server.registerTool(
    'get_time',
    {
      title: 'Current time',
      description: 'Return the current time as an ISO 8601 string (UTC).',
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    () => ({ content: [{ type: 'text', text: new Date().toISOString() }] }),
  );

  server.registerResource(
    'readme',
    'demo://readme',
    { title: 'About this server', description: 'What the demo server offers.', mimeType: 'text/markdown' },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/markdown', text: README }] }),
  );

  server.registerPrompt(
    'greet',
    {
      title: 'Greet',
      description: 'A greeting for someone.',
      argsSchema: z.object({ name: z.string().describe('Who to greet') }),
    },
    ({ name }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Say hello to ${name}.` } }],
    }),
  );

  return server;
}

export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const host = options.host ?? '127.0.0.1';
  if (options.oauth && !isLoopbackHost(host)) {
    throw new Error(
      'The demo server requires OAuth on loopback only: its authorization server binds 127.0.0.1.',
    );
  }
  const handler = createMcpHandler(() => createDemoMcpServer(), {
    // Loopback needs no keep-alive comment frames, and without them an idle stream holds no timer.
    keepAliveMs: 0,
  });
  // The entry itself does no Host/Origin checks. On loopback, a browser tab must not reach the
  // server through DNS rebinding; bound elsewhere, the Host is whatever name the machine has.
  const allowedHosts = isLoopbackHost(host) ? localhostAllowedHostnames() : undefined;
  let protection: Protection | undefined;
  const serveMcp = (request: Request): Promise<Response> => {
    const rejected =
      (allowedHosts && hostHeaderValidationResponse(request, allowedHosts)) ??
      originValidationResponse(request, localhostAllowedOrigins());
    if (rejected) return Promise.resolve(rejected);
    return protection ? protection.guard(request, handler.fetch) : handler.fetch(request);
  };

  const httpServer = createServer();
  await listen(httpServer, host, options.port ?? 0);
  const { port } = httpServer.address() as AddressInfo;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const url = `${origin}${DEMO_MCP_PATH}`;

  if (options.oauth) {
    const settings = options.oauth === true ? {} : options.oauth;
    try {
      protection = await protect(url, settings);
    } catch (error) {
      await closeServer(httpServer);
      throw error;
    }
  }

  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (protection && path === protection.metadataPath && (req.method === 'GET' || req.method === 'HEAD')) {
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' })
        .end(JSON.stringify(protection.metadata));
      return;
    }
    if (path !== DEMO_MCP_PATH) {
      res
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`Not found. The MCP endpoint is ${DEMO_MCP_PATH}.\n`);
      return;
    }
    void serveWebHandler(req, res, origin, serveMcp);
  });

  let closing: Promise<void> | undefined;
  return {
    url,
    ...(protection
      ? {
          authorizationServer: protection.authorizationServer,
          resourceMetadataUrl: `${origin}${protection.metadataPath}`,
        }
      : {}),
    close() {
      closing ??= (async () => {
        await handler.close();
        await closeServer(httpServer);
        await protection?.authorizationServer.close();
      })();
      return closing;
    },
  };
}

interface Protection {
  authorizationServer: DemoAuthorizationServer;
  metadataPath: string;
  metadata: Record<string, unknown>;
  /** Serve the request if it carries a valid bearer token; else 401 with the challenge. */
  guard(request: Request, serve: (request: Request) => Promise<Response>): Promise<Response>;
}

async function protect(
  resource: string,
  settings: Omit<DemoAuthorizationServerOptions, 'resource'>,
): Promise<Protection> {
  const authorizationServer = await startDemoAuthorizationServer({ ...settings, resource });
  // RFC 9728 §3.1: the well-known path with the resource's own path after it.
  const metadataPath = `/.well-known/oauth-protected-resource${DEMO_MCP_PATH}`;
  const resourceMetadataUrl = `${new URL(resource).origin}${metadataPath}`;
  // RFC 9728 §2: the resource, who issues its tokens, and how they are presented.
  const metadata = {
    resource,
    authorization_servers: [authorizationServer.issuer],
    scopes_supported: Object.keys(DEMO_SCOPES),
    bearer_methods_supported: ['header'],
    resource_name: 'patchbay demo server',
  };
  // RFC 9728 §5.1 and RFC 6750 §3: where to find the metadata. No `scope`: clients take
  // scopes_supported from the metadata, and `patchbay login demo` needs no --scope.
  const challenge = (error?: string) =>
    `Bearer ${error ? `error="invalid_token", error_description="${error}", ` : ''}resource_metadata="${resourceMetadataUrl}"`;
  const refuse = (error?: string) =>
    Response.json(
      { error: 'invalid_token', error_description: error ?? 'This server needs an OAuth access token.' },
      { status: 401, headers: { 'www-authenticate': challenge(error) } },
    );
  return {
    authorizationServer,
    metadataPath,
    metadata,
    guard: async (request, serve) => {
      const header = request.headers.get('authorization');
      if (header === null) return refuse();
      // RFC 6750 §2.1: `Bearer <token>` in the Authorization header, the only way this server takes one.
      const token = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header)?.[1];
      if (!token || !(await authorizationServer.verify(token, resource))) {
        return refuse('The access token is unknown, expired or for another server.');
      }
      return serve(request);
    },
  };
}
