/** RFC 7009 revocation requests against a real HTTP server on 127.0.0.1: what is sent, what is believed. */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { checkRevocationEndpoint, revokeToken, type RevokeTokenRequest } from '../../src/auth/revoke.js';
import { PatchbayError } from '../../src/errors.js';

const TOKEN = 'rt-SECRET-value-0123456789';

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: URLSearchParams;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function endpoint(
  answer: (res: ServerResponse, seen: Seen) => void,
): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: new URLSearchParams(text),
      };
      seen.push(request);
      answer(res, request);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/revoke`, seen };
}

const ok = (res: ServerResponse) => res.writeHead(200).end();

function request(url: string, overrides: Partial<RevokeTokenRequest> = {}): RevokeTokenRequest {
  return {
    endpoint: url,
    token: TOKEN,
    tokenTypeHint: 'refresh_token',
    client: { clientId: 'public-client' },
    fetchFn: fetch,
    ...overrides,
  };
}

describe('revokeToken', () => {
  it('a public client: POSTs the token, its hint and client_id as a form; 200 is revoked', async () => {
    const server = await endpoint(ok);
    expect(await revokeToken(request(server.url))).toEqual({ revoked: true });
    expect(server.seen).toHaveLength(1);
    const [seen] = server.seen;
    expect(seen!.method).toBe('POST');
    expect(seen!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(seen!.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(seen!.body)).toEqual({
      token: TOKEN,
      token_type_hint: 'refresh_token',
      client_id: 'public-client',
    });
  });

  it('a confidential client: HTTP Basic with the form-encoded ID and secret, nothing of them in the body', async () => {
    const server = await endpoint(ok);
    const client = { clientId: 'my app:1', clientSecret: 's3cr:t+/', authMethod: 'client_secret_basic' };
    expect(await revokeToken(request(server.url, { client, tokenTypeHint: 'access_token' }))).toEqual({
      revoked: true,
    });
    const [seen] = server.seen;
    // RFC 6749 §2.3.1: each part application/x-www-form-urlencoded before base64.
    const basic = Buffer.from('my+app%3A1:s3cr%3At%2B%2F').toString('base64');
    expect(seen!.headers.authorization).toBe(`Basic ${basic}`);
    expect(Object.fromEntries(seen!.body)).toEqual({ token: TOKEN, token_type_hint: 'access_token' });
  });

  it('client_secret_post puts the credentials in the body, as the registration says', async () => {
    const server = await endpoint(ok);
    const client = { clientId: 'c', clientSecret: 'secret-value', authMethod: 'client_secret_post' };
    await revokeToken(request(server.url, { client }));
    expect(server.seen[0]!.headers.authorization).toBeUndefined();
    expect(server.seen[0]!.body.get('client_secret')).toBe('secret-value');
  });

  it("an error answer says the server's error code and description, never the token", async () => {
    const server = await endpoint((res) =>
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'invalid_client', error_description: `unknown token ${TOKEN}` })),
    );
    const answer = await revokeToken(request(server.url));
    expect(answer).toMatchObject({ revoked: false, status: 401, error: 'invalid_client' });
    expect(!answer.revoked && answer.reason).toMatch(
      /refused: invalid_client: unknown token \[redacted\] \(HTTP 401\)/,
    );
    expect(JSON.stringify(answer)).not.toContain(TOKEN);
  });

  it('503 is reported with its Retry-After and not retried', async () => {
    const server = await endpoint((res) => res.writeHead(503, { 'retry-after': '120' }).end('busy'));
    const answer = await revokeToken(request(server.url));
    expect(answer).toMatchObject({ revoked: false, status: 503 });
    expect(!answer.revoked && answer.reason).toMatch(
      /unavailable \(HTTP 503, retry after 120\); not retried/,
    );
    expect(server.seen).toHaveLength(1);
  });

  it('a redirect is not followed: the token goes nowhere else', async () => {
    const elsewhere = await endpoint(ok);
    const server = await endpoint((res) => res.writeHead(307, { location: elsewhere.url }).end());
    const answer = await revokeToken(request(server.url));
    expect(answer).toMatchObject({ revoked: false, status: 307 });
    expect(elsewhere.seen).toHaveLength(0);
  });

  it('a non-JSON error answer is reported by its status', async () => {
    const server = await endpoint((res) =>
      res.writeHead(500, { 'content-type': 'text/html' }).end('<h1>oops</h1>'),
    );
    const answer = await revokeToken(request(server.url));
    expect(!answer.revoked && answer.reason).toMatch(/refused: HTTP 500$/);
  });

  it('an endpoint nobody listens on is an answer too, not a throw', async () => {
    const server = await endpoint(ok);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const answer = await revokeToken(request(server.url));
    expect(answer).toMatchObject({ revoked: false });
    expect(answer).not.toHaveProperty('status');
    expect(!answer.revoked && answer.reason).toMatch(/could not reach the revocation endpoint/);
  });
});

describe('checkRevocationEndpoint', () => {
  it('takes https, and http only to this machine', () => {
    expect(checkRevocationEndpoint('https://as.example.com/revoke', 'https://as.example.com').href).toBe(
      'https://as.example.com/revoke',
    );
    expect(checkRevocationEndpoint('http://127.0.0.1:8080/revoke', 'x').port).toBe('8080');
    expect(checkRevocationEndpoint('http://localhost/revoke', 'x').hostname).toBe('localhost');
  });

  it.each([
    ['plain http elsewhere', 'http://as.example.com/revoke'],
    ['another scheme', 'javascript:alert(1)'],
    ['a file', 'file:///etc/passwd'],
    ['credentials in the URL', 'https://user:pass@as.example.com/revoke'],
    ['not a URL', 'revoke here'],
    ['not a string', 42],
  ])('refuses %s', (_label, value) => {
    expect(() => checkRevocationEndpoint(value, 'https://as.example.com')).toThrow(PatchbayError);
  });
});
