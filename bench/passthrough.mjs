#!/usr/bin/env node
// The physical floor of an HTTP relay on this machine: a bare node:http server that pipes every
// request, as it comes, to the upstream's origin over a keep-alive agent and pipes the answer
// back (status and headers copied), parsing nothing — no JSON, no MCP, no policy. What a relay
// written in node cannot go below: one extra process, two loopback hops, node's HTTP parser and
// socket writes, and the copies of the bytes.
//
// Usage: node bench/passthrough.mjs <upstream URL> [port]
// Listens on 127.0.0.1 (port 0 by default: a free one) and prints `passthrough at <url>` on stderr
// (the gateway benches give it their preload, which reports the address itself). Request paths
// are kept: http://127.0.0.1:<port>/mcp goes to <upstream origin>/mcp.

import http from 'node:http';

const [upstreamText, portText = '0'] = process.argv.slice(2);
if (!upstreamText) {
  console.error('usage: node bench/passthrough.mjs <upstream URL> [port]');
  process.exit(2);
}
const upstream = new URL(upstreamText);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

const server = http.createServer((req, res) => {
  const headers = { ...req.headers, host: upstream.host };
  const forward = http.request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers,
      agent,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  forward.on('error', (error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`pass-through: ${error.message}`);
  });
  // A client that goes away before its answer ended (an SSE GET closed) ends the upstream request.
  res.on('close', () => {
    if (!res.writableFinished) forward.destroy();
  });
  req.pipe(forward);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portText), '127.0.0.1', () => {
  const { port } = server.address();
  console.error(`passthrough at http://127.0.0.1:${port}/mcp`);
});
