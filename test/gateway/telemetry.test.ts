/**
 * OpenTelemetry trace export of a real gateway listener (`startGateway`, in process) over a real
 * server-everything, to a loopback OTLP/HTTP receiver of our own (test/fixtures/otlp-receiver.ts):
 * one span per relayed call on the hot path and the full path, a child of the host's traceparent
 * when it sent one, flushed when the gateway stops; and nothing when no endpoint is configured.
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import { parseDeployment } from '../../src/gateway/deployment.js';
import { startInProcessGateway } from '../helpers/in-process-gateway.js';
import { outcomeOf, spanAttributes, telemetryConfig } from '../../src/gateway/telemetry.js';
import { gatewayToken } from '../../src/gateway/token.js';
import type { AuditEntry } from '../../src/policy/audit.js';
import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../fixtures/otlp-receiver.js';

const HOST_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const HOST_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${HOST_TRACE_ID}-${HOST_SPAN_ID}-01`;
const FULL_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const FULL_SPAN_ID = 'b7ad6b7169203331';
const UNSAMPLED_TRACE_ID = '1af7651916cd43dd8448eb211c80319d';
const SPAN_KIND_SERVER = 2;
const STATUS_ERROR = 2;

let everything: EverythingServer;
let receiver: OtlpReceiver;
const homes: string[] = [];

interface Running {
  url: string;
  token: string;
  stop(): Promise<void>;
}

/** A gateway over server-everything with this environment (OTEL_* or not). */
/** `said`: the warnings are collected there (else none about OpenTelemetry may come). */
async function gateway(extraEnv: NodeJS.ProcessEnv, said?: string[]): Promise<Running> {
  const home = mkdtempSync(join(tmpdir(), 'patchbay-otel-'));
  homes.push(home);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    NO_COLOR: '1',
    ...extraEnv,
  };
  const paths = resolvePaths(env);
  mkdirSync(dirname(paths.userConfig), { recursive: true });
  writeFileSync(
    paths.userConfig,
    JSON.stringify({
      mcpServers: { ev: { type: 'http', url: everything.url } },
      policy: { servers: { ev: { tools: { 'get-env': 'deny' } } } },
    }),
  );
  const warnings = said ?? [];
  const running = await startInProcessGateway({
    env,
    home,
    paths,
    onWarning: (message) => warnings.push(message),
  });
  return {
    url: running.url,
    token: await gatewayToken(paths),
    stop: async () => {
      await running.stop();
      if (!said) expect(warnings.filter((warning) => warning.includes('OpenTelemetry'))).toEqual([]);
    },
  };
}

/** A 2025-era host; `elicitation` makes the full path serve it; `hot` counts hot-path answers. */
async function host(gw: Running, traceparent: string | undefined, capabilities: object = {}) {
  const relays = { hot: 0 };
  const client = new Client(
    { name: 'otel-host', version: '1.0.0' },
    { capabilities, versionNegotiation: { mode: 'legacy' } },
  );
  const transport = new StreamableHTTPClientTransport(new URL(gw.url), {
    requestInit: {
      headers: {
        Authorization: `Bearer ${gw.token}`,
        ...(traceparent ? { traceparent, tracestate: 'rojo=1' } : {}),
      },
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

beforeAll(async () => {
  [everything, receiver] = await Promise.all([startEverything('streamableHttp'), startOtlpReceiver()]);
}, 60_000);

afterAll(async () => {
  await everything?.close();
  await receiver?.close();
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

describe('OpenTelemetry export', () => {
  let spans: ReceivedSpan[];
  const byTool = (tool: string) => spans.filter((span) => span.attributes['gen_ai.tool.name'] === tool);

  it('exports one span per relayed call on both paths, flushed when the gateway stops', async () => {
    const gw = await gateway({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'pb-test' });
    const hot = await host(gw, TRACEPARENT);
    const full = await host(gw, `00-${FULL_TRACE_ID}-${FULL_SPAN_ID}-01`, { elicitation: {} });
    const untraced = await host(gw, undefined);
    // The host's trace is not sampled: its call exports nothing (parent-based sampling).
    const unsampled = await host(gw, `00-${UNSAMPLED_TRACE_ID}-${FULL_SPAN_ID}-00`);
    try {
      expect(
        (await unsampled.client.callTool({ name: 'ev__echo', arguments: { message: 'x' } })).isError,
      ).toBeFalsy();
      expect(
        (await hot.client.callTool({ name: 'ev__echo', arguments: { message: 'secret-arg' } })).isError,
      ).toBeFalsy();
      expect(hot.relays.hot).toBe(1);
      expect(
        (await full.client.callTool({ name: 'ev__get-sum', arguments: { a: 1, b: 2 } })).isError,
      ).toBeFalsy();
      expect(full.relays.hot).toBe(0);
      // A failing call (the tool's isError: echo without its argument), and a denied one.
      expect((await hot.client.callTool({ name: 'ev__echo', arguments: {} })).isError).toBe(true);
      expect((await hot.client.callTool({ name: 'ev__get-env', arguments: {} })).isError).toBe(true);
      await untraced.client.getPrompt({ name: 'ev__simple-prompt' });
      const [resource] = (await untraced.client.listResources()).resources;
      await untraced.client.readResource({ uri: resource!.uri });
      // Batched (5 s): nothing need have left yet; stopping flushes after the drain.
      await Promise.all(
        [hot.client, full.client, untraced.client, unsampled.client].map((client) => client.close()),
      );
    } finally {
      await gw.stop();
    }
    spans = receiver.spans;
    expect(receiver.refused).toBe(0);
    expect(spans).toHaveLength(6);
    expect(spans.filter((span) => span.traceId === UNSAMPLED_TRACE_ID)).toEqual([]);
    for (const span of spans) {
      expect(span.resource['service.name']).toBe('pb-test');
      expect(span.resource['service.version']).toBe('0.0.0-test');
      expect(span.kind).toBe(SPAN_KIND_SERVER);
      expect(span.scope).toBe('patchbay');
      expect(span.endMs).toBeGreaterThanOrEqual(span.startMs);
    }
  }, 60_000);

  it("makes a traced host's call a child of its traceparent (hot path and full path)", () => {
    const [echo] = byTool('echo').filter((span) => span.attributes['patchbay.outcome'] === 'ok');
    expect(echo).toMatchObject({
      traceId: HOST_TRACE_ID,
      parentSpanId: HOST_SPAN_ID,
      name: 'tools/call echo',
    });
    expect(echo!.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(echo!.spanId).not.toBe(HOST_SPAN_ID);
    const [sum] = byTool('get-sum');
    expect(sum).toMatchObject({ traceId: FULL_TRACE_ID, parentSpanId: FULL_SPAN_ID });
    // An untraced host's calls are roots of traces of their own.
    const prompt = spans.find((span) => span.name === 'prompts/get simple-prompt');
    const read = spans.find((span) => span.name === 'resources/read');
    for (const root of [prompt, read]) {
      expect(root?.parentSpanId).toBeUndefined();
      expect(root?.traceId).not.toBe(HOST_TRACE_ID);
    }
    expect(prompt?.traceId).not.toBe(read?.traceId);
  });

  it('says server, target, decision, outcome and bytes, and never arguments or the token', () => {
    const [echo] = byTool('echo').filter((span) => span.attributes['patchbay.outcome'] === 'ok');
    expect(echo!.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'patchbay.server': 'ev',
      'patchbay.auth': 'gateway-token',
      'patchbay.decision': 'allowed',
      'patchbay.outcome': 'ok',
    });
    expect(echo!.attributes['patchbay.result_bytes']).toBeGreaterThan(0);
    expect(echo!.attributes['patchbay.argument_bytes']).toBeGreaterThan(0);
    // The static token names no member: no subject.
    expect(echo!.attributes).not.toHaveProperty('patchbay.member.subject');
    expect(echo!.status.code).toBe(0);
    const read = spans.find((span) => span.name === 'resources/read');
    expect(read?.attributes).toMatchObject({
      'mcp.method.name': 'resources/read',
      'patchbay.decision': 'not-governed',
    });
    expect(typeof read?.attributes['mcp.resource.uri']).toBe('string');
    expect(JSON.stringify(spans)).not.toContain('secret-arg');
  });

  it('marks a failing call as an error span, and a denied one as denied (not a failure)', () => {
    const [failed] = byTool('echo').filter((span) => span.attributes['patchbay.outcome'] === 'isError');
    expect(failed?.status.code).toBe(STATUS_ERROR);
    expect(failed?.attributes['error.type']).toBe('tool_error');
    const [denied] = byTool('get-env');
    expect(denied?.attributes).toMatchObject({ 'patchbay.outcome': 'denied', 'patchbay.decision': 'denied' });
    expect(denied?.status.code).toBe(0);
    expect(denied).toMatchObject({ traceId: HOST_TRACE_ID, parentSpanId: HOST_SPAN_ID });
  });

  it('says once on stderr when the collector refuses the spans', async () => {
    const warnings: string[] = [];
    // The receiver refuses any other path (415: not retried, unlike a collector that is away).
    const refusing = `${receiver.url}/not-traces`;
    const gw = await gateway({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: refusing }, warnings);
    const traced = await host(gw, TRACEPARENT);
    try {
      for (const message of ['a', 'b'])
        expect(
          (await traced.client.callTool({ name: 'ev__echo', arguments: { message } })).isError,
        ).toBeFalsy();
      await traced.client.close();
    } finally {
      await gw.stop();
    }
    const said = warnings.filter((warning) => warning.startsWith('OpenTelemetry'));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(`could not be exported to ${refusing}`);
  }, 60_000);

  it('exports nothing when no endpoint is configured', async () => {
    const before = receiver.spans.length;
    const gw = await gateway({});
    const plain = await host(gw, TRACEPARENT);
    try {
      expect(
        (await plain.client.callTool({ name: 'ev__echo', arguments: { message: 'x' } })).isError,
      ).toBeFalsy();
      await plain.client.close();
    } finally {
      await gw.stop();
    }
    expect(receiver.spans.length).toBe(before);
  }, 60_000);
});

describe('telemetryConfig', () => {
  it('reads the standard environment first, then the deployment file', () => {
    expect(telemetryConfig({})).toBeUndefined();
    expect(telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })).toEqual({
      tracesUrl: 'http://c:4318/v1/traces',
      serviceName: 'patchbay-gateway',
    });
    expect(
      telemetryConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t.example/custom',
        OTEL_SERVICE_NAME: 'gw-eu',
      }),
    ).toEqual({ tracesUrl: 'https://t.example/custom', serviceName: 'gw-eu' });
    const deployment = parseDeployment(
      JSON.stringify({ telemetry: { otlp: 'https://collector.example:4318' } }),
      '/etc/patchbay/gateway.jsonc',
      {},
    );
    expect(telemetryConfig({}, deployment)?.tracesUrl).toBe('https://collector.example:4318/v1/traces');
    expect(
      telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, deployment)?.tracesUrl,
    ).toBe('http://127.0.0.1:4318/v1/traces');
    expect(telemetryConfig({ OTEL_SDK_DISABLED: 'true' }, deployment)).toBeUndefined();
    expect(
      telemetryConfig({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }),
    ).toBeUndefined();
    expect(() => telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      /not an http\(s\) URL/,
    );
  });

  it('refuses a cleartext collector off this machine in a deployment file', () => {
    expect(() =>
      parseDeployment(JSON.stringify({ telemetry: { otlp: 'http://collector:4318' } }), '/d.jsonc', {}),
    ).toThrow(/telemetry\.otlp: must be https/);
  });
});

describe('spanAttributes', () => {
  const entry: AuditEntry = {
    time: new Date().toISOString(),
    host: 'claude-code',
    via: 'gateway',
    caller: {
      transport: 'http',
      auth: 'oauth',
      subject: 'member-123',
      email: 'ada@example.com',
      groups: ['eng'],
      client: 'client-1',
      session: 'sha256:0123456789abcdef',
      peer: '10.0.0.5:5555',
    },
    server: 'ev',
    tool: 'echo',
    decision: 'limited',
    outcome: 'refused',
    durationMs: 0,
    argumentBytes: 10,
    resultBytes: 0,
    arguments: { message: 'hello' },
  };

  it('names the member by subject only: no email, groups, session, address or arguments', () => {
    const attributes = spanAttributes(entry);
    expect(attributes['patchbay.member.subject']).toBe('member-123');
    const text = JSON.stringify(attributes);
    for (const hidden of ['ada@example.com', 'eng', 'sha256:', '10.0.0.5', 'hello', 'client-1'])
      expect(text).not.toContain(hidden);
  });

  it('maps decisions and outcomes to ok, isError, error, denied, limited', () => {
    expect(outcomeOf(entry)).toBe('limited');
    expect(outcomeOf({ ...entry, decision: 'denied' })).toBe('denied');
    expect(outcomeOf({ ...entry, decision: 'asked', outcome: 'refused' })).toBe('denied');
    expect(outcomeOf({ ...entry, decision: 'allowed', outcome: 'tool-error' })).toBe('isError');
    expect(outcomeOf({ ...entry, decision: 'allowed', outcome: 'error' })).toBe('error');
    expect(outcomeOf({ ...entry, decision: 'allowed', outcome: 'ok' })).toBe('ok');
  });
});
