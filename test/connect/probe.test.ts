import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ServerEntry } from '../../src/config/entry.js';
import { probeServer } from '../../src/connect/probe.js';
import { DEMO_TOOL_NAMES, startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import {
  EVERYTHING_NAME,
  EVERYTHING_SCRIPT,
  startEverything,
  type EverythingServer,
} from '../fixtures/everything.js';
import {
  getFreePort,
  startHangingServer,
  startHtmlServer,
  startHttpFaultServer,
  startStatusServer,
  startUnauthorizedServer,
  type FaultServer,
} from '../fixtures/fault-servers.js';

const TIMEOUT = 5_000;
/** Short enough to keep the suite fast, long enough for a loaded CI machine to spawn node. */
const HANG_TIMEOUT = 1_500;

const http = (url: string, headers?: Record<string, string>): ServerEntry => ({
  transport: 'http',
  url,
  ...(headers ? { headers } : {}),
});
const sse = (url: string): ServerEntry => ({ transport: 'sse', url });
/** A stdio entry running `node -e <script> [...args]`. */
const nodeScript = (script: string, args: string[] = [], env?: Record<string, string>): ServerEntry => ({
  transport: 'stdio',
  command: process.execPath,
  args: ['-e', script, ...args],
  ...(env ? { env } : {}),
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function withServer<T>(
  start: Promise<FaultServer>,
  use: (server: FaultServer) => Promise<T>,
): Promise<T> {
  const server = await start;
  try {
    return await use(server);
  } finally {
    await server.close();
  }
}

describe('probeServer against real MCP servers', () => {
  let demo: DemoServer;
  let everythingHttp: EverythingServer;
  let everythingSse: EverythingServer;
  beforeAll(async () => {
    [demo, everythingHttp, everythingSse] = await Promise.all([
      startDemoServer(),
      startEverything('streamableHttp'),
      startEverything('sse'),
    ]);
  });
  afterAll(async () => {
    await Promise.all([demo?.close(), everythingHttp?.close(), everythingSse?.close()]);
  });

  it('connects to the demo server over the 2026-07-28 era and counts its tools', async () => {
    const result = await probeServer(http(demo.url), { timeoutMs: TIMEOUT });
    expect(result).toMatchObject({
      status: 'connected',
      reason: null,
      toolCount: DEMO_TOOL_NAMES.length,
      server: { name: 'patchbay-demo', version: '0.1.0', protocolVersion: '2026-07-28' },
    });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(result.durationMs).toBeLessThan(TIMEOUT);
  });

  describe.concurrent('server-everything', () => {
    let stdioToolCount: number | undefined;

    it('connects over stdio, spawned without a shell', async () => {
      const result = await probeServer(
        { transport: 'stdio', command: process.execPath, args: [EVERYTHING_SCRIPT, 'stdio'] },
        { timeoutMs: TIMEOUT },
      );
      expect(result).toMatchObject({ status: 'connected', reason: null, server: { name: EVERYTHING_NAME } });
      expect(result.server?.protocolVersion).toMatch(/^2025-/);
      expect(result.toolCount).toBeGreaterThan(5);
      expect(result.resourceCount).toBeGreaterThan(0);
      expect(result.promptCount).toBeGreaterThan(0);
      stdioToolCount = result.toolCount ?? undefined;
    });

    it('connects over Streamable HTTP, falling back to the 2025 era', async () => {
      const result = await probeServer(http(everythingHttp.url), { timeoutMs: TIMEOUT });
      expect(result).toMatchObject({ status: 'connected', reason: null, server: { name: EVERYTHING_NAME } });
      expect(result.server?.protocolVersion).toMatch(/^2025-/);
      expect(result.toolCount).toBeGreaterThan(5);
      if (stdioToolCount !== undefined) expect(result.toolCount).toBe(stdioToolCount);
    });

    it('connects over legacy SSE', async () => {
      const result = await probeServer(sse(everythingSse.url), { timeoutMs: TIMEOUT });
      expect(result).toMatchObject({ status: 'connected', reason: null, server: { name: EVERYTHING_NAME } });
      expect(result.toolCount).toBeGreaterThan(5);
    });
  });

  it('a server that completes the handshake but never answers tools/list fails at the request step', async () => {
    // A front that relays to the demo server, except that it swallows tools/list.
    const { createServer, request } = await import('node:http');
    const target = new URL(demo.url);
    const front = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (body.includes('"tools/list"')) return; // never answered
        const upstream = request(
          {
            host: target.hostname,
            port: target.port,
            path: req.url,
            method: req.method,
            headers: req.headers,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const port = (front.address() as { port: number }).port;
    try {
      const result = await probeServer(http(`http://127.0.0.1:${port}/mcp`), { timeoutMs: HANG_TIMEOUT });
      expect(result).toMatchObject({
        status: 'failed',
        step: 'request',
        reason: `timed out after 1.5 s: no answer from 127.0.0.1:${port} to the request (not even response headers)`,
      });
    } finally {
      front.closeAllConnections();
      await new Promise((resolve) => front.close(resolve));
    }
  });

  it('falls back to legacy SSE when an http entry points at an SSE-only server, and says so', async () => {
    const result = await probeServer(http(everythingSse.url), { timeoutMs: TIMEOUT, name: 'old' });
    expect(result).toMatchObject({
      status: 'connected',
      transport: 'sse',
      fellBackToSse: true,
      server: { name: EVERYTHING_NAME },
    });
    expect(result.hint).toMatch(/patchbay add -t sse --force old/);
  });
});

describe.concurrent('probeServer over HTTP faults', () => {
  it('reports a refused connection with host and port', async () => {
    const port = await getFreePort();
    const result = await probeServer(http(`http://127.0.0.1:${port}/mcp`), { timeoutMs: TIMEOUT });
    expect(result).toMatchObject({
      status: 'failed',
      reason: `connection refused: nothing is listening on 127.0.0.1:${port}`,
      step: 'connect',
    });
  });

  it('reports a refused connection over SSE too', async () => {
    const port = await getFreePort();
    const result = await probeServer(sse(`http://127.0.0.1:${port}/sse`), { timeoutMs: TIMEOUT });
    expect(result).toMatchObject({
      status: 'failed',
      reason: `connection refused: nothing is listening on 127.0.0.1:${port}`,
    });
  });

  it('gives up on a server that accepts and never answers, within the timeout', async () => {
    await withServer(startHangingServer(), async (server) => {
      const result = await probeServer(http(server.url), { timeoutMs: HANG_TIMEOUT });
      expect(result).toMatchObject({
        status: 'failed',
        reason: `timed out after 1.5 s: no answer from 127.0.0.1:${server.port} to the MCP handshake (not even response headers)`,
        step: 'handshake',
      });
      expect(result.durationMs).toBeGreaterThanOrEqual(HANG_TIMEOUT - 5);
      expect(result.durationMs).toBeLessThan(HANG_TIMEOUT + 500);
    });
  });

  it('gives up on a silent SSE server within the timeout', async () => {
    await withServer(startHangingServer(), async (server) => {
      const result = await probeServer(sse(server.url), { timeoutMs: HANG_TIMEOUT });
      expect(result).toMatchObject({
        status: 'failed',
        reason: `timed out after 1.5 s: no answer from 127.0.0.1:${server.port} to the MCP handshake (not even response headers)`,
      });
    });
  });

  it('stops when the caller aborts', async () => {
    await withServer(startHangingServer(), async (server) => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const result = await probeServer(http(server.url), { timeoutMs: TIMEOUT, signal: controller.signal });
      expect(result).toMatchObject({ status: 'failed', reason: 'the connection attempt was cancelled' });
      expect(result.durationMs).toBeLessThan(1_000);
    });
  });

  it('reports an HTTP 500 with the URL, without its query string', async () => {
    await withServer(startStatusServer(500, { body: 'Internal Server Error' }), async (server) => {
      const result = await probeServer(http(`${server.url}?key=abc123def`), { timeoutMs: TIMEOUT });
      expect(result).toMatchObject({
        status: 'failed',
        reason: `HTTP 500 from ${server.url}: the server failed`,
        step: 'http',
      });
    });
  });

  it('reports an HTTP 500 over SSE', async () => {
    await withServer(startStatusServer(500), async (server) => {
      const result = await probeServer(sse(server.url), { timeoutMs: TIMEOUT });
      expect(result).toMatchObject({
        status: 'failed',
        reason: `HTTP 500 from ${server.url}: the server failed`,
      });
    });
  });

  it('recognises an HTML page', async () => {
    await withServer(startHtmlServer(), async (server) => {
      const result = await probeServer(http(server.url), { timeoutMs: TIMEOUT });
      expect(result).toMatchObject({
        status: 'failed',
        reason: 'the server answered with an HTML page, not MCP',
      });
    });
  });

  it('recognises an HTML page over SSE', async () => {
    await withServer(startHtmlServer(), async (server) => {
      const result = await probeServer(sse(server.url), { timeoutMs: TIMEOUT });
      expect(result.status).toBe('failed');
      expect(result.reason).toMatch(/not with an event stream|HTML/);
    });
  });

  it('reports 401 as needs-auth, sending the configured headers but never naming their values', async () => {
    await withServer(startUnauthorizedServer(401), async (server) => {
      const headers = { 'X-Api-Key': 'sk-live-0123456789' };
      const result = await probeServer(http(server.url, headers), { timeoutMs: TIMEOUT, name: 'corp' });
      expect(result).toMatchObject({
        status: 'needs-auth',
        reason: 'the server requires authentication (HTTP 401)',
        hint: 'patchbay login corp',
      });
      expect(JSON.stringify(result)).not.toMatch(/sk-live/);
      expect(server.requests[0]?.headers).toMatchObject({ 'x-api-key': 'sk-live-0123456789' });
    });
  });

  it('names the scopes a 401 challenge asks for in the login command', async () => {
    await withServer(
      startStatusServer(401, { headers: { 'www-authenticate': 'Bearer scope="mcp:basic mcp:write"' } }),
      async (server) => {
        const result = await probeServer(http(server.url), { timeoutMs: TIMEOUT, name: 'corp' });
        expect(result).toMatchObject({
          status: 'needs-auth',
          reason: 'the server requires authentication (HTTP 401)',
          hint: 'patchbay login corp --oauth-scope "mcp:basic mcp:write"',
        });
      },
    );
  });

  it('reports a 401 to a static Authorization header as a rejected header, not a login', async () => {
    await withServer(startUnauthorizedServer(401), async (server) => {
      const headers = { Authorization: 'Bearer tok-abcdef-987654' };
      const result = await probeServer(http(server.url, headers), { timeoutMs: TIMEOUT, name: 'corp' });
      expect(result).toMatchObject({
        status: 'failed',
        reason: 'the server rejected the configured Authorization header (HTTP 401)',
      });
      expect(JSON.stringify(result)).not.toMatch(/tok-abcdef/);
      expect(server.requests[0]?.headers).toMatchObject({ authorization: 'Bearer tok-abcdef-987654' });
    });
  });

  it('reports 401 over SSE as needs-auth', async () => {
    await withServer(startUnauthorizedServer(401), async (server) => {
      const result = await probeServer(sse(server.url), { timeoutMs: TIMEOUT });
      expect(result).toMatchObject({
        status: 'needs-auth',
        reason: 'the server requires authentication (HTTP 401)',
      });
    });
  });

  it('reports a plain 403 as forbidden', async () => {
    await withServer(startStatusServer(403, { body: 'Forbidden' }), async (server) => {
      const result = await probeServer(http(server.url), { timeoutMs: TIMEOUT });
      expect(result).toMatchObject({
        status: 'failed',
        reason: `access to ${server.url} is forbidden with the current credentials (HTTP 403)`,
      });
    });
  });

  it('reports a 403 insufficient_scope challenge as needs-auth', async () => {
    await withServer(startUnauthorizedServer(403), async (server) => {
      const result = await probeServer(http(server.url), { timeoutMs: TIMEOUT, name: 'corp' });
      expect(result).toMatchObject({
        status: 'needs-auth',
        reason:
          'the server requires permissions the current credentials lack (HTTP 403, insufficient_scope; it asks for admin)',
        hint: 'patchbay login corp --oauth-scope "admin"',
      });
    });
  });

  it('reports a 404 with the endpoint, after the SSE fallback found nothing either', async () => {
    await withServer(startStatusServer(404, { body: 'Not Found' }), async (server) => {
      const result = await probeServer(http(server.url), { timeoutMs: TIMEOUT });
      expect(result).toMatchObject({
        status: 'failed',
        step: 'http',
        reason: `HTTP 404 from ${server.url}: no MCP endpoint at this path`,
      });
      // POST (discover), then the spec's fallback: GET for an SSE stream.
      expect(server.requests.map((request) => request.method)).toContain('GET');
    });
  });

  it('reports a 405 as not taking MCP by POST', async () => {
    await withServer(startStatusServer(405, { body: 'Method Not Allowed' }), async (server) => {
      const result = await probeServer(http(server.url), { timeoutMs: TIMEOUT, name: 'x' });
      expect(result).toMatchObject({
        status: 'failed',
        reason: `HTTP 405 from ${server.url}: it does not take MCP requests by POST`,
      });
    });
  });

  it('recognises a wrong content type', async () => {
    await withServer(startStatusServer(200, { contentType: 'text/plain', body: 'hello' }), async (server) => {
      const result = await probeServer(http(server.url), { timeoutMs: TIMEOUT });
      expect(result).toMatchObject({
        status: 'failed',
        reason: 'the server answered with text/plain, not MCP',
      });
    });
  });

  it('explains a port that fetch refuses (9 is on the fetch standard\u2019s blocked list)', async () => {
    const result = await probeServer(http('http://127.0.0.1:9/mcp'), { timeoutMs: TIMEOUT });
    expect(result.status).toBe('failed');
    expect(result.reason).toMatch(/^fetch refuses to connect to port 9/);
  });

  it('recognises JSON that is not MCP', async () => {
    await withServer(
      startStatusServer(200, { contentType: 'application/json', body: '{"status":"ok"}' }),
      async (server) => {
        const result = await probeServer(http(server.url), { timeoutMs: TIMEOUT });
        expect(result).toMatchObject({
          status: 'failed',
          reason: 'the server answered with JSON that is not MCP',
        });
      },
    );
  });

  it('reports a server that drops the connection', async () => {
    await withServer(
      startHttpFaultServer((_req, res) => res.socket?.destroy()),
      async (server) => {
        const result = await probeServer(http(server.url), { timeoutMs: TIMEOUT });
        expect(result).toMatchObject({
          status: 'failed',
          reason: `the server at 127.0.0.1:${server.port} closed the connection without answering`,
        });
      },
    );
  });

  it('refuses a URL that is not http(s) without connecting anywhere', async () => {
    const result = await probeServer(http('ftp://127.0.0.1/mcp'), { timeoutMs: TIMEOUT });
    expect(result).toMatchObject({ status: 'failed' });
    expect(result.reason).toMatch(/http:\/\/ or https:\/\//);
  });
});

describe.concurrent('probeServer over stdio faults', () => {
  it('reports a missing command', async () => {
    const result = await probeServer(
      { transport: 'stdio', command: 'patchbay-no-such-command-7f3a' },
      { timeoutMs: TIMEOUT },
    );
    expect(result).toMatchObject({
      status: 'failed',
      reason: 'command not found: patchbay-no-such-command-7f3a',
    });
  });

  it('reports the exit code and the last stderr line of a process that exits', async () => {
    const result = await probeServer(
      nodeScript(
        "console.error('starting'); console.error('error: DATABASE_URL is not set'); process.exit(3)",
      ),
      { timeoutMs: TIMEOUT },
    );
    expect(result).toMatchObject({
      status: 'failed',
      reason: 'the process exited with code 3: error: DATABASE_URL is not set',
    });
  });

  it("passes entry.env over the user's environment, as other hosts do, and redacts env values from the reason", async () => {
    process.env.PATCHBAY_PROBE_TEST_PARENT_ONLY = 'from-the-shell';
    const script = nodeScript(
      'console.error(`key=${process.env.API_KEY} parent=${process.env.PATCHBAY_PROBE_TEST_PARENT_ONLY} path=${Boolean(process.env.PATH)}`); process.exit(1)',
      [],
      { API_KEY: 'secret-value-42' },
    );
    try {
      expect(await probeServer(script, { timeoutMs: TIMEOUT })).toMatchObject({
        status: 'failed',
        reason: 'the process exited with code 1: key=*** parent=from-the-shell path=true',
      });
      // Kept from the server: per entry, or for every entry that does not say.
      expect(await probeServer({ ...script, inheritEnv: false }, { timeoutMs: TIMEOUT })).toMatchObject({
        reason: 'the process exited with code 1: key=*** parent=undefined path=true',
      });
      const keepAll = { ...process.env, PATCHBAY_STDIO_INHERIT_ENV: '0' };
      expect(await probeServer(script, { timeoutMs: TIMEOUT, env: keepAll })).toMatchObject({
        reason: 'the process exited with code 1: key=*** parent=undefined path=true',
      });
      // An entry's explicit true wins over the global setting.
      expect(
        await probeServer({ ...script, inheritEnv: true }, { timeoutMs: TIMEOUT, env: keepAll }),
      ).toMatchObject({ reason: 'the process exited with code 1: key=*** parent=from-the-shell path=true' });
    } finally {
      delete process.env.PATCHBAY_PROBE_TEST_PARENT_ONLY;
    }
  });

  it('runs in the given working directory', async () => {
    const cwd = tmpdir();
    const result = await probeServer(nodeScript('console.error(`cwd=${process.cwd()}`); process.exit(1)'), {
      timeoutMs: TIMEOUT,
      cwd,
    });
    expect(result.reason).toBe(`the process exited with code 1: cwd=${cwd}`);
  });

  it('times out on a process that never answers, and kills it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'patchbay-probe-'));
    try {
      const pidFile = join(dir, 'pid');
      const result = await probeServer(
        nodeScript(
          "require('fs').writeFileSync(process.argv[1], String(process.pid)); console.error('waiting for a token'); setInterval(() => {}, 1000)",
          [pidFile],
        ),
        { timeoutMs: HANG_TIMEOUT },
      );
      expect(result).toMatchObject({
        status: 'failed',
        reason:
          'the server said on stderr: waiting for a token (no answer to the MCP handshake; timed out after 1.5 s)',
      });
      // What it said is the reason, so the hint is not "allow it longer" first.
      expect(result.hint).toMatch(/^Fix what it reports: patchbay get/);
      const pid = Number(await readFile(pidFile, 'utf8'));
      expect(isAlive(pid)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('kills a process that ignores SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'patchbay-probe-'));
    try {
      const pidFile = join(dir, 'pid');
      const result = await probeServer(
        nodeScript(
          "process.on('SIGTERM', () => {}); require('fs').writeFileSync(process.argv[1], String(process.pid)); setInterval(() => {}, 1000)",
          [pidFile],
        ),
        { timeoutMs: 300 },
      );
      expect(result).toMatchObject({
        status: 'failed',
        reason: 'timed out after 300 ms waiting for the MCP handshake from the process',
      });
      const pid = Number(await readFile(pidFile, 'utf8'));
      expect(isAlive(pid)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says so when a process writes logs to stdout instead of MCP', async () => {
    const result = await probeServer(
      nodeScript("console.log('Server starting on stdio...'); setInterval(() => {}, 1000)"),
      {
        timeoutMs: 500,
      },
    );
    expect(result.status).toBe('failed');
    expect(result.reason).toBe(
      'timed out after 500 ms: the process wrote text that is not MCP to stdout (servers must log to stderr): Server starting on stdio...',
    );
  });
});

describe('probe.ts', () => {
  it('loads the SDK lazily (no static import of @modelcontextprotocol)', async () => {
    const source = await readFile(
      fileURLToPath(new URL('../../src/connect/probe.ts', import.meta.url)),
      'utf8',
    );
    const staticImports =
      source.match(/^import\s+(?!type\b)[^;]*from\s+'@modelcontextprotocol\/[^']*'/gm) ?? [];
    expect(staticImports).toEqual([]);
  });
});
