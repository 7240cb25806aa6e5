/**
 * Who may use the console and what every response carries: the one-time launch token (in the
 * URL's fragment) exchanged once, same-origin, for a session secret in the JSON answer; that
 * secret in `Authorization: Bearer` required by every API route and nothing else accepted (no
 * cookie is set or honoured); the page itself served without a session; Host and Origin refusals
 * (DNS rebinding, other sites), CSRF, bodies, the strict CSP, and static files that never leave
 * the web root.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CONTENT_SECURITY_POLICY } from '../../src/console/security.js';
import { CONSOLE_ROUTES } from '../../src/console/server.js';
import {
  exchangeToken,
  launchToken,
  rawRequest,
  startTestConsole,
  type RawResponse,
  type TestConsole,
} from './helpers.js';

let t: TestConsole;
beforeEach(async () => {
  t = await startTestConsole({ exchange: false });
});
afterEach(async () => {
  await t.close();
});

/** The launch token exchanged as the page does: `Bearer <secret>`. */
async function exchange(): Promise<string> {
  const response = await exchangeToken(t.port, launchToken(t.console.url));
  expect(response.status).toBe(201);
  return `Bearer ${(JSON.parse(response.text) as { session: string }).session}`;
}

/** Every API route once, with these headers (a change with the console's Origin and a JSON body). */
async function everyRoute(headers: Record<string, string>): Promise<Array<[string, RawResponse]>> {
  const answers: Array<[string, RawResponse]> = [];
  for (const route of CONSOLE_ROUTES) {
    const path = route.path.replace(/:[a-z]+/gi, 'x');
    const change = route.method !== 'GET';
    const response = await rawRequest(t.port, {
      method: route.method,
      path,
      headers: {
        ...headers,
        ...(change ? { origin: t.console.origin, 'content-type': 'application/json' } : {}),
      },
      ...(change ? { body: '{}' } : {}),
    });
    answers.push([`${route.method} ${route.path}`, response]);
  }
  return answers;
}

const WRONG = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

describe('the launch token and the session secret', () => {
  it('prints a loopback URL with a 32-byte base64url token in the fragment, never sent to a server', () => {
    expect(t.console.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}$/);
    expect(t.console.origin).toBe(`http://127.0.0.1:${t.port}`);
  });

  it('no API route answers without the session; the page and its assets hold none and need none', async () => {
    expect(CONSOLE_ROUTES.length).toBeGreaterThan(10);
    for (const [route, response] of await everyRoute({ 'sec-fetch-site': 'same-origin' })) {
      expect(response.status, route).toBe(401);
      expect(JSON.parse(response.text), route).toEqual({
        error: expect.objectContaining({ code: 'no-session' }),
      });
      expect(response.headers['www-authenticate'], route).toBe('Bearer realm="patchbay console"');
    }
    // Neither a path nor a method the router does not know reveals anything without a session.
    expect((await rawRequest(t.port, { path: '/api/nothing-here' })).status).toBe(401);
    expect((await rawRequest(t.port, { path: '/api' })).status).toBe(401);
    const page = await rawRequest(t.port, { path: '/' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.text).toContain('<script src="/assets/app.js">');
    const script = await rawRequest(t.port, { path: '/assets/app.js' });
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    const css = await rawRequest(t.port, { path: '/assets/style.css' });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    // A page load another site started (the OAuth callback page sending the browser back) is just the page.
    const returned = await rawRequest(t.port, {
      path: '/?login=demo',
      headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' },
    });
    expect(returned.status).toBe(200);
    expect(returned.text).toContain('<title>console</title>');
  });

  it('the token works once, for a secret in the JSON answer and no cookie; then it is spent', async () => {
    const first = await exchangeToken(t.port, launchToken(t.console.url));
    expect(first.status).toBe(201);
    expect(first.headers['set-cookie']).toBeUndefined();
    expect(first.headers['cache-control']).toBe('no-store');
    const { session } = JSON.parse(first.text) as { session: string };
    expect(session).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session).not.toBe(launchToken(t.console.url));
    const again = await exchangeToken(t.port, launchToken(t.console.url));
    expect(again.status).toBe(401);
    expect(JSON.parse(again.text).error.code).toBe('spent-token');
    expect(again.headers['set-cookie']).toBeUndefined();
    // Even with the session in hand, the spent token is not another session.
    const withSession = await exchangeToken(t.port, launchToken(t.console.url), {
      authorization: `Bearer ${session}`,
    });
    expect(withSession.status).toBe(401);
    const ok = await rawRequest(t.port, {
      path: '/api/session',
      headers: { authorization: `Bearer ${session}` },
    });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toMatchObject({ version: '0.0.0-test', projectRoot: t.sandbox.project });
  });

  it('a wrong or missing token is refused, sets nothing and does not spend the real one', async () => {
    for (const body of [{ token: WRONG }, { token: '' }, {}, { token: 42 }]) {
      const response = await rawRequest(t.port, {
        method: 'POST',
        path: '/api/session',
        headers: { origin: t.console.origin, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect([400, 401], JSON.stringify(body)).toContain(response.status);
      expect(response.headers['set-cookie']).toBeUndefined();
    }
    // The old way in (the token in the query of a page load) is no way in at all.
    const query = await rawRequest(t.port, { path: `/?token=${launchToken(t.console.url)}` });
    expect(query.status).toBe(200);
    expect(query.headers['set-cookie']).toBeUndefined();
    await exchange();
  });

  it('the exchange refuses another origin, a form and a foreign Host, and the token survives them', async () => {
    const token = launchToken(t.console.url);
    const body = JSON.stringify({ token });
    const attempts: Array<[string, Record<string, string>]> = [
      ['another site', { origin: 'https://evil.example.com', 'content-type': 'application/json' }],
      ['another port', { origin: `http://127.0.0.1:${t.port + 1}`, 'content-type': 'application/json' }],
      ['an opaque origin', { origin: 'null', 'content-type': 'application/json' }],
      ['no Origin', { 'content-type': 'application/json' }],
      ['a cross-site fetch', { 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' }],
      ['a same-site fetch', { 'sec-fetch-site': 'same-site', 'content-type': 'application/json' }],
      ['a form', { origin: t.console.origin, 'content-type': 'application/x-www-form-urlencoded' }],
      ['a text body', { origin: t.console.origin, 'content-type': 'text/plain' }],
      ['a rebound name', { host: `evil.example.com:${t.port}`, origin: `http://evil.example.com:${t.port}` }],
    ];
    for (const [what, headers] of attempts) {
      const response = await rawRequest(t.port, { method: 'POST', path: '/api/session', headers, body });
      expect([403, 415], what).toContain(response.status);
      expect(response.text, what).not.toContain('session"');
    }
    await exchange();
  });

  it('a wrong, foreign or misplaced credential is refused on every route', async () => {
    const authorization = await exchange();
    const secret = authorization.slice('Bearer '.length);
    const other = await startTestConsole();
    try {
      const refusedWith: Array<[string, Record<string, string>]> = [
        ['a wrong secret', { authorization: `Bearer ${WRONG}` }],
        ['the spent launch token', { authorization: `Bearer ${launchToken(t.console.url)}` }],
        ["another console's session", { authorization: other.authorization }],
        ['the secret as a cookie', { cookie: `patchbay_console_${t.port}=${secret}; session=${secret}` }],
        ['the secret without its scheme', { authorization: secret }],
        ['the secret as Basic', { authorization: `Basic ${secret}` }],
        ['the secret in another header', { 'x-patchbay-session': secret }],
        ['the secret with junk after it', { authorization: `Bearer ${secret}x` }],
      ];
      for (const [what, headers] of refusedWith)
        for (const [route, response] of await everyRoute(headers))
          expect(response.status, `${route} with ${what}`).toBe(401);
      const inQuery = await rawRequest(t.port, { path: `/api/session?token=${secret}&session=${secret}` });
      expect(inQuery.status).toBe(401);
      // The real one, for contrast.
      const ok = await rawRequest(t.port, { path: '/api/session', headers: { authorization } });
      expect(ok.status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe('Host and Origin', () => {
  it('refuses a Host that is not this console (DNS rebinding), even with the session', async () => {
    const authorization = await exchange();
    for (const host of [
      'evil.example.com',
      `evil.example.com:${t.port}`,
      `127.0.0.1:${t.port + 1}`,
      '127.0.0.1',
    ]) {
      const page = await rawRequest(t.port, { path: '/', headers: { host, authorization } });
      expect(page.status, host).toBe(403);
      const api = await rawRequest(t.port, { path: '/api/servers', headers: { host, authorization } });
      expect(api.status, host).toBe(403);
      expect(JSON.parse(api.text).error.code).toBe('forbidden-host');
    }
    const local = await rawRequest(t.port, {
      path: '/api/session',
      headers: { host: `localhost:${t.port}`, authorization },
    });
    expect(local.status).toBe(200);
  });

  it('refuses a request from another Origin', async () => {
    const authorization = await exchange();
    for (const origin of ['https://evil.example.com', `http://127.0.0.1:${t.port + 1}`, 'null']) {
      const get = await rawRequest(t.port, { path: '/api/servers', headers: { authorization, origin } });
      expect(get.status, origin).toBe(403);
      expect(JSON.parse(get.text).error.code).toBe('forbidden-origin');
      const post = await rawRequest(t.port, {
        method: 'POST',
        path: '/api/servers',
        headers: { authorization, origin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x', url: 'https://x.example.com/mcp' }),
      });
      expect(post.status, origin).toBe(403);
    }
    const same = await rawRequest(t.port, {
      path: '/api/session',
      headers: { authorization, origin: t.console.origin },
    });
    expect(same.status).toBe(200);
  });

  it('a change without Origin or Sec-Fetch-Site: same-origin is refused (CSRF)', async () => {
    const authorization = await exchange();
    const body = JSON.stringify({ name: 'csrf', url: 'https://x.example.com/mcp' });
    const bare = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/servers',
      headers: { authorization, 'content-type': 'application/json' },
      body,
    });
    expect(bare.status).toBe(403);
    const crossSite = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/servers',
      headers: { authorization, 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' },
      body,
    });
    expect(crossSite.status).toBe(403);
    const deletion = await rawRequest(t.port, {
      method: 'DELETE',
      path: '/api/servers/csrf',
      headers: { authorization },
    });
    expect(deletion.status).toBe(403);
    // Nothing was written.
    const list = await rawRequest(t.port, { path: '/api/servers', headers: { authorization } });
    expect(JSON.parse(list.text)).toEqual([]);
    // Sec-Fetch-Site: same-origin alone is enough.
    const same = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/servers',
      headers: { authorization, 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body,
    });
    expect(same.status).toBe(201);
  });

  it('bodies are JSON and at most 1 MiB', async () => {
    const authorization = await exchange();
    const headers = { authorization, origin: t.console.origin };
    const form = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/servers',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=x&url=https://x.example.com',
    });
    expect(form.status).toBe(415);
    const plain = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/servers',
      headers: { ...headers, 'content-type': 'text/plain' },
      body: '{"name":"x","url":"https://x.example.com"}',
    });
    expect(plain.status).toBe(415);
    const large = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/servers/x/call',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ tool: 'echo', arguments: { message: 'x'.repeat(1024 * 1024) } }),
    });
    expect(large.status).toBe(413);
    const broken = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/servers',
      headers: { ...headers, 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.text).error.code).toBe('invalid-json');
  });
});

describe('headers on every response', () => {
  it('the strict CSP, nosniff, no referrer, no-store, and never a cookie', async () => {
    const granted = await exchangeToken(t.port, launchToken(t.console.url));
    const authorization = `Bearer ${(JSON.parse(granted.text) as { session: string }).session}`;
    const responses = await Promise.all([
      rawRequest(t.port, { path: '/' }),
      rawRequest(t.port, { path: '/', headers: { authorization } }),
      rawRequest(t.port, { path: '/assets/app.js', headers: { authorization } }),
      rawRequest(t.port, { path: '/api/servers', headers: { authorization } }),
      rawRequest(t.port, { path: '/api/servers' }),
      rawRequest(t.port, { path: '/api/nothing-here', headers: { authorization } }),
      rawRequest(t.port, { path: '/', headers: { host: 'evil.example.com' } }),
      exchangeToken(t.port, launchToken(t.console.url)),
    ]);
    responses.push(granted);
    for (const response of responses) {
      expect(response.headers['set-cookie']).toBeUndefined();
      expect(response.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
      expect(response.headers['cache-control']).toBe('no-store');
    }
    expect(CONTENT_SECURITY_POLICY).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    expect(responses[5]!.status).toBe(404);
  });
});

describe('static files', () => {
  it('never leave the web root, and never list a directory', async () => {
    const authorization = await exchange();
    const attempts = [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/%2e%2e%5csecret.txt',
      '/assets/%00.js',
      '/%252e%252e/secret.txt',
      '//etc/passwd',
      '/assets/../../../../etc/passwd',
    ];
    for (const path of attempts) {
      const response = await rawRequest(t.port, { path, headers: { authorization } });
      expect(response.text, path).not.toContain('outside the web root');
      expect(response.text, path).not.toContain('root:');
      expect([200, 400, 404], path).toContain(response.status);
      // Whatever came back is the page itself or a refusal, never another file.
      if (response.status === 200) expect(response.text, path).toContain('<title>console</title>');
    }
    const listing = await rawRequest(t.port, { path: '/assets/', headers: { authorization } });
    expect(listing.text).not.toContain('style.css');
    const missing = await rawRequest(t.port, { path: '/assets/missing.js', headers: { authorization } });
    expect(missing.status).toBe(404);
    // A route of the page (no extension) is the page.
    const route = await rawRequest(t.port, { path: '/connectors/demo', headers: { authorization } });
    expect(route.status).toBe(200);
    expect(route.text).toContain('<title>console</title>');
    const post = await rawRequest(t.port, {
      method: 'POST',
      path: '/',
      headers: { authorization, origin: t.console.origin },
    });
    expect(post.status).toBe(405);
  });
});
