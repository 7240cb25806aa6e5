/**
 * The demo's authorization server (src/demo/oauth-server.ts) and the demo MCP server in front of
 * it, end to end over real HTTP on loopback: metadata, registration, the login page, PKCE, the
 * code exchange, refresh rotation, revocation, and the protected MCP endpoint.
 */

import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import type { DemoAuthorizationServer } from '../../src/demo/oauth-server.js';

let demo: DemoServer;
let as: DemoAuthorizationServer;

beforeAll(async () => {
  demo = await startDemoServer({ oauth: true });
  as = demo.authorizationServer!;
});
afterAll(async () => {
  await demo.close();
});

const REDIRECT = 'http://localhost:53682/callback';

interface Registered {
  client_id: string;
  redirect_uris: string[];
  grant_types: string[];
  token_endpoint_auth_method: string;
  scope: string;
  client_name?: string;
}

async function register(metadata: Record<string, unknown> = {}): Promise<Response> {
  return fetch(as.endpoints.registration, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'test client',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...metadata,
    }),
  });
}

async function newClient(metadata: Record<string, unknown> = {}): Promise<Registered> {
  const response = await register(metadata);
  expect(response.status).toBe(201);
  return (await response.json()) as Registered;
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizationUrl(clientId: string, challenge: string, extra: Record<string, string> = {}): string {
  const url = new URL(as.endpoints.authorization);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'state-123',
    resource: demo.url,
    scope: 'mcp',
    ...extra,
  };
  for (const [key, value] of Object.entries(params)) if (value !== '') url.searchParams.set(key, value);
  return url.href;
}

/** The cookies one browser holds for the authorization server, and every Set-Cookie it was sent. */
class CookieJar {
  private readonly cookies = new Map<string, string>();
  readonly setCookies: string[] = [];

  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      this.setCookies.push(line);
      const pair = line.split(';', 1)[0]!;
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (!value || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

/** One request as a browser sends it: the jar's cookies, redirects not followed. */
async function browse(url: string, jar: CookieJar, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (jar.header()) headers.set('cookie', jar.header());
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.take(response);
  return response;
}

interface LoginPage {
  /** The authorization endpoint's own answer: a redirect to the login page, or an error. */
  authorization: Response;
  /** The login page (or, when the authorization endpoint did not send the browser there, its answer). */
  response: Response;
  html: string;
  /** Where the page's form posts. */
  action: string;
  jar: CookieJar;
}

/** The authorization URL opened in a fresh browser, following the redirect to this server's login page only. */
async function openLoginPage(url: string, server: DemoAuthorizationServer = as): Promise<LoginPage> {
  const jar = new CookieJar();
  const authorization = await browse(url, jar);
  const location = authorization.headers.get('location');
  const target = location ? new URL(location, url) : undefined;
  let response = authorization;
  if (target?.origin === server.issuer && target.pathname.startsWith('/interaction/')) {
    await authorization.body?.cancel();
    response = await browse(target.href, jar);
  }
  const html = await response.text();
  const action = /<form method="post" action="([^"]+)">/.exec(html)?.[1];
  return { authorization, response, html, action: action ? new URL(action, server.issuer).href : '', jar };
}

/**
 * The page's form posted as a browser would, following redirects within the authorization server
 * (back to its authorization endpoint): the answer that leaves it, or the page it shows.
 */
async function submit(
  page: LoginPage,
  fields: Record<string, string>,
  jar = page.jar,
  server: DemoAuthorizationServer = as,
): Promise<Response> {
  let response = await browse(page.action, jar, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  for (let hop = 0; hop < 5; hop++) {
    const location = response.headers.get('location');
    if (!location || response.status < 300 || response.status >= 400) break;
    const next = new URL(location, server.issuer);
    if (next.origin !== server.issuer) break;
    await response.body?.cancel();
    response = await browse(next.href, jar);
  }
  return response;
}

/** Through the login page with the right password: the redirect back to the client. */
async function authorize(clientId: string, challenge: string): Promise<URL> {
  const page = await openLoginPage(authorizationUrl(clientId, challenge));
  expect(page.response.status).toBe(200);
  const response = await submit(page, { username: 'demo', password: 'demo', decision: 'allow' });
  expect(response.status).toBe(303);
  return new URL(response.headers.get('location')!);
}

async function tokenRequest(
  params: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(as.endpoints.token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function exchange(client: Registered, code: string, verifier: string) {
  return tokenRequest({
    grant_type: 'authorization_code',
    client_id: client.client_id,
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    resource: demo.url,
  });
}

/** A fresh login: tokens from the code exchange. */
async function login(client: Registered): Promise<Record<string, unknown>> {
  const { verifier, challenge } = pkce();
  const back = await authorize(client.client_id, challenge);
  const result = await exchange(client, back.searchParams.get('code')!, verifier);
  expect(result.status).toBe(200);
  return result.body;
}

describe('metadata (RFC 8414)', () => {
  it('says where everything is, with PKCE S256, public clients and RFC 9207 iss', async () => {
    const response = await fetch(`${as.issuer}/.well-known/oauth-authorization-server`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const metadata = (await response.json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      issuer: as.issuer,
      authorization_endpoint: `${as.issuer}/authorize`,
      token_endpoint: `${as.issuer}/token`,
      registration_endpoint: `${as.issuer}/register`,
      revocation_endpoint: `${as.issuer}/revoke`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['none'],
      code_challenge_methods_supported: ['S256'],
      scopes_supported: ['mcp'],
      authorization_response_iss_parameter_supported: true,
    });
    expect(as.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses a foreign Host (DNS rebinding)', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      httpRequest(`${as.issuer}/.well-known/oauth-authorization-server`, {
        headers: { host: 'attacker.example' },
      })
        .once('response', (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .once('error', reject)
        .end();
    });
    expect(status).toBe(403);
  });
});

describe('dynamic client registration (RFC 7591)', () => {
  it('registers a public client with loopback redirect URIs', async () => {
    const client = await newClient();
    expect(client.client_id).toMatch(/^demo-client-/);
    expect(client).toMatchObject({
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
      scope: 'mcp',
    });
    expect(client).not.toHaveProperty('client_secret');
  });

  it.each([
    {
      name: 'an https redirect URI elsewhere',
      metadata: { redirect_uris: ['https://example.com/cb'] },
      error: 'invalid_redirect_uri',
    },
    { name: 'no redirect URI', metadata: { redirect_uris: [] }, error: 'invalid_redirect_uri' },
    {
      name: 'a redirect URI with a fragment',
      metadata: { redirect_uris: ['http://127.0.0.1:1/cb#x'] },
      error: 'invalid_redirect_uri',
    },
    {
      name: 'a confidential client',
      metadata: { token_endpoint_auth_method: 'client_secret_basic' },
      error: 'invalid_client_metadata',
    },
    {
      name: 'an unknown grant type',
      metadata: { grant_types: ['authorization_code', 'password'] },
      error: 'invalid_client_metadata',
    },
    { name: 'an unknown scope', metadata: { scope: 'mcp admin' }, error: 'invalid_client_metadata' },
  ])('refuses $name', async ({ metadata, error }) => {
    const response = await register(metadata);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error });
  });

  it('refuses a body that is not JSON', async () => {
    const response = await fetch(as.endpoints.registration, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(response.status).toBe(400);
    // oidc-provider: a body it cannot parse is a malformed request, before any metadata is read.
    expect(await response.json()).toMatchObject({ error: 'invalid_request' });
  });
});

describe('the authorization endpoint and its login page', () => {
  let client: Registered;
  beforeAll(async () => {
    client = await newClient({ client_name: '<script>alert("owned")</script> & co' });
  });

  it('shows a login page with the demo user, a strict CSP and every client string escaped', async () => {
    const page = await openLoginPage(authorizationUrl(client.client_id, pkce().challenge));
    expect(page.response.status).toBe(200);
    expect(page.response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = page.response.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toMatch(/script-src|unsafe-inline/);
    expect(csp).toContain("form-action 'self' http://localhost:53682");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.response.headers.get('x-frame-options')).toBe('DENY');
    expect(page.response.headers.get('cache-control')).toBe('no-store');
    // The client's name is text, never markup; the page itself has no script at all.
    expect(page.html).not.toContain('<script');
    expect(page.html).toContain('&#60;script&#62;alert(&#34;owned&#34;)&#60;/script&#62; &#38; co');
    // The demo user, the password on the page, and the form.
    expect(page.html).toContain('user name <code>demo</code>, password <code>demo</code>');
    // The page is oidc-provider's interaction: the form posts to the page's own URL.
    expect(page.authorization.status).toBe(303);
    expect(page.response.url).toMatch(new RegExp(`^${as.issuer}/interaction/[A-Za-z0-9_-]+$`));
    expect(page.html).toMatch(/<form method="post" action="\/interaction\/[A-Za-z0-9_-]+">/);
    expect(page.action).toBe(page.response.url);
    expect(page.html).toContain('type="password"');
    expect(page.html).toContain('value="allow">Allow</button>');
    // The cookies that tie the login to this browser (login CSRF, RFC 6749 §10.12).
    expect(page.jar.setCookies.length).toBeGreaterThan(0);
    for (const line of page.jar.setCookies) {
      expect(line).toMatch(/;\s*httponly/i);
      expect(line).toMatch(/;\s*samesite=strict/i);
    }
  });

  it('refuses a wrong password with the page again, and lets the right one through', async () => {
    const page = await openLoginPage(authorizationUrl(client.client_id, pkce().challenge));
    const wrong = await submit(page, { username: 'demo', password: 'guess', decision: 'allow' });
    expect(wrong.status).toBe(403);
    expect(wrong.headers.get('location')).toBeNull();
    expect(await wrong.text()).toContain('Wrong user name or password');
    const wrongUser = await submit(page, { username: 'root', password: 'demo', decision: 'allow' });
    expect(wrongUser.status).toBe(403);
    const right = await submit(page, { username: 'demo', password: 'demo', decision: 'allow' });
    expect(right.status).toBe(303);
    const back = new URL(right.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(back.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(back.searchParams.get('state')).toBe('state-123');
    expect(back.searchParams.get('iss')).toBe(as.issuer);
    // The page was used: submitting it again starts nothing.
    const again = await submit(page, { username: 'demo', password: 'demo', decision: 'allow' });
    expect(again.status).toBe(400);
  });

  it('gives up after five wrong passwords, with access_denied', async () => {
    const page = await openLoginPage(authorizationUrl(client.client_id, pkce().challenge));
    for (let i = 0; i < 4; i++) {
      expect((await submit(page, { username: 'demo', password: `no${i}`, decision: 'allow' })).status).toBe(
        403,
      );
    }
    const last = await submit(page, { username: 'demo', password: 'no', decision: 'allow' });
    expect(last.status).toBe(303);
    expect(new URL(last.headers.get('location')!).searchParams.get('error')).toBe('access_denied');
  });

  it('sends access_denied back when the user presses Deny', async () => {
    const page = await openLoginPage(authorizationUrl(client.client_id, pkce().challenge));
    const response = await submit(page, { decision: 'deny' });
    expect(response.status).toBe(303);
    const back = new URL(response.headers.get('location')!);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('state-123');
    expect(back.searchParams.get('iss')).toBe(as.issuer);
  });

  it('refuses a login form posted without the cookie of the browser that opened it', async () => {
    const page = await openLoginPage(authorizationUrl(client.client_id, pkce().challenge));
    const response = await submit(
      page,
      { username: 'demo', password: 'demo', decision: 'allow' },
      new CookieJar(),
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
  });

  it('accepts the registered loopback redirect URI on another port (RFC 8252), nothing else', async () => {
    const { challenge } = pkce();
    const otherPort = await openLoginPage(
      authorizationUrl(client.client_id, challenge, { redirect_uri: 'http://localhost:40000/callback' }),
    );
    expect(otherPort.response.status).toBe(200);
    for (const redirect of [
      'http://127.0.0.1:53682/callback', // another host
      'http://localhost:53682/other', // another path
      'http://localhost:53682/callback?x=1',
      'https://localhost:53682/callback',
    ]) {
      const page = await openLoginPage(
        authorizationUrl(client.client_id, challenge, { redirect_uri: redirect }),
      );
      expect(page.response.status, redirect).toBe(400);
      expect(page.response.headers.get('location')).toBeNull();
      expect(page.html).toContain('redirect_uri');
    }
  });

  it('shows an error page, never a redirect, for an unknown client', async () => {
    const page = await openLoginPage(authorizationUrl('demo-client-unknown', pkce().challenge));
    expect(page.response.status).toBe(400);
    expect(page.response.headers.get('location')).toBeNull();
    expect(page.html).toContain('not registered');
  });

  it.each<{ name: string; extra: Record<string, string>; error: string }>([
    { name: 'no PKCE', extra: { code_challenge: '', code_challenge_method: '' }, error: 'invalid_request' },
    { name: 'PKCE plain', extra: { code_challenge_method: 'plain' }, error: 'invalid_request' },
    { name: 'a malformed challenge', extra: { code_challenge: 'short' }, error: 'invalid_request' },
    { name: 'response_type=token', extra: { response_type: 'token' }, error: 'unsupported_response_type' },
    { name: 'another resource', extra: { resource: 'http://127.0.0.1:1/mcp' }, error: 'invalid_target' },
    { name: 'no resource', extra: { resource: '' }, error: 'invalid_target' },
    { name: 'an unknown scope', extra: { scope: 'mcp admin' }, error: 'invalid_scope' },
  ])('sends $error back for $name, with state and iss', async ({ extra, error }) => {
    const response = await fetch(authorizationUrl(client.client_id, pkce().challenge, extra), {
      redirect: 'manual',
    });
    expect(response.status).toBe(303);
    const back = new URL(response.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    // A request for response_type=token is answered in the fragment, that response type's default
    // response mode (RFC 6749 §4.2.2.1; OAuth 2.0 Multiple Response Type Encoding Practices §2.1).
    const params =
      extra.response_type === 'token' ? new URLSearchParams(back.hash.slice(1)) : back.searchParams;
    expect(params.get('error')).toBe(error);
    expect(params.get('state')).toBe('state-123');
    expect(params.get('iss')).toBe(as.issuer);
    expect(params.has('code')).toBe(false);
  });
});

describe('the token endpoint', () => {
  let client: Registered;
  beforeAll(async () => {
    client = await newClient();
  });

  it('exchanges a code with the right PKCE verifier for opaque tokens that the MCP server accepts', async () => {
    const tokens = await login(client);
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'mcp' });
    expect(tokens.access_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokens.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const grant = await as.verify(tokens.access_token as string, demo.url);
    expect(grant).toMatchObject({
      clientId: client.client_id,
      subject: 'demo',
      scope: 'mcp',
      resource: demo.url,
    });
    expect(grant!.expiresAt - Date.now()).toBeGreaterThan(3_500_000);
    expect(await as.verify(tokens.access_token as string, 'http://127.0.0.1:1/mcp')).toBeUndefined();
  });

  it('refuses a wrong verifier; the code stays for the one who holds the right one', async () => {
    const { verifier, challenge } = pkce();
    const code = (await authorize(client.client_id, challenge)).searchParams.get('code')!;
    const wrong = await exchange(client, code, pkce().verifier);
    expect(wrong.status).toBe(400);
    // oidc-provider says why only in its logs (error_detail), never to the client.
    expect(wrong.body).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
    // A failed PKCE check does not spend the code: whoever sent the wrong verifier cannot use it,
    // the client that holds the right one still can (RFC 7636 §4.6).
    const right = await exchange(client, code, verifier);
    expect(right.status).toBe(200);
    expect(await as.verify(right.body.access_token as string, demo.url)).toBeDefined();
  });

  it('refuses a code used twice, and revokes what its first use gave', async () => {
    const { verifier, challenge } = pkce();
    const code = (await authorize(client.client_id, challenge)).searchParams.get('code')!;
    const first = await exchange(client, code, verifier);
    expect(first.status).toBe(200);
    expect(await as.verify(first.body.access_token as string, demo.url)).toBeDefined();
    const second = await exchange(client, code, verifier);
    expect(second.status).toBe(400);
    expect(second.body).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
    expect(await as.verify(first.body.access_token as string, demo.url)).toBeUndefined();
    const refresh = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: client.client_id,
      refresh_token: first.body.refresh_token as string,
    });
    expect(refresh.body).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a code for another client, another redirect URI or another resource', async () => {
    const other = await newClient();
    const cases: Array<[Record<string, string>, string]> = [
      [{ client_id: other.client_id }, 'invalid_grant'],
      [{ redirect_uri: 'http://localhost:1/callback' }, 'invalid_grant'],
      [{ resource: 'http://127.0.0.1:1/mcp' }, 'invalid_target'],
    ];
    for (const [override, error] of cases) {
      const { verifier, challenge } = pkce();
      const code = (await authorize(client.client_id, challenge)).searchParams.get('code')!;
      const result = await tokenRequest({
        grant_type: 'authorization_code',
        client_id: client.client_id,
        code,
        code_verifier: verifier,
        redirect_uri: REDIRECT,
        ...override,
      });
      expect(result.status, JSON.stringify(override)).toBe(400);
      expect(result.body.error).toBe(error);
    }
  });

  it('refuses unknown clients, client secrets and unknown grant types', async () => {
    const unknown = await tokenRequest({ grant_type: 'authorization_code', client_id: 'nobody', code: 'x' });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toBe('invalid_client');
    const basic = await fetch(as.endpoints.token, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client.client_id}:secret`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: client.client_id }).toString(),
    });
    expect(basic.status).toBe(401);
    const password = await tokenRequest({ grant_type: 'password', client_id: client.client_id });
    expect(password.body.error).toBe('unsupported_grant_type');
    const json = await fetch(as.endpoints.token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(400);
  });

  it('rotates refresh tokens; the retired one presented again revokes the login', async () => {
    const first = await login(client);
    const refreshed = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: client.client_id,
      refresh_token: first.refresh_token as string,
      resource: demo.url,
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(refreshed.body.refresh_token).not.toBe(first.refresh_token);
    expect(refreshed.body.access_token).not.toBe(first.access_token);
    expect(await as.verify(refreshed.body.access_token as string, demo.url)).toBeDefined();

    // The new refresh token works once more…
    const again = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: client.client_id,
      refresh_token: refreshed.body.refresh_token as string,
    });
    expect(again.status).toBe(200);
    // …and the first one, replayed, is refused and ends the whole login.
    const replay = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: client.client_id,
      refresh_token: first.refresh_token as string,
    });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect(await as.verify(again.body.access_token as string, demo.url)).toBeUndefined();
    const after = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: client.client_id,
      refresh_token: again.body.refresh_token as string,
    });
    expect(after.body.error).toBe('invalid_grant');
  });

  it('refuses a refresh for a wider scope, another resource or another client', async () => {
    const tokens = await login(client);
    const other = await newClient();
    const wider = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: client.client_id,
      refresh_token: tokens.refresh_token as string,
      scope: 'mcp admin',
    });
    expect(wider.body.error).toBe('invalid_scope');
    const elsewhere = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: client.client_id,
      refresh_token: tokens.refresh_token as string,
      resource: 'http://127.0.0.1:1/mcp',
    });
    expect(elsewhere.body.error).toBe('invalid_target');
    const stolen = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: other.client_id,
      refresh_token: tokens.refresh_token as string,
    });
    expect(stolen.body.error).toBe('invalid_grant');
  });

  it('gives no refresh token to a client that did not register the refresh_token grant', async () => {
    const codeOnly = await newClient({ grant_types: ['authorization_code'] });
    const tokens = await login(codeOnly);
    expect(tokens.access_token).toBeDefined();
    expect(tokens).not.toHaveProperty('refresh_token');
  });
});

describe('revocation (RFC 7009)', () => {
  it('revoking the refresh token ends the login; unknown tokens are fine', async () => {
    const client = await newClient();
    const tokens = await login(client);
    const revoke = (token: string) =>
      fetch(as.endpoints.revocation, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          token,
          token_type_hint: 'refresh_token',
          client_id: client.client_id,
        }).toString(),
      });
    expect((await revoke(tokens.refresh_token as string)).status).toBe(200);
    expect(await as.verify(tokens.access_token as string, demo.url)).toBeUndefined();
    expect((await revoke('unknown')).status).toBe(200);
  });
});

describe('access tokens expire', () => {
  it('an access token past its lifetime is refused; the refresh token still works', async () => {
    // Two seconds: expiry is in whole seconds (oidc-provider), so a token lives between one and two.
    const short = await startDemoServer({ oauth: { accessTokenTtlSeconds: 2 } });
    try {
      const server = short.authorizationServer!;
      const registered = await fetch(server.endpoints.registration, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          redirect_uris: [REDIRECT],
          grant_types: ['authorization_code', 'refresh_token'],
        }),
      });
      const client = (await registered.json()) as Registered;
      const { verifier, challenge } = pkce();
      const url = new URL(server.endpoints.authorization);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        resource: short.url,
      }).toString();
      const page = await openLoginPage(url.href, server);
      const posted = await submit(
        page,
        { username: 'demo', password: 'demo', decision: 'allow' },
        page.jar,
        server,
      );
      const code = new URL(posted.headers.get('location')!).searchParams.get('code')!;
      const response = await fetch(server.endpoints.token, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          client_id: client.client_id,
          code,
          code_verifier: verifier,
          redirect_uri: REDIRECT,
        }),
      });
      const tokens = (await response.json()) as {
        access_token: string;
        refresh_token: string;
        expires_in: number;
      };
      expect(tokens.expires_in).toBe(2);
      expect(await server.verify(tokens.access_token, short.url)).toBeDefined();
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      expect(await server.verify(tokens.access_token, short.url)).toBeUndefined();
      const unauthorized = await fetch(short.url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokens.access_token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
      expect(unauthorized.status).toBe(401);
      expect(unauthorized.headers.get('www-authenticate')).toContain('error="invalid_token"');
      await unauthorized.text();
    } finally {
      await short.close();
    }
  });
});

describe('the demo MCP server with oauth', () => {
  const initialize = (headers: Record<string, string> = {}) =>
    fetch(demo.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
    });

  it('answers 401 with resource_metadata when no token is sent (RFC 9728 §5.1)', async () => {
    const response = await initialize();
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${demo.resourceMetadataUrl}"`,
    );
    expect(demo.resourceMetadataUrl).toBe(
      `${new URL(demo.url).origin}/.well-known/oauth-protected-resource/mcp`,
    );
    await response.text();
  });

  it('answers 401 invalid_token for a token it does not know', async () => {
    const response = await initialize({ authorization: 'Bearer not-a-token' });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(
      /^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"$/,
    );
    await response.text();
  });

  it('serves its protected resource metadata naming the embedded authorization server (RFC 9728 §3)', async () => {
    const response = await fetch(demo.resourceMetadataUrl!);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      resource: demo.url,
      authorization_servers: [as.issuer],
      scopes_supported: ['mcp'],
      bearer_methods_supported: ['header'],
      resource_name: 'patchbay demo server',
    });
  });

  it('serves MCP with a valid token: 200, and a real client can call echo', async () => {
    const tokens = await login(await newClient());
    const authorization = `Bearer ${tokens.access_token as string}`;
    const response = await initialize({ authorization });
    expect(response.status).toBe(200);
    await response.text();

    const client = new Client({ name: 'demo-oauth-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(demo.url), { requestInit: { headers: { authorization } } }),
    );
    try {
      const result = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
      expect(result.content).toEqual([{ type: 'text', text: 'hi' }]);
    } finally {
      await client.close();
    }
  });

  it('still refuses a foreign Origin before looking at the token', async () => {
    const response = await initialize({ origin: 'https://attacker.example' });
    expect(response.status).toBe(403);
    await response.text();
  });

  it('refuses OAuth off loopback', async () => {
    await expect(startDemoServer({ host: '0.0.0.0', oauth: true })).rejects.toThrow(/loopback only/);
  });
});
