/**
 * Tasks through three replicas sharing Redis (test/helpers/replicas.ts), #20's "any replica
 * serves any request of any session": a task lives with the replica that created it (its book,
 * its upstream session), and a request about it that lands on another replica is forwarded there
 * (forwarded-tasks.ts). Each request here is sent to a chosen replica (straight to its port, the
 * way haproxy would have sent it), so that which replica creates and which serves is certain;
 * server-everything's research query is the task.
 */

import { Client, StreamableHTTPClientTransport, type StandardSchemaV1 } from '@modelcontextprotocol/client';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { modernRequest, type Wire } from '../helpers/modern-wire.js';
import { hasRedis } from '../helpers/redis.js';
import { hasHaproxy, startReplicas, type Replicas } from '../helpers/replicas.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
const RELATED_TASK = 'io.modelcontextprotocol/related-task';
const RESEARCH = 'ev__simulate-research-query';

/** Any JSON object back (the client SDK has no runtime for tasks). */
const ANY: StandardSchemaV1<unknown, Wire> = {
  '~standard': { version: 1, vendor: 'test', validate: (value: unknown) => ({ value: value as Wire }) },
};

const ready = hasRedis() && hasHaproxy();

let sandbox: Sandbox;
let everything: EverythingServer;
let replicas: Replicas;

beforeAll(async () => {
  if (!ready) return;
  sandbox = await createSandbox();
  everything = await startEverything('streamableHttp');
  await sandbox.run(['add', 'ev', everything.url]);
  replicas = await startReplicas(sandbox, { args: ['--servers', 'ev'] });
}, 90_000);

afterAll(async () => {
  await replicas?.close();
  await everything?.close();
  await sandbox?.cleanup();
});

/** Replica `index`'s own MCP endpoint. */
const replicaUrl = (index: number) => `http://127.0.0.1:${replicas.gateways[index]!.port}/mcp`;

/**
 * A 2025-era host (the SDK's client) whose every HTTP request goes to replica `to` (set between
 * requests): one session, restored by each replica it reaches.
 */
async function legacyHost(name: string) {
  const route = { to: 0 };
  const asked: Array<{ message: string; relatedTask: unknown; replica: number }> = [];
  const statuses: Wire[] = [];
  const client = new Client(
    { name, version: '1.0.0' },
    { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: 'legacy' } },
  );
  client.setRequestHandler('elicitation/create', async (request) => {
    asked.push({
      message: String(request.params.message),
      relatedTask: (request.params._meta as Record<string, unknown> | undefined)?.[RELATED_TASK],
      replica: route.to,
    });
    return { action: 'accept' as const, content: { interpretation: 'programming' } };
  });
  client.setNotificationHandler('notifications/tasks/status' as never, (notification: { params: never }) => {
    statuses.push(notification.params);
  });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(replicas.url), {
      requestInit: { headers: { Authorization: `Bearer ${replicas.token}` } },
      fetch: (input, init) => fetch(replicaUrl(route.to), init),
    }),
  );
  return {
    route,
    asked,
    statuses,
    /** `method` sent to replica `to`. */
    request: (to: number, method: string, params: Record<string, unknown>) => {
      route.to = to;
      return client.request({ method, params } as never, ANY, { timeout: 30_000 });
    },
    close: () => client.close(),
  };
}

/** A 2026-07-28 host that declares the tasks extension, on the wire itself; each request to a chosen replica. */
function modernHost() {
  let id = 0;
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'modern-replica-host', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': {
      elicitation: { form: {} },
      extensions: { [TASKS_EXTENSION]: {} },
    },
  };
  return (to: number, method: string, params: Record<string, unknown>): Promise<Wire> =>
    modernRequest({ url: replicaUrl(to), bearer: replicas.token }, { id: ++id, method, params, meta });
}

const terminal = new Set(['completed', 'failed', 'cancelled']);

/** tasks/get, round-robin over `replicas`, until `done`. */
async function pollUntil(
  get: (to: number) => Promise<Wire>,
  over: number[],
  done: (task: Wire) => boolean,
  withinMs = 20_000,
): Promise<Wire> {
  const deadline = Date.now() + withinMs;
  for (let i = 0; ; i++) {
    const task = await get(over[i % over.length]!);
    if (done(task) || Date.now() > deadline) return task;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe.skipIf(!ready)('tasks across replicas', () => {
  it("a 2025-era host's task, made on one replica, is got, listed, waited on and answered through the others; another session hears it is unknown", async () => {
    const owner = await legacyHost('legacy-task-host');
    const other = await legacyHost('other-session');
    try {
      const created = await owner.request(0, 'tools/call', {
        name: RESEARCH,
        arguments: { topic: 'python', ambiguous: true },
        task: { ttl: 60_000 },
      });
      const taskId = created.task.taskId as string;
      expect(taskId).toMatch(/^pbt_/);
      // A second task, held by another replica, for tasks/list.
      const second = await owner.request(1, 'tools/call', {
        name: RESEARCH,
        arguments: { topic: 'listing' },
        task: { ttl: 60_000 },
      });
      const secondId = second.task.taskId as string;

      const got = await owner.request(1, 'tasks/get', { taskId });
      expect(got.taskId).toBe(taskId);
      expect(['working', 'input_required']).toContain(got.status);
      // Each replica lists the session's tasks of every replica, under the gateway's ids.
      for (const to of [0, 1, 2]) {
        const listed = await owner.request(to, 'tasks/list', {});
        expect(listed.tasks.map((task: Wire) => task.taskId).sort(), `listed on r${to}`).toEqual(
          [taskId, secondId].sort(),
        );
      }

      // Another session of the same member: unknown on every replica, the holder's too.
      for (const to of [0, 1, 2])
        for (const [method, params] of [
          ['tasks/get', { taskId }],
          ['tasks/cancel', { taskId }],
        ] as const)
          await expect(other.request(to, method, params), `${method} on r${to}`).rejects.toMatchObject({
            code: -32602,
            message: expect.stringContaining(`Unknown task: ${taskId}`),
          });
      await expect(other.request(2, 'tasks/result', { taskId })).rejects.toMatchObject({ code: -32602 });
      expect((await other.request(2, 'tasks/list', {})).tasks).toEqual([]);

      // Cancelled through r2 (held by r1).
      const cancelled = await owner.request(2, 'tasks/cancel', { taskId: secondId });
      expect(cancelled).toMatchObject({ taskId: secondId, status: 'cancelled' });
      expect((await owner.request(0, 'tasks/get', { taskId: secondId })).status).toBe('cancelled');

      // Waited on through r2: the task's question reaches the host on r2's stream, its answer goes back.
      const result = await owner.request(2, 'tasks/result', { taskId });
      expect(JSON.stringify(result.content)).toContain('Research Report: python (programming)');
      expect(result._meta?.[RELATED_TASK]).toEqual({ taskId });
      expect(owner.asked).toHaveLength(1);
      expect(owner.asked[0]).toMatchObject({ relatedTask: { taskId }, replica: 2 });
      expect(owner.asked[0]!.message).toContain('could have multiple interpretations');
      // Status notifications came under the gateway's ids, never the upstream's.
      expect(owner.statuses.map((status) => status.taskId)).toContain(taskId);
      expect(owner.statuses.every((status) => [taskId, secondId].includes(status.taskId))).toBe(true);
      expect((await owner.request(1, 'tasks/get', { taskId })).status).toBe('completed');
    } finally {
      await Promise.all([owner.close(), other.close()]);
    }
  }, 40_000);

  it("a 2026-07-28 host's task, made on one replica, is polled, answered and cancelled through the others", async () => {
    const request = modernHost();
    const created = await request(0, 'tools/call', {
      name: RESEARCH,
      arguments: { topic: 'python', ambiguous: true },
    });
    expect(created.resultType).toBe('task');
    const taskId = created.taskId as string;
    // The store's record: who holds it and whose it is, nothing secret, kept as long as the book keeps it.
    const raw = createClient({ url: replicas.redis.url });
    await raw.connect();
    try {
      const record = JSON.parse((await raw.get(`patchbay:tasks:${taskId}`))!) as Wire;
      expect(Object.keys(record).sort()).toEqual(['owner', 'replica']);
      expect(JSON.parse(record.owner)).toEqual(['http', 'gateway-token', null, null, null]);
      expect(record.owner).not.toContain(replicas.token);
      const ttl = await raw.pTTL(`patchbay:tasks:${taskId}`);
      expect(ttl).toBeGreaterThan(300_000);
      expect(ttl).toBeLessThanOrEqual(360_000);
    } finally {
      await raw.close();
    }
    const get = (to: number) => request(to, 'tasks/get', { taskId });
    const waiting = await pollUntil(get, [1, 2], (task) => task.status !== 'working');
    expect(waiting.status).toBe('input_required');
    const [key, question] = Object.entries(waiting.inputRequests as Wire)[0]!;
    expect(question.params.message).toContain('could have multiple interpretations');
    const ack = await request(2, 'tasks/update', {
      taskId,
      inputResponses: { [key]: { action: 'accept', content: { interpretation: 'snake' } } },
    });
    expect(ack.resultType).toBe('complete');
    const done = await pollUntil(get, [1, 2], (task) => terminal.has(task.status));
    expect(done.status).toBe('completed');
    expect(JSON.stringify(done.result.content)).toContain('Research Report: python (snake)');

    // A running one, cancelled through another replica than its own.
    const running = await request(1, 'tools/call', { name: RESEARCH, arguments: { topic: 'to cancel' } });
    const runningId = running.taskId as string;
    expect((await request(0, 'tasks/cancel', { taskId: runningId })).resultType).toBe('complete');
    const after = await pollUntil(
      (to) => request(to, 'tasks/get', { taskId: runningId }),
      [2, 0],
      (task) => terminal.has(task.status),
    );
    expect(after.status).toBe('cancelled');
    await expect(request(2, 'tasks/get', { taskId: 'pbt_nope' })).rejects.toMatchObject({ code: -32602 });
  }, 40_000);

  it('says a task was lost with its replica when the replica that held it is gone', async () => {
    const request = modernHost();
    const created = await request(2, 'tools/call', { name: RESEARCH, arguments: { topic: 'lost' } });
    const taskId = created.taskId as string;
    await replicas.kill(2);
    for (const method of ['tasks/get', 'tasks/cancel'])
      await expect(request(0, method, { taskId }), method).rejects.toMatchObject({
        code: -32602,
        message: expect.stringMatching(
          /task was lost with the patchbay replica that held it.*call the tool again/,
        ),
      });
    // A new task goes on through the replicas left.
    const again = await request(1, 'tools/call', { name: RESEARCH, arguments: { topic: 'again' } });
    expect((await request(0, 'tasks/cancel', { taskId: again.taskId })).resultType).toBe('complete');
  }, 30_000);
});
