/**
 * 2025-era sessions shared through the state store (shared-sessions.ts, legacy-sessions.ts): two
 * "replicas" — two LegacySessions, each with its own handle on one store — behind a fetch that
 * sends each request of the SDK's client to the next one in turn (no sockets: the requests are the
 * Web Requests the listener would hand over). Against a real redis-server, and the file backend
 * for what one process does with it (a copy made again from the record after a restart).
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Server, type AuthInfo } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CALLER_KEY } from '../../src/gateway/caller.js';
import { LegacySessions } from '../../src/gateway/legacy-sessions.js';
import {
  LOG_LEVEL_NAMESPACE,
  SESSIONS_NAMESPACE,
  type SessionRecord,
} from '../../src/gateway/shared-sessions.js';
import { FileState } from '../../src/state/files.js';
import { RedisState } from '../../src/state/redis.js';
import type { StateStore } from '../../src/state/store.js';
import { hasRedis, startRedis, type RedisServer } from '../helpers/redis.js';

const URL_ = new URL('http://gateway.test/mcp');
const LIMITS = { maxSessions: 10, idleMs: 60_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Replica {
  sessions: LegacySessions;
  /** Every server it made (one per copy of a session). */
  servers: Server[];
  /** The log levels other replicas told it of. */
  levels: string[];
}

/** A server whose one tool asks the host a question (elicitation) and answers with the reply. */
function replica(state: StateStore | undefined, limits = LIMITS): Replica {
  const servers: Server[] = [];
  const levels: string[] = [];
  const sessions = new LegacySessions(
    () => {
      const server = new Server(
        { name: 'replica', version: '1' },
        { capabilities: { tools: { listChanged: true }, logging: {} } },
      );
      server.setRequestHandler('tools/list', async () => ({
        tools: [{ name: 'ask', inputSchema: { type: 'object' as const } }],
      }));
      server.setRequestHandler('tools/call', async (_request, ctx) => {
        // On the call's stream, as the gateway's relay asks (relay.ts).
        const answer = await ctx.mcpReq.elicitInput(
          {
            message: 'Your name?',
            requestedSchema: { type: 'object', properties: { name: { type: 'string' } } },
          },
          { relatedRequestId: ctx.mcpReq.id },
        );
        return { content: [{ type: 'text' as const, text: JSON.stringify(answer.content) }] };
      });
      servers.push(server);
      return server;
    },
    limits,
    state ? { state, onLogLevel: (level) => void levels.push(level) } : {},
  );
  return { sessions, servers, levels };
}

function authInfo(subject: string | null): AuthInfo {
  return {
    token: '',
    clientId: 'test',
    scopes: [],
    extra: { [CALLER_KEY]: { transport: 'http', auth: 'gateway-token', subject } },
  };
}

/**
 * A fetch that hands each request to the next replica in turn, recording which one served it (and
 * in `rpcs`, the JSON-RPC method of each: '' for an answer or a GET).
 */
function roundRobin(replicas: Replica[], served: number[], subject: string | null = null, rpcs?: string[]) {
  let next = 0;
  return async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const text = request.method === 'POST' ? await request.clone().text() : '';
    const index = next++ % replicas.length;
    served.push(index);
    rpcs?.push(text ? String((JSON.parse(text) as { method?: unknown }).method ?? '') : '');
    return replicas[index]!.sessions.handle(
      request,
      text ? JSON.parse(text) : undefined,
      new Promise(() => undefined),
      authInfo(subject),
    );
  };
}

/**
 * A request of a host straight to one replica, its exchange over at once (so that a copy nobody
 * uses goes idle): the session ID the replica answered with.
 */
async function post(to: Replica, body: object, session?: string): Promise<string | undefined> {
  const response = await to.sessions.handle(
    new Request(URL_, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(session ? { 'mcp-session-id': session } : {}),
      },
      body: JSON.stringify(body),
    }),
    body,
    Promise.resolve(),
    authInfo(null),
  );
  expect(response.status, await response.clone().text()).toBeLessThan(300);
  await response.text();
  return response.headers.get('mcp-session-id') ?? session;
}

async function host(replicas: Replica[], served: number[], rpcs?: string[]) {
  const client = new Client(
    { name: 'shared-host', version: '1.0.0' },
    { capabilities: { elicitation: {} }, versionNegotiation: { mode: 'legacy' } },
  );
  client.setRequestHandler('elicitation/create', async () => ({
    action: 'accept' as const,
    content: { name: 'Grace Hopper' },
  }));
  const transport = new StreamableHTTPClientTransport(URL_, {
    fetch: roundRobin(replicas, served, null, rpcs),
  });
  await client.connect(transport);
  return { client, transport };
}

let redis: RedisServer | undefined;
let directory: string;
const stores: StateStore[] = [];

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'patchbay-sessions-'));
  if (hasRedis()) redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await redis?.close();
  await rm(directory, { recursive: true, force: true });
});

async function redisStore(): Promise<StateStore> {
  const store = await RedisState.connect(redis!.url);
  stores.push(store);
  return store;
}

describe.skipIf(!hasRedis())('2025-era sessions across two replicas on Redis', () => {
  it('keep one session wherever each request lands, bound to its caller', async () => {
    const [a, b] = [replica(await redisStore()), replica(await redisStore())];
    const served: number[] = [];
    const { client, transport } = await host([a, b], served);
    try {
      const id = transport.sessionId!;
      const record = await stores[0]!.records<SessionRecord>(SESSIONS_NAMESPACE).get(id);
      expect(record).toMatchObject({
        owner: { auth: 'gateway-token', subject: null },
        clientInfo: { name: 'shared-host' },
        capabilities: { elicitation: {} },
      });
      for (let i = 0; i < 4; i++)
        expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['ask']);
      expect(new Set(served)).toEqual(new Set([0, 1]));
      expect(transport.sessionId).toBe(id);
      expect(a.sessions.size).toBe(1);
      expect(b.sessions.size).toBe(1);
      // Another caller with the same session ID: as unknown.
      const stranger = await roundRobin(
        [a, b],
        [],
        'mallory',
      )(URL_, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': id,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(stranger.status).toBe(404);
    } finally {
      await client.close();
      await a.sessions.close();
      await b.sessions.close();
    }
  });

  it('relays a question to the host and its answer to the replica that asked, wherever it lands', async () => {
    const [a, b] = [replica(await redisStore()), replica(await redisStore())];
    const served: number[] = [];
    const { client } = await host([a, b], served);
    try {
      for (let i = 0; i < 3; i++) {
        const result = await client.callTool({ name: 'ask', arguments: {} }, { timeout: 10_000 });
        expect(JSON.stringify(result.content)).toContain('Grace Hopper');
      }
    } finally {
      await client.close();
      await a.sessions.close();
      await b.sessions.close();
    }
  });

  it('tells the host of a change once, on its one stream, and of a log message seen elsewhere; shares the log level', async () => {
    const [a, b] = [replica(await redisStore()), replica(await redisStore())];
    const served: number[] = [];
    const { client } = await host([a, b], served);
    const heard: string[] = [];
    client.setNotificationHandler('notifications/tools/list_changed', () => void heard.push('tools'));
    client.setNotificationHandler(
      'notifications/message',
      (n) => void heard.push(`log:${String(n.params.data)}`),
    );
    try {
      // The GET stream is opened after initialized; both replicas then hold a copy.
      await client.listTools();
      await client.listTools();
      for (let i = 0; i < 50 && a.servers.length + b.servers.length < 2; i++) await sleep(20);
      await sleep(200);
      // Both replicas reloaded their config: each tells its own copies.
      for (const server of [...a.servers, ...b.servers]) await server.sendToolListChanged();
      // An upstream's log message, observed by one replica only: its copies, and the others'.
      for (const server of a.servers)
        await server.sendLoggingMessage({ level: 'info', data: 'seen on a' }).catch(() => undefined);
      a.sessions.shareLog({ level: 'info', data: 'seen on a' });
      for (let i = 0; i < 50 && heard.length < 2; i++) await sleep(20);
      await sleep(200);
      expect(heard.sort()).toEqual(['log:seen on a', 'tools']);
      // A host set the upstreams' log level on a: b's upstreams log at it too.
      a.sessions.shareLogLevel('debug');
      for (let i = 0; i < 50 && b.levels.length === 0; i++) await sleep(20);
      expect([a.levels, b.levels]).toEqual([[], ['debug']]);
    } finally {
      await client.close();
      await a.sessions.close();
      await b.sessions.close();
    }
  });

  it('keeps the log level a host set for a replica started later', async () => {
    const store = await redisStore();
    const levels = store.records(LOG_LEVEL_NAMESPACE);
    const a = replica(store);
    try {
      a.sessions.shareLogLevel('warning');
      for (let i = 0; i < 50 && (await levels.get('upstreams')) === undefined; i++) await sleep(20);
      // Started after the level was set: it heard nothing of it, and reads it at start.
      const later = replica(await redisStore());
      try {
        for (let i = 0; i < 50 && later.levels.length === 0; i++) await sleep(20);
        expect(later.levels).toEqual(['warning']);
        // A level set afterwards is heard as before.
        a.sessions.shareLogLevel('error');
        for (let i = 0; i < 50 && later.levels.length < 2; i++) await sleep(20);
        expect(later.levels).toEqual(['warning', 'error']);
      } finally {
        await later.sessions.close();
      }
    } finally {
      await a.sessions.close();
      await levels.delete('upstreams');
    }
  });

  it('counts each session once across replicas: by the one that opened it, or took it over when that one went', async () => {
    const [a, b] = [replica(await redisStore()), replica(await redisStore())];
    const served: number[] = [];
    const { client, transport } = await host([a, b], served);
    const c = replica(await redisStore());
    try {
      const id = transport.sessionId!;
      await client.listTools();
      await client.listTools();
      // Opened on a (the first request), copied to b: two copies, one session.
      expect([a.sessions.size, b.sessions.size]).toEqual([1, 1]);
      await sleep(100);
      expect([a.sessions.owned, b.sessions.owned]).toEqual([1, 0]);
      expect((await stores[0]!.records<SessionRecord>(SESSIONS_NAMESPACE).get(id))?.replica).toBeDefined();
      // a goes away; c makes a copy: a listens no more, so c counts it now (b, which made its
      // copy while a was there, still does not).
      await a.sessions.close();
      const list = await roundRobin([c], [])(URL_, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': id,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' }),
      });
      expect(list.status).toBe(200);
      for (let i = 0; i < 50 && c.sessions.owned === 0; i++) await sleep(20);
      expect([b.sessions.owned, c.sessions.owned]).toEqual([0, 1]);
      expect([b.sessions.size, c.sessions.size]).toEqual([1, 1]);
    } finally {
      await client.close().catch(() => undefined);
      await Promise.all([a, b, c].map((each) => each.sessions.close()));
    }
  });

  it('hands the count over: a replica that closes its idle copy gives it up, and one that went away is taken over at the next activity', async () => {
    const quick = { maxSessions: 10, idleMs: 400 };
    const [a, b, c] = [
      replica(await redisStore(), quick),
      replica(await redisStore(), quick),
      replica(await redisStore(), quick),
    ];
    const list = (to: Replica, id: string) => post(to, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, id);
    try {
      const id = (await post(a, {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      }))!;
      await post(a, { jsonrpc: '2.0', method: 'notifications/initialized' }, id);
      await list(b, id);
      await sleep(50);
      expect([a.sessions.owned, b.sessions.owned]).toEqual([1, 0]);
      // The host goes on with b only: a's copy idles and closes, and a gives the session up; b,
      // which serves it, takes it over.
      for (let i = 0; i < 40 && !(a.sessions.size === 0 && b.sessions.owned === 1); i++) {
        await list(b, id);
        await sleep(50);
      }
      expect([a.sessions.size, a.sessions.owned, b.sessions.owned]).toEqual([0, 0, 1]);
      // c serves it too; then b goes away without closing its copy (a crash, as far as the others
      // can tell): c takes it over at its next requests.
      await list(c, id);
      await sleep(50);
      expect(c.sessions.owned).toBe(0);
      await b.sessions.close();
      for (let i = 0; i < 40 && c.sessions.owned === 0; i++) {
        await list(c, id);
        await sleep(50);
      }
      expect(c.sessions.owned).toBe(1);
    } finally {
      await Promise.all([a, b, c].map((each) => each.sessions.close()));
    }
  });

  it('ends a question where it was asked when the host cancels it, wherever the cancellation lands', async () => {
    const [a, b] = [replica(await redisStore()), replica(await redisStore())];
    const served: number[] = [];
    const rpcs: string[] = [];
    const { client } = await host([a, b], served, rpcs);
    // The host cancels the question instead of answering it (and never answers).
    client.setRequestHandler('elicitation/create', async (_request, ctx) => {
      await client.notification({
        method: 'notifications/cancelled',
        params: { requestId: ctx.mcpReq.id, reason: 'the person closed the dialog' },
      });
      return new Promise<never>(() => undefined);
    });
    try {
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        await expect(client.callTool({ name: 'ask', arguments: {} }, { timeout: 10_000 })).rejects.toThrow(
          /The host cancelled the request: the person closed the dialog/,
        );
        expect(Date.now() - started).toBeLessThan(5_000);
      }
      // Some cancellations landed on the other replica than the call that asked.
      const crossed = rpcs.filter(
        (rpc, index) =>
          rpc === 'notifications/cancelled' &&
          served[rpcs.lastIndexOf('tools/call', index)] !== served[index],
      );
      expect(crossed.length, JSON.stringify([rpcs, served])).toBeGreaterThan(0);
      // The session goes on.
      expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['ask']);
    } finally {
      await client.close();
      await a.sessions.close();
      await b.sessions.close();
    }
  });

  it('DELETE ends the session on every replica', async () => {
    const [a, b] = [replica(await redisStore()), replica(await redisStore())];
    const served: number[] = [];
    const { client, transport } = await host([a, b], served);
    const id = transport.sessionId!;
    await client.listTools();
    await client.listTools();
    expect(a.sessions.size + b.sessions.size).toBe(2);
    await transport.terminateSession();
    for (let i = 0; i < 50 && a.sessions.size + b.sessions.size > 0; i++) await sleep(20);
    expect(a.sessions.size + b.sessions.size).toBe(0);
    expect(await stores[0]!.records(SESSIONS_NAMESPACE).get(id)).toBeUndefined();
    const again = await roundRobin([a, b], [])(URL_, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': id,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(again.status).toBe(404);
    await client.close();
    await a.sessions.close();
    await b.sessions.close();
  });
});

describe.skipIf(!hasRedis())('2025-era sessions while Redis is away', () => {
  it('are served where a copy is held, refused with the reason where one would be made', async () => {
    const own = await startRedis();
    const open = async () => {
      const store = await RedisState.connect(own.url);
      stores.push(store);
      return store;
    };
    const [a, b, c] = [replica(await open()), replica(await open()), replica(await open())];
    const served: number[] = [];
    const { client, transport } = await host([a, b], served);
    try {
      await client.listTools();
      expect(a.sessions.size + b.sessions.size).toBe(2);
      await own.kill();
      const list = (to: Replica) =>
        roundRobin([to], [])(URL_, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-session-id': transport.sessionId!,
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
        });
      const held = await list(a);
      expect(held.status).toBe(200);
      expect(await held.text()).toContain('"ask"');
      const refused = await list(c);
      expect(refused.status).toBe(503);
      expect(await refused.text()).toContain('could not reach its state store');
    } finally {
      await client.close();
      await Promise.all([a, b, c].map((each) => each.sessions.close()));
      await own.close();
    }
  });
});

describe('2025-era sessions on the file backend', () => {
  it('are served again from the record by a new process (a restart), bound to their caller', async () => {
    const first = replica(new FileState(directory));
    const served: number[] = [];
    const { client, transport } = await host([first], served);
    const id = transport.sessionId!;
    await first.sessions.close();
    // The host goes on with the same session, now served by another process.
    const second = replica(new FileState(directory));
    const fetch = roundRobin([second], []);
    const list = await fetch(URL_, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': id,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
    });
    expect(list.status).toBe(200);
    expect(await list.text()).toContain('"ask"');
    expect(second.servers[0]!.getClientVersion()?.name).toBe('shared-host');
    expect(second.servers[0]!.getClientCapabilities()?.elicitation).toBeDefined();
    const unknown = await fetch(URL_, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': 'no-such-session',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/list' }),
    });
    expect(unknown.status).toBe(404);
    await client.close().catch(() => undefined);
    await second.sessions.close();
  });

  it('after a restart, count the sessions carried over as their own and log at the level a host set', async () => {
    const own = join(directory, 'restart');
    const first = replica(new FileState(own));
    const { client, transport } = await host([first], []);
    expect(first.sessions.owned).toBe(1);
    first.sessions.shareLogLevel('notice');
    await sleep(50);
    await first.sessions.close();
    const second = replica(new FileState(own));
    try {
      const list = await roundRobin([second], [])(URL_, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': transport.sessionId!,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
      });
      expect(list.status).toBe(200);
      for (let i = 0; i < 50 && (second.sessions.owned === 0 || second.levels.length === 0); i++)
        await sleep(20);
      expect(second.sessions.owned).toBe(1);
      expect(second.levels).toEqual(['notice']);
    } finally {
      await client.close().catch(() => undefined);
      await second.sessions.close();
    }
  });
});
