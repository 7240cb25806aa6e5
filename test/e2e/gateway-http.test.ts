/**
 * `patchbay serve --http` against clients that misbehave, over real sockets: Host headers that
 * name another port or host (DNS rebinding), a client sending its headers or body byte by byte
 * (slowloris), and one opening more connections than its share — while streams and calls that
 * last longer than those bounds go on.
 */

import { connect, type Socket } from 'node:net';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startGateway as startRunningGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let demo: DemoServer;
let everything: EverythingServer;
let token: string;
const gateways: RunningGateway[] = [];

/** A generous ceiling for "closed by the gateway": far above any bound the tests configure. */
const CEILING_MS = 20_000;

beforeAll(async () => {
  sandbox = await createSandbox();
  [demo, everything] = await Promise.all([startDemoServer(), startEverything('streamableHttp')]);
  await sandbox.run(['add', 'demo', demo.url]);
  await sandbox.run(['add', 'ev', everything.url]);
  token = (await sandbox.run(['serve', '--print-token'])).stdout.trim();
}, 30_000);

afterAll(async () => {
  await Promise.all(gateways.map((gateway) => gateway.stop()));
  await Promise.all([demo?.close(), everything?.close()]);
  await sandbox?.cleanup();
});

/** A gateway in this file's sandbox, stopped after all its tests. */
async function startGateway(args: string[]): Promise<RunningGateway> {
  const gateway = await startRunningGateway(sandbox, args);
  gateways.push(gateway);
  return gateway;
}

const PING = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });

/** An HTTP/1.1 request as bytes: the given headers only (no Host unless given). */
function rawRequest(headers: Record<string, string>, body = PING, version = '1.1'): string {
  const lines = Object.entries({
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${token}`,
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  }).map(([name, value]) => `${name}: ${value}`);
  return `POST /mcp HTTP/${version}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

function open(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The status code of the first answer on a socket, or 'closed' if it closed (or reset) without one. */
function statusOn(socket: Socket, send?: string): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (match) resolve(Number(match[1]));
    });
    socket.on('error', () => resolve('closed'));
    socket.on('close', () => resolve('closed'));
    if (send !== undefined) socket.write(send);
  });
}

async function statusOf(port: number, request: string): Promise<number | 'closed'> {
  const socket = await open(port);
  try {
    return await statusOn(socket, request);
  } finally {
    socket.destroy();
  }
}

/** Write `text` one byte at a time until the socket closes; resolves with how it ended. */
function dribble(socket: Socket, text: string): Promise<{ closed: boolean; answer: string }> {
  return new Promise((resolve) => {
    let answer = '';
    let index = 0;
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    const timer = setInterval(() => {
      if (socket.destroyed || socket.writableEnded) return;
      socket.write(text[index++ % text.length]!);
    }, 100);
    const ceiling = setTimeout(() => finish(false), CEILING_MS);
    const finish = (closed: boolean) => {
      clearInterval(timer);
      clearTimeout(ceiling);
      socket.destroy();
      resolve({ closed, answer });
    };
    socket.once('close', () => finish(true));
    socket.on('error', () => undefined);
  });
}

describe('Host: this listener, with its port', () => {
  it('accepts its own names with its port, refuses other ports, other names, no port and no Host', async () => {
    const { port } = await startGateway(['--servers', 'demo']);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LocalHost:${port}`, `[::1]:${port}`])
      expect(await statusOf(port, rawRequest({ host })), host).toBe(200);
    const other = port === 65_535 ? port - 1 : port + 1;
    for (const host of [
      `127.0.0.1:${other}`,
      `localhost:${other}`,
      `evil.example:${port}`,
      `evil.example`,
      'localhost',
      '127.0.0.1',
      `localhost:`,
      `127.0.0.1:${port}0`,
      `127.0.0.1:${port}:${port}`,
      `user@127.0.0.1:${port}`,
      `localhost.:${port}`,
      `[::1]:${other}`,
    ])
      expect(await statusOf(port, rawRequest({ host })), host).toBe(403);
    // HTTP/1.1 without Host is a bad request to node:http; HTTP/1.0 may omit it, and is refused here.
    expect(await statusOf(port, rawRequest({}))).toBe(400);
    expect(await statusOf(port, rawRequest({}, PING, '1.0'))).toBe(403);
  }, 30_000);
});

describe('bounded time to send a request', () => {
  let gateway: { url: string; port: number };

  beforeAll(async () => {
    gateway = await startGateway([
      '--servers',
      'demo,ev',
      '--headers-timeout',
      '1',
      '--request-timeout',
      '2',
    ]);
  }, 20_000);

  it(
    'closes a client that sends its headers byte by byte, and one that does so with its body',
    async () => {
      const host = `127.0.0.1:${gateway.port}`;
      const slowHeaders = await dribble(
        await open(gateway.port),
        `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nx-slow: ${'a'.repeat(10_000)}`,
      );
      expect(slowHeaders.closed).toBe(true);
      const slowBody = await open(gateway.port);
      slowBody.write(rawRequest({ host, 'content-length': '100000' }, ''));
      const body = await dribble(slowBody, ' ');
      expect(body.closed).toBe(true);
      expect(body.answer).toMatch(/^HTTP\/1\.1 408/);
    },
    2 * CEILING_MS + 5_000,
  );

  it('keeps a standing SSE stream and a long tool call open past both bounds', async () => {
    const auth = { requestInit: { headers: { Authorization: `Bearer ${token}` } } };
    const legacy = new Client(
      { name: 'legacy-host', version: '1.0.0' },
      { versionNegotiation: { mode: 'legacy' } },
    );
    const heard: string[] = [];
    legacy.setNotificationHandler('notifications/tools/list_changed', () => {
      heard.push('tools');
    });
    const modern = new Client(
      { name: 'modern-host', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    );
    await legacy.connect(new StreamableHTTPClientTransport(new URL(gateway.url), auth));
    await modern.connect(new StreamableHTTPClientTransport(new URL(gateway.url), auth));
    try {
      // 4 s of work, answered on a stream: twice the request timeout, four times the headers'.
      const [legacyLong, modernLong] = await Promise.all(
        [legacy, modern].map((client) =>
          client.callTool(
            { name: 'ev__trigger-long-running-operation', arguments: { duration: 4, steps: 4 } },
            { timeout: 30_000 },
          ),
        ),
      );
      expect(JSON.stringify(legacyLong!.content)).toContain('Long running operation completed');
      expect(JSON.stringify(modernLong!.content)).toContain('Long running operation completed');
      // The legacy host's GET stream has now been open for over 4 s: it still carries news.
      await sandbox.run(['add', 'demo2', demo.url]);
      for (let waited = 0; heard.length === 0 && waited < CEILING_MS; waited += 100)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(heard).toContain('tools');
    } finally {
      await Promise.all([legacy.close(), modern.close()]);
      await sandbox.run(['remove', 'demo2']);
    }
  }, 60_000);
});

describe('connections per client address', () => {
  it('refuses the connections past the cap, while the first ones and other addresses work', async () => {
    const { port } = await startGateway(['--servers', 'demo', '--max-connections-per-client', '3']);
    const host = `127.0.0.1:${port}`;
    const first = await Promise.all([open(port), open(port), open(port)]);
    const extras = await Promise.all([open(port), open(port)]);
    try {
      const refused = await Promise.all(extras.map((socket) => statusOn(socket, rawRequest({ host }))));
      for (const status of refused) expect([503, 'closed']).toContain(status);
      // Another address on this computer (127.0.0.2 is loopback too on Linux) has its own share.
      expect(await statusOn(await open(port, '127.0.0.2'), rawRequest({ host }))).toBe(200);
      const served = await Promise.all(first.map((socket) => statusOn(socket, rawRequest({ host }))));
      expect(served).toEqual([200, 200, 200]);
      // One of the first leaves: its place is free again.
      first[0]!.destroy();
      let again: number | 'closed' = 'closed';
      for (let attempt = 0; attempt < 50 && again !== 200; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        again = await statusOf(port, rawRequest({ host }));
      }
      expect(again).toBe(200);
    } finally {
      for (const socket of [...first, ...extras]) socket.destroy();
    }
  }, 30_000);

  it('does not cap a trusted proxy (a load balancer carries many clients), only the total', async () => {
    const { port } = await startGateway([
      '--servers',
      'demo',
      '--max-connections-per-client',
      '2',
      '--trust-proxy',
      '127.0.0.1',
    ]);
    const host = `127.0.0.1:${port}`;
    const sockets = await Promise.all(Array.from({ length: 5 }, () => open(port)));
    try {
      const statuses = await Promise.all(sockets.map((socket) => statusOn(socket, rawRequest({ host }))));
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      // Another address, not trusted, still has its cap.
      const others = await Promise.all([
        open(port, '127.0.0.2'),
        open(port, '127.0.0.2'),
        open(port, '127.0.0.2'),
      ]);
      sockets.push(...others);
      const theirs = await Promise.all(others.map((socket) => statusOn(socket, rawRequest({ host }))));
      expect(theirs.filter((status) => status === 200)).toHaveLength(2);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  }, 30_000);
});
