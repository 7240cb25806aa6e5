import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connect, ConnectError } from '../../src/connect/session.js';
import { DEMO_TOOL_NAMES, startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { startHttpFaultServer } from '../fixtures/fault-servers.js';
import { startSessionServer, type SessionServer } from '../fixtures/session-server.js';

const TIMEOUT = 5_000;

describe('connect() and the Session it returns', () => {
  let demo: DemoServer;
  let stateful: SessionServer;
  let dir: string;
  beforeAll(async () => {
    [demo, stateful] = await Promise.all([startDemoServer(), startSessionServer()]);
    dir = await mkdtemp(join(tmpdir(), 'patchbay-session-'));
  });
  afterAll(async () => {
    await Promise.all([demo?.close(), stateful?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('speaks the 2026-07-28 era to a server that offers it: no session, server/discover', async () => {
    const session = await connect({ transport: 'http', url: demo.url }, { timeoutMs: TIMEOUT });
    try {
      expect(session.era).toBe('modern');
      expect(session.protocolVersion).toBe('2026-07-28');
      expect(session.sessionId).toBeUndefined();
      expect(session.transport).toBe('http');
      expect(session.fellBackToSse).toBe(false);
      expect(session.server).toMatchObject({ name: 'patchbay-demo' });
      const { tools } = await session.request((client) => client.listTools());
      expect(tools.map((tool) => tool.name)).toEqual([...DEMO_TOOL_NAMES]);
    } finally {
      await session.close();
    }
  });

  describe('a 2025-era server with sessions', () => {
    it('keeps the session id, sends MCP-Protocol-Version on every request after the handshake, and DELETEs on close', async () => {
      const before = stateful.requests.length;
      const session = await connect({ transport: 'http', url: stateful.url }, { timeoutMs: TIMEOUT });
      const id = session.sessionId;
      const version = session.protocolVersion;
      expect(session.era).toBe('legacy');
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      await session.request((client) => client.listTools());
      await session.request((client) => client.listPrompts());
      await session.close();

      const mine = stateful.requests.slice(before).filter((r) => r.headers['mcp-session-id'] === id);
      expect(mine.length).toBeGreaterThanOrEqual(3); // initialized notification, tools/list, prompts/list, DELETE
      for (const request of mine) expect(request.headers['mcp-protocol-version']).toBe(version);
      expect(stateful.deleted).toContain(id);
    });

    it('starts a new session when the server answers 404 to an expired one, and retries once', async () => {
      const session = await connect({ transport: 'http', url: stateful.url }, { timeoutMs: TIMEOUT });
      try {
        const first = session.sessionId;
        stateful.expireSessions();
        const { tools } = await session.request((client) => client.listTools());
        expect(tools.length).toBe(DEMO_TOOL_NAMES.length);
        expect(session.sessionId).toBeDefined();
        expect(session.sessionId).not.toBe(first);
        // The request that met the expired session, retried once (the SDK's GET stream may meet it too).
        const notFound = stateful.requests.filter(
          (r) => r.method === 'POST' && r.headers['mcp-session-id'] === first && r.status === 404,
        );
        expect(notFound.length).toBe(1);
      } finally {
        await session.close();
      }
    });
  });

  it('merges the headersHelper output over static headers, and never shows its values', async () => {
    const seen: Array<Record<string, string | string[] | undefined>> = [];
    const server = await startHttpFaultServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(401, { 'content-type': 'application/json' }).end('{}');
    });
    try {
      const helper = join(dir, 'helper.mjs');
      await writeFile(
        helper,
        `process.stdout.write(JSON.stringify({ 'X-Token': 'helper-secret-1234', 'X-Team': process.env.PATCHBAY_SERVER_NAME }))`,
      );
      const error = await connect(
        {
          transport: 'http',
          url: server.url,
          headers: { 'X-Token': 'static-value', 'X-Static': 'kept' },
          headersHelper: `"${process.execPath}" "${helper}"`,
        },
        { timeoutMs: TIMEOUT, name: 'corp' },
      ).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).status).toBe('needs-auth');
      expect(JSON.stringify({ ...(error as ConnectError), message: (error as Error).message })).not.toMatch(
        /helper-secret/,
      );
      expect(seen[0]).toMatchObject({
        'x-token': 'helper-secret-1234',
        'x-static': 'kept',
        'x-team': 'corp',
      });
    } finally {
      await server.close();
    }
  });

  it('fails at the headers-helper step when the helper fails, without contacting the server', async () => {
    const server = await startHttpFaultServer((_req, res) => res.writeHead(500).end());
    try {
      const error = await connect(
        { transport: 'http', url: server.url, headersHelper: 'patchbay-no-such-helper-9c1' },
        { timeoutMs: TIMEOUT },
      ).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ status: 'failed', step: 'headers-helper' });
      expect((error as ConnectError).reason).toMatch(/not found/);
      expect(server.requests).toHaveLength(0);
    } finally {
      await server.close();
    }
  });

  it('reports an unreadable CA file as a configuration problem', async () => {
    const error = await connect(
      { transport: 'http', url: demo.url, tls: { caFile: join(dir, 'missing-ca.pem') } },
      { timeoutMs: TIMEOUT },
    ).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 'failed', step: 'config' });
    expect((error as ConnectError).reason).toContain('missing-ca.pem');
  });
});
