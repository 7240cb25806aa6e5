#!/usr/bin/env node
// A fixture MCP server for bench/gateway-large.mjs: one tool, `blob`, whose result is one text
// item of `mib` MiB (the letters a–z repeated; `mib` may be a fraction), over Streamable HTTP on
// 127.0.0.1 with the SDK's `createMcpHandler` (both protocol eras; the 2025 one statelessly, as
// patchbay's demo server), behind a small node:http adapter that streams the answer out. With
// BIG_SERVER_SESSIONS=1 it serves 2025-era sessions only (one Streamable HTTP session transport per
// `initialize`, as server-everything does), the upstream the gateway's hot path relays as bytes.
//
// Usage: node bench/big-server.mjs [port]   (0 by default: a free port)
// Prints `big-server at <url>` on stderr; ends when its stdin closes (or on SIGTERM).

import http from 'node:http';

import { randomUUID } from 'node:crypto';

import {
  createMcpHandler,
  McpServer,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';
import * as z from 'zod';

const MIB = 1024 * 1024;
const alphabet = 'abcdefghijklmnopqrstuvwxyz';
/** The text of a result of `mib` MiB: one character per byte. */
function blobText(mib) {
  const length = Math.round(mib * MIB);
  return alphabet.repeat(Math.ceil(length / alphabet.length)).slice(0, length);
}

function createServer() {
  const server = new McpServer({ name: 'bench-big-server', version: '0.0.0' });
  server.registerTool(
    'blob',
    {
      description: 'Return one text item of the given size in MiB.',
      inputSchema: z.object({ mib: z.number().positive().max(256) }),
      annotations: { readOnlyHint: true },
    },
    ({ mib }) => ({ content: [{ type: 'text', text: blobText(mib) }] }),
  );
  return server;
}

const handler =
  process.env.BIG_SERVER_SESSIONS === '1'
    ? sessionHandler()
    : createMcpHandler(createServer, { keepAliveMs: 0 });

/** 2025-era sessions: a transport per `initialize`, found again by its Mcp-Session-Id. */
function sessionHandler() {
  const sessions = new Map();
  return {
    async fetch(request) {
      const id = request.headers.get('mcp-session-id');
      if (id) {
        const transport = sessions.get(id);
        if (transport) return transport.handleRequest(request);
        return Response.json(
          { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } },
          { status: 404 },
        );
      }
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sessionId) => sessions.set(sessionId, transport),
        onsessionclosed: (sessionId) => sessions.delete(sessionId),
      });
      await createServer().connect(transport);
      return transport.handleRequest(request);
    },
  };
}

const httpServer = http.createServer(async (req, res) => {
  try {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    const request = new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url}`, {
      method: req.method,
      headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
    });
    const response = await handler.fetch(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (!response.body) return void res.end();
    for await (const chunk of response.body)
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
    res.end();
  } catch (error) {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(error?.message ?? error));
  }
});

const port = Number(process.argv[2] ?? '0');
httpServer.listen(port, '127.0.0.1', () => {
  console.error(`big-server at http://127.0.0.1:${httpServer.address().port}/mcp`);
});
const end = () => {
  httpServer.close();
  process.exit(0);
};
process.on('SIGTERM', end);
