/**
 * A member's upstream login is refreshed as patchbay refreshes every login: before it expires,
 * once for many concurrent calls (single flight), with a rotating refresh token, and only with
 * that member's refresh token.
 */

import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { launchChromium } from '../helpers/browser.js';
import { startTeamGateway, type TeamGateway } from '../helpers/team-gateway.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';

let as: AuthorizationServer;
let upstream: ProtectedMcpServer;
let team: TeamGateway;
let browser: Browser;

beforeAll(async () => {
  as = await startAuthorizationServer({ accessTokenTtlSeconds: 4, rotateRefreshTokens: true });
  upstream = await startProtectedMcpServer({ authorizationServer: as });
  team = await startTeamGateway([
    { name: 'tickets', entry: { transport: 'http', url: upstream.url, perMember: true } },
  ]);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await team?.close();
  await upstream?.close();
  await as?.close();
});

async function host(bearer: string): Promise<Client> {
  const client = new Client(
    { name: 'test-host', version: '1.0.0' },
    { versionNegotiation: { mode: 'legacy' } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(team.url), {
      requestInit: { headers: { Authorization: `Bearer ${bearer}` } },
    }),
  );
  return client;
}

const echo = (client: Client, text: string) =>
  client.callTool({ name: 'tickets__echo', arguments: { text } }, { timeout: 60_000 });

async function signedIn(bearer: string, account: string): Promise<Client> {
  const client = await host(bearer);
  const refused = (await echo(client, 'first').catch((error: unknown) => error)) as ProtocolError;
  expect(refused.code).toBe(-32042);
  const link = /(http:\/\/\S+\/signin\/[\w-]{22})/.exec(refused.message)![1]!;
  as.account = account;
  const context = await browser.newContext();
  await context.route(`${team.origin}/**`, (route) =>
    route.continue({ headers: { ...route.request().headers(), authorization: `Bearer ${bearer}` } }),
  );
  const page = await context.newPage();
  await page.goto(link);
  await page.waitForURL(/\/signin\/callback/);
  expect(await page.locator('body').innerText()).toContain('Signed in');
  await context.close();
  return client;
}

const subjects = () =>
  upstream.requests
    .filter((request) => request.rpcMethods?.includes('tools/call') && request.status === 200)
    .map((request) => request.subject);

describe("a member's upstream login", () => {
  it('is refreshed once for many concurrent calls, with its own refresh token', async () => {
    const alice = await signedIn('alice-token', 'alice');
    const bob = await signedIn('bob-token', 'bob');
    try {
      await echo(alice, 'a0');
      await echo(bob, 'b0');
      expect(as.tokenRequests('refresh_token')).toBe(0);
      // Past the renewal point (a quarter of the 4 s lifetime before expiry).
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      const before = subjects().length;
      const results = await Promise.all(Array.from({ length: 5 }, (_, i) => echo(alice, `a${i + 1}`)));
      for (const result of results) expect(result.isError ?? false).toBe(false);
      expect(as.tokenRequests('refresh_token')).toBe(1);
      expect(subjects().slice(before)).toEqual(Array(5).fill('alice'));
      // Bob's login renews on its own, with bob's refresh token (a rotated one of alice's would revoke hers).
      await echo(bob, 'b1');
      expect(as.tokenRequests('refresh_token')).toBe(2);
      await echo(alice, 'a6');
      expect(subjects().slice(-2)).toEqual(['bob', 'alice']);
      expect(as.serverErrors).toEqual([]);

      // The upstream's administrator revokes everything: once the token lapses, the member is sent
      // to sign in again (not told to run `patchbay login`), and the link is gone until then.
      as.revokeAll();
      // Bob's last access token stays good until it lapses (the upstream checks it offline); under
      // load its renewal point comes later than a fixed wait, so bob calls until it does (bounded).
      const deadline = Date.now() + 15_000;
      let again: unknown;
      do {
        await new Promise((resolve) => setTimeout(resolve, 500));
        again = await echo(bob, 'b2').catch((error: unknown) => error);
      } while (!(again instanceof ProtocolError) && Date.now() < deadline);
      expect(
        (again as ProtocolError).code,
        `not sent to sign in again: ${String((again as { message?: unknown }).message ?? JSON.stringify(again))}`,
      ).toBe(-32042);
      expect(await team.vault.links({ member: 'bob' })).toEqual([]);
      expect(await team.vault.links({ member: 'alice' })).toHaveLength(1);
    } finally {
      await alice.close();
      await bob.close();
    }
  }, 90_000);
});
