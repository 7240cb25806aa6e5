/**
 * A 2026-07-28 host's answer on the hot path (hot-modern.ts) against the SDK's own: the same
 * result returned by a handler of an SDK server behind `createMcpHandler` (the full path's entry)
 * must come out byte for byte as the hot path splices it, whole or streamed in any chunking.
 */

import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  createMcpHandler,
  PROTOCOL_VERSION_META_KEY,
  ProtocolError,
  Server,
} from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';

import type { IncomingMessage } from 'node:http';

import {
  MODERN_REVISION,
  modernAnswer,
  modernEnvelope,
  stampResult,
  StampStream,
} from '../../src/gateway/hot-modern.js';
import type { HotMethod } from '../../src/gateway/hot-wire.js';

const IDENTITY = { name: 'patchbay', version: '9.9.9', title: 'patchbay gateway' };

/** What the SDK's per-request server answers when its handler returns `result` (or throws `error`). */
async function sdkAnswer(
  method: HotMethod,
  outcome: { result: Record<string, unknown> } | { error: ProtocolError },
): Promise<{ status: number; type: string | null; body: string }> {
  const handler = createMcpHandler(() => {
    const server = new Server(IDENTITY, { capabilities: { tools: {}, prompts: {}, resources: {} } });
    server.setRequestHandler(method as 'tools/call', async () => {
      if ('error' in outcome) throw outcome.error;
      return outcome.result as never;
    });
    return server;
  });
  const name = method === 'resources/read' ? 'demo://x' : 'x';
  const target = method === 'resources/read' ? { uri: name } : { name };
  const response = await handler.fetch(
    new Request('http://127.0.0.1/mcp', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': MODERN_REVISION,
        'mcp-method': method,
        'mcp-name': name,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method,
        params: {
          ...target,
          _meta: {
            [PROTOCOL_VERSION_META_KEY]: MODERN_REVISION,
            [CLIENT_INFO_META_KEY]: { name: 'unit', version: '1' },
            [CLIENT_CAPABILITIES_META_KEY]: {},
          },
        },
      }),
    }),
  );
  const body = await response.text();
  await handler.close();
  return { status: response.status, type: response.headers.get('content-type'), body };
}

const RESULTS: Array<[string, HotMethod, Record<string, unknown>]> = [
  ['a text result', 'tools/call', { content: [{ type: 'text', text: 'hello "id":1 {}' }] }],
  ['a tool error', 'tools/call', { content: [{ type: 'text', text: 'no' }], isError: true }],
  [
    'a result with its own _meta',
    'tools/call',
    { content: [{ type: 'text', text: 'x' }], _meta: { 'example.com/a': { b: [1, { c: '}' }] } } },
  ],
  ['a result with an empty _meta', 'tools/call', { content: [], _meta: {} }],
  ['structured content', 'tools/call', { content: [], structuredContent: { _meta: { n: 1 }, t: 'a' } }],
  [
    'a prompt',
    'prompts/get',
    { description: 'd', messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }] },
  ],
  ['a read', 'resources/read', { contents: [{ uri: 'demo://x', text: 'body', mimeType: 'text/plain' }] }],
  [
    'a read with its own cache fields',
    'resources/read',
    { contents: [{ uri: 'demo://x', text: 'body' }], ttlMs: 5000, cacheScope: 'public' },
  ],
];

/** The upstream's message as a 2025-era SDK server writes it (the hot path's id already the host's). */
const upstream = (result: Record<string, unknown>) => JSON.stringify({ result, jsonrpc: '2.0', id: 7 });

describe('modernAnswer', () => {
  it.each(RESULTS)('gives %s as the SDK server does', async (_label, method, result) => {
    const reference = await sdkAnswer(method, { result });
    const answer = modernAnswer(upstream(result), method, IDENTITY);
    expect(reference.type).toBe('application/json');
    expect({ status: answer.status, body: JSON.parse(answer.text) as unknown }).toEqual({
      status: reference.status,
      body: JSON.parse(reference.body) as unknown,
    });
    // Byte for byte, but where the SDK orders the result's members by its schema (its `_meta`
    // first): the hot path keeps the upstream's order, as it does for a 2025-era host.
    if (!('_meta' in result)) expect(answer.text).toBe(reference.body);
  });

  it('drops a resultType the upstream sent and stamps its own, as the full path does', () => {
    const stamped = stampResult('tools/call', { content: [], resultType: 'input_required' }, IDENTITY);
    expect(stamped.resultType).toBe('complete');
  });

  it.each([
    ['an invalid-params error', -32602, 'bad'],
    ['a resource not found (mapped as the SDK maps it)', -32002, 'Resource demo://x not found'],
    ['a missing client capability (HTTP 400)', -32021, 'needs elicitation'],
    ['an internal error', -32603, 'broke'],
  ])('gives %s as the SDK server does', async (_label, code, message) => {
    const reference = await sdkAnswer('resources/read', {
      error: new ProtocolError(code, message, code === -32021 ? { requiredCapabilities: {} } : undefined),
    });
    const data = code === -32021 ? { data: { requiredCapabilities: {} } } : {};
    const answer = modernAnswer(
      JSON.stringify({ jsonrpc: '2.0', id: 7, error: { code, message, ...data } }),
      'resources/read',
      IDENTITY,
    );
    expect({ status: answer.status, body: JSON.parse(answer.text) as unknown }).toEqual({
      status: reference.status,
      body: JSON.parse(reference.body) as unknown,
    });
  });
});

describe('StampStream', () => {
  const run = (method: HotMethod, text: string, size: number) => {
    const out: Buffer[] = [];
    const stream = new StampStream(method, IDENTITY, (bytes) => out.push(Buffer.from(bytes)));
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; at += size) stream.push(bytes.subarray(at, at + size));
    return { text: Buffer.concat(out).toString('utf8'), stamped: stream.stamped };
  };

  it.each(RESULTS)(
    'splices %s in passing as modernAnswer does, whatever the chunking',
    (_label, method, result) => {
      const big = { ...result, padding: `grüße 🚀 \\" } { "_meta": ${'x'.repeat(40_000)}` };
      for (const message of [upstream(result), upstream(big)]) {
        const whole = modernAnswer(message, method, IDENTITY).text;
        for (const size of [1, 7, 1000, message.length]) {
          if (size === 1 && message.length > 10_000) continue;
          const { text, stamped } = run(method, message, size);
          expect(stamped, `chunks of ${size}`).toBe(true);
          expect(text, `chunks of ${size}`).toBe(whole);
        }
      }
    },
  );

  it('finds the result wherever it stands in the message, with any whitespace', () => {
    const result = { content: [{ type: 'text', text: 'x' }], _meta: { a: 1 } };
    const expected = JSON.parse(modernAnswer(upstream(result), 'tools/call', IDENTITY).text) as {
      result: unknown;
    };
    for (const message of [
      JSON.stringify({ jsonrpc: '2.0', id: 7, result }),
      JSON.stringify({ jsonrpc: '2.0', id: 7, result }, null, 2),
    ]) {
      const { text, stamped } = run('tools/call', message, 5);
      expect(stamped).toBe(true);
      expect((JSON.parse(text) as { result: unknown }).result).toEqual(expected.result);
    }
  });

  it('says so when the message has no result to stamp (its end never came)', () => {
    expect(run('tools/call', '{"result":{"content":[{"type":"text","text":"cut', 4).stamped).toBe(false);
  });
});

describe('modernEnvelope', () => {
  const envelope = {
    [PROTOCOL_VERSION_META_KEY]: MODERN_REVISION,
    [CLIENT_INFO_META_KEY]: { name: 'unit', version: '1' },
    [CLIENT_CAPABILITIES_META_KEY]: { roots: {} },
  };
  const read = (headers: Record<string, string>, meta: Record<string, unknown>, name = 'ev__echo') =>
    modernEnvelope(
      {
        headers: {
          'mcp-protocol-version': MODERN_REVISION,
          'mcp-method': 'tools/call',
          'mcp-name': name,
          ...headers,
        },
      } as unknown as IncomingMessage,
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'ev__echo', _meta: meta } },
    );

  it('reads the host’s name and capabilities from a request that reads as the SDK reads it', () => {
    expect(read({}, { ...envelope, progressToken: 3 })).toEqual({
      hostName: 'unit',
      capabilities: { roots: {} },
    });
  });

  it.each<[string, Record<string, string>, Record<string, unknown>, string?]>([
    [
      'another revision',
      { 'mcp-protocol-version': '2099-01-01' },
      { ...envelope, [PROTOCOL_VERSION_META_KEY]: '2099-01-01' },
    ],
    [
      'a header naming another version than the body',
      {},
      { ...envelope, [PROTOCOL_VERSION_META_KEY]: '2025-06-18' },
    ],
    ['Mcp-Method not the body’s', { 'mcp-method': 'prompts/get' }, envelope],
    ['Mcp-Name not the body’s', {}, envelope, 'ev__other'],
    ['Mcp-Name Base64-encoded', {}, envelope, '=?base64?ZXZfX2VjaG8=?='],
    [
      'capabilities the SDK’s schema refuses',
      {},
      { ...envelope, [CLIENT_CAPABILITIES_META_KEY]: { roots: 5 } },
    ],
    ['client info without a version', {}, { ...envelope, [CLIENT_INFO_META_KEY]: { name: 'unit' } }],
    ['more in _meta than the envelope', {}, { ...envelope, 'example.com/x': 1 }],
    ['an unknown log level', {}, { ...envelope, 'io.modelcontextprotocol/logLevel': 'loud' }],
  ])('leaves %s to the full path', (_label, headers, meta, name) => {
    expect(read(headers, meta, name)).toBeUndefined();
  });
});
