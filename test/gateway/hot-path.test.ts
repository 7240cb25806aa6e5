/**
 * The hot path's byte handling (hot-path.ts): SSE framing as chunks arrive, and the final
 * response's id rewritten without rebuilding it. Its behaviour against the full path is
 * test/e2e/gateway-hot-path.test.ts.
 */

import { describe, expect, it } from 'vitest';

import { Answer, ResponseStream, SseParser, type MessageSink } from '../../src/gateway/hot-bytes.js';

/** The events an SseParser dispatches, each event's data joined as an SSE client joins it. */
function collector(): MessageSink & { events: string[] } {
  let current: Buffer[] = [];
  const events: string[] = [];
  return {
    events,
    data(bytes, newLine) {
      if (newLine) current.push(Buffer.from('\n'));
      current.push(Buffer.from(bytes));
    },
    end() {
      events.push(Buffer.concat(current).toString('utf8'));
      current = [];
    },
  };
}

describe('SseParser', () => {
  it('yields each event’s data once it is complete, whatever the chunking', () => {
    const stream =
      'event: message\nid: 1\ndata: {"a":1}\n\nevent: message\r\ndata: {"b":\r\ndata: 2}\r\n\r\n: comment\n\n';
    for (const size of [1, 3, 7, stream.length]) {
      const sink = collector();
      const events = new SseParser(sink);
      for (let at = 0; at < stream.length; at += size) events.push(Buffer.from(stream.slice(at, at + size)));
      expect(sink.events, `chunks of ${size}`).toEqual(['{"a":1}', '{"b":\n2}']);
    }
  });

  it('keeps a multi-byte character split across chunks whole', () => {
    const bytes = Buffer.from('data: {"t":"🚀"}\n\n');
    const sink = collector();
    const events = new SseParser(sink);
    events.push(bytes.subarray(0, 13));
    events.push(bytes.subarray(13));
    expect(sink.events).toEqual(['{"t":"🚀"}']);
  });

  it('hands a long data line on in pieces as they arrive, never waiting for its end', () => {
    const pieces: number[] = [];
    const events = new SseParser({ data: (bytes) => void pieces.push(bytes.length), end: () => undefined });
    events.push(Buffer.from('event: message\ndata: '));
    for (let i = 0; i < 10; i++) events.push(Buffer.alloc(1000, 0x61));
    expect(pieces.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(pieces.length).toBeGreaterThanOrEqual(10);
  });
});

describe('ResponseStream', () => {
  const run = (message: string, size: number, upstreamId = 'pb-hot-x-9', hostId: string | number = 5) => {
    const out: Buffer[] = [];
    const stream = new ResponseStream(upstreamId, hostId, (bytes) => out.push(Buffer.from(bytes)));
    const bytes = Buffer.from(message);
    for (let at = 0; at < bytes.length; at += size) stream.push(bytes.subarray(at, at + size));
    const ending = stream.end();
    return { text: Buffer.concat(out).toString('utf8'), ending };
  };
  const big = 'abc'.repeat(200_000);

  it('rewrites the id wherever it stands, whatever the chunking, and leaves every other byte', () => {
    const result = { content: [{ type: 'text', text: `${big} "id":"pb-hot-x-9" \\"pb-hot-x-9\\"` }] };
    for (const message of [
      JSON.stringify({ result, jsonrpc: '2.0', id: 'pb-hot-x-9' }),
      JSON.stringify({ jsonrpc: '2.0', id: 'pb-hot-x-9', result }),
      `{"jsonrpc": "2.0", "id" :\n "pb-hot-x-9", "result": ${JSON.stringify(result)}}`,
    ]) {
      for (const size of [1000, 65_536, 7]) {
        if (size === 7 && message.length > 100_000) continue;
        const { text, ending } = run(message, size);
        expect(JSON.parse(text)).toEqual({ ...JSON.parse(message), id: 5 });
        expect(text.length).toBe(message.length - '"pb-hot-x-9"'.length + 1);
        expect(ending).toEqual({ isError: false, bytes: expect.any(Number) });
      }
    }
  });

  it('counts the result’s size and reads a large error’s first text from its head', () => {
    const result = { content: [{ type: 'text', text: `boom ${big}` }], isError: true };
    const message = JSON.stringify({ result, jsonrpc: '2.0', id: 'pb-hot-x-9' });
    const { ending } = run(message, 65_536);
    expect(ending).toEqual({
      isError: true,
      errorText: `boom ${big}`.slice(0, 500),
      bytes: Buffer.byteLength(JSON.stringify(result)),
    });
  });

  it('finds "isError":true across a chunk boundary', () => {
    const message = `{"result":{"content":[{"type":"text","text":"${big}"}],"isError":true},"jsonrpc":"2.0","id":"pb-hot-x-9"}`;
    const cut = message.indexOf('"isError"') + 4;
    const out: Buffer[] = [];
    const stream = new ResponseStream('pb-hot-x-9', 1, (bytes) => out.push(Buffer.from(bytes)));
    stream.push(Buffer.from(message.slice(0, cut)));
    stream.push(Buffer.from(message.slice(cut)));
    expect(stream.end()).toMatchObject({ isError: true });
  });

  it('says so when the id never came (the host’s stream must then break)', () => {
    expect(run(`{"result":{"text":"${big}"},"id":"someone-else"}`, 65_536).ending).toBeUndefined();
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
