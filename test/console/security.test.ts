/**
 * Who may use the console and what every response carries: the one-time token exchanged for an
 * HttpOnly SameSite=Strict cookie, the cookie required everywhere, Host and Origin refusals (DNS
 * rebinding, other sites), CSRF, bodies, the strict CSP, and static files that never leave the
 * web root.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CONTENT_SECURITY_POLICY } from '../../src/console/security.js';
import { rawRequest, startTestConsole, type TestConsole } from './helpers.js';

let t: TestConsole;
beforeEach(async () => {
  t = await startTestConsole({ exchange: false });
});
afterEach(async () => {
  await t.close();
});

const tokenOf = (url: string) => new URL(url).searchParams.get('token')!;

async function exchange(): Promise<string> {
  const response = await rawRequest(t.port, { path: `/?token=${tokenOf(t.console.url)}` });
  expect(response.status).toBe(303);
  return String(response.headers['set-cookie']![0]).split(';', 1)[0]!;
}

describe('the token and the session cookie', () => {
  it('prints a loopback URL with a 32-byte base64url token', () => {
    expect(t.console.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
    expect(t.console.origin).toBe(`http://127.0.0.1:${t.port}`);
  });

  it('no token, no cookie: 401 for the page and the API', async () => {
    const page = await rawRequest(t.port, { path: '/' });
    expect(page.status).toBe(401);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('Open the URL patchbay ui printed');
    const asset = await rawRequest(t.port, { path: '/assets/app.js' });
    expect(asset.status).toBe(401);
    const api = await rawRequest(t.port, { path: '/api/servers' });
    expect(api.status).toBe(401);
    expect(JSON.parse(api.text)).toEqual({ error: expect.objectContaining({ code: 'no-session' }) });
  });

  it('a wrong token is refused and sets nothing', async () => {
    const wrong = await rawRequest(t.port, { path: '/?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
  });

  it('the token works once, for an HttpOnly SameSite=Strict cookie, and is then spent', async () => {
    const first = await rawRequest(t.port, { path: `/?token=${tokenOf(t.console.url)}` });
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/');
    const setCookie = String(first.headers['set-cookie']![0]);
    // Named with the port: two consoles on 127.0.0.1 keep their own sessions.
    expect(setCookie).toMatch(
      new RegExp(`^patchbay_console_${t.port}=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=/$`),
    );
    const again = await rawRequest(t.port, { path: `/?token=${tokenOf(t.console.url)}` });
    expect(again.status).toBe(401);
    expect(again.headers['set-cookie']).toBeUndefined();
    // With the session, the spent token in a reloaded tab only goes away.
    const cookie = setCookie.split(';', 1)[0]!;
    const reload = await rawRequest(t.port, {
      path: `/?token=${tokenOf(t.console.url)}`,
      headers: { cookie },
    });
    expect(reload.status).toBe(303);
    expect(reload.headers['set-cookie']).toBeUndefined();
  });

  it('the cookie opens the page, its assets and the API; another value does not', async () => {
    const cookie = await exchange();
    const page = await rawRequest(t.port, { path: '/', headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.text).toContain('<script src="/assets/app.js">');
    const script = await rawRequest(t.port, { path: '/assets/app.js', headers: { cookie } });
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    const css = await rawRequest(t.port, { path: '/assets/style.css', headers: { cookie } });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const api = await rawRequest(t.port, { path: '/api/session', headers: { cookie } });
    expect(api.status).toBe(200);
    expect(JSON.parse(api.text)).toMatchObject({ version: '0.0.0-test', projectRoot: t.sandbox.project });
    const forged = await rawRequest(t.port, {
      path: '/api/session',
      headers: { cookie: `patchbay_console_${t.port}=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA` },
    });
    expect(forged.status).toBe(401);
  });

  it('a page load from another site (the OAuth callback page) is sent round again, same-site', async () => {
    const bounced = await rawRequest(t.port, {
      path: '/',
      headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' },
    });
    expect(bounced.status).toBe(200);
    expect(bounced.text).toContain('<meta http-equiv="refresh" content="0;url=/">');
    // The second load is same-origin: without a cookie it is refused, not bounced forever.
    const second = await rawRequest(t.port, {
      path: '/',
      headers: { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'navigate' },
    });
    expect(second.status).toBe(401);
    // An API request from another site is never bounced.
    const api = await rawRequest(t.port, {
      path: '/api/servers',
      headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' },
    });
    expect(api.status).toBe(403);
  });
});

describe('Host and Origin', () => {
  it('refuses a Host that is not this console (DNS rebinding), even with the session', async () => {
    const cookie = await exchange();
    for (const host of [
      'evil.example.com',
      `evil.example.com:${t.port}`,
      `127.0.0.1:${t.port + 1}`,
      '127.0.0.1',
    ]) {
      const page = await rawRequest(t.port, { path: '/', headers: { host, cookie } });
      expect(page.status, host).toBe(403);
      const api = await rawRequest(t.port, { path: '/api/servers', headers: { host, cookie } });
      expect(api.status, host).toBe(403);
      expect(JSON.parse(api.text).error.code).toBe('forbidden-host');
    }
    // The token is not exchanged through a foreign Host either.
    const token = await rawRequest(t.port, {
      path: `/?token=${tokenOf(t.console.url)}`,
      headers: { host: `attacker.example:${t.port}` },
    });
    expect(token.status).toBe(403);
    expect(token.headers['set-cookie']).toBeUndefined();
    const local = await rawRequest(t.port, {
      path: '/api/session',
      headers: { host: `localhost:${t.port}`, cookie },
    });
    expect(local.status).toBe(200);
  });

  it('refuses a request from another Origin', async () => {
    const cookie = await exchange();
    for (const origin of ['https://evil.example.com', `http://127.0.0.1:${t.port + 1}`, 'null']) {
      const get = await rawRequest(t.port, { path: '/api/servers', headers: { cookie, origin } });
      expect(get.status, origin).toBe(403);
      expect(JSON.parse(get.text).error.code).toBe('forbidden-origin');
      const post = await rawRequest(t.port, {
        method: 'POST',
        path: '/api/servers',
        headers: { cookie, origin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x', url: 'https://x.example.com/mcp' }),
      });
      expect(post.status, origin).toBe(403);
    }
    const same = await rawRequest(t.port, {
      path: '/api/session',
      headers: { cookie, origin: t.console.origin },
    });
    expect(same.status).toBe(200);
  });

  it('a change without Origin or Sec-Fetch-Site: same-origin is refused (CSRF)', async () => {
    const cookie = await exchange();
    const body = JSON.stringify({ name: 'csrf', url: 'https://x.example.com/mcp' });
    const bare = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/servers',
      headers: { cookie, 'content-type': 'application/json' },
      body,
    });
    expect(bare.status).toBe(403);
    const crossSite = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/servers',
      headers: { cookie, 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' },
      body,
    });
    expect(crossSite.status).toBe(403);
    const deletion = await rawRequest(t.port, {
      method: 'DELETE',
      path: '/api/servers/csrf',
      headers: { cookie },
    });
    expect(deletion.status).toBe(403);
    // Nothing was written.
    const list = await rawRequest(t.port, { path: '/api/servers', headers: { cookie } });
    expect(JSON.parse(list.text)).toEqual([]);
    // Sec-Fetch-Site: same-origin alone is enough.
    const same = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/servers',
      headers: { cookie, 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body,
    });
    expect(same.status).toBe(201);
  });

  it('bodies are JSON and at most 1 MiB', async () => {
    const cookie = await exchange();
    const headers = { cookie, origin: t.console.origin };
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
  it('the strict CSP, nosniff, no referrer; no-store on the API', async () => {
    const cookie = await exchange();
    const responses = await Promise.all([
      rawRequest(t.port, { path: '/' }),
      rawRequest(t.port, { path: '/', headers: { cookie } }),
      rawRequest(t.port, { path: '/assets/app.js', headers: { cookie } }),
      rawRequest(t.port, { path: '/api/servers', headers: { cookie } }),
      rawRequest(t.port, { path: '/api/servers' }),
      rawRequest(t.port, { path: '/api/nothing-here', headers: { cookie } }),
      rawRequest(t.port, { path: '/', headers: { host: 'evil.example.com' } }),
    ]);
    for (const response of responses) {
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
    const cookie = await exchange();
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
      const response = await rawRequest(t.port, { path, headers: { cookie } });
      expect(response.text, path).not.toContain('outside the web root');
      expect(response.text, path).not.toContain('root:');
      expect([200, 400, 404], path).toContain(response.status);
      // Whatever came back is the page itself or a refusal, never another file.
      if (response.status === 200) expect(response.text, path).toContain('<title>console</title>');
    }
    const listing = await rawRequest(t.port, { path: '/assets/', headers: { cookie } });
    expect(listing.text).not.toContain('style.css');
    const missing = await rawRequest(t.port, { path: '/assets/missing.js', headers: { cookie } });
    expect(missing.status).toBe(404);
    // A route of the page (no extension) is the page.
    const route = await rawRequest(t.port, { path: '/connectors/demo', headers: { cookie } });
    expect(route.status).toBe(200);
    expect(route.text).toContain('<title>console</title>');
    const post = await rawRequest(t.port, {
      method: 'POST',
      path: '/',
      headers: { cookie, origin: t.console.origin },
    });
    expect(post.status).toBe(405);
  });
});
