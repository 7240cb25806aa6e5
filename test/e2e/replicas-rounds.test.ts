/**
 * A 2026-07-28 host's input_required rounds through three replicas behind haproxy (round-robin
 * per request, no affinity: test/helpers/replicas.ts): the retry with the host's answers lands on
 * another replica than the one holding the paused call, which continues it there (#20). Which
 * replica answered is read from `x-patchbay-replica` through a recording fetch handed to the
 * transport.
 */

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { hasRedis } from '../helpers/redis.js';
import { hasHaproxy, REPLICA_HEADER, startReplicas, type Replicas } from '../helpers/replicas.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let everything: EverythingServer;
let replicas: Replicas;

const ELICITING = 'evhttp__trigger-elicitation-request';
const ANSWER = { action: 'accept', content: { name: 'Ada Lovelace' } };

beforeAll(async () => {
  if (!hasRedis() || !hasHaproxy()) return;
  sandbox = await createSandbox();
  everything = await startEverything('streamableHttp');
  await sandbox.run(['add', 'evhttp', everything.url]);
  replicas = await startReplicas(sandbox, { args: ['--servers', 'evhttp'] });
}, 90_000);

afterAll(async () => {
  await replicas?.close();
  await everything?.close();
  await sandbox?.cleanup();
});

interface Seen {
  method: string | undefined;
  retry: boolean;
  replica: string | null;
}

/** fetch as the transport's own, recording each request's method and the replica that answered. */
function recordingFetch(seen: Seen[]): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    let body: { method?: string; params?: { requestState?: unknown } } | undefined;
    try {
      body = JSON.parse(String(init?.body));
    } catch {
      body = undefined;
    }
    seen.push({
      method: body?.method,
      retry: typeof body?.params?.requestState === 'string',
      replica: response.headers.get(REPLICA_HEADER),
    });
    return response;
  };
}

/** One raw 2026-07-28 tools/call, as a host sends it; its JSON-RPC answer (JSON or SSE) and replica. */
async function callRaw(params: Record<string, unknown>) {
  const response = await fetch(replicas.url, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${replicas.token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': ELICITING,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: {
        name: ELICITING,
        arguments: {},
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientInfo': { name: 'raw-host', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
        },
      },
    }),
  });
  const text = await response.text();
  if (!response.ok)
    throw new Error(`HTTP ${response.status} from ${response.headers.get(REPLICA_HEADER)}: ${text}`);
  const messages = response.headers.get('content-type')?.includes('text/event-stream')
    ? text
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>)
    : [JSON.parse(text) as Record<string, unknown>];
  const answer = messages.find((message) => 'result' in message || 'error' in message);
  return {
    replica: response.headers.get(REPLICA_HEADER),
    result: answer?.result as
      { resultType?: string; requestState?: string; content?: unknown; inputRequests?: object } | undefined,
    error: answer?.error as { code: number; message: string } | undefined,
  };
}

describe.skipIf(!hasRedis() || !hasHaproxy())('input_required rounds across replicas', () => {
  it("continues a paused call on the replica that holds it when the host's retry lands on another", async () => {
    const seen: Seen[] = [];
    const client = new Client(
      { name: 'modern-host', version: '1.0.0' },
      { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: 'auto' } },
    );
    const questions: string[] = [];
    client.setRequestHandler('elicitation/create', async (request) => {
      questions.push(String(request.params.message));
      return { action: 'accept' as const, content: { name: 'Ada Lovelace' } };
    });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(replicas.url), {
        requestInit: { headers: { Authorization: `Bearer ${replicas.token}` } },
        fetch: recordingFetch(seen),
      }),
    );
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      const { tools } = await client.listTools();
      const eliciting = tools.find((tool) => tool.name.endsWith('trigger-elicitation-request'));
      expect(eliciting?.name).toBe(ELICITING);
      const result = await client.callTool({ name: ELICITING, arguments: {} }, { timeout: 30_000 });
      expect(JSON.stringify(result.content)).toContain('Ada Lovelace');
      expect(questions).toHaveLength(1);
      const calls = seen.filter((request) => request.method === 'tools/call');
      expect(calls.map((call) => call.retry)).toEqual([false, true]);
      const [paused, retried] = calls.map((call) => call.replica);
      expect(paused).toMatch(/^r\d$/);
      expect(retried).toMatch(/^r\d$/);
      expect(retried).not.toBe(paused);
    } finally {
      await client.close();
    }
  }, 60_000);

  it('lets exactly one of two retries with one requestState proceed', async () => {
    const first = await callRaw({});
    expect(first.result?.resultType).toBe('input_required');
    const requestState = first.result!.requestState!;
    const inputResponses = Object.fromEntries(
      Object.keys(first.result!.inputRequests!).map((key) => [key, ANSWER]),
    );
    const retries = await Promise.all([
      callRaw({ requestState, inputResponses }),
      callRaw({ requestState, inputResponses }),
    ]);
    // Two requests in a row through round-robin: two replicas.
    expect(retries[0]!.replica).not.toBe(retries[1]!.replica);
    const proceeded = retries.filter((retry) => retry.result);
    const refused = retries.filter((retry) => retry.error);
    expect(proceeded).toHaveLength(1);
    expect(JSON.stringify(proceeded[0]!.result!.content)).toContain('Ada Lovelace');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.error!.message).toContain('Invalid or expired requestState');
  }, 60_000);

  it('says the paused call was lost when the replica that held it was killed', async () => {
    const first = await callRaw({});
    expect(first.result?.resultType).toBe('input_required');
    const owner = Number(first.replica!.slice(1));
    await replicas.kill(owner);
    const inputResponses = Object.fromEntries(
      Object.keys(first.result!.inputRequests!).map((key) => [key, ANSWER]),
    );
    const retry = await callRaw({ requestState: first.result!.requestState, inputResponses });
    expect(retry.replica).not.toBe(first.replica);
    expect(retry.error?.message).toMatch(
      /paused call was lost with the patchbay replica that held it.*call again without requestState/,
    );
    // Called again without it, the call goes on through the replicas left.
    const again = await callRaw({});
    expect(again.result?.resultType).toBe('input_required');
  }, 60_000);
});
