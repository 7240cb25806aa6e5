/**
 * Members through the gateway (#19 "Members everywhere"): rules naming members and groups decide
 * what each member lists and may call (both protocol eras, the hot path included), a per-member
 * limit counts each member apart, a rule change applies while serving, and `patchbay log` /
 * `patchbay stats` filter and group by member. Real parts: server-everything upstream, the
 * gateway's own listener over real HTTP, the SDK client, the built CLI writing the policy and
 * reading the audit log. Only who a bearer string names is fixed (helpers/member-gateway.ts).
 */

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startMemberGateway, type MemberGateway } from '../helpers/member-gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let everything: EverythingServer;
let gateway: MemberGateway;

const MEMBERS = {
  'alice-token': {
    auth: 'oauth' as const,
    subject: 'alice-sub',
    email: 'alice@example.com',
    groups: ['eng'],
    client: 'test-host',
  },
  'bob-token': {
    auth: 'oauth' as const,
    subject: 'bob-sub',
    email: 'bob@example.com',
    groups: ['sales'],
    client: 'test-host',
  },
};

async function cli(args: string[]) {
  const run = await sandbox.run(args);
  expect(run.code, `patchbay ${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run;
}

beforeAll(async () => {
  sandbox = await createSandbox();
  sandbox.env.PATCHBAY_STATE_DIR = `${sandbox.root}/state`;
  everything = await startEverything('streamableHttp');
  // The same upstream twice: `ev` for everyone, `crm` not for sales.
  await cli(['add', 'ev', everything.url]);
  await cli(['add', 'crm', everything.url]);
  await cli(['permit', 'crm', '*', 'deny', '--group', 'sales']);
  await cli(['permit', 'ev', 'get-sum', 'deny', '--group', 'sales']);
  await cli(['limit', 'ev', 'echo', '--per-member', '2/hour']);
  gateway = await startMemberGateway(sandbox, MEMBERS);
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await everything?.close();
  await sandbox?.cleanup();
});

/** A host signed in as `token`'s member; no elicitation, so a 2025-era call takes the hot path. */
async function host(token: string, era: 'legacy' | 'auto' = 'legacy') {
  const client = new Client(
    { name: 'test-host', version: '1.0.0' },
    { capabilities: {}, versionNegotiation: { mode: era } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  const call = async (name: string, args: Record<string, unknown> = {}) => {
    const result = await client.callTool({ name, arguments: args }, { timeout: 30_000 });
    return { isError: Boolean(result.isError), text: JSON.stringify(result.content) };
  };
  const listing = async () => ({
    tools: (await client.listTools()).tools.map((tool) => tool.name),
    prompts: (await client.listPrompts()).prompts.map((prompt) => prompt.name),
    templates: (await client.listResourceTemplates()).resourceTemplates.map(
      (template) => (template._meta as Record<string, unknown>)['io.patchbay/server'],
    ),
    resources: (await client.listResources()).resources.map(
      (resource) => (resource._meta as Record<string, unknown>)['io.patchbay/server'],
    ),
  });
  return { client, call, listing };
}

describe('members through the gateway', () => {
  it.each(['legacy', 'auto'] as const)(
    'shows each member only what they may use, and refuses what is hidden from them (%s era)',
    async (era) => {
      const alice = await host('alice-token', era);
      const bob = await host('bob-token', era);
      try {
        const seen = { alice: await alice.listing(), bob: await bob.listing() };
        expect(seen.alice.tools).toEqual(expect.arrayContaining(['ev__echo', 'ev__get-sum', 'crm__echo']));
        expect(seen.bob.tools).toContain('ev__echo');
        expect(seen.bob.tools).not.toContain('ev__get-sum');
        // A server denied to the whole group is not there at all for its members.
        expect(seen.bob.tools.filter((name) => name.startsWith('crm__'))).toEqual([]);
        expect(seen.bob.prompts.filter((name) => name.startsWith('crm__'))).toEqual([]);
        expect(seen.alice.prompts.some((name) => name.startsWith('crm__'))).toBe(true);
        expect(seen.bob.templates).not.toContain('crm');
        expect(seen.alice.templates).toContain('crm');
        expect(seen.bob.resources.length).toBeGreaterThan(0);
        expect(seen.bob.resources).not.toContain('crm');

        // Hidden or denied, a call by name is refused the same way.
        const hidden = await bob.call('crm__echo', { message: 'hi' });
        expect(hidden.isError).toBe(true);
        expect(hidden.text).toContain("policy denies crm's tool echo");
        const denied = await bob.call('ev__get-sum', { a: 1, b: 2 });
        expect(denied.isError).toBe(true);
        expect(denied.text).toContain('for group sales');
        const allowed = await alice.call('crm__get-sum', { a: 1, b: 2 });
        expect(allowed.isError, allowed.text).toBe(false);
        // A prompt of a hidden server is unknown to the member.
        const prompt = seen.alice.prompts.find((name) => name.startsWith('crm__'))!;
        await expect(bob.client.getPrompt({ name: prompt, arguments: {} })).rejects.toThrow();
      } finally {
        await alice.client.close();
        await bob.client.close();
      }
    },
    60_000,
  );

  it('counts a per-member limit for each member apart', async () => {
    const alice = await host('alice-token');
    const bob = await host('bob-token');
    try {
      for (let i = 0; i < 2; i++)
        expect((await alice.call('ev__echo', { message: `a${i}` })).isError).toBe(false);
      const third = await alice.call('ev__echo', { message: 'a2' });
      expect(third.isError).toBe(true);
      expect(third.text).toContain('Usage limit reached');
      expect(third.text).toContain('per member (alice-sub)');
      // Bob's count is his own.
      for (let i = 0; i < 2; i++)
        expect((await bob.call('ev__echo', { message: `b${i}` })).isError).toBe(false);
      expect((await bob.call('ev__echo', { message: 'b2' })).isError).toBe(true);
    } finally {
      await alice.client.close();
      await bob.client.close();
    }
  }, 60_000);

  it('applies a rule change for a member while serving, without a restart', async () => {
    const alice = await host('alice-token');
    try {
      expect((await alice.listing()).tools).toContain('crm__get-sum');
      await gateway.applied(() => cli(['permit', 'crm', 'get-sum', 'deny', '--member', 'alice@example.com']));
      expect((await alice.listing()).tools).not.toContain('crm__get-sum');
      const refused = await alice.call('crm__get-sum', { a: 1, b: 2 });
      expect(refused.isError).toBe(true);
      expect(refused.text).toContain('for member alice@example.com');
      await gateway.applied(() =>
        cli(['permit', 'crm', 'get-sum', 'default', '--member', 'alice@example.com']),
      );
      expect((await alice.listing()).tools).toContain('crm__get-sum');
    } finally {
      await alice.client.close();
    }
  }, 60_000);

  it('log and stats filter and group by member', async () => {
    // The hot path writes its audit lines just after answering.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const aliceLog = JSON.parse(
      (await cli(['log', '--member', 'alice@example.com', '--json'])).stdout,
    ) as Array<{
      caller: { subject: string };
    }>;
    expect(aliceLog.length).toBeGreaterThan(0);
    expect(new Set(aliceLog.map((entry) => entry.caller.subject))).toEqual(new Set(['alice-sub']));
    const sales = JSON.parse((await cli(['log', '--group', 'sales', '--json'])).stdout) as Array<{
      caller: { subject: string };
    }>;
    expect(new Set(sales.map((entry) => entry.caller.subject))).toEqual(new Set(['bob-sub']));

    const byMember = JSON.parse((await cli(['stats', '--by', 'member', '--json'])).stdout) as Array<{
      member: string;
      email?: string;
      calls: number;
      denied: number;
      limited: number;
    }>;
    const bob = byMember.find((row) => row.member === 'bob-sub')!;
    expect(bob).toMatchObject({ email: 'bob@example.com' });
    expect(bob.denied).toBeGreaterThanOrEqual(4); // crm__echo and ev__get-sum, in both eras
    expect(bob.limited).toBe(1);
    expect(byMember.find((row) => row.member === 'alice-sub')!.limited).toBe(1);
    const text = (await cli(['stats', '--by', 'member', '--group', 'eng'])).stdout;
    expect(text).toContain('alice-sub <alice@example.com>');
    expect(text).not.toContain('bob-sub');
    const policy = (await cli(['policy', 'crm', '--no-check'])).stdout;
    expect(policy).toContain('for group sales');
  }, 60_000);
});
