/**
 * `/metrics` and trace context on a real gateway listener (`startGateway`, in process) over a
 * real server-everything (Streamable HTTP), reached through a recording pass-through that keeps
 * the headers and bodies of every POST it forwards. Hosts are the SDK's client: one the hot path
 * serves (no elicitation) and one the full path serves (it declares elicitation).
 */

import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import { traceContext } from '../../src/core/trace-context.js';
import { parseServeOptions } from '../../src/cli/commands/serve.js';
import { parseDeployment } from '../../src/gateway/deployment.js';
import {
  GatewayMetrics,
  MAX_TOOLS_PER_SERVER,
  OTHER_TOOL,
  measuredState,
} from '../../src/gateway/metrics.js';
import { ungatedCall } from '../../src/gateway/policy-gate.js';
import { startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';
import type { AuditEntry, AuditOutcome } from '../../src/policy/audit.js';
import { FileState } from '../../src/state/files.js';
import { gatewayToken } from '../../src/gateway/token.js';
import { startEverything, type EverythingServer } from '../fixtures/everything.js';

const META_ECHO = fileURLToPath(new URL('../fixtures/stdio/meta-echo.mjs', import.meta.url));
const TRACEPARENT_HOT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TRACEPARENT_FULL = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

interface Recorded {
  headers: IncomingHttpHeaders;
  body: string;
}

let everything: EverythingServer;
let recorder: Server;
const recorded: Recorded[] = [];
let home: string;
let gateway: InProcessGateway | undefined;
let mcpUrl: string;
let token: string;

/** Forwards every request to server-everything as it came, after noting its headers and body. */
async function startRecorder(target: URL): Promise<string> {
  recorder = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST') recorded.push({ headers: req.headers, body: body.toString('utf8') });
      const upstream = httpRequest(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(recorder.address() as AddressInfo).port}${target.pathname}`;
}

beforeAll(async () => {
  everything = await startEverything('streamableHttp');
  const upstreamUrl = await startRecorder(new URL(everything.url));
  home = mkdtempSync(join(tmpdir(), 'patchbay-metrics-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    NO_COLOR: '1',
  };
  const paths = resolvePaths(env);
  mkdirSync(dirname(paths.userConfig), { recursive: true });
  writeFileSync(
    paths.userConfig,
    JSON.stringify({
      mcpServers: {
        ev: { type: 'http', url: upstreamUrl },
        // A stdio upstream: the trace context can only travel in `_meta`.
        m: { type: 'stdio', command: process.execPath, args: [META_ECHO] },
      },
      policy: { servers: { ev: { tools: { 'get-env': 'deny' }, limits: { 'get-sum': '1/hour' } } } },
    }),
  );
  gateway = await startInProcessGateway({ env, home, paths });
  mcpUrl = gateway.url;
  token = await gatewayToken(paths);
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await everything?.close();
  await new Promise((resolve) => recorder?.close(resolve));
  if (home) rmSync(home, { recursive: true, force: true });
});

/** A 2025-era host sending `traceparent` on every request; `hot` counts the hot path's answers. */
async function host(traceparent: string, capabilities: object = {}) {
  const relays = { hot: 0 };
  const client = new Client(
    { name: 'metrics-host', version: '1.0.0' },
    { capabilities, versionNegotiation: { mode: 'legacy' } },
  );
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    requestInit: {
      headers: { Authorization: `Bearer ${token}`, traceparent, tracestate: 'rojo=00f067aa0ba902b7' },
    },
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      if (response.headers.get('x-patchbay-relay') === 'hot') relays.hot++;
      return response;
    },
  });
  await client.connect(transport);
  await client.listTools();
  return { client, relays };
}

/** `/metrics` as text; `bearer` undefined: without Authorization. */
async function scrape(bearer: string | undefined): Promise<Response> {
  return fetch(new URL('/metrics', mcpUrl), bearer ? { headers: { Authorization: `Bearer ${bearer}` } } : {});
}

/** One sample's value by metric name and exact labels, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (
      Object.keys(got).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => got[k] === v)
    )
      return Number(match[3]);
  }
  return undefined;
}

/** The recorded upstream POSTs of a JSON-RPC method. */
function posted(method: string): Recorded[] {
  return recorded.filter((entry) => {
    try {
      return (JSON.parse(entry.body) as { method?: string }).method === method;
    } catch {
      return false;
    }
  });
}

describe('gateway metrics and trace context', () => {
  it('counts each call once per server, tool, outcome and decision, on both paths, behind the bearer', async () => {
    const hot = await host(TRACEPARENT_HOT);
    const full = await host(TRACEPARENT_FULL, { elicitation: {} });
    try {
      const echo = await hot.client.callTool({ name: 'ev__echo', arguments: { message: 'hot' } });
      expect(echo.isError).toBeFalsy();
      expect(hot.relays.hot).toBe(1);
      const viaFull = await full.client.callTool({ name: 'ev__echo', arguments: { message: 'full' } });
      expect(viaFull.isError).toBeFalsy();
      expect(full.relays.hot).toBe(0);
      expect(
        (await hot.client.callTool({ name: 'ev__get-sum', arguments: { a: 1, b: 2 } })).isError,
      ).toBeFalsy();
      expect((await hot.client.callTool({ name: 'ev__get-sum', arguments: { a: 2, b: 3 } })).isError).toBe(
        true,
      );
      expect((await hot.client.callTool({ name: 'ev__get-env', arguments: {} })).isError).toBe(true);
      expect((await hot.client.callTool({ name: 'ev__echo', arguments: {} })).isError).toBe(true);

      const refused = await scrape(undefined);
      expect(refused.status).toBe(401);
      expect(await scrape('not-the-token').then((response) => response.status)).toBe(401);

      // The hot path records after the answer, off the path: give it its turn.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const response = await scrape(token);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const text = await response.text();
      const calls = (tool: string, outcome: string, decision: string) =>
        sample(text, 'patchbay_calls_total', { server: 'ev', tool, outcome, decision });
      expect(calls('echo', 'ok', 'allowed')).toBe(2);
      expect(calls('echo', 'tool-error', 'allowed')).toBe(1);
      expect(calls('get-sum', 'ok', 'allowed')).toBe(1);
      expect(calls('get-sum', 'refused', 'limited')).toBe(1);
      expect(calls('get-env', 'refused', 'denied')).toBe(1);
      const countLines = text.split('\n').filter((line) => line.startsWith('patchbay_calls_total{'));
      expect(countLines).toHaveLength(5);
      // Latency of calls sent upstream only: 3 echo, 1 get-sum.
      expect(sample(text, 'patchbay_call_duration_seconds_count', { server: 'ev', tool: 'echo' })).toBe(3);
      expect(sample(text, 'patchbay_call_duration_seconds_count', { server: 'ev', tool: 'get-sum' })).toBe(1);
      expect(sample(text, 'patchbay_upstream_up', { server: 'ev' })).toBe(1);
      expect(sample(text, 'patchbay_sessions', {})).toBe(2);
      expect(sample(text, 'patchbay_requests_refused_total', { reason: 'unauthenticated' })).toBe(1);
      expect(sample(text, 'patchbay_requests_refused_total', { reason: 'invalid_token' })).toBe(1);
      expect(text).toContain('process_cpu_seconds_total');
      // Never a member, an argument or a result in it.
      expect(text).not.toContain('hot"');
      expect(text).not.toContain(token);
    } finally {
      await Promise.all([hot.client.close(), full.client.close()]);
    }
  }, 60_000);

  it("passes the host's traceparent and tracestate upstream on the hot path and the full path", () => {
    const calls = posted('tools/call');
    const echoes = calls.filter((entry) => entry.body.includes('"echo"'));
    const hot = echoes.find((entry) => entry.body.includes('"hot"'));
    const full = echoes.find((entry) => entry.body.includes('"full"'));
    expect(hot?.headers.traceparent).toBe(TRACEPARENT_HOT);
    expect(hot?.headers.tracestate).toBe('rojo=00f067aa0ba902b7');
    expect(full?.headers.traceparent).toBe(TRACEPARENT_FULL);
    expect(full?.headers.tracestate).toBe('rojo=00f067aa0ba902b7');
    // And in `_meta`, the spec's place for it (the only one on stdio).
    for (const [entry, traceparent] of [
      [hot, TRACEPARENT_HOT],
      [full, TRACEPARENT_FULL],
    ] as const)
      expect((JSON.parse(entry!.body) as { params: { _meta?: unknown } }).params._meta).toMatchObject({
        traceparent,
      });
    // The SDK client's own requests (listings) carry none: nothing is invented.
    for (const entry of posted('tools/list')) expect(entry.headers.traceparent).toBeUndefined();
  });
});

describe('trace context to a stdio upstream', () => {
  it('travels in `_meta` on the hot path and the full path', async () => {
    const hot = await host(TRACEPARENT_HOT);
    const full = await host(TRACEPARENT_FULL, { elicitation: {} });
    try {
      const metaOf = async (client: Client) => {
        const result = await client.callTool({ name: 'm__meta', arguments: {} });
        expect(result.isError, JSON.stringify(result)).toBeFalsy();
        return JSON.parse((result.content as Array<{ text: string }>)[0]!.text) as Record<string, unknown>;
      };
      expect(await metaOf(hot.client)).toMatchObject({
        traceparent: TRACEPARENT_HOT,
        tracestate: 'rojo=00f067aa0ba902b7',
      });
      expect(hot.relays.hot).toBe(1);
      expect(await metaOf(full.client)).toMatchObject({
        traceparent: TRACEPARENT_FULL,
        tracestate: 'rojo=00f067aa0ba902b7',
      });
      expect(full.relays.hot).toBe(0);
    } finally {
      await Promise.all([hot.client.close(), full.client.close()]);
    }
  }, 60_000);
});

describe('traceContext', () => {
  it('accepts a valid traceparent and refuses the invalid ones the spec names', () => {
    expect(traceContext(TRACEPARENT_HOT, 'a=b')).toEqual({ traceparent: TRACEPARENT_HOT, tracestate: 'a=b' });
    expect(traceContext(TRACEPARENT_HOT, undefined)).toEqual({ traceparent: TRACEPARENT_HOT });
    for (const bad of [
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
      `${TRACEPARENT_HOT}, ${TRACEPARENT_FULL}`,
      '',
    ])
      expect(traceContext(bad, 'a=b'), bad).toBeUndefined();
    // A later version may carry more fields.
    expect(
      traceContext('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ab', undefined),
    ).toBeDefined();
    // A tracestate that is not a plain header value is left out, the traceparent kept.
    expect(traceContext(TRACEPARENT_HOT, 'a=b\r\nx: y')).toEqual({ traceparent: TRACEPARENT_HOT });
  });
});

describe('GatewayMetrics', () => {
  const entry = (tool: string, outcome: AuditOutcome = 'ok'): AuditEntry => ({
    time: new Date().toISOString(),
    host: null,
    via: 'gateway',
    server: 's',
    tool,
    decision: 'allowed',
    outcome,
    durationMs: 12,
    argumentBytes: 0,
    resultBytes: 0,
  });

  it('keeps tool labels bounded per server, and leaves resource reads out', async () => {
    const metrics = new GatewayMetrics({ upstreams: () => [{ name: 's', up: false }] });
    for (let i = 0; i < MAX_TOOLS_PER_SERVER + 5; i++) metrics.observe(entry(`t${i}`));
    metrics.observe({ ...entry('demo://resource/1'), kind: 'resource' });
    const { body } = await metrics.text();
    expect(
      sample(body, 'patchbay_calls_total', {
        server: 's',
        tool: OTHER_TOOL,
        outcome: 'ok',
        decision: 'allowed',
      }),
    ).toBe(5);
    expect(body).not.toContain('demo://');
    expect(sample(body, 'patchbay_upstream_up', { server: 's' })).toBe(0);
  });

  it('counts the tool calls of a gateway without a policy gate through the same observer', async () => {
    const metrics = new GatewayMetrics({ upstreams: () => [] });
    ungatedCall(metrics.observe, { server: 's', tool: 'x', host: null })({ isError: true });
    ungatedCall(metrics.observe, { server: 's', tool: 'x', host: null })({ error: new Error('gone') });
    const { body } = await metrics.text();
    expect(
      sample(body, 'patchbay_calls_total', {
        server: 's',
        tool: 'x',
        outcome: 'tool-error',
        decision: 'not-governed',
      }),
    ).toBe(1);
    expect(
      sample(body, 'patchbay_calls_total', {
        server: 's',
        tool: 'x',
        outcome: 'error',
        decision: 'not-governed',
      }),
    ).toBe(1);
  });

  it("counts a replica's own sessions apart from the copies it holds, and says which to sum", async () => {
    const metrics = new GatewayMetrics({ upstreams: () => [] });
    const { body } = await metrics.text();
    expect(sample(body, 'patchbay_sessions', {})).toBe(0);
    expect(sample(body, 'patchbay_session_copies', {})).toBe(0);
    metrics.countSessions({ owned: () => 2, held: () => 5 });
    const { body: text } = await metrics.text();
    expect(sample(text, 'patchbay_sessions', {})).toBe(2);
    expect(sample(text, 'patchbay_session_copies', {})).toBe(5);
    expect(text).toMatch(/^# HELP patchbay_sessions .*sum over replicas/m);
    expect(text).toMatch(/^# HELP patchbay_session_copies .*do not sum/m);
  });

  it('times every state store operation by op', async () => {
    const metrics = new GatewayMetrics({ upstreams: () => [] });
    const directory = mkdtempSync(join(tmpdir(), 'patchbay-state-'));
    try {
      const state = measuredState(new FileState(directory), metrics.stateSeconds);
      const records = state.records<{ n: number }>('test-records');
      await records.put('a', { n: 1 });
      expect(await records.get('a')).toEqual({ n: 1 });
      expect(await records.take('a')).toEqual({ n: 1 });
      await state.close();
      const { body } = await metrics.text();
      for (const op of ['put', 'get', 'take'])
        expect(sample(body, 'patchbay_state_store_seconds_count', { op }), op).toBe(1);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('is public by --metrics-public or the deployment\'s "metrics": "public", protected otherwise', () => {
    expect(parseServeOptions({ http: true, metricsPublic: true }, {}).metricsPublic).toBe(true);
    expect(parseServeOptions({ http: true }, {}).metricsPublic).toBeUndefined();
    expect(() => parseServeOptions({ metricsPublic: true }, {})).toThrow(/--metrics-public go with --http/);
    expect(parseDeployment('{ "metrics": "public" }', '/d.json', {}).metrics).toBe('public');
    expect(parseDeployment('{}', '/d.json', {}).metrics).toBeUndefined();
    expect(() => parseDeployment('{ "metrics": "open" }', '/d.json', {})).toThrow();
  });
});
