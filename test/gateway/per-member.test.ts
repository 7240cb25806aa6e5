/**
 * Each member's own upstream login, end to end on loopback: a real OAuth authorization server
 * (oidc-provider) in front of an OAuth-protected MCP server that records whose token each call
 * carried, the team gateway in this process (test authenticator: alice and bob), the SDK client
 * as each member's host, and Chromium as each member's browser.
 */

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MemberVault } from '../../src/auth/member-vault.js';
import { pendingContext } from '../../src/gateway/signin.js';
import { readAudit } from '../../src/policy/audit.js';
import { FileState } from '../../src/state/files.js';
import { launchChromium } from '../helpers/browser.js';
import { startTeamGateway, type TeamGateway } from '../helpers/team-gateway.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';

const JWT = /eyJ[\w-]+\.[\w-]+\./;

let as: AuthorizationServer;
let upstream: ProtectedMcpServer;
let team: TeamGateway;
let browser: Browser;
const contexts = new Map<string, BrowserContext>();

beforeAll(async () => {
  as = await startAuthorizationServer();
  upstream = await startProtectedMcpServer({ authorizationServer: as });
  team = await startTeamGateway([
    { name: 'crm', entry: { transport: 'http', url: upstream.url, perMember: true } },
  ]);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await team?.close();
  await upstream?.close();
  await as?.close();
});

/** A member's own browser: its requests to the gateway carry the member's bearer, nothing else does. */
async function browserOf(bearer: string): Promise<BrowserContext> {
  let context = contexts.get(bearer);
  if (context) return context;
  context = await browser.newContext();
  await context.route(`${team.origin}/**`, (route) =>
    route.continue({ headers: { ...route.request().headers(), authorization: `Bearer ${bearer}` } }),
  );
  contexts.set(bearer, context);
  return context;
}

/** Open a sign-in link as the member, logged in at the upstream's authorization server as `account`. */
async function signIn(
  bearer: string,
  account: string,
  link: string,
): Promise<{ text: string; callback: string }> {
  as.account = account;
  const page = await (await browserOf(bearer)).newPage();
  let callback = '';
  page.on('request', (request) => {
    if (request.url().includes('/signin/callback')) callback = request.url();
  });
  try {
    await page.goto(link);
    await page.waitForURL(/\/signin\/callback/, { timeout: 20_000 });
    return { text: await page.locator('body').innerText(), callback };
  } finally {
    await page.close();
  }
}

async function host(bearer: string, capabilities: Record<string, unknown>): Promise<Client> {
  const client = new Client(
    { name: 'test-host', version: '1.0.0' },
    { capabilities, versionNegotiation: { mode: 'legacy' } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(team.url), {
      requestInit: { headers: { Authorization: `Bearer ${bearer}` } },
    }),
  );
  return client;
}

/** Who each tools/call reaching the upstream acted as, in order. */
function callSubjects(): Array<string | undefined> {
  return upstream.requests
    .filter((request) => request.rpcMethods?.includes('tools/call') && request.status === 200)
    .map((request) => request.subject);
}

const echo = (client: Client, text: string) =>
  client.callTool({ name: 'crm__echo', arguments: { text } }, { timeout: 60_000 });

describe('a perMember upstream on a team gateway', () => {
  it("sends a member without a login to sign in by URL elicitation, then calls with that member's own token", async () => {
    const asked: Array<Record<string, unknown>> = [];
    const completed: string[] = [];
    const alice = await host('alice-token', { elicitation: { url: {} } });
    alice.setNotificationHandler('notifications/elicitation/complete', (notification) => {
      completed.push(String(notification.params.elicitationId));
    });
    alice.setRequestHandler('elicitation/create', async (request) => {
      const params = request.params as Record<string, unknown>;
      asked.push(params);
      const signed = await signIn('alice-token', 'alice', String(params.url));
      expect(signed.text).toContain('Signed in');
      return { action: 'accept' as const };
    });
    try {
      const result = await echo(alice, 'from alice');
      expect(JSON.stringify(result.content)).toContain('from alice');
      expect(asked).toHaveLength(1);
      expect(asked[0]).toMatchObject({ mode: 'url' });
      expect(String(asked[0]!.url)).toMatch(new RegExp(`^${team.origin}/signin/[\\w-]{22}$`));
      expect(typeof asked[0]!.elicitationId).toBe('string');
      await expect.poll(() => completed).toEqual([asked[0]!.elicitationId]);
      expect(callSubjects()).toEqual(['alice']);
      // The next call needs no sign-in.
      await echo(alice, 'again');
      expect(asked).toHaveLength(1);
      expect(callSubjects()).toEqual(['alice', 'alice']);
    } finally {
      await alice.close();
    }
  }, 90_000);

  it("answers a host without URL elicitation with -32042 and the link; its retry after the sign-in carries its own token, never the other member's", async () => {
    const bob = await host('bob-token', {});
    try {
      const refused = await echo(bob, 'from bob').then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(ProtocolError);
      expect((refused as ProtocolError).code).toBe(-32042);
      const link = /(http:\/\/\S+\/signin\/[\w-]{22})/.exec((refused as Error).message)?.[1];
      expect(link).toBeDefined();
      const data = (refused as ProtocolError).data as { elicitations: Array<{ url: string; mode: string }> };
      expect(data.elicitations[0]).toMatchObject({ mode: 'url', url: link });
      const before = callSubjects().length;
      expect((await signIn('bob-token', 'bob', link!)).text).toContain('Signed in');
      const result = await echo(bob, 'from bob');
      expect(JSON.stringify(result.content)).toContain('from bob');
      expect(callSubjects().slice(before)).toEqual(['bob']);
    } finally {
      await bob.close();
    }
    // Alice's calls still carry alice's token, after bob signed in.
    const alice = await host('alice-token', {});
    try {
      const before = callSubjects().length;
      await echo(alice, 'alice once more');
      expect(callSubjects().slice(before)).toEqual(['alice']);
    } finally {
      await alice.close();
    }
  }, 90_000);

  it("refuses another member's link, a replayed link and a replayed callback", async () => {
    await team.gateway.members!.revoke('alice', 'crm');
    const alice = await host('alice-token', {});
    let link: string;
    try {
      const refused = (await echo(alice, 'x').catch((error: unknown) => error)) as ProtocolError;
      expect(refused.code).toBe(-32042);
      link = /(http:\/\/\S+\/signin\/[\w-]{22})/.exec(refused.message)![1]!;
    } finally {
      await alice.close();
    }
    const open = (bearer?: string) =>
      fetch(link, { redirect: 'manual', headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
    // Nobody, and bob: refused, and the link stays alice's.
    expect((await open()).status).toBe(401);
    const asBob = await open('bob-token');
    expect(asBob.status).toBe(403);
    expect(await asBob.text()).not.toContain('alice');
    // Alice completes it in her browser; the link and the callback are then spent.
    const signed = await signIn('alice-token', 'alice', link);
    expect(signed.text).toContain('Signed in');
    expect((await open('alice-token')).status).toBe(410);
    const replay = await fetch(signed.callback, { headers: { authorization: 'Bearer alice-token' } });
    expect(replay.status).toBe(410);
    // And bob cannot replay alice's callback to bind anything to himself or to her.
    const crossReplay = await fetch(signed.callback, { headers: { authorization: 'Bearer bob-token' } });
    expect([403, 410]).toContain(crossReplay.status);
    expect(await team.vault.links({ member: 'bob', server: 'crm' })).toHaveLength(1);
  }, 90_000);

  it('asks a 2026-07-28 host with input_required for the URL, and goes on once the member signed in', async () => {
    await team.gateway.members!.revoke('alice', 'crm');
    const asked: Array<Record<string, unknown>> = [];
    const alice = new Client(
      { name: 'modern-host', version: '1.0.0' },
      { capabilities: { elicitation: { url: {} } }, versionNegotiation: { mode: 'auto' } },
    );
    alice.setRequestHandler('elicitation/create', async (request) => {
      const params = request.params as Record<string, unknown>;
      asked.push(params);
      expect((await signIn('alice-token', 'alice', String(params.url))).text).toContain('Signed in');
      return { action: 'accept' as const };
    });
    await alice.connect(
      new StreamableHTTPClientTransport(new URL(team.url), {
        requestInit: { headers: { Authorization: 'Bearer alice-token' } },
      }),
    );
    try {
      const before = callSubjects().length;
      const result = await echo(alice, 'modern alice');
      expect(JSON.stringify(result.content)).toContain('modern alice');
      expect(asked).toEqual([expect.objectContaining({ mode: 'url' })]);
      expect(callSubjects().slice(before)).toEqual(['alice']);
    } finally {
      await alice.close();
    }
  }, 90_000);

  it('tells a 2026-07-28 host without URL elicitation where to sign in, in the tool result', async () => {
    const modern = new Client(
      { name: 'modern-host', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    );
    await team.gateway.members!.revoke('bob', 'crm');
    await modern.connect(
      new StreamableHTTPClientTransport(new URL(team.url), {
        requestInit: { headers: { Authorization: 'Bearer bob-token' } },
      }),
    );
    try {
      const result = await echo(modern, 'x');
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).toMatch(
        /needs your own sign-in: open http:\/\/\S+\/signin\/[\w-]{22}/,
      );
    } finally {
      await modern.close();
    }
    // Bob signs in again for the tests that follow.
    const bob = await host('bob-token', {});
    try {
      const refused = (await echo(bob, 'x').catch((error: unknown) => error)) as ProtocolError;
      const link = /(http:\/\/\S+\/signin\/[\w-]{22})/.exec(refused.message)![1]!;
      expect((await signIn('bob-token', 'bob', link)).text).toContain('Signed in');
    } finally {
      await bob.close();
    }
  }, 90_000);

  it('shows each member only their own links, and removes them', async () => {
    const mine = async (bearer: string) =>
      (await (
        await fetch(`${team.origin}/me/links`, {
          headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' },
        })
      ).json()) as { member: string; links: Array<{ member: string; server: string }> };
    expect((await mine('alice-token')).links).toEqual([
      expect.objectContaining({ member: 'alice', server: 'crm' }),
    ]);
    expect((await mine('bob-token')).links).toEqual([
      expect.objectContaining({ member: 'bob', server: 'crm' }),
    ]);
    expect((await fetch(`${team.origin}/me/links`)).status).toBe(401);
    const removed = await fetch(`${team.origin}/me/links`, {
      method: 'POST',
      redirect: 'manual',
      headers: { authorization: 'Bearer bob-token', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'remove=crm',
    });
    expect(removed.status).toBe(303);
    expect((await mine('bob-token')).links).toEqual([]);
    expect((await mine('alice-token')).links).toHaveLength(1);
  });

  it('writes whose login went upstream in each audit line', async () => {
    const { entries } = await readAudit({ paths: team.paths, server: 'crm' });
    const calls = entries.filter((entry) => entry.outcome === 'ok');
    expect(calls.length).toBeGreaterThan(3);
    for (const entry of calls) expect(entry.upstreamCredential).toBe('member');
    expect(new Set(calls.map((entry) => entry.caller?.subject))).toEqual(new Set(['alice', 'bob']));
  });

  it('keeps no token in the clear in the vault file, and a wrong key is a clear error', async () => {
    const text = await readFile(join(team.stateDir, 'vault.json'), 'utf8');
    expect(text).not.toMatch(JWT);
    const tokens = await team.vault.forMember('alice', 'crm').list();
    const stored = await team.vault.forMember('alice', 'crm').getTokens(tokens.tokens[0]!.serverKey);
    expect(stored?.accessToken).toMatch(JWT);
    expect(text).not.toContain(stored!.accessToken);
    if (stored?.refreshToken) expect(text).not.toContain(stored.refreshToken);
    const other = new MemberVault(new FileState(team.stateDir), Buffer.alloc(32, 7));
    await expect(other.check()).rejects.toThrow(/vault key does not open/);
  });

  it('keeps a sign-in in progress sealed with the vault key: no PKCE verifier in the state file, and one that does not open is expired', async () => {
    // Bob removed his login above: his next call sends him to sign in.
    const bob = await host('bob-token', {});
    let link: string;
    try {
      const refused = (await echo(bob, 'x').catch((error: unknown) => error)) as ProtocolError;
      expect(refused.code).toBe(-32042);
      link = /(http:\/\/\S+\/signin\/[\w-]{22})/.exec(refused.message)![1]!;
    } finally {
      await bob.close();
    }
    const started = await fetch(link, { redirect: 'manual', headers: { authorization: 'Bearer bob-token' } });
    expect(started.status).toBe(302);
    const authorization = new URL(started.headers.get('location')!);
    const state = authorization.searchParams.get('state')!;
    const challenge = authorization.searchParams.get('code_challenge')!;
    expect(state).toBeTruthy();
    const file = join(team.stateDir, 'signin-pending.json');
    const text = await readFile(file, 'utf8');
    const records = JSON.parse(text) as Record<string, { value: Record<string, unknown> }>;
    const record = records[state]!.value;
    // Facts in the clear (whose, for which link), the rest sealed.
    expect(Object.keys(record).sort()).toEqual(['linkId', 'member', 'sealed', 'server']);
    expect(record).toMatchObject({ member: 'bob', server: 'crm' });
    expect(text).not.toContain('verifier');
    const facts = record as { member: string; server: string; linkId: string; sealed: unknown };
    const opened = team.vault.openFor(pendingContext(state, facts), facts.sealed);
    const verifier = (JSON.parse(opened!) as { verifier: string }).verifier;
    // It is the verifier of this very sign-in, and nowhere in the file.
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(challenge);
    expect(text).not.toContain(verifier);
    // Bound to its record and member: moved to another, it does not open.
    expect(
      team.vault.openFor(pendingContext(state, { ...facts, member: 'alice' }), facts.sealed),
    ).toBeUndefined();
    expect(team.vault.openFor(pendingContext('other-state', facts), facts.sealed)).toBeUndefined();
    // Changed in the store: the callback treats it as expired, and it is gone.
    const sealed = facts.sealed as { data: string };
    sealed.data = `${sealed.data[0] === 'A' ? 'B' : 'A'}${sealed.data.slice(1)}`;
    await writeFile(file, JSON.stringify(records));
    const callback = new URL('/signin/callback', team.origin);
    callback.searchParams.set('state', state);
    callback.searchParams.set('code', 'a-code');
    const refused = await fetch(callback, { headers: { authorization: 'Bearer bob-token' } });
    expect(refused.status).toBe(410);
    expect(await refused.text()).toContain('can no longer be finished');
    expect((JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>)[state]).toBeUndefined();
    expect(await team.vault.links({ member: 'bob', server: 'crm' })).toEqual([]);
  }, 90_000);

  it('tells a browser without a credential what to do when the gateway cannot sign browsers in (API keys, an external issuer)', async () => {
    await team.gateway.members!.revoke('alice', 'crm');
    const alice = await host('alice-token', {});
    let link: string;
    try {
      const refused = (await echo(alice, 'x').catch((error: unknown) => error)) as ProtocolError;
      link = /(http:\/\/\S+\/signin\/[\w-]{22})/.exec(refused.message)![1]!;
    } finally {
      await alice.close();
    }
    // An ordinary browser sends no bearer, and this deployment has no browser sign-in.
    const page = await fetch(link, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(page.status).toBe(401);
    const text = await page.text();
    expect(text).toContain('cannot recognise you in a browser');
    expect(text).toContain('auth.authorizationServer');
    // A POST on the links page from another web page (this computer's, which the listener lets by)
    // is refused even with the member's bearer.
    const crossSite = await fetch(`${team.origin}/me/links`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        authorization: 'Bearer bob-token',
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'http://127.0.0.1:1',
      },
      body: 'remove=crm',
    });
    expect(crossSite.status).toBe(403);
    // The link is still alice's to use, with her credential.
    const opened = await fetch(link, {
      redirect: 'manual',
      headers: { authorization: 'Bearer alice-token' },
    });
    expect(opened.status).toBe(302);
  });
});
