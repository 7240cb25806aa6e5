/**
 * The hot path's byte handling (hot-path.ts): SSE framing as chunks arrive, and the final
 * response's id rewritten without rebuilding it. Its behaviour against the full path is
 * test/e2e/gateway-hot-path.test.ts.
 */

import { describe, expect, it } from 'vitest';

import { Answer, SseEvents } from '../../src/gateway/hot-path.js';

describe('SseEvents', () => {
  it('yields each event’s data once it is complete, whatever the chunking', () => {
    const stream =
      'event: message\nid: 1\ndata: {"a":1}\n\nevent: message\r\ndata: {"b":\r\ndata: 2}\r\n\r\n: comment\n\n';
    for (const size of [1, 3, 7, stream.length]) {
      const events = new SseEvents();
      const out: string[] = [];
      for (let at = 0; at < stream.length; at += size)
        out.push(...events.push(Buffer.from(stream.slice(at, at + size))));
      expect(out, `chunks of ${size}`).toEqual(['{"a":1}', '{"b":\n2}']);
    }
  });

  it('keeps a multi-byte character split across chunks whole', () => {
    const bytes = Buffer.from('data: {"t":"🚀"}\n\n');
    const events = new SseEvents();
    const out = [...events.push(bytes.subarray(0, 13)), ...events.push(bytes.subarray(13))];
    expect(out).toEqual(['{"t":"🚀"}']);
  });
});

describe('Answer', () => {
  it('rewrites the id where the upstream wrote it last, leaving the result’s bytes as they were', () => {
    const answer = new Answer('pb-hot-x-1', 7);
    const upstream =
      '{"result":{"content":[{"type":"text","text":"\\"id\\":\\"pb-hot-x-1\\"}"}]},"jsonrpc":"2.0","id":"pb-hot-x-1"}';
    const { text, summary } = answer.final(upstream);
    expect(text).toBe(upstream.replace(/"id":"pb-hot-x-1"}$/, '"id":7}'));
    expect(JSON.parse(text)).toMatchObject({ id: 7, result: { content: [{ text: '"id":"pb-hot-x-1"}' }] } });
    expect(summary).toMatchObject({ isError: false });
  });

  it('parses an answer whose id is elsewhere, and reads a tool error’s first text', () => {
    const answer = new Answer('pb-hot-x-2', 'host-id');
    const upstream = JSON.stringify({
      jsonrpc: '2.0',
      id: 'pb-hot-x-2',
      result: { isError: true, content: [{ type: 'text', text: 'boom' }] },
    });
    const { text, summary } = answer.final(upstream);
    expect(JSON.parse(text)).toEqual({ ...JSON.parse(upstream), id: 'host-id' });
    expect(summary).toMatchObject({ isError: true, errorText: 'boom' });
  });

  it('does not parse a large successful result to learn it is not an error', () => {
    const answer = new Answer('pb-hot-x-3', 1);
    const big = 'x'.repeat(100_000);
    const upstream = `{"result":{"content":[{"type":"text","text":"${big}"}]},"jsonrpc":"2.0","id":"pb-hot-x-3"}`;
    const { text, summary } = answer.final(upstream);
    expect(text.endsWith('"id":1}')).toBe(true);
    expect(summary).toEqual({ isError: false, bytes: expect.any(Number) });
  });

  it('reports a JSON-RPC error as a failure for the audit log', () => {
    const answer = new Answer('pb-hot-x-4', 1);
    const { summary } = answer.final(
      '{"jsonrpc":"2.0","id":"pb-hot-x-4","error":{"code":-32602,"message":"bad"}}',
    );
    expect(summary).toEqual({ error: new Error('bad') });
  });
});
