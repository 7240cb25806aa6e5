/**
 * 2025-era hosts behind haproxy in front of three replicas (`serve --http --state redis://…`),
 * round-robin per request with no affinity (#20): one session wherever each request lands, its
 * notifications once, its questions relayed, and a replica killed under load costs only the
 * requests in flight on it. server-everything is the upstream.
 */

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { hasRedis } from '../helpers/redis.js';
import { hasHaproxy, REPLICA_HEADER, startReplicas, type Replicas } from '../helpers/replicas.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const RELOADED = 'The configuration changed';

let sandbox: Sandbox;
let everything: EverythingServer;
let replicas: Replicas;

const ready = hasRedis() && hasHaproxy();

beforeAll(async () => {
  if (!ready) return;
  sandbox = await createSandbox();
  everything = await startEverything('streamableHttp');
  await sandbox.run(['add', 'ev', everything.url]);
  replicas = await startReplicas(sandbox);
}, 60_000);

afterAll(async () => {
  await replicas?.close();
  await everything?.close();
  await sandbox?.cleanup();
});

interface Exchange {
  method: string;
  /** The JSON-RPC method of a POST ('' for GET and DELETE). */
  rpc: string;
  status: number;
  replica: string | null;
  relay: string | null;
}

/**
 * A 2025-era host through the balancer (or straight to `url`); its fetch records which replica
 * answered each request.
 */
async function host(name: string, capabilities: object = {}, url = replicas.url) {
  const exchanges: Exchange[] = [];
  const client = new Client(
    { name, version: '1.0.0' },
    { capabilities, versionNegotiation: { mode: 'legacy' } },
  );
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${replicas.token}` } },
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as { method?: string }) : {};
      exchanges.push({
        method: init?.method ?? 'GET',
        rpc: body.method ?? '',
        status: response.status,
        replica: response.headers.get(REPLICA_HEADER),
        relay: response.headers.get('x-patchbay-relay'),
      });
      return response;
    },
  });
  await client.connect(transport);
  return { client, transport, exchanges };
}

const echo = (client: Client, message: string) =>
  client.callTool({ name: 'ev__echo', arguments: { message } }, { timeout: 20_000 });

/** Every replica has said `count` reloads. */
async function reloaded(count: number): Promise<void> {
  for (let waited = 0; ; waited += 100) {
    const seen = replicas.gateways.map((gateway) => gateway.stderr().split(RELOADED).length - 1);
    if (seen.every((n) => n >= count)) return;
    if (waited > 15_000) throw new Error(`not every replica reloaded (${seen.join(', ')})`);
    await sleep(100);
  }
}

describe.skipIf(!ready)('a 2025-era host across three replicas', () => {
  it('keeps one session, hears a config change as one process would tell it (not once per replica), and answers questions from any replica', async () => {
    const { client, transport, exchanges } = await host('replica-host', { elicitation: {} });
    client.setRequestHandler('elicitation/create', async () => ({
      action: 'accept' as const,
      content: { name: 'Grace Hopper' },
    }));
    let changed = 0;
    client.setNotificationHandler('notifications/tools/list_changed', () => void changed++);
    // What one process tells its own host of the same change: a host of replica r0 itself.
    const direct = await host('direct-host', {}, `http://127.0.0.1:${replicas.gateways[0]!.port}/mcp`);
    let directChanged = 0;
    direct.client.setNotificationHandler('notifications/tools/list_changed', () => void directChanged++);
    try {
      const session = transport.sessionId;
      expect(session).toBeDefined();
      const tools = (await client.listTools()).tools.map((tool) => tool.name);
      expect(tools).toContain('ev__echo');
      const ask = tools.find((tool) => tool.startsWith('ev__') && tool.includes('elicitation'));
      expect(ask, tools.join(', ')).toBeDefined();
      for (let i = 0; i < 4; i++)
        expect(JSON.stringify((await echo(client, `m${i}`)).content)).toContain(`m${i}`);
      for (let i = 0; i < 3; i++) {
        const asked = await client.callTool({ name: ask!, arguments: {} }, { timeout: 30_000 });
        expect(JSON.stringify(asked.content)).toContain('Grace Hopper');
      }
      expect(transport.sessionId).toBe(session);
      // Its requests landed on every replica, each served in the one session.
      const posts = exchanges.filter((exchange) => exchange.method === 'POST');
      expect(new Set(posts.map((exchange) => exchange.replica))).toEqual(new Set(['r0', 'r1', 'r2']));
      expect(posts.every((exchange) => exchange.status < 300)).toBe(true);
      // Every answer to a question went where the question came from, wherever it landed.
      const crossed = posts.filter(
        (exchange, index) =>
          exchange.rpc === '' &&
          posts.slice(0, index).findLast((earlier) => earlier.rpc === 'tools/call')?.replica !==
            exchange.replica,
      );
      expect(crossed.length, JSON.stringify(posts)).toBeGreaterThan(0);
      // The config changes: every replica reloads, the host hears it once on its one stream.
      const streaming = (exchanges: Exchange[]) =>
        exchanges.some((exchange) => exchange.method === 'GET' && exchange.status === 200);
      for (
        let waited = 0;
        !(streaming(exchanges) && streaming(direct.exchanges)) && waited < 5_000;
        waited += 100
      )
        await sleep(100);
      const before = replicas.gateways[0]!.stderr().split(RELOADED).length - 1;
      await sandbox.run(['add', 'ev2', everything.url]);
      await reloaded(before + 1);
      for (let waited = 0; (changed === 0 || directChanged === 0) && waited < 5_000; waited += 100)
        await sleep(100);
      await sleep(2_000);
      // Every replica saw the change (and listed the new server once): the host heard it as often
      // as one process tells its own host, not once per replica.
      expect(directChanged).toBeGreaterThan(0);
      expect(changed).toBe(directChanged);
      expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('ev2__echo');
    } finally {
      await client.close();
      await direct.client.close();
    }
  }, 120_000);

  it('ends a relayed question the host cancels, on the replica that asked, wherever the cancellation lands', async () => {
    const { client, exchanges } = await host('cancelling-host', { elicitation: {} });
    // The host cancels the question instead of answering it, and never answers.
    client.setRequestHandler('elicitation/create', async (_request, ctx) => {
      await client.notification({
        method: 'notifications/cancelled',
        params: { requestId: ctx.mcpReq.id, reason: 'the person closed the dialog' },
      });
      return new Promise<never>(() => undefined);
    });
    try {
      const tools = (await client.listTools()).tools.map((tool) => tool.name);
      const ask = tools.find((tool) => tool.startsWith('ev__') && tool.includes('elicitation'));
      expect(ask, tools.join(', ')).toBeDefined();
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        // The gateway declines the question upstream at once (it waited for its own timeout).
        const asked = await client.callTool({ name: ask!, arguments: {} }, { timeout: 20_000 });
        expect(JSON.stringify(asked.content)).toContain('declined');
        expect(Date.now() - started).toBeLessThan(10_000);
      }
      const posts = exchanges.filter((exchange) => exchange.method === 'POST');
      const crossed = posts.filter(
        (exchange, index) =>
          exchange.rpc === 'notifications/cancelled' &&
          posts.slice(0, index).findLast((earlier) => earlier.rpc === 'tools/call')?.replica !==
            exchange.replica,
      );
      expect(crossed.length, JSON.stringify(posts)).toBeGreaterThan(0);
      expect(posts.every((exchange) => exchange.status < 300)).toBe(true);
    } finally {
      await client.close();
    }
  }, 60_000);

  it('counts each session once in patchbay_sessions summed over the replicas, its copies in patchbay_session_copies', async () => {
    const scrape = async () => {
      const texts = await Promise.all(
        replicas.gateways.map(async (gateway) => {
          const response = await fetch(`http://127.0.0.1:${gateway.port}/metrics`, {
            headers: { Authorization: `Bearer ${replicas.token}` },
          });
          expect(response.status).toBe(200);
          return response.text();
        }),
      );
      const sum = (name: string) =>
        texts.reduce((total, text) => total + Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]), 0);
      return { owned: sum('patchbay_sessions'), copies: sum('patchbay_session_copies') };
    };
    const before = await scrape();
    const hosts = await Promise.all(['count-a', 'count-b'].map((name) => host(name)));
    try {
      // Each session served by every replica: a copy on each.
      const everywhere = (exchanges: Exchange[]) =>
        new Set(
          exchanges.filter((exchange) => exchange.method === 'POST').map((exchange) => exchange.replica),
        ).size === replicas.gateways.length;
      for (const each of hosts)
        for (let i = 0; i < 10 && !everywhere(each.exchanges); i++) await echo(each.client, 'count');
      expect(hosts.every((each) => everywhere(each.exchanges))).toBe(true);
      const after = await scrape();
      expect(after.owned - before.owned).toBe(2);
      expect(after.copies - before.copies).toBe(6);
    } finally {
      await Promise.all(hosts.map((each) => each.client.close()));
    }
  }, 60_000);

  it('goes on through the others when a replica is killed under load: only requests in flight on it fail', async () => {
    const hosts = await Promise.all(['a', 'b', 'c'].map((name) => host(`load-${name}`)));
    const sessions = hosts.map((each) => each.transport.sessionId);
    // Warm: each host's session is served by every replica (and its GET stream is open somewhere).
    for (const each of hosts) for (let i = 0; i < 3; i++) await echo(each.client, 'warm');
    // The replica holding host a's standing stream goes away (the client opens it in the
    // background once initialized: waited for).
    const opened = () =>
      hosts[0]!.exchanges.find((exchange) => exchange.method === 'GET' && exchange.status === 200);
    for (let waited = 0; !opened() && waited < 5_000; waited += 50) await sleep(50);
    const stream = opened();
    expect(stream?.replica).toMatch(/^r[0-2]$/);
    const victim = Number(stream!.replica!.slice(1));
    let killedAt = Infinity;
    const outcomes: Array<{ host: number; ok: boolean; at: number; error?: string }> = [];
    let stop = false;
    const loops = hosts.map(async (each, index) => {
      for (let i = 0; !stop; i++) {
        try {
          const result = await echo(each.client, `${index}:${i}`);
          expect(JSON.stringify(result.content)).toContain(`${index}:${i}`);
          outcomes.push({ host: index, ok: true, at: Date.now() });
        } catch (error) {
          outcomes.push({ host: index, ok: false, at: Date.now(), error: String(error) });
        }
      }
    });
    await sleep(1_000);
    killedAt = Date.now();
    await replicas.kill(victim);
    await sleep(3_000);
    stop = true;
    await Promise.all(loops);
    try {
      const failed = outcomes.filter((outcome) => !outcome.ok);
      // At most the one call each host had in flight when the replica went.
      expect(failed.length, JSON.stringify(failed)).toBeLessThanOrEqual(hosts.length);
      for (const outcome of failed) expect(outcome.at).toBeGreaterThanOrEqual(killedAt);
      for (let index = 0; index < hosts.length; index++) {
        const after = outcomes.filter((outcome) => outcome.host === index && outcome.at > killedAt + 1_000);
        expect(after.length).toBeGreaterThan(0);
        expect(after.every((outcome) => outcome.ok)).toBe(true);
        // The same session all along.
        expect(hosts[index]!.transport.sessionId).toBe(sessions[index]);
      }
      // Host a's standing stream came back, on another replica.
      const reopened = () =>
        hosts[0]!.exchanges.some(
          (exchange) =>
            exchange.method === 'GET' && exchange.status === 200 && exchange.replica !== `r${victim}`,
        );
      for (let waited = 0; !reopened() && waited < 5_000; waited += 100) await sleep(100);
      expect(reopened()).toBe(true);
      // Calls of a session restored elsewhere still take the hot path.
      const hotElsewhere = hosts.flatMap((each) =>
        each.exchanges.filter((exchange) => exchange.rpc === 'tools/call' && exchange.relay === 'hot'),
      );
      expect(new Set(hotElsewhere.map((exchange) => exchange.replica)).size).toBeGreaterThan(1);
    } finally {
      await Promise.all(hosts.map((each) => each.client.close()));
    }
  }, 120_000);
});
