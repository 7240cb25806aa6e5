/**
 * A 2026-07-28 result without `resultType` is complete (the schema's rule for clients); the SDK
 * refuses it, so patchbay's fetch adds it, in JSON bodies and in SSE events, on a real socket.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  completeJson,
  completingResults,
  TASK_HANDLE_CODE,
  TASK_HANDLE_KEY,
} from '../../src/connect/result-type.js';

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [] } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    // A priming event with empty data, a notification, and a result split across two writes
    // and two data lines.
    res.write('id: 1\nretry: 500\ndata: \n\n');
    res.write(
      'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n',
    );
    res.write('id: 2\nevent: message\ndata: {"jsonrpc":"2.0","id":7,\r\n');
    setTimeout(() => res.end('data: "result":{"content":[{"type":"text","text":"hi"}]}}\r\n\r\n'), 20);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const modern = { headers: { 'mcp-protocol-version': '2026-07-28' } };

describe('completingResults', () => {
  it('adds resultType "complete" to a JSON result of a 2026-07-28 request, and only then', async () => {
    const fetch = completingResults(globalThis.fetch);
    const completed = (await (await fetch(`${base}/json`, modern)).json()) as { result: unknown };
    expect(completed.result).toEqual({ content: [], resultType: 'complete' });
    const legacy = (await (
      await fetch(`${base}/json`, { headers: { 'mcp-protocol-version': '2025-11-25' } })
    ).json()) as { result: unknown };
    expect(legacy.result).toEqual({ content: [] });
  });

  it('rewrites only the SSE events that need it, and keeps every other line', async () => {
    const fetch = completingResults(globalThis.fetch);
    const text = await (await fetch(`${base}/sse`, modern)).text();
    expect(text).toBe(
      'id: 1\nretry: 500\ndata: \n\n' +
        'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n' +
        'id: 2\nevent: message\ndata: {"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}],"resultType":"complete"}}\n\n',
    );
  });
});

describe('completeJson', () => {
  it('leaves errors, notifications, input_required results and non-JSON alone', () => {
    expect(completeJson('{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}')).toBeUndefined();
    expect(completeJson('{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required"}}')).toBeUndefined();
    expect(completeJson('not json')).toBeUndefined();
    expect(completeJson('[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","method":"x"}]')).toBe(
      '[{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete"}},{"jsonrpc":"2.0","method":"x"}]',
    );
  });
});

describe('a task handle (resultType "task", the tasks extension)', () => {
  it('becomes the error that carries it, so that the SDK passes it on', () => {
    const handle = {
      resultType: 'task',
      taskId: 't1',
      status: 'working',
      createdAt: '2026-07-28T00:00:00Z',
      lastUpdatedAt: '2026-07-28T00:00:00Z',
      ttlMs: 60_000,
      pollIntervalMs: 500,
    };
    const rewritten = JSON.parse(completeJson(JSON.stringify({ jsonrpc: '2.0', id: 3, result: handle }))!);
    expect(rewritten).toEqual({
      jsonrpc: '2.0',
      id: 3,
      error: {
        code: TASK_HANDLE_CODE,
        message: expect.stringContaining('answered with a task') as unknown,
        data: { [TASK_HANDLE_KEY]: handle },
      },
    });
    // Any other result type is left as it is.
    expect(completeJson(JSON.stringify({ jsonrpc: '2.0', id: 4, result: { resultType: 'complete' } }))).toBe(
      undefined,
    );
  });
});
