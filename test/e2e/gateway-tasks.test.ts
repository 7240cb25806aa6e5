/**
 * Tasks through `patchbay serve --http` (the built binary), with server-everything behind it over
 * Streamable HTTP, legacy SSE and stdio, and real hosts (the SDK's client) of both eras in front:
 *
 * - a 2025-11-25 host: `tools/call` with a task, `tasks/get`, `tasks/result` (the ambiguous
 *   research query's elicitation relayed to it and answered), `tasks/list`, `tasks/cancel`, and
 *   `notifications/tasks/status` under the gateway's task id;
 * - a 2026-07-28 host speaking the tasks extension: a task handle, `tasks/get` polled to
 *   `input_required` with the question inlined, `tasks/update` answering it, the result inlined;
 *   `tasks/cancel` acked; `tasks/list` and `tasks/result` unknown;
 * - the same policy as calls (a deny rule, an ask rule, a limit counting the task-creating call),
 *   one audit line for the creating call, and a task no one else (another session, another
 *   member of a team gateway) can read, answer or cancel;
 * - a 2026-07-28 host without the extension: -32021 for a tool that runs only as a task.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Client, StreamableHTTPClientTransport, type StandardSchemaV1 } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EVERYTHING_SCRIPT, startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { modernRequest, type Wire, type WireTarget } from '../helpers/modern-wire.js';
import { BINARY, createSandbox, type Sandbox } from '../helpers/sandbox.js';

const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
const RELATED_TASK = 'io.modelcontextprotocol/related-task';

/** Any JSON object back (the client SDK has no runtime for tasks). */
const ANY: StandardSchemaV1<unknown, Wire> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (value: unknown) => ({ value: value as Wire }),
  },
};

let sandbox: Sandbox;
let http: EverythingServer;
let sse: EverythingServer;
let gateway: RunningGateway;

beforeAll(async () => {
  sandbox = await createSandbox();
  [http, sse] = await Promise.all([startEverything('streamableHttp'), startEverything('sse')]);
  // Each step's commands at once (the config files are written under a lock).
  await Promise.all([
    sandbox.run(['add', 'ev', http.url]),
    sandbox.run(['add', 'evsse', sse.url, '--transport', 'sse']),
    sandbox.run(['add', 'evio', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio']),
    // The same server under names whose task tool is denied, set to ask; evio's is limited: a
    // task-creating call is a call of its tool.
    sandbox.run(['add', 'evdeny', http.url]),
    sandbox.run(['add', 'evask', http.url]),
  ]);
  await Promise.all([
    sandbox.run(['permit', 'evdeny', 'simulate-research-query', 'deny']),
    sandbox.run(['permit', 'evask', 'simulate-research-query', 'ask']),
    sandbox.run(['limit', 'evio', 'simulate-research-query', '3/day']),
  ]);
  gateway = await startGateway(sandbox);
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await Promise.all([http?.close(), sse?.close()]);
  await sandbox?.cleanup();
});

interface Host {
  client: Client;
  /** Elicitation messages the host was asked, with the related task they named. */
  asked: Array<{ message: string; relatedTask: unknown }>;
  /** notifications/tasks/status the host heard. */
  statuses: Array<Wire>;
  request(method: string, params: Record<string, unknown>): Promise<Wire>;
  close(): Promise<void>;
}

async function host(era: 'legacy' | 'modern', options: { tasks?: boolean } = {}): Promise<Host> {
  return era === 'legacy' ? legacyHost() : modernHost(options.tasks !== false);
}

/** The gateway a modern host talks to, and with which bearer (the gateway token, or a member's key). */
type Target = WireTarget;

async function legacyHost(): Promise<Host> {
  const client = new Client(
    { name: 'legacy-tasks-host', version: '1.0.0' },
    { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: 'legacy' } },
  );
  const asked: Host['asked'] = [];
  const statuses: Host['statuses'] = [];
  client.setRequestHandler('elicitation/create', async (request) => {
    asked.push({
      message: String(request.params.message),
      relatedTask: (request.params._meta as Record<string, unknown> | undefined)?.[RELATED_TASK],
    });
    // The gateway's approval question (a tool set to ask), or the research query's.
    const approval = JSON.stringify(request.params).includes('"decision"');
    return {
      action: 'accept' as const,
      content: (approval ? { decision: 'once' } : { interpretation: 'programming' }) as Record<
        string,
        string
      >,
    };
  });
  client.setNotificationHandler('notifications/tasks/status' as never, (notification: { params: never }) => {
    statuses.push(notification.params);
  });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
    }),
  );
  return {
    client,
    asked,
    statuses,
    request: (method, params) => client.request({ method, params } as never, ANY, { timeout: 60_000 }),
    close: () => client.close(),
  };
}

/**
 * A 2026-07-28 host, on the wire itself: the SDK's client reads no `resultType: "task"` (it has
 * no runtime for the tasks extension). Each request carries the per-request envelope and the
 * SEP-2243 routing headers, as the SDK's client sends them.
 */
async function modernHost(
  declaresTasks: boolean,
  target: Target = { url: gateway.url, bearer: gateway.token },
): Promise<Host & { capabilities(): Promise<Wire> }> {
  let id = 0;
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'modern-tasks-host', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': {
      elicitation: { form: {} },
      ...(declaresTasks ? { extensions: { [TASKS_EXTENSION]: {} } } : {}),
    },
  };
  const request = (method: string, params: Record<string, unknown>) =>
    modernRequest(target, { id: ++id, method, params, meta });
  return {
    client: undefined as never,
    asked: [],
    statuses: [],
    request,
    capabilities: async () => (await request('server/discover', {})).capabilities,
    close: async () => undefined,
  };
}

const terminal = new Set(['completed', 'failed', 'cancelled']);

async function pollUntil(
  client: Host,
  taskId: string,
  done: (task: Wire) => boolean,
  withinMs = 20_000,
): Promise<Wire> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const task = await client.request('tasks/get', { taskId });
    if (done(task) || Date.now() > deadline) return task;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('a 2025-11-25 host', () => {
  it('lists task tools with their taskSupport', async () => {
    const legacy = await host('legacy');
    try {
      const tools = (await legacy.client.listTools()).tools;
      const research = tools.find((tool) => tool.name === 'ev__simulate-research-query');
      expect(research?.execution).toEqual({ taskSupport: 'required' });
      expect(legacy.client.getServerCapabilities()).toMatchObject({
        tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
      });
    } finally {
      await legacy.close();
    }
  });

  for (const server of ['ev', 'evsse', 'evio'] as const) {
    it(`runs ${server}'s research query as a task: status, the elicitation answered through tasks/result, the result`, async () => {
      const legacy = await host('legacy');
      try {
        const created = await legacy.request('tools/call', {
          name: `${server}__simulate-research-query`,
          arguments: { topic: 'python', ambiguous: true },
          task: { ttl: 60_000 },
        });
        const taskId = created.task.taskId as string;
        expect(taskId).toMatch(/^pbt_/);
        expect(created.task.status).toBe('working');
        const got = await legacy.request('tasks/get', { taskId });
        expect(got.taskId).toBe(taskId);
        expect(['working', 'input_required']).toContain(got.status);
        const listed = await legacy.request('tasks/list', {});
        expect(listed.tasks.map((task: { taskId: string }) => task.taskId)).toContain(taskId);
        const result = await legacy.request('tasks/result', { taskId });
        expect(JSON.stringify(result.content)).toContain('Research Report: python (programming)');
        expect(result._meta?.[RELATED_TASK]).toEqual({ taskId });
        expect(legacy.asked).toHaveLength(1);
        expect(legacy.asked[0]!.message).toContain('could have multiple interpretations');
        expect(legacy.asked[0]!.relatedTask).toEqual({ taskId });
        const after = await legacy.request('tasks/get', { taskId });
        expect(after.status).toBe('completed');
        // Status notifications came under the gateway's id, never the upstream's.
        expect(legacy.statuses.length).toBeGreaterThan(0);
        expect(legacy.statuses.every((status) => status.taskId === taskId)).toBe(true);
        expect(legacy.statuses.map((status) => status.status)).toContain('input_required');
      } finally {
        await legacy.close();
      }
    }, 40_000);
  }

  it("runs a task through patchbay serve over stdio (the host is the gateway's parent)", async () => {
    const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');
    const client = new Client(
      { name: 'stdio-tasks-host', version: '1.0.0' },
      { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: 'legacy' } },
    );
    const statuses: string[] = [];
    client.setNotificationHandler('notifications/tasks/status' as never, (notification: { params: Wire }) => {
      statuses.push(String(notification.params.taskId));
    });
    client.setRequestHandler('elicitation/create', async () => ({
      action: 'accept' as const,
      content: { interpretation: 'comedy' },
    }));
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BINARY, 'serve', '--servers', 'evio'],
        env: sandbox.env as Record<string, string>,
        cwd: sandbox.project,
        stderr: 'ignore',
      }),
    );
    try {
      const request = (method: string, params: Record<string, unknown>) =>
        client.request({ method, params } as never, ANY, { timeout: 60_000 });
      const created = await request('tools/call', {
        name: 'evio__simulate-research-query',
        arguments: { topic: 'python', ambiguous: true },
        task: {},
      });
      const taskId = created.task.taskId as string;
      const result = await request('tasks/result', { taskId });
      expect(JSON.stringify(result.content)).toContain('Research Report: python (comedy)');
      expect(statuses.length).toBeGreaterThan(0);
      expect(new Set(statuses)).toEqual(new Set([taskId]));
    } finally {
      await client.close();
    }
  }, 40_000);

  it('cancels a task, and another session can neither read nor cancel it', async () => {
    const owner = await host('legacy');
    const other = await host('legacy');
    try {
      const created = await owner.request('tools/call', {
        name: 'ev__simulate-research-query',
        arguments: { topic: 'cancellation' },
        task: { ttl: 60_000 },
      });
      const taskId = created.task.taskId as string;
      for (const [method, params] of [
        ['tasks/get', { taskId }],
        ['tasks/result', { taskId }],
        ['tasks/cancel', { taskId }],
      ] as const)
        await expect(other.request(method, params), method).rejects.toMatchObject({ code: -32602 });
      expect((await other.request('tasks/list', {})).tasks).toEqual([]);
      const cancelled = await owner.request('tasks/cancel', { taskId });
      expect(cancelled).toMatchObject({ taskId, status: 'cancelled' });
      expect((await owner.request('tasks/get', { taskId })).status).toBe('cancelled');
    } finally {
      await Promise.all([owner.close(), other.close()]);
    }
  }, 30_000);

  it('refuses a denied task tool and counts a task-creating call against a limit, each in the audit log', async () => {
    const legacy = await host('legacy');
    try {
      const denied = await legacy.request('tools/call', {
        name: 'evdeny__simulate-research-query',
        arguments: { topic: 'denied' },
        task: { ttl: 60_000 },
      });
      expect(denied.isError).toBe(true);
      expect(denied.task).toBeUndefined();
      expect(JSON.stringify(denied.content)).toContain('policy denies');
      // Set to ask: the host's person is asked first, then the task is made.
      const asked = await legacy.request('tools/call', {
        name: 'evask__simulate-research-query',
        arguments: { topic: 'asked' },
        task: { ttl: 60_000 },
      });
      expect(asked.task?.taskId).toMatch(/^pbt_/);
      expect(legacy.asked.map((question) => question.message).join('\n')).toContain(
        'simulate-research-query',
      );
      await legacy.request('tasks/cancel', { taskId: asked.task.taskId });
      // The limit is 3/day; the research test above made one task of evio already, and stdio one more.
      const second = await legacy.request('tools/call', {
        name: 'evio__simulate-research-query',
        arguments: { topic: 'second' },
        task: { ttl: 60_000 },
      });
      expect(second.task?.taskId).toMatch(/^pbt_/);
      const third = await legacy.request('tools/call', {
        name: 'evio__simulate-research-query',
        arguments: { topic: 'third' },
        task: { ttl: 60_000 },
      });
      expect(third.isError).toBe(true);
      expect(JSON.stringify(third.content)).toContain('Usage limit reached');
      await legacy.request('tasks/cancel', { taskId: second.task.taskId }).catch(() => undefined);
    } finally {
      await legacy.close();
    }
    const log = await sandbox.run(['log', '--json']);
    expect(log.code, log.stderr).toBe(0);
    const entries = (JSON.parse(log.stdout) as Array<Wire>).filter(
      (entry) => entry.via === 'gateway' && entry.tool === 'simulate-research-query',
    );
    const decisions = (server: string) =>
      entries.filter((entry) => entry.server === server).map((entry) => entry.decision);
    expect(decisions('evdeny')).toEqual(['denied']);
    expect(decisions('evask')).toEqual(['asked']);
    expect(decisions('evio')).toEqual(['allowed', 'allowed', 'allowed', 'limited']);
    expect(entries.find((entry) => entry.server === 'ev')).toMatchObject({
      outcome: 'ok',
      host: 'legacy-tasks-host',
    });
  }, 30_000);
});

// The 2025-11-25 cases above run one at a time: run at once, a task's elicitation does not reach
// its host when another 2025-era host has a session (a gateway bug, not yet fixed). The cases
// below, with no sessions, run at once: they wait on the research query's fixed stages.
describe.concurrent('a 2026-07-28 host (the tasks extension)', () => {
  it('is offered the extension and runs the research query as a task: input_required, tasks/update, the result inlined', async () => {
    const modern = await modernHost(true);
    try {
      const capabilities = await modern.capabilities();
      expect(capabilities.extensions).toEqual({ [TASKS_EXTENSION]: {} });
      expect(capabilities.tasks).toBeUndefined();
      const created = await modern.request('tools/call', {
        name: 'ev__simulate-research-query',
        arguments: { topic: 'python', ambiguous: true },
      });
      expect(created.resultType).toBe('task');
      expect(created.task).toBeUndefined();
      const taskId = created.taskId as string;
      expect(taskId).toMatch(/^pbt_/);
      expect(created).toMatchObject({ status: 'working', ttlMs: 300_000, pollIntervalMs: 1000 });
      expect('ttl' in created || 'pollInterval' in created).toBe(false);
      const waiting = await pollUntil(modern, taskId, (task) => task.status !== 'working');
      expect(waiting.status).toBe('input_required');
      const [key, question] = Object.entries(waiting.inputRequests as Wire)[0]!;
      expect(question.method).toBe('elicitation/create');
      expect(question.params.message).toContain('could have multiple interpretations');
      const ack = await modern.request('tasks/update', {
        taskId,
        inputResponses: { [key]: { action: 'accept', content: { interpretation: 'snake' } } },
      });
      expect(Object.keys(ack).filter((name) => name !== '_meta')).toEqual(['resultType']);
      const done = await pollUntil(modern, taskId, (task) => terminal.has(task.status));
      expect(done.status).toBe('completed');
      expect(JSON.stringify(done.result.content)).toContain('Research Report: python (snake)');
      expect(done.result._meta?.[RELATED_TASK]).toBeUndefined();
      await expect(modern.request('tasks/list', {})).rejects.toMatchObject({ code: -32601 });
      await expect(modern.request('tasks/result', { taskId })).rejects.toMatchObject({ code: -32601 });
      // Cancel of an ended task: the same empty ack.
      const again = await modern.request('tasks/cancel', { taskId });
      expect(again.resultType).toBe('complete');
      expect(again.taskId).toBeUndefined();
    } finally {
      await modern.close();
    }
  }, 40_000);

  it('cancels a running task, and refuses task methods to a request without the extension', async () => {
    const modern = await host('modern');
    const plain = await host('modern', { tasks: false });
    try {
      // Over the legacy SSE upstream this time.
      const made = await modern.request('tools/call', {
        name: 'evsse__simulate-research-query',
        arguments: { topic: 'to cancel' },
      });
      const taskId = made.taskId as string;
      expect(taskId).toMatch(/^pbt_/);
      await expect(plain.request('tasks/get', { taskId })).rejects.toMatchObject({ code: -32021 });
      // A tool that runs only as a task, for a host without the extension: -32021 naming it.
      await expect(
        plain.request('tools/call', { name: 'ev__simulate-research-query', arguments: { topic: 'x' } }),
      ).rejects.toMatchObject({
        code: -32021,
        data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } },
      });
      // Any other tool is called as ever, for either host.
      for (const each of [modern, plain]) {
        const echoed = await each.request('tools/call', { name: 'ev__echo', arguments: { message: 'sync' } });
        expect(echoed).toMatchObject({
          resultType: 'complete',
          content: [{ type: 'text', text: 'Echo: sync' }],
        });
        expect(echoed.taskId).toBeUndefined();
      }
      const ack = await modern.request('tasks/cancel', { taskId });
      expect(ack.resultType).toBe('complete');
      expect((await pollUntil(modern, taskId, (task) => terminal.has(task.status))).status).toBe('cancelled');
      await expect(modern.request('tasks/get', { taskId: 'pbt_nope' })).rejects.toMatchObject({
        code: -32602,
      });
    } finally {
      await Promise.all([modern.close(), plain.close()]);
    }
  }, 30_000);
});

describe.concurrent('on a team gateway', () => {
  it("keeps one member's task from another (2026-07-28 hosts: no session, the member is the owner)", async () => {
    const key = async (member: string) => {
      const run = await sandbox.run(['keys', 'create', `${member}-laptop`, '--member', member]);
      expect(run.code, run.stderr).toBe(0);
      return run.stdout.trim();
    };
    const [alice, bob] = [await key('alice'), await key('bob')];
    const config = join(sandbox.root, 'team.jsonc');
    await writeFile(config, '{ "auth": { "apiKeys": true } }\n');
    const team = await startGateway(sandbox, ['--config', config, '--servers', 'ev']);
    try {
      const asAlice = await modernHost(true, { url: team.url, bearer: alice });
      const alsoAlice = await modernHost(true, { url: team.url, bearer: alice });
      const asBob = await modernHost(true, { url: team.url, bearer: bob });
      const created = await asAlice.request('tools/call', {
        name: 'ev__simulate-research-query',
        arguments: { topic: 'members' },
      });
      const taskId = created.taskId as string;
      for (const method of ['tasks/get', 'tasks/cancel'])
        await expect(asBob.request(method, { taskId }), method).rejects.toMatchObject({ code: -32602 });
      await expect(asBob.request('tasks/update', { taskId, inputResponses: {} })).rejects.toMatchObject({
        code: -32602,
      });
      expect((await alsoAlice.request('tasks/get', { taskId })).taskId).toBe(taskId);
      await asAlice.request('tasks/cancel', { taskId });
    } finally {
      await team.stop();
    }
  }, 40_000);
});
