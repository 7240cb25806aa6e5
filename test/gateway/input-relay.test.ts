/**
 * The pause-and-resume bookkeeping of input-relay.ts, round by round, with the handler context
 * reduced to the fields it reads. The wire side is covered end to end in test/e2e/gateway.test.ts.
 */

import type { ServerContext } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';

import { InputRelay, type RelayedCall } from '../../src/gateway/input-relay.js';

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
