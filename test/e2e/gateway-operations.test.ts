/**
 * The operations side of `patchbay serve --http`, on the built binary over real sockets:
 * `/healthz` and `/readyz`; TLS served directly (bad files named at start, SIGHUP); a trusted
 * proxy's `X-Forwarded-*` believed from it alone; the exposure rules; JSON logs; and the drain on
 * SIGTERM with a slow tool call in flight and new requests arriving meanwhile.
 */

import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import type { AuditEntry } from '../../src/policy/audit.js';
import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { getFreePort } from '../fixtures/fault-servers.js';
import { startGateway as startRunningGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

let sandbox: Sandbox;
let demo: DemoServer;
let everything: EverythingServer;
let token: string;
const gateways: RunningGateway[] = [];

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

async function startGateway(args: string[]): Promise<RunningGateway> {
  const gateway = await startRunningGateway(sandbox, args);
  gateways.push(gateway);
  return gateway;
}

/** A deployment file in the sandbox. */
async function deploymentFile(name: string, content: object): Promise<string> {
  const file = join(sandbox.root, name);
  await writeFile(file, JSON.stringify(content, null, 2));
  return file;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with exactly these headers (Host included), over a new connection. */
function send(port: number, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const PING = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });

function mcpHeaders(port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    host: `127.0.0.1:${port}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${token}`,
    ...extra,
  };
}

async function client(
  url: string,
  init: { headers?: Record<string, string> } = {},
  fetch?: typeof globalThis.fetch,
) {
  const host = new Client({ name: 'ops-test', version: '1' });
  await host.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${token}`, ...init.headers } },
      ...(fetch ? { fetch } : {}),
    }),
  );
  return host;
}

async function audited(): Promise<AuditEntry[]> {
  const run = await sandbox.run(['log', '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as AuditEntry[];
}

/** The JSON lines of a gateway's stderr (every whole line must be one; a line still being written is not read). */
function jsonLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .slice(0, stderr.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function until(what: () => boolean | Promise<boolean>, withinMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + withinMs; !(await what());) {
    if (Date.now() > deadline) throw new Error('not within the time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function exited(gateway: RunningGateway): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const { child } = gateway;
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

describe('/healthz and /readyz', () => {
  it('answer without a token, by any Host, with counts and no names; /mcp still checks both', async () => {
    const { port } = await startGateway(['--servers', 'demo,ev']);
    const health = await send(port, '/healthz', { host: 'pod-10-0-0-7:8080' });
    expect([health.status, health.body]).toEqual([200, 'ok\n']);
    const ready = await send(port, '/readyz', { host: `127.0.0.1:${port}` });
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({
      ready: true,
      checks: {
        upstreams: { ready: true, count: 2 },
        listener: { ready: true },
        draining: { ready: true },
      },
    });
    expect(ready.body).not.toMatch(/demo|"ev"|127\.0\.0\.1|Bearer/);
    expect((await send(port, '/readyz', { host: 'evil.example' })).status).toBe(200);
    expect((await send(port, '/mcp', mcpHeaders(port, { host: 'pod-10-0-0-7:8080' }), PING)).status).toBe(
      403,
    );
    expect((await send(port, '/mcp', mcpHeaders(port, { authorization: 'Bearer nope' }), PING)).status).toBe(
      401,
    );
  });

  it('a team gateway (--config) has them too, with its front door as a check', async () => {
    const file = await deploymentFile('ready.jsonc', { servers: ['demo'] });
    const { port } = await startGateway(['--config', file]);
    const ready = await send(port, '/readyz', { host: `localhost:${port}` });
    expect(JSON.parse(ready.body)).toMatchObject({
      ready: true,
      checks: { upstreams: { ready: true, count: 1 }, front: { ready: true } },
    });
  });
});

describe('TLS', () => {
  const ca = async () => (await import('node:fs/promises')).readFile(join(TLS, 'ca.pem'));

  it('serves https with the given files, says so in its URL, and reloads them on SIGHUP', async () => {
    const gateway = await startGateway([
      '--servers',
      'demo',
      '--tls-cert',
      join(TLS, 'server.pem'),
      '--tls-key',
      join(TLS, 'server.key'),
      '--log-format',
      'json',
    ]);
    expect(gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const dispatcher = new Agent({ connect: { ca: await ca() } });
    const fetch = ((url: string | URL, init?: RequestInit) =>
      undiciFetch(url, { ...(init as object), dispatcher })) as unknown as typeof globalThis.fetch;
    const host = await client(gateway.url, {}, fetch);
    try {
      const echoed = await host.callTool({ name: 'demo__echo', arguments: { text: 'over tls' } });
      expect(JSON.stringify(echoed.content)).toContain('over tls');
    } finally {
      await host.close();
    }
    const health = await fetch(new URL('/healthz', gateway.url));
    expect(await health.text()).toBe('ok\n');
    // Plain http to a TLS port gets nothing useful.
    await expect(send(gateway.port, '/healthz', { host: 'x' })).rejects.toThrow();

    gateway.child.kill('SIGHUP');
    await until(() => jsonLines(gateway.stderr()).some((line) => line.event === 'tls-reload'));
    expect(gateway.child.exitCode).toBeNull();
    expect((await fetch(new URL('/healthz', gateway.url))).status).toBe(200);
    await dispatcher.close();
  });

  it.each([
    ['not-pem.txt', 'server.key', /The TLS certificate .*not-pem\.txt is not a PEM certificate/],
    ['server.pem', 'missing.key', /Could not read the TLS key .*missing\.key: ENOENT/],
    [
      'server.pem',
      'self-signed.key',
      /The TLS key .*self-signed\.key does not belong to the certificate .*server\.pem/,
    ],
  ])('refuses to start with %s and %s, naming the file', async (cert, key, message) => {
    const run = await sandbox.run([
      'serve',
      '--http',
      '127.0.0.1:0',
      '--tls-cert',
      join(TLS, cert),
      '--tls-key',
      join(TLS, key),
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toContain('patchbay gateway at');
  });
});

describe('behind a proxy', () => {
  const forwardedFrom = (port: number, host: string, extra: Record<string, string> = {}) =>
    mcpHeaders(port, {
      host: 'gateway.internal:8080',
      'x-forwarded-host': host,
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '203.0.113.7',
      ...extra,
    });

  it('believes X-Forwarded-* from a trusted proxy: the public host passes, the audit names the client', async () => {
    const file = await deploymentFile('proxied.jsonc', {
      publicUrl: 'https://mcp.example.com',
      trustedProxies: ['10.0.0.0/8', '127.0.0.1'],
      servers: ['demo'],
      logs: 'json',
    });
    // The URL printed is the public one: the port is chosen here.
    const port = await getFreePort();
    const gateway = await startGateway(['--config', file, '--http', `127.0.0.1:${port}`]);
    expect(gateway.url).toBe('https://mcp.example.com/mcp');
    expect((await send(port, '/mcp', forwardedFrom(port, 'mcp.example.com'), PING)).status).toBe(200);
    expect((await send(port, '/mcp', forwardedFrom(port, 'evil.example'), PING)).status).toBe(403);
    // Without a forwarded host, the request's own Host is checked as always.
    expect((await send(port, '/mcp', mcpHeaders(port, { host: 'gateway.internal:8080' }), PING)).status).toBe(
      403,
    );

    const host = await client(`http://127.0.0.1:${port}/mcp`, {
      headers: {
        'x-forwarded-host': 'mcp.example.com',
        'x-forwarded-proto': 'https',
        'x-forwarded-for': '203.0.113.7',
      },
    });
    try {
      await host.callTool({ name: 'demo__echo', arguments: { text: 'via the proxy' } });
    } finally {
      await host.close();
    }
    const entries = await audited();
    expect(entries.some((entry) => entry.caller?.peer === '203.0.113.7')).toBe(true);
    const refusal = jsonLines(gateway.stderr()).find(
      (line) => line.event === 'refused' && line.reason === 'host',
    );
    expect(refusal).toMatchObject({ status: 403, peer: '203.0.113.7', path: '/mcp' });
  });

  it('ignores them from any other peer', async () => {
    const before = (await audited()).length;
    const file = await deploymentFile('other-proxy.jsonc', {
      publicUrl: 'https://mcp.example.com',
      trustedProxies: ['10.0.0.0/8', 'fd00::/8'],
      servers: ['demo'],
    });
    const port = await getFreePort();
    await startGateway(['--config', file, '--http', `127.0.0.1:${port}`]);
    // The forwarded host would pass; it is not believed, and the Host itself does not.
    expect((await send(port, '/mcp', forwardedFrom(port, 'mcp.example.com'), PING)).status).toBe(403);
    // A forwarded host that would fail changes nothing either.
    expect(
      (await send(port, '/mcp', forwardedFrom(port, 'evil.example', { host: `127.0.0.1:${port}` }), PING))
        .status,
    ).toBe(200);
    const host = await client(`http://127.0.0.1:${port}/mcp`, {
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-host': 'mcp.example.com' },
    });
    try {
      await host.callTool({ name: 'demo__echo', arguments: { text: 'not via a proxy' } });
    } finally {
      await host.close();
    }
    const mine = (await audited()).slice(before);
    expect(mine.length).toBeGreaterThan(0);
    for (const entry of mine) expect(entry.caller?.peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});

describe('behind a proxy over IPv6', () => {
  it('matches an IPv6 range: trusted from ::1 inside it, not from ::1 outside it', async () => {
    const sendV6 = (port: number, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          { host: '::1', port, path: '/mcp', method: 'POST', headers, agent: false },
          (res) => {
            res.resume();
            resolve(res.statusCode!);
          },
        );
        req.on('error', reject);
        req.end(PING);
      });
    const headers = (port: number) => ({
      ...mcpHeaders(port),
      host: 'gateway.internal:8080',
      'x-forwarded-host': `[::1]:${port}`,
      'x-forwarded-for': '2001:db8::7',
    });
    const inside = await getFreePort();
    await startGateway([
      '--servers',
      'demo',
      '--http',
      `[::1]:${inside}`,
      '--trust-proxy',
      '::/127,10.0.0.0/8',
    ]);
    expect(await sendV6(inside, headers(inside))).toBe(200);
    const outside = await getFreePort();
    await startGateway([
      '--servers',
      'demo',
      '--http',
      `[::1]:${outside}`,
      '--trust-proxy',
      'fd00::/8,127.0.0.1',
    ]);
    expect(await sendV6(outside, headers(outside))).toBe(403);
  });
});

describe('exposure', () => {
  it('refuses another interface without authentication beyond the static token', async () => {
    const plain = await sandbox.run(['serve', '--http', '0.0.0.0:0']);
    expect([plain.code, plain.stderr]).toEqual([2, expect.stringMatching(/Refusing to serve on 0\.0\.0\.0/)]);
    const staticOnly = await deploymentFile('static-only.jsonc', { listen: '0.0.0.0:0' });
    const team = await sandbox.run(['serve', '--config', staticOnly]);
    expect(team.code).toBe(2);
    expect(team.stderr).toContain(
      `Refusing to serve on 0.0.0.0: ${staticOnly} turns on only the static token`,
    );
    const nothing = await deploymentFile('no-auth.jsonc', {
      listen: '127.0.0.1:0',
      auth: { staticToken: false },
    });
    const none = await sandbox.run(['serve', '--config', nothing]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('never serves without authentication');
    const noAuth = await sandbox.run(['serve', '--config', staticOnly, '--dangerously-no-auth']);
    expect(noAuth.stderr).toContain('--dangerously-no-auth does not go with --config');
  });
});

describe('JSON logs', () => {
  it('one object per line for start, refusals (no credential), the drain and the stop', async () => {
    const gateway = await startGateway(['--servers', 'demo', '--log-format', 'json']);
    const { port } = gateway;
    await send(port, '/mcp', mcpHeaders(port, { authorization: 'Bearer wrong-secret-4711' }), PING);
    await send(port, '/mcp', mcpHeaders(port, { authorization: '' }), PING);
    await send(port, '/nowhere', { host: `127.0.0.1:${port}` });
    await until(() => jsonLines(gateway.stderr()).filter((line) => line.event === 'refused').length === 3);
    await gateway.stop();
    const lines = jsonLines(gateway.stderr());
    expect(lines[0]).toMatchObject({ level: 'info', event: 'start', url: gateway.url, servers: ['demo'] });
    for (const line of lines) expect(Date.parse(String(line.time))).not.toBeNaN();
    expect(lines.filter((line) => line.event === 'refused')).toEqual([
      expect.objectContaining({
        status: 401,
        reason: 'invalid_token',
        method: 'POST',
        path: '/mcp',
        peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      }),
      expect.objectContaining({ status: 401, reason: 'unauthenticated' }),
      expect.objectContaining({ status: 404, reason: 'not-found', path: '/nowhere' }),
    ]);
    expect(lines.slice(-2).map((line) => line.event)).toEqual(['draining', 'stop']);
    expect(gateway.stderr()).not.toContain('wrong-secret-4711');
    expect(gateway.stderr()).not.toContain(token);
  });
});

/** A kept-alive connection in the middle of its second request. */
interface Begun {
  socket: Socket;
  /** Everything the gateway sent after the first answer, once the connection has closed. */
  answer: Promise<string>;
}

/**
 * A connection the gateway has surely taken (one request already answered on it, kept alive),
 * that has sent the start of a second request, so it is not idle when the drain begins.
 * Everything read and the close are listened for from the start: nothing is missed whenever it comes.
 */
function begun(port: number, head: string): Promise<Begun> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () =>
      socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`),
    );
    let first = '';
    let rest = '';
    let started = false;
    const answer = new Promise<string>((settle) => {
      socket.on('close', () => settle(rest));
      socket.on('error', () => settle(rest));
    });
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      if (started) return void (rest += chunk.toString());
      first += chunk.toString();
      if (!first.endsWith('\r\n\r\nok\n')) return;
      started = true;
      socket.write(head);
      resolve({ socket, answer });
    });
  });
}

/** Finish the request begun and read the whole answer (the gateway closes after it). */
function finish(begun: Begun, rest: string): Promise<string> {
  begun.socket.write(rest);
  return begun.answer;
}

describe('SIGTERM drains', () => {
  const slowCall = (host: Client, seconds: number, onStarted: () => void) =>
    host.callTool(
      { name: 'ev__trigger-long-running-operation', arguments: { duration: seconds, steps: seconds } },
      { onprogress: onStarted, timeout: 60_000 },
    );

  it('lets the call in flight finish, refuses new requests meanwhile, then exits 0', async () => {
    const gateway = await startGateway(['--servers', 'ev', '--log-format', 'json', '--drain-timeout', '30s']);
    const { port } = gateway;
    const host = await client(gateway.url);
    let started!: () => void;
    const inFlight = new Promise<void>((resolve) => (started = resolve));
    const call = slowCall(host, 3, () => started());
    await inFlight;
    const probe = await begun(port, `GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
    const late = await begun(
      port,
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n`,
    );
    const stopped = Date.now();
    gateway.child.kill('SIGTERM');
    await until(() => jsonLines(gateway.stderr()).some((line) => line.event === 'draining'));

    const [readiness, refused] = await Promise.all([
      finish(probe, '\r\n'),
      finish(late, `Content-Length: ${PING.length}\r\n\r\n${PING}`),
    ]);
    expect(readiness).toMatch(/^HTTP\/1\.1 503 /);
    expect(readiness).toMatch(/\r\nconnection: close\r\n/i);
    expect(readiness).toContain('"draining":{"ready":false,"reason":"draining","count":1}');
    expect(refused).toMatch(/^HTTP\/1\.1 503 /);
    expect(refused).toMatch(/\r\nretry-after: \d+\r\n/i);
    expect(refused).toMatch(/\r\nconnection: close\r\n/i);
    // No new connection is taken.
    await expect(send(port, '/healthz', { host: `127.0.0.1:${port}` })).rejects.toThrow(/ECONNREFUSED/);

    const result = await call;
    expect(JSON.stringify(result.content)).toContain('Long running operation completed');
    expect(await exited(gateway)).toEqual({ code: 0, signal: null });
    expect(Date.now() - stopped).toBeLessThan(15_000);
    const lines = jsonLines(gateway.stderr());
    expect(lines.find((line) => line.event === 'draining')).toMatchObject({ inFlight: 1, withinMs: 30_000 });
    expect(lines.find((line) => line.event === 'refused' && line.reason === 'draining')).toMatchObject({
      status: 503,
    });
    expect(lines.some((line) => line.event === 'drain-timeout')).toBe(false);
    expect(lines.at(-1)).toMatchObject({ event: 'stop' });
    await host.close().catch(() => undefined);
  }, 60_000);

  it('ends a call that outlasts --drain-timeout, and exits at once on a second signal', async () => {
    const bounded = await startGateway(['--servers', 'ev', '--log-format', 'json', '--drain-timeout', '1s']);
    const first = await client(bounded.url);
    let started!: () => void;
    const inFlight = new Promise<void>((resolve) => (started = resolve));
    const cut = slowCall(first, 20, () => started()).catch((error: unknown) => error);
    await inFlight;
    const stopped = Date.now();
    bounded.child.kill('SIGTERM');
    expect(await exited(bounded)).toEqual({ code: 0, signal: null });
    expect(Date.now() - stopped).toBeLessThan(8_000);
    expect(jsonLines(bounded.stderr()).find((line) => line.event === 'drain-timeout')).toMatchObject({
      cut: 1,
    });
    // Its host sees the call end with the connection (closing the host settles it at the latest).
    await first.close().catch(() => undefined);
    await cut;

    const patient = await startGateway(['--servers', 'ev', '--drain-timeout', '30s']);
    const second = await client(patient.url);
    let going!: () => void;
    const running = new Promise<void>((resolve) => (going = resolve));
    const abandoned = slowCall(second, 20, () => going()).catch((error: unknown) => error);
    await running;
    const signalled = Date.now();
    patient.child.kill('SIGTERM');
    await until(() => patient.stderr().includes('Stopping: waiting up to 30s for 1 call in flight.'));
    patient.child.kill('SIGTERM');
    expect(await exited(patient)).toEqual({ code: 143, signal: null });
    expect(Date.now() - signalled).toBeLessThan(5_000);
    await second.close().catch(() => undefined);
    await abandoned;
  }, 60_000);
});
