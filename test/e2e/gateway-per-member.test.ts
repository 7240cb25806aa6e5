/**
 * Each member's own upstream login on the built binary: `patchbay serve --config` with API keys
 * (members alice and bob) and a vault key from the environment, a perMember upstream behind a
 * real authorization server, the SDK client as each member's host and Chromium as each browser.
 */

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { launchChromium } from '../helpers/browser.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';

let sandbox: Sandbox;
let as: AuthorizationServer;
let upstream: ProtectedMcpServer;
let gateway: RunningGateway;
let browser: Browser;
const keys: Record<string, string> = {};

beforeAll(async () => {
  sandbox = await createSandbox();
  as = await startAuthorizationServer();
  upstream = await startProtectedMcpServer({ authorizationServer: as });
  await sandbox.run(['add', 'crm', upstream.url]);
  expect((await sandbox.run(['set', 'crm', 'per-member', 'true'])).code).toBe(0);
  for (const member of ['alice', 'bob']) {
    const made = await sandbox.run(['keys', 'create', `${member}-laptop`, '--member', member]);
    expect(made.code, made.stderr).toBe(0);
    keys[member] = made.stdout.trim();
  }
  const config = join(sandbox.root, 'deployment.jsonc');
  await writeFile(config, '{ "auth": { "apiKeys": true }, "vault": { "key": "env:PATCHBAY_VAULT_KEY" } }\n');
  sandbox.env.PATCHBAY_VAULT_KEY = randomBytes(32).toString('base64');
  gateway = await startGateway(sandbox, ['--config', config]);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
  await upstream?.close();
  await as?.close();
  await sandbox?.cleanup();
});

async function host(member: string): Promise<Client> {
  const client = new Client(
    { name: 'test-host', version: '1.0.0' },
    { versionNegotiation: { mode: 'legacy' } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${keys[member]}` } },
    }),
  );
  return client;
}

const echo = (client: Client, text: string) =>
  client.callTool({ name: 'crm__echo', arguments: { text } }, { timeout: 60_000 });

const subjects = () =>
  upstream.requests
    .filter((request) => request.rpcMethods?.includes('tools/call') && request.status === 200)
    .map((request) => request.subject);

async function signIn(member: string, link: string): Promise<string> {
  as.account = member;
  const context = await browser.newContext();
  const origin = new URL(gateway.url).origin;
  await context.route(`${origin}/**`, (route) =>
    route.continue({ headers: { ...route.request().headers(), authorization: `Bearer ${keys[member]}` } }),
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

async function linkFor(client: Client): Promise<string> {
  const refused = (await echo(client, 'x').catch((error: unknown) => error)) as ProtocolError;
  expect(refused.code).toBe(-32042);
  return /(http:\/\/\S+\/signin\/[\w-]{22})/.exec(refused.message)![1]!;
}

describe('patchbay serve --config with a perMember server', () => {
  it("calls it with each API-key member's own login, after their sign-in, and the operator revokes it", async () => {
    const alice = await host('alice');
    const bob = await host('bob');
    try {
      const aliceLink = await linkFor(alice);
      // Bob cannot open alice's link with his key.
      expect((await fetch(aliceLink, { headers: { authorization: `Bearer ${keys.bob}` } })).status).toBe(403);
      expect(await signIn('alice', aliceLink)).toContain('Signed in');
      expect(await signIn('bob', await linkFor(bob))).toContain('Signed in');
      await echo(alice, 'a');
      await echo(bob, 'b');
      await echo(alice, 'c');
      expect(subjects()).toEqual(['alice', 'bob', 'alice']);

      const listed = JSON.parse((await sandbox.run(['vault', 'list', '--json'])).stdout) as {
        links: Array<{ member: string; server: string }>;
      };
      expect(listed.links.map((link) => `${link.member} ${link.server}`)).toEqual(['alice crm', 'bob crm']);
      expect((await sandbox.run(['vault', 'revoke', '--member', 'alice'])).code).toBe(0);
      // The running gateway sends alice to sign in again; bob goes on.
      await linkFor(alice);
      await echo(bob, 'd');
      expect(subjects().at(-1)).toBe('bob');
    } finally {
      await alice.close();
      await bob.close();
    }
  }, 120_000);
});
