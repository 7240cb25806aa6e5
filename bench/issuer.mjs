#!/usr/bin/env node
// A minimal OAuth authorization server's public face for the gateway bench (the `gateway-http-oauth`
// row of bench/gateway.mjs): the RFC 8414 metadata at /.well-known/oauth-authorization-server and
// the JWKS it names, nothing more. The gateway in mode 1 (`auth.oauth`) reads the metadata once at
// start, fetches the keys once, and then checks every access token locally, so this process does
// (almost) nothing during the load; it runs apart from the bench so that whatever it does is not
// counted as the client's CPU.
//
// Usage: node bench/issuer.mjs '<public JWK, JSON>' [port]
// The key pair is the bench's (jose, RS256): it keeps the private key and mints its one token
// itself; this process only publishes the public key. It listens on 127.0.0.1 (port 0 by default:
// a free one), prints `issuer at <issuer>` on stderr (the bench gives it its preload, which
// reports the address), and writes one line per request on stdout (`GET <path> <status>`), which
// the bench counts. The authorization and token endpoints are named because RFC 8414 requires
// them, but nobody signs in here: they answer 400 with an OAuth error saying so.

import http from 'node:http';

const [jwkText, portText = '0'] = process.argv.slice(2);
if (!jwkText) {
  console.error("usage: node bench/issuer.mjs '<public JWK, JSON>' [port]");
  process.exit(2);
}
const jwk = JSON.parse(jwkText);
if (jwk.d !== undefined) {
  console.error('bench/issuer.mjs: give it the public key only');
  process.exit(2);
}

let metadata = null;
const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
};

const server = http.createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
  res.on('finish', () => process.stdout.write(`${req.method} ${path} ${res.statusCode}\n`));
  req.resume();
  if (req.method !== 'GET' && req.method !== 'POST') return json(res, 405, { error: 'invalid_request' });
  switch (path) {
    case '/.well-known/oauth-authorization-server':
      return json(res, 200, metadata);
    case '/jwks':
      return json(res, 200, { keys: [jwk] });
    case '/authorize':
    case '/token':
      return json(res, 400, {
        error: path === '/token' ? 'unsupported_grant_type' : 'unsupported_response_type',
        error_description: 'this is the bench issuer: it signs nobody in (the bench mints its token itself)',
      });
    default:
      return json(res, 404, { error: 'not_found' });
  }
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portText), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  metadata = {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none'],
    scopes_supported: ['mcp'],
  };
  console.error(`issuer at ${issuer}`);
});
