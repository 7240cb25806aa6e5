/**
 * The pause-and-resume bookkeeping of input-relay.ts, round by round, with the handler context
 * reduced to the fields it reads. The wire side is covered end to end in test/e2e/gateway.test.ts.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ServerContext } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { InputRelay, PAUSE_MS, sharedPauses, type RelayedCall } from '../../src/gateway/input-relay.js';
import { FileState } from '../../src/state/files.js';
import { RedisState } from '../../src/state/redis.js';
import type { StateStore } from '../../src/state/store.js';
import { hasRedis, startRedis, type RedisServer } from '../helpers/redis.js';

function round(options: { state?: string; responses?: Record<string, unknown> } = {}) {
  const aborter = new AbortController();
  const ctx = {
    mcpReq: {
      requestState: () => options.state,
      inputResponses: options.responses,
      signal: aborter.signal,
      _meta: {},
    },
  } as unknown as ServerContext;
  return { ctx, cancel: () => aborter.abort() };
}

type Paused = { resultType: string; requestState: string; inputRequests: Record<string, { method: string }> };

describe('InputRelay', () => {
  it('pauses on a question, resumes with the answer, and returns the result', async () => {
    const relay = new InputRelay();
    const upstream = async (call: RelayedCall) => {
      const first = (await call.ask('elicitation/create', {
        message: 'Name?',
        requestedSchema: { type: 'object', properties: { name: { type: 'string' } } },
      })) as { content: { name: string } };
      const second = (await call.ask('sampling/createMessage', { messages: [], maxTokens: 1 })) as {
        content: { text: string };
      };
      return `${first.content.name} / ${second.content.text}`;
    };
    const one = (await relay.round(round().ctx, 'tool a', upstream)) as Paused;
    expect(one.resultType).toBe('input_required');
    expect(one.inputRequests.q1!.method).toBe('elicitation/create');
    const two = (await relay.round(
      round({ state: one.requestState, responses: { q1: { action: 'accept', content: { name: 'Ada' } } } })
        .ctx,
      'tool a',
      upstream,
    )) as Paused;
    expect(two.inputRequests.q2!.method).toBe('sampling/createMessage');
    expect(two.requestState).not.toBe(one.requestState);
    const done = await relay.round(
      round({ state: two.requestState, responses: { q2: { content: { text: 'hi' } } } }).ctx,
      'tool a',
      upstream,
    );
    expect(done).toBe('Ada / hi');
    // A state is good for one round only.
    await expect(relay.round(round({ state: two.requestState }).ctx, 'tool a', upstream)).rejects.toThrow(
      /Invalid or expired requestState/,
    );
  });

  it('asks again a question the retry left unanswered, and refuses a state issued for another request', async () => {
    const relay = new InputRelay();
    const upstream = async (call: RelayedCall) => call.ask('elicitation/create', { message: 'ok?' });
    const one = (await relay.round(round().ctx, 'tool a', upstream)) as Paused;
    await expect(relay.round(round({ state: one.requestState }).ctx, 'tool b', upstream)).rejects.toThrow(
      /requestState/,
    );
    const fresh = (await relay.round(round().ctx, 'tool a', upstream)) as Paused;
    const again = (await relay.round(
      round({ state: fresh.requestState, responses: {} }).ctx,
      'tool a',
      upstream,
    )) as Paused;
    expect(Object.keys(again.inputRequests)).toEqual(['q1']);
    relay.close();
  });

  it('cancels the upstream call when the host never comes back, or cancels its round', async () => {
    const relay = new InputRelay(50);
    let abandoned: unknown;
    const upstream = async (call: RelayedCall) => {
      try {
        return await call.ask('elicitation/create', { message: 'still there?' });
      } catch (error) {
        abandoned = error;
        expect(call.signal.aborted).toBe(true);
        throw error;
      }
    };
    await relay.round(round().ctx, 'tool a', upstream);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(String(abandoned)).toContain('did not answer in time');

    let signal: AbortSignal | undefined;
    const first = round();
    const running = relay.round(first.ctx, 'tool slow', async (call) => {
      signal = call.signal;
      await new Promise((resolve) => setTimeout(resolve, 10_000).unref());
    });
    first.cancel();
    expect(signal?.aborted).toBe(true);
    void running.catch(() => undefined);
    relay.close();
  });
});

/**
 * Paused calls across replicas: two relays on two handles of one redis-server (two replicas), and
 * the file store (one process: every retry is its own).
 */
describe.skipIf(!hasRedis())('InputRelay across replicas', () => {
  let redis: RedisServer;
  let directory: string;
  const closing: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    redis = await startRedis();
    directory = await mkdtemp(join(tmpdir(), 'patchbay-rounds-'));
  });
  afterAll(async () => {
    for (const close of closing.reverse()) await close().catch(() => undefined);
    await redis?.close();
    await rm(directory, { recursive: true, force: true });
  });

  async function replica(store?: StateStore) {
    const state = store ?? (await RedisState.connect(redis.url));
    const relay = new InputRelay(PAUSE_MS, sharedPauses(state));
    closing.push(
      () => state.close(),
      () => relay.close(),
    );
    return { relay, state };
  }

  const asking = async (call: RelayedCall) => {
    const first = (await call.ask('elicitation/create', { message: 'Name?' })) as {
      content: { name: string };
    };
    const second = (await call.ask('elicitation/create', { message: 'Sure?' })) as { action: string };
    return `${first.content.name} ${second.action}`;
  };

  it('continues on the owner a round that reached another replica, round after round', async () => {
    const [a, b] = [await replica(), await replica()];
    const one = (await a.relay.round(round().ctx, 'tool a', asking)) as Paused;
    expect(one.resultType).toBe('input_required');
    const owner = await a.state.records<{ replica: string }>('paused-calls').get(one.requestState);
    expect(owner?.replica).toBe(a.state.bus.replica);
    const two = (await b.relay.round(
      round({ state: one.requestState, responses: { q1: { action: 'accept', content: { name: 'Ada' } } } })
        .ctx,
      'tool a',
      asking,
    )) as Paused;
    expect(two.inputRequests.q2).toBeDefined();
    // The owner paused the call again: the new state names it, not the replica that forwarded.
    const again = await a.state.records<{ replica: string }>('paused-calls').get(two.requestState);
    expect(again?.replica).toBe(a.state.bus.replica);
    const done = await b.relay.round(
      round({ state: two.requestState, responses: { q2: { action: 'accept' } } }).ctx,
      'tool a',
      asking,
    );
    expect(done).toBe('Ada accept');
    // Used up everywhere.
    for (const relay of [a.relay, b.relay])
      await expect(relay.round(round({ state: two.requestState }).ctx, 'tool a', asking)).rejects.toThrow(
        /Invalid or expired requestState/,
      );
  });

  it('lets exactly one of two retries with one state proceed, and keeps a state retried for another request', async () => {
    const [a, b] = [await replica(), await replica()];
    const one = (await a.relay.round(round().ctx, 'tool a', asking)) as Paused;
    await expect(b.relay.round(round({ state: one.requestState }).ctx, 'tool b', asking)).rejects.toThrow(
      /Invalid or expired requestState/,
    );
    const answers = { q1: { action: 'accept', content: { name: 'Ada' } } };
    const outcomes = await Promise.allSettled(
      [a.relay, b.relay].map((relay) =>
        relay.round(round({ state: one.requestState, responses: answers }).ctx, 'tool a', asking),
      ),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(refused).toHaveLength(1);
    expect(String((refused[0] as PromiseRejectedResult).reason)).toMatch(/Invalid or expired requestState/);
  });

  it("says the call was lost when its replica is gone, and passes a forwarded round's cancellation to the owner", async () => {
    const [a, b] = [await replica(), await replica()];
    await b.state
      .records('paused-calls')
      .put('left-behind', { replica: 'a-replica-that-was-killed', purpose: 'tool a' });
    await expect(b.relay.round(round({ state: 'left-behind' }).ctx, 'tool a', asking)).rejects.toThrow(
      /lost with the patchbay replica that held it .*call again without requestState/,
    );

    // A replica that closed (drained, stopped) holds its paused calls no more: said the same way.
    const c = await replica();
    const held = (await c.relay.round(round().ctx, 'tool a', asking)) as Paused;
    await c.relay.close();
    await expect(b.relay.round(round({ state: held.requestState }).ctx, 'tool a', asking)).rejects.toThrow(
      /lost with the patchbay replica that held it/,
    );

    let signal: AbortSignal | undefined;
    const slow = async (call: RelayedCall) => {
      signal = call.signal;
      await call.ask('elicitation/create', { message: 'Go?' });
      await new Promise((resolve) => setTimeout(resolve, 10_000).unref());
    };
    const one = (await a.relay.round(round().ctx, 'tool slow', slow)) as Paused;
    const retry = round({ state: one.requestState, responses: { q1: { action: 'accept' } } });
    const forwarded = b.relay.round(retry.ctx, 'tool slow', slow);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(signal?.aborted).toBe(false);
    retry.cancel();
    await expect(forwarded).rejects.toThrow();
    await vi.waitFor(() => expect(signal?.aborted).toBe(true));
  });

  it('says plainly when the shared state is away, for a pause and for a retry', async () => {
    const [a, b] = [await replica(), await replica()];
    const one = (await a.relay.round(round().ctx, 'tool a', asking)) as Paused;
    await redis.kill();
    try {
      await expect(b.relay.round(round({ state: one.requestState }).ctx, 'tool a', asking)).rejects.toThrow(
        /could not reach the shared state that keeps paused calls/,
      );
      await expect(a.relay.round(round().ctx, 'tool a', asking)).rejects.toThrow(
        /could not reach the shared state that keeps paused calls/,
      );
    } finally {
      await redis.restart();
    }
  });

  it('keeps the same rounds on the file store (one process)', async () => {
    const { relay } = await replica(new FileState(directory));
    const one = (await relay.round(round().ctx, 'tool a', asking)) as Paused;
    const two = (await relay.round(
      round({ state: one.requestState, responses: { q1: { action: 'accept', content: { name: 'Ada' } } } })
        .ctx,
      'tool a',
      asking,
    )) as Paused;
    expect(
      await relay.round(
        round({ state: two.requestState, responses: { q2: { action: 'decline' } } }).ctx,
        'tool a',
        asking,
      ),
    ).toBe('Ada decline');
    await expect(relay.round(round({ state: two.requestState }).ctx, 'tool a', asking)).rejects.toThrow(
      /Invalid or expired requestState/,
    );
  });
});
