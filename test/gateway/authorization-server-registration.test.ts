/**
 * The bounds on open dynamic registration at the gateway's own authorization server (real
 * oidc-provider, real sockets on loopback): a rate per client address (429 with Retry-After; the
 * address is the socket's, or the client a trusted proxy names) and a cap on registered clients
 * (403 access_denied), both in the RFC 7591 error shape and saying what to do; a client ID metadata
 * document is neither. The organisation's IdP is never reached: no member signs in here.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import {
  startAuthorizationServer,
  type GatewayAuthorizationServer,
} from '../../src/gateway/authorization-server/index.js';
import { prefix64, RegistrationLimits } from '../../src/gateway/authorization-server/registration.js';
import { parseDeployment, type RegistrationBounds } from '../../src/gateway/deployment.js';
import { TrustedProxies } from '../../src/gateway/proxies.js';
import { startInProcessGateway } from '../helpers/in-process-gateway.js';
import { FileState } from '../../src/state/files.js';
import { RedisState } from '../../src/state/redis.js';
import type { StateStore } from '../../src/state/store.js';
import { fetchOnLoopback } from '../fixtures/oauth/authorization-server.js';
import { startClientMetadataServer } from '../fixtures/oauth/client-metadata-server.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Never reached: registration involves no member sign-in. */
const IDP = 'http://127.0.0.1:9';
const HOST_CALLBACK = 'http://127.0.0.1:9/callback';
const CLIENT = {
  client_name: 'patchbay test host',
  redirect_uris: [HOST_CALLBACK],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
};

function temporaryDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'patchbay-as-reg-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** POST `<issuer>/reg`, from `localAddress` (another loopback address is another client). */
function register(
  origin: string,
  options: { localAddress?: string; headers?: Record<string, string>; path?: string } = {},
): Promise<Answer> {
  const body = JSON.stringify(CLIENT);
  return new Promise((resolve, reject) => {
    const req = request(
      `${origin}${options.path ?? '/oauth/reg'}`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'content-length': Buffer.byteLength(body),
          ...options.headers,
        },
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The authorization server's routes on a listener of their own, as http.ts dispatches them. */
async function ownServer(
  registration: RegistrationBounds,
  options: { state?: StateStore; trustedProxies?: TrustedProxies; withDocuments?: boolean } = {},
): Promise<{ server: GatewayAuthorizationServer; origin: string }> {
  const state = options.state ?? new FileState(join(temporaryDirectory(), 'state'));
  const mounted: { server?: GatewayAuthorizationServer } = {};
  const listener = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const route = mounted.server?.routes.find((candidate) =>
      candidate.path.endsWith('/') ? path.startsWith(candidate.path) : path === candidate.path,
    );
    if (!route) return void res.writeHead(404).end();
    void route.handle(req, res);
  });
  // Every loopback address: a client on 127.0.0.2 is another address than one on 127.0.0.1.
  await new Promise<void>((resolve) => listener.listen(0, '0.0.0.0', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        listener.close(() => resolve());
        listener.closeAllConnections();
      }),
  );
  const origin = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
  const server = (mounted.server = await startAuthorizationServer({
    settings: {
      idp: { issuer: new URL(IDP), clientId: 'patchbay', clientSecret: 'unused', scopes: ['openid'] },
      scopes: ['mcp'],
      claims: { subject: 'sub', email: 'email', groups: 'groups', groupNames: {} },
      accessTokenTtlSeconds: 300,
      refreshTokenTtlSeconds: 3600,
      registration,
    },
    state,
    resource: new URL('/mcp', origin),
    ...(options.trustedProxies ? { trustedProxies: options.trustedProxies } : {}),
    ...(options.withDocuments
      ? { clientDocuments: { allow: (url: URL) => url.hostname === '127.0.0.1', fetch: fetchOnLoopback } }
      : {}),
  }));
  return { server, origin };
}

const generous = { count: 1000, perMs: 60_000 };

describe("open registration at the gateway's own authorization server", () => {
  it('refuses the N+1th registration from one address within the window with 429 and Retry-After; another address registers', async () => {
    const { origin } = await ownServer({ rate: { count: 3, perMs: 60_000 }, maxClients: 100 });
    for (let index = 0; index < 3; index++) {
      const answer = await register(origin);
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      expect(answer.body.client_id).toBeTypeOf('string');
    }
    const refused = await register(origin);
    expect(refused.status).toBe(429);
    // One token comes back every 20 s.
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(20);
    expect(refused.headers['content-type']).toMatch(/^application\/json/);
    expect(refused.body).toEqual({
      error: 'temporarily_unavailable',
      error_description: expect.stringMatching(/at most 3 per minute\)\. Try again in \d+ s/),
    });
    expect(refused.body.error_description).toContain('auth.authorizationServer.registration.rate');
    // oidc-provider's router takes the path in any case and with a trailing slash: so does the bound.
    expect((await register(origin, { path: '/oauth/REG/' })).status).toBe(429);
    // Another client address has a bucket of its own.
    const other = await register(origin, { localAddress: '127.0.0.2' });
    expect(other.status, JSON.stringify(other.body)).toBe(201);
  });

  it("counts behind a trusted proxy by the client it names, and ignores an untrusted peer's X-Forwarded-For", async () => {
    const { origin } = await ownServer(
      { rate: { count: 2, perMs: 3_600_000 }, maxClients: 100 },
      { trustedProxies: new TrustedProxies(['127.0.0.1']) },
    );
    const from = (client: string) => ({ headers: { 'x-forwarded-for': client } });
    expect((await register(origin, from('203.0.113.5'))).status).toBe(201);
    expect((await register(origin, from('203.0.113.5'))).status).toBe(201);
    const refused = await register(origin, from('203.0.113.5'));
    expect(refused.status).toBe(429);
    // A token every 30 minutes.
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(1000);
    expect(refused.body.error_description).toContain('at most 2 per hour');
    expect((await register(origin, from('203.0.113.6'))).status).toBe(201);
    // One IPv6 host holds a whole /64: its addresses share a bucket.
    expect((await register(origin, from('2001:db8:1:2::a'))).status).toBe(201);
    expect((await register(origin, from('2001:db8:1:2::b'))).status).toBe(201);
    expect((await register(origin, from('2001:db8:1:2:ffff::c'))).status).toBe(429);
    expect((await register(origin, from('2001:db8:1:3::a'))).status).toBe(201);
    // 127.0.0.2 is no trusted proxy: what it says about the client is not believed.
    const untrusted = { localAddress: '127.0.0.2', ...from('198.51.100.1') };
    expect((await register(origin, untrusted)).status).toBe(201);
    expect((await register(origin, untrusted)).status).toBe(201);
    expect((await register(origin, { ...untrusted, ...from('198.51.100.2') })).status).toBe(429);
  });

  it('refuses registration once the cap is reached, with a clear error; a client ID metadata document still signs in', async () => {
    const documents = await startClientMetadataServer();
    cleanups.push(() => documents.close());
    const clientId = documents.publish(CLIENT);
    const { origin } = await ownServer({ rate: generous, maxClients: 2 }, { withDocuments: true });
    expect((await register(origin)).status).toBe(201);
    expect((await register(origin, { localAddress: '127.0.0.2' })).status).toBe(201);
    for (const localAddress of ['127.0.0.1', '127.0.0.3']) {
      const refused = await register(origin, { localAddress });
      expect(refused.status).toBe(403);
      expect(refused.headers['retry-after']).toBeUndefined();
      expect(refused.body).toEqual({
        error: 'access_denied',
        error_description: expect.stringContaining('registered clients as it keeps (2)'),
      });
      expect(refused.body.error_description).toContain(
        'raise auth.authorizationServer.registration.maxClients',
      );
    }
    // Not registered, not counted: its authorization request goes on to the member's sign-in.
    const authorization = new URL('/oauth/auth', origin);
    for (const [name, value] of Object.entries({
      client_id: clientId,
      redirect_uri: HOST_CALLBACK,
      response_type: 'code',
      scope: 'mcp',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'xyz',
    }))
      authorization.searchParams.set(name, value);
    const answer = await fetch(authorization, { redirect: 'manual' });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toMatch(/\/oauth\/interaction\//);
    expect(documents.requests.length).toBeGreaterThanOrEqual(1);
  });

  it('counts the clients registered before the cap existed', async () => {
    const state = new FileState(join(temporaryDirectory(), 'state'));
    const clients = state.records<unknown>('as-client', { secret: true });
    for (const id of ['old-1', 'old-2'])
      await clients.put(id, { payload: { client_id: id, redirect_uris: [HOST_CALLBACK] } });
    const { origin } = await ownServer({ rate: generous, maxClients: 3 }, { state });
    expect((await register(origin)).status).toBe(201);
    expect((await register(origin)).status).toBe(403);
  });

  it('keeps the cap under concurrent registrations: exactly the cap is stored', async () => {
    const { origin } = await ownServer({ rate: generous, maxClients: 3 });
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, index) => register(origin, { localAddress: `127.0.0.${index + 1}` })),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses).toEqual([201, 201, 201, 403, 403, 403, 403, 403]);
    // Those that passed the first look and lost at the store are told the same as the others.
    for (const answer of answers.filter((one) => one.status === 403))
      expect(answer.body).toEqual({
        error: 'access_denied',
        error_description: expect.stringContaining('registration.maxClients'),
      });
  });
});

describe('the registration cap across replicas (one Redis)', () => {
  let redis: RedisServer;
  const stores: StateStore[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await redis?.close();
  });

  it('admits exactly maxClients of many claims made at once by two replicas', async () => {
    const [one, two] = await Promise.all([RedisState.connect(redis.url), RedisState.connect(redis.url)]);
    stores.push(one, two);
    const bounds = { rate: generous, maxClients: 5 };
    const replicas = [new RegistrationLimits(bounds, one), new RegistrationLimits(bounds, two)];
    const refusals = await Promise.all(
      Array.from({ length: 12 }, (_, index) => replicas[index % 2]!.claim()),
    );
    expect(refusals.filter((refusal) => refusal === undefined)).toHaveLength(5);
    expect(refusals.filter((refusal) => refusal?.status === 403)).toHaveLength(7);
    // A claimed client that was not stored gives its place back.
    await replicas[0]!.release();
    expect(await replicas[1]!.claim()).toBeUndefined();
    expect(await replicas[0]!.claim()).toMatchObject({ status: 403, error: 'access_denied' });
  });
});

describe('an IPv6 client counts by its /64', () => {
  it.each([
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002::', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ])('%s → %s', (address, prefix) => {
    expect(prefix64(address)).toBe(prefix);
  });
});

describe('a team gateway from its deployment file', () => {
  it('bounds registration as the file says, counting the client its trusted proxy names', async () => {
    const home = temporaryDirectory();
    const env = {
      HOME: home,
      XDG_CONFIG_HOME: join(home, 'config'),
      XDG_DATA_HOME: join(home, 'data'),
      XDG_STATE_HOME: join(home, 'state'),
      XDG_CACHE_HOME: join(home, 'cache'),
      IDP_SECRET: 'unused',
    };
    const deployment = parseDeployment(
      `{
        "trustedProxies": ["127.0.0.1"],
        "auth": {
          "authorizationServer": {
            "idp": { "issuer": "${IDP}", "clientId": "patchbay", "clientSecret": "\${IDP_SECRET}" },
            "registration": { "rate": "2/hour", "maxClients": 3 }
          }
        }
      }`,
      join(home, 'patchbay.jsonc'),
      env,
    );
    const paths = resolvePaths(env);
    const gateway = await startInProcessGateway({
      env,
      home,
      paths,
      options: { deployment, trustedProxies: deployment.trustedProxies, timeoutMs: 5_000 },
    });
    cleanups.push(() => gateway.stop());
    const origin = new URL(gateway.url).origin;
    const from = (client: string) => ({ headers: { 'x-forwarded-for': client } });
    expect((await register(origin, from('203.0.113.7'))).status).toBe(201);
    expect((await register(origin, from('203.0.113.7'))).status).toBe(201);
    const refused = await register(origin, from('203.0.113.7'));
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
    expect((await register(origin, from('203.0.113.8'))).status).toBe(201);
    const full = await register(origin, from('203.0.113.9'));
    expect(full.status).toBe(403);
    expect(full.body.error).toBe('access_denied');
  });
});
