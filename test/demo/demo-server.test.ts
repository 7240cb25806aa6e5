import { request } from 'node:http';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEMO_TOOL_NAMES, startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';

type Era = 'legacy' | 'auto';

async function connect(url: string, mode: Era): Promise<Client> {
  const client = new Client({ name: 'demo-test', version: '1.0.0' }, { versionNegotiation: { mode } });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)), { timeout: 5_000 });
  return client;
}

/** Open TCP handles of this process: what a leaked server or socket would add to. */
function tcpHandles(): { servers: number; all: number } {
  const kinds = process.getActiveResourcesInfo();
  return {
    servers: kinds.filter((kind) => kind === 'TCPServerWrap').length,
    all: kinds.filter((kind) => kind.startsWith('TCP')).length,
  };
}

describe('startDemoServer', () => {
  let demo: DemoServer;
  beforeAll(async () => {
    demo = await startDemoServer();
  });
  afterAll(async () => {
    await demo.close();
  });

  it('listens on 127.0.0.1 with the MCP endpoint at /mcp', () => {
    expect(demo.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  });

  describe.each([
    { mode: 'legacy' as const, era: 'legacy', version: /^2025-/ },
    { mode: 'auto' as const, era: 'modern', version: /^2026-07-28$/ },
  ])('over the $era era', ({ mode, era, version }) => {
    let client: Client;
    beforeAll(async () => {
      client = await connect(demo.url, mode);
    });
    afterAll(async () => {
      await client.close();
    });

    it('negotiates the era and names itself', () => {
      expect(client.getProtocolEra()).toBe(era);
      expect(client.getNegotiatedProtocolVersion()).toMatch(version);
      expect(client.getServerVersion()?.name).toBe('patchbay-demo');
    });

    it('lists echo, add and get_time, get_time read-only and add with an output schema', async () => {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(DEMO_TOOL_NAMES);
      expect(tools.find((tool) => tool.name === 'get_time')?.annotations?.readOnlyHint).toBe(true);
      expect(tools.find((tool) => tool.name === 'add')?.outputSchema).toMatchObject({
        type: 'object',
        properties: { sum: { type: 'number' } },
      });
    });

    it('echoes text', async () => {
      const result = await client.callTool({ name: 'echo', arguments: { text: 'hello, patchbay' } });
      expect(result.content).toEqual([{ type: 'text', text: 'hello, patchbay' }]);
    });

    it('adds two numbers with structured output', async () => {
      const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toEqual({ sum: 42 });
    });

    it('reports invalid arguments as a tool error', async () => {
      const result = await client.callTool({ name: 'add', arguments: { a: 'two', b: 40 } });
      expect(result.isError).toBe(true);
    });

    it('tells the time', async () => {
      const result = await client.callTool({ name: 'get_time', arguments: {} });
      const [content] = result.content as Array<{ type: string; text: string }>;
      expect(Number.isNaN(Date.parse(content!.text))).toBe(false);
    });

    it('serves demo://readme as markdown', async () => {
      const { resources } = await client.listResources();
      expect(resources).toContainEqual(
        expect.objectContaining({ uri: 'demo://readme', mimeType: 'text/markdown' }),
      );
      const { contents } = await client.readResource({ uri: 'demo://readme' });
      expect(contents[0]).toMatchObject({ uri: 'demo://readme', mimeType: 'text/markdown' });
      expect((contents[0] as { text: string }).text).toContain('# patchbay demo server');
    });

    it('offers the greet prompt with a name argument', async () => {
      const { prompts } = await client.listPrompts();
      expect(prompts).toContainEqual(
        expect.objectContaining({
          name: 'greet',
          arguments: [expect.objectContaining({ name: 'name', required: true })],
        }),
      );
      const { messages } = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
      expect(messages[0]?.content).toEqual({ type: 'text', text: 'Say hello to Ada.' });
    });
  });

  it.each([
    { name: 'a foreign Host (DNS rebinding)', headers: { host: 'attacker.example' } },
    { name: 'a foreign Origin (a web page)', headers: { origin: 'https://attacker.example' } },
  ])('refuses $name', async ({ headers }) => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
      request(demo.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      })
        .once('response', (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .once('error', reject)
        .end(body);
    });
    expect(status).toBe(403);
  });

  it('answers 404 outside /mcp', async () => {
    const response = await fetch(new URL('/other', demo.url));
    expect(response.status).toBe(404);
    await response.text();
  });
});

describe('startDemoServer lifecycle', () => {
  it('starts and stops many times in one process without leaking sockets', async () => {
    // Handles leave the list a turn or two after their close callbacks have run.
    const settle = () => new Promise((resolve) => setTimeout(resolve, 50));
    await settle();
    const before = tcpHandles();
    for (let i = 0; i < 10; i++) {
      const demo = await startDemoServer();
      const client = await connect(demo.url, i % 2 === 0 ? 'auto' : 'legacy');
      expect((await client.listTools()).tools).toHaveLength(DEMO_TOOL_NAMES.length);
      await client.close();
      await demo.close();
    }
    await settle();
    const after = tcpHandles();
    expect(after.servers).toBe(before.servers);
    // Idle keep-alive sockets from earlier tests may close meanwhile, so "no more than before".
    expect(after.all).toBeLessThanOrEqual(before.all);
  });

  it('closes promptly with a client connection still open, and frees the port', async () => {
    const demo = await startDemoServer();
    const { port } = new URL(demo.url);
    // A request whose body never finishes keeps its connection busy until the server drops it.
    const pending = request(demo.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '1000' },
    });
    const dropped = new Promise<void>((resolve) =>
      pending.once('error', () => resolve()).once('close', () => resolve()),
    );
    pending.write('{"jsonrpc":');
    await new Promise((resolve) => setTimeout(resolve, 20));

    const started = Date.now();
    await demo.close();
    await dropped;
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(fetch(`http://127.0.0.1:${port}/mcp`)).rejects.toThrow();
  });

  it('close is idempotent', async () => {
    const demo = await startDemoServer();
    await Promise.all([demo.close(), demo.close()]);
    await demo.close();
  });

  it('takes a fixed port', async () => {
    const first = await startDemoServer();
    const port = Number(new URL(first.url).port);
    await first.close();
    const second = await startDemoServer({ port });
    expect(second.url).toBe(`http://127.0.0.1:${port}/mcp`);
    await second.close();
  });
});
