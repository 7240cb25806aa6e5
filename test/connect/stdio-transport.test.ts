import { fileURLToPath } from 'node:url';

import { Client, type JSONRPCMessage } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';

import { lastStderrLine, StdioProcessTransport } from '../../src/connect/stdio-transport.js';
import { EVERYTHING_SCRIPT } from '../fixtures/everything.js';
import { isGone } from '../helpers/processes.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/stdio/${name}`, import.meta.url));
const node = (script: string, args: string[] = [], env?: Record<string, string>) =>
  new StdioProcessTransport({
    command: process.execPath,
    args: [fixture(script), ...args],
    ...(env ? { env } : {}),
  });

const transports: StdioProcessTransport[] = [];
/** Every transport a test makes is closed afterwards, whatever the test did. */
function track(transport: StdioProcessTransport): StdioProcessTransport {
  transports.push(transport);
  return transport;
}
afterEach(async () => {
  await Promise.all(transports.splice(0).map((transport) => transport.close()));
});

async function waitFor<T>(read: () => T | undefined, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const ping = (id: number): JSONRPCMessage => ({ jsonrpc: '2.0', id, method: 'ping' });

describe('StdioProcessTransport with a real MCP server', () => {
  it.each(['legacy', 'auto'] as const)(
    'connects the SDK client to server-everything (%s negotiation), lists tools, and leaves no process behind',
    async (mode) => {
      const transport = track(
        new StdioProcessTransport({ command: process.execPath, args: [EVERYTHING_SCRIPT, 'stdio'] }),
      );
      const client = new Client(
        { name: 'patchbay-test', version: '0.0.0' },
        { versionNegotiation: { mode } },
      );
      await client.connect(transport, { timeout: 15_000 });
      const pid = transport.pid!;
      expect(pid).toBeGreaterThan(0);
      const { tools } = await client.listTools(undefined, { timeout: 10_000 });
      expect(tools.length).toBeGreaterThan(0);

      const closed = new Promise<void>((resolve) => {
        const previous = transport.onclose;
        transport.onclose = () => {
          previous?.();
          resolve();
        };
      });
      await client.close();
      await transport.close();
      await closed;
      expect(transport.exit).not.toBeNull();
      expect(isGone(pid)).toBe(true);
    },
  );
});

describe('StdioProcessTransport process lifecycle', () => {
  it('kills a grandchild holding the pipes when closing', async () => {
    const transport = track(node('grandchild.mjs'));
    await transport.start();
    const grandchild = Number(await waitFor(() => /grandchild (\d+)/.exec(transport.stderrTail)?.[1]));
    expect(isGone(grandchild)).toBe(false);
    const started = Date.now();
    await transport.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(transport.exit?.signal).toBe('SIGTERM');
    expect(isGone(transport.pid!)).toBe(true);
    expect(isGone(grandchild)).toBe(true);
  });

  it('kills a grandchild left behind by a server that exited by itself', async () => {
    const transport = track(node('grandchild.mjs', ['orphan']));
    await transport.start();
    const grandchild = Number(await waitFor(() => /grandchild (\d+)/.exec(transport.stderrTail)?.[1]));
    await transport.close();
    expect(transport.exit).toEqual({ code: 0, signal: null });
    expect(isGone(grandchild)).toBe(true);
  });

  it('reports the exit code and the last stderr line of a server that dies at once', async () => {
    const transport = track(node('exit-code.mjs'));
    let closes = 0;
    const client = new Client(
      { name: 'patchbay-test', version: '0.0.0' },
      { versionNegotiation: { mode: 'legacy' } },
    );
    await expect(client.connect(transport, { timeout: 5_000 })).rejects.toThrow();
    const exit = await transport.exited();
    expect(exit).toEqual({ code: 3, signal: null });
    expect(transport.exit).toEqual({ code: 3, signal: null });
    expect(lastStderrLine(transport.stderrTail)).toBe('boom: missing API key');
    transport.onclose = () => closes++;
    await transport.close();
    await transport.close();
    expect(closes).toBe(0); // already reported when the process exited
    await expect(transport.send(ping(1))).rejects.toThrow(/not running/);
  });

  it('fires onclose once, after the exit is recorded', async () => {
    const transport = track(node('exit-code.mjs'));
    const seen: Array<number | null | undefined> = [];
    transport.onclose = () => seen.push(transport.exit?.code);
    await transport.start();
    await transport.exited();
    await transport.close();
    expect(seen).toEqual([3]);
  });

  it('rejects start() with ENOENT when the command does not exist', async () => {
    const transport = track(new StdioProcessTransport({ command: 'patchbay-no-such-command-4f1c' }));
    await expect(transport.start()).rejects.toMatchObject({ code: 'ENOENT' });
    expect(transport.exit).toBeNull();
    await expect(transport.exited()).resolves.toEqual({ code: null, signal: null });
    await transport.close();
  });

  it('rejects start() for arguments Node refuses, and after close()', async () => {
    const bad = track(new StdioProcessTransport({ command: process.execPath, args: ['a\0b'] }));
    await expect(bad.start()).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(bad.exited()).resolves.toEqual({ code: null, signal: null });
    const closed = track(node('echo.mjs'));
    await closed.close();
    await expect(closed.start()).rejects.toThrow(/closed before it started/);
    expect(closed.pid).toBeUndefined();
  });

  it('SIGKILLs a server that ignores SIGTERM, within about 2 s', async () => {
    const transport = track(node('ignore-sigterm.mjs'));
    await transport.start();
    await waitFor(() => (transport.stderrTail.includes('ready') ? true : undefined));
    const started = Date.now();
    await transport.close();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(2_500);
    expect(transport.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(transport.stderrTail).toContain('ignoring SIGTERM');
  });

  it('lets a server that exits when stdin ends go without a signal', async () => {
    const transport = track(node('echo.mjs'));
    const echoed: JSONRPCMessage[] = [];
    transport.onmessage = (message) => echoed.push(message);
    await transport.start();
    // Wait until it runs (a loaded machine may take longer to start node than the exit grace).
    await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await waitFor(() => (echoed.length > 0 ? true : undefined));
    await transport.close();
    expect(transport.exit).toEqual({ code: 0, signal: null });
  });
});

describe('StdioProcessTransport stdout and stdin', () => {
  it('records the first stray stdout line, reports each, and keeps delivering messages', async () => {
    const transport = track(node('stray-stdout.mjs'));
    const messages: JSONRPCMessage[] = [];
    const errors: Error[] = [];
    transport.onmessage = (message) => messages.push(message);
    transport.onerror = (error) => errors.push(error);
    await transport.start();
    await waitFor(() => (errors.length >= 3 ? true : undefined));
    expect(transport.strayStdout).toBe('Server starting...');
    expect(messages).toEqual([
      {
        jsonrpc: '2.0',
        method: 'notifications/message',
        params: { level: 'info', data: 'hi' },
      },
    ]);
    // "Server starting...", the JSON log line and "listening"; the blank line is not an error.
    expect(errors).toHaveLength(3);
    expect(errors[0]!.message).toMatch(/not JSON-RPC/);
    expect(transport.exit).toBeNull();
  });

  it('round-trips many messages and one large one through a slow reader (backpressure)', async () => {
    const transport = track(node('echo.mjs', ['slow']));
    const received: JSONRPCMessage[] = [];
    transport.onmessage = (message) => received.push(message);
    await transport.start();
    const big: JSONRPCMessage = {
      jsonrpc: '2.0',
      id: 'big',
      method: 'x',
      params: { blob: 'é'.repeat(600_000) },
    };
    const sends = [big, ...Array.from({ length: 200 }, (_, i) => ping(i))].map((message) =>
      transport.send(message),
    );
    await Promise.all(sends);
    await waitFor(() => (received.length === 201 ? true : undefined));
    expect(received[0]).toEqual(big);
    expect(received.slice(1).map((message) => (message as { id: number }).id)).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
    expect(transport.strayStdout).toBeUndefined();
  });

  it('refuses to send before start and after close', async () => {
    const transport = track(node('echo.mjs'));
    await expect(transport.send(ping(1))).rejects.toThrow(/not running/);
    await transport.start();
    await transport.close();
    await expect(transport.send(ping(2))).rejects.toThrow(/not running/);
  });
});

describe('StdioProcessTransport environment', () => {
  const parent = {
    PATH: process.env.PATH,
    HOME: '/inherited/home',
    LANG: 'C.UTF-8',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI',
    GITHUB_TOKEN: 'ghp_secret',
  };

  it('passes the whole inherited environment with the entry env over it, by default', async () => {
    const transport = track(
      new StdioProcessTransport({
        command: process.execPath,
        args: [fixture('print-env.mjs')],
        env: { API_BASE: 'https://example.test', HOME: '/entry/home' },
        inheritFrom: parent,
      }),
    );
    await transport.start();
    await transport.exited();
    const env = JSON.parse(transport.stderrTail) as Record<string, string>;
    expect(env).toMatchObject({
      API_BASE: 'https://example.test',
      HOME: '/entry/home',
      PATH: process.env.PATH,
      LANG: 'C.UTF-8',
      GITHUB_TOKEN: 'ghp_secret',
    });
  });

  it('with inheritAll: false, passes the entry env and the minimal inherited set, not other variables', async () => {
    const transport = track(
      new StdioProcessTransport({
        command: process.execPath,
        args: [fixture('print-env.mjs')],
        env: { API_BASE: 'https://example.test', HOME: '/entry/home' },
        inheritFrom: parent,
        inheritAll: false,
      }),
    );
    await transport.start();
    await transport.exited();
    const env = JSON.parse(transport.stderrTail) as Record<string, string>;
    expect(env.API_BASE).toBe('https://example.test');
    expect(env.HOME).toBe('/entry/home');
    expect(env.PATH).toBe(process.env.PATH);
    expect(env.LANG).toBe('C.UTF-8');
    expect(env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    expect(env.GITHUB_TOKEN).toBeUndefined();
  });

  it('runs in the given working directory', async () => {
    const cwd = fileURLToPath(new URL('../fixtures/', import.meta.url));
    const transport = track(
      new StdioProcessTransport({
        command: process.execPath,
        args: ['-e', 'process.stderr.write(process.cwd())'],
        cwd,
      }),
    );
    await transport.start();
    await transport.exited();
    expect(transport.stderrTail).toBe(cwd.replace(/[\\/]$/, ''));
  });
});

describe('lastStderrLine', () => {
  it('skips what runtimes print after the message: Node\u2019s trailer, stack frames, error properties', () => {
    const node = [
      'file:///srv/server.mjs:3',
      "throw new Error('DATABASE_URL is not set');",
      '^',
      '',
      'Error: DATABASE_URL is not set',
      '    at file:///srv/server.mjs:3:7',
      '    at async ModuleLoader.import (node:internal/modules/esm/loader:473:24) {',
      "  code: 'ERR_X',",
      '  errno: -2',
      '}',
      '',
      'Node.js v20.20.2',
    ].join('\n');
    expect(lastStderrLine(node)).toBe('Error: DATABASE_URL is not set');
    const python =
      'Traceback (most recent call last):\n  File "x.py", line 3, in <module>\nValueError: bad key\n';
    expect(lastStderrLine(python)).toBe('ValueError: bad key');
    expect(lastStderrLine('Node.js v20.20.2\n')).toBe('Node.js v20.20.2');
  });

  it('takes the last non-empty line, strips ANSI escapes and control characters, and bounds it', () => {
    expect(lastStderrLine('')).toBeUndefined();
    expect(lastStderrLine('\n  \n')).toBeUndefined();
    expect(lastStderrLine('one\ntwo\r\n\n')).toBe('two');
    expect(lastStderrLine('\u001b[1;31merror:\u001b[0m bad\tthing\u0007\n')).toBe('error: bad thing');
    const long = lastStderrLine(`${'x'.repeat(500)}\n`)!;
    expect(long).toHaveLength(200);
    expect(long.endsWith('\u2026')).toBe(true);
  });
});
