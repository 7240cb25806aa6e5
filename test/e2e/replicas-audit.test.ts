/**
 * Three replicas behind haproxy write one audit stream, and a replica killed with -9 under load
 * loses no completed call's line: hosts that can be asked (elicitation) take the full path, which
 * stores the line (in Redis, or the local spool) before it answers. The hot path's loss window
 * after the answer is measured by bench/audit-stream.mjs, not asserted here (policy/audit.ts).
 */

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { hasRedis } from '../helpers/redis.js';
import { hasHaproxy, startReplicas, type Replicas } from '../helpers/replicas.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let everything: EverythingServer;
let replicas: Replicas;

beforeAll(async () => {
  sandbox = await createSandbox();
  everything = await startEverything('streamableHttp');
  await sandbox.run(['add', 'ev', everything.url]);
  replicas = await startReplicas(sandbox, { args: ['--log-arguments'] });
}, 90_000);

afterAll(async () => {
  await replicas?.close();
  await everything?.close();
  await sandbox?.cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Answers the gateway gave through its hot path (its diagnostic header): none expected here. */
let hotAnswers = 0;

async function host() {
  // Able to be asked: its calls take the gateway's full path (the line stored before the answer).
  // The 2026-07-28 era: no session, so any replica serves any request.
  const client = new Client(
    { name: 'audit-host', version: '1.0.0' },
    { capabilities: { elicitation: {} }, versionNegotiation: { mode: 'auto' } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(replicas.url), {
      requestInit: { headers: { Authorization: `Bearer ${replicas.token}` } },
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        if (response.headers.get('x-patchbay-relay') === 'hot') hotAnswers++;
        return response;
      },
    }),
  );
  return client;
}

describe.skipIf(!hasRedis() || !hasHaproxy())('one audit stream over three replicas', () => {
  it('kill -9 of one replica under load: every completed call is in the stream, once', async () => {
    const hosts = await Promise.all(Array.from({ length: 6 }, () => host()));
    const completed: string[] = [];
    let failed = 0;
    let running = true;
    const loops = hosts.map(async (client, index) => {
      for (let round = 0; running; round++) {
        const message = `h${index} r${round}`;
        try {
          const result = await client.callTool(
            { name: 'ev__echo', arguments: { message } },
            { timeout: 15_000 },
          );
          if (!result.isError) completed.push(message);
          else failed++;
        } catch {
          // In flight on the replica that was killed: not completed.
          failed++;
        }
      }
    });
    try {
      // Under way on every replica first (this machine may be slow).
      const started = Date.now() + 20_000;
      while (completed.length < 50) {
        expect(Date.now()).toBeLessThan(started);
        await sleep(50);
      }
      await replicas.kill(1);
      const after = completed.length;
      const deadline = Date.now() + 20_000;
      while (completed.length < after + 60) {
        expect(Date.now()).toBeLessThan(deadline);
        await sleep(100);
      }
    } finally {
      running = false;
      await Promise.allSettled(loops);
      await Promise.all(hosts.map((client) => client.close().catch(() => undefined)));
    }
    expect(completed.length).toBeGreaterThan(100);
    expect(hotAnswers).toBe(0);

    const redis = createClient({ url: replicas.redis.url });
    await redis.connect();
    let entries: Array<{ id: string; line: string }>;
    try {
      entries = ((await redis.xRange('patchbay:{audit}:stream', '-', '+')) ?? []).map(
        (entry) => entry.message as { id: string; line: string },
      );
    } finally {
      await redis.close();
    }
    expect(new Set(entries.map((entry) => entry.id)).size).toBe(entries.length);
    const messages = entries
      .map((entry) => JSON.parse(entry.line) as { tool: string; arguments?: { message?: string } })
      .filter((line) => line.tool === 'echo')
      .map((line) => line.arguments?.message);
    const stored = new Set(messages);
    // No call ran twice: the balancer retries only connections refused, never a request a dying
    // replica may have run (`retry-on empty-response` would), and no line was written twice.
    expect(messages.length - stored.size).toBe(0);
    const missing = completed.filter((message) => !stored.has(message));
    expect(missing, `${failed} calls failed at the kill`).toEqual([]);
  }, 120_000);
});
