/**
 * A member's upstream refresh is single flight across replicas (#20): three `serve --config`
 * replicas of the built binary on one Redis behind haproxy (round-robin per request, no affinity),
 * a perMember upstream behind a real authorization server that rotates refresh tokens. Twenty
 * concurrent calls of one member whose upstream token has expired, spread over the replicas,
 * make exactly one refresh request at the authorization server, and every call succeeds.
 */

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';
import { launchChromium } from '../helpers/browser.js';
import { hasRedis, startRedis, type RedisServer } from '../helpers/redis.js';
import {
  balancerPort,
  hasHaproxy,
  REPLICA_HEADER,
  startReplicas,
  type Replicas,
} from '../helpers/replicas.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

/** Long enough for sign-in and warm-up calls on a busy machine, short enough to wait out. */
const ACCESS_TTL_S = 8;

let sandbox: Sandbox;
let as: AuthorizationServer;
let upstream: ProtectedMcpServer;
let redis: RedisServer;
let replicas: Replicas;
let browser: Browser;
let aliceKey: string;

const ready = hasRedis() && hasHaproxy();

beforeAll(async () => {
  if (!ready) return;
  sandbox = await createSandbox();
  [as, redis] = await Promise.all([
    startAuthorizationServer({ accessTokenTtlSeconds: ACCESS_TTL_S, rotateRefreshTokens: true }),
    startRedis(),
  ]);
  upstream = await startProtectedMcpServer({ authorizationServer: as });
  await sandbox.run(['add', 'crm', upstream.url]);
  expect((await sandbox.run(['set', 'crm', 'per-member', 'true'])).code).toBe(0);
  // The key lives where the replicas look it up: in Redis.
  const made = await sandbox.run([
    'keys',
    'create',
    'alice-laptop',
    '--member',
    'alice',
    '--state',
    redis.url,
  ]);
  expect(made.code, made.stderr).toBe(0);
  aliceKey = made.stdout.trim();
  // The balancer's port first: hosts and the authorization server's redirect reach the replicas there.
  const port = await balancerPort();
  const config = join(sandbox.root, 'deployment.jsonc');
  await writeFile(
    config,
    JSON.stringify({
      auth: { apiKeys: true },
      vault: { key: 'env:PATCHBAY_VAULT_KEY' },
      publicUrl: `http://127.0.0.1:${port}`,
    }),
  );
  sandbox.env.PATCHBAY_VAULT_KEY = randomBytes(32).toString('base64');
  replicas = await startReplicas(sandbox, { redis, port, args: ['--config', config] });
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await replicas?.close();
  await redis?.close();
  await upstream?.close();
  await as?.close();
  await sandbox?.cleanup();
});

/** A 2026-era host (no session): each request may land on any replica; which one is noted. */
async function host(served: string[]): Promise<Client> {
  const client = new Client(
    { name: 'test-host', version: '1.0.0' },
    { versionNegotiation: { mode: 'auto' } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(replicas.url), {
      requestInit: { headers: { Authorization: `Bearer ${aliceKey}` } },
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        const replica = response.headers.get(REPLICA_HEADER);
        if (replica) served.push(replica);
        return response;
      },
    }),
  );
  return client;
}

const echo = (client: Client, text: string) =>
  client.callTool({ name: 'crm__echo', arguments: { text } }, { timeout: 60_000 });

async function signIn(link: string): Promise<string> {
  as.account = 'alice';
  const context = await browser.newContext();
  await context.route(`http://127.0.0.1:${replicas.port}/**`, (route) =>
    route.continue({ headers: { ...route.request().headers(), authorization: `Bearer ${aliceKey}` } }),
  );
  try {
    const page = await context.newPage();
    await page.goto(link);
    await page.waitForURL(/\/signin\/callback/);
    return await page.locator('body').innerText();
  } finally {
    await context.close();
  }
}

describe.skipIf(!ready)("a member's upstream refresh across three replicas", () => {
  it('20 concurrent calls with an expired upstream token: one refresh request at the AS, every call served', async () => {
    const served: string[] = [];
    const alice = await host(served);
    try {
      // A 2026-era host without URL elicitation is told where to sign in, in the tool result.
      const refused = await echo(alice, 'first');
      expect(refused.isError).toBe(true);
      const link = /(http:\/\/\S+\/signin\/[\w-]{22})/.exec(JSON.stringify(refused.content))![1]!;
      expect(await signIn(link)).toContain('Signed in');
      const signedInAt = Date.now();
      // Every replica opens its upstream connection with the first token (round-robin: 3 in a row).
      for (let i = 0; i < 3; i++) await echo(alice, `warm ${i}`);
      expect(as.tokenRequests('refresh_token')).toBe(0);

      // Past the access token's end: every replica sees it expired.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, signedInAt + ACCESS_TTL_S * 1000 + 500 - Date.now())),
      );
      served.length = 0;
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => echo(alice, `call ${i}`)));
      for (const result of results)
        expect(result.isError ?? false, JSON.stringify(result.content)).toBe(false);
      expect(new Set(served)).toEqual(new Set(['r0', 'r1', 'r2']));
      expect(as.tokenRequests('refresh_token')).toBe(1);
      expect(as.serverErrors).toEqual([]);
    } finally {
      await alice.close();
    }
  }, 120_000);
});
