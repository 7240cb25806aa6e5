/**
 * The gateway's hot path against its reference, the full path (the SDK server and client), on the
 * built binary: two gateways over the same server-everything (Streamable HTTP), and each over its
 * own server-everything child on stdio, one with the hot path and one with PATCHBAY_HOT_PATH=0,
 * each with a deny rule, a usage limit and the audit log on both upstreams.
 * The same corpus goes through both — every server-everything tool with valid arguments, invalid
 * arguments, an unknown tool, the denied tool, the limited tool past its limit, progress on a
 * long-running tool, a cancellation — from hosts of both eras, and the answers must be the same;
 * so must every resource read (each listed resource, both templates, a URI no upstream offers and
 * one whose upstream has none) and every prompt (with and without arguments, a missing argument, an
 * unknown prompt). The audit logs must hold one line per call with the same fields.
 */

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EVERYTHING_SCRIPT, startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startSessionServer, type SessionServer } from '../fixtures/session-server.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import {
  call,
  CORPUS,
  FALLBACKS,
  normalized,
  PROMPTS,
  settled,
  withoutLateProgress,
  type Outcome,
} from '../helpers/hot-corpus.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

interface Side {
  sandbox: Sandbox;
  gateway: RunningGateway;
}

let everything: EverythingServer;
/** A 2025-era upstream that answers each POST with JSON, not SSE (the demo server's tools). */
let jsonUpstream: SessionServer;
let hot: Side;
let full: Side;

async function side(hotPath: boolean): Promise<Side> {
  const sandbox = await createSandbox();
  if (!hotPath) sandbox.env.PATCHBAY_HOT_PATH = '0';
  for (const args of [
    ['add', 'ev', everything.url],
    ['add', 'js', jsonUpstream.url],
    ['add', 'evs', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio'],
    ['permit', 'ev', 'get-env', 'deny'],
    ['limit', 'ev', 'get-sum', '2/hour'],
    ['permit', 'evs', 'get-env', 'deny'],
    ['limit', 'evs', 'get-sum', '2/hour'],
  ]) {
    const run = await sandbox.run(args);
    expect(run.code, run.stderr).toBe(0);
  }
  return { sandbox, gateway: await startGateway(sandbox) };
}

beforeAll(async () => {
  [everything, jsonUpstream] = await Promise.all([startEverything('streamableHttp'), startSessionServer()]);
  [hot, full] = await Promise.all([side(true), side(false)]);
}, 60_000);

afterAll(async () => {
  for (const each of [hot, full]) {
    await each?.gateway.stop();
    await each?.sandbox.cleanup();
  }
  await everything?.close();
  await jsonUpstream?.close();
});

/** A host; `relays` counts the answers the hot path gave it (its diagnostic header). */
async function host(gateway: RunningGateway, era: 'legacy' | 'auto', capabilities: object = {}) {
  const relays = { hot: 0 };
  const client = new Client(
    { name: 'differential-host', version: '1.0.0' },
    { capabilities, versionNegotiation: { mode: era } },
  );
  const transport = new StreamableHTTPClientTransport(new URL(gateway.url), {
    requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      if (response.headers.get('x-patchbay-relay') === 'hot') relays.hot++;
      return response;
    },
  });
  await client.connect(transport);
  return { client, relays, transport };
}

/** The corpus through `server`'s tools (`ev`: Streamable HTTP; `evs`: the same server on stdio). */
async function runCorpus(era: 'legacy' | 'auto', server = 'ev') {
  const [hotHost, fullHost] = await Promise.all([host(hot.gateway, era), host(full.gateway, era)]);
  try {
    const rows: Array<{ label: string; hot: unknown; full: unknown }> = [];
    for (const [label, tool, args, options] of CORPUS) {
      const name = tool.replace(/^ev__/, `${server}__`);
      const [a, b] = await Promise.all([
        call(hotHost.client, name, args, options),
        call(fullHost.client, name, args, options),
      ]);
      rows.push({ label, hot: normalized(a), full: normalized(b) });
    }
    return { rows, hotRelays: hotHost.relays.hot, fullRelays: fullHost.relays.hot };
  } finally {
    await Promise.all([hotHost.client.close(), fullHost.client.close()]);
  }
}

async function runReads(era: 'legacy' | 'auto' = 'legacy') {
  const [hotHost, fullHost] = await Promise.all([host(hot.gateway, era), host(full.gateway, era)]);
  try {
    const { resources } = await fullHost.client.listResources();
    const { resourceTemplates } = await fullHost.client.listResourceTemplates();
    const uris: Array<[string, string]> = [
      ...resources.map((resource): [string, string] => [`resource ${resource.name}`, resource.uri]),
      ['text template', 'demo://resource/dynamic/text/7'],
      ['blob template', 'demo://resource/dynamic/blob/8'],
      ['template, resource its upstream does not have', 'demo://resource/dynamic/text/not-a-number'],
      ['a URI no upstream offers', 'demo://resource/static/document/no-such-file.md'],
    ];
    const rows: Array<{ label: string; hot: unknown; full: unknown }> = [];
    for (const [label, uri] of uris) {
      const [a, b] = await Promise.all([
        settled(() => hotHost.client.readResource({ uri })),
        settled(() => fullHost.client.readResource({ uri })),
      ]);
      rows.push({ label, hot: normalized(a as Outcome), full: normalized(b as Outcome) });
    }
    const beforePrompts = hotHost.relays.hot;
    for (const [label, name, args] of PROMPTS) {
      const request = { name, ...(args ? { arguments: args } : {}) };
      const [a, b] = await Promise.all([
        settled(() => hotHost.client.getPrompt(request)),
        settled(() => fullHost.client.getPrompt(request)),
      ]);
      rows.push({ label, hot: normalized(a as Outcome), full: normalized(b as Outcome) });
    }
    return {
      rows,
      templates: resourceTemplates.map((template) => template.uriTemplate),
      reads: uris.length,
      hotReads: beforePrompts,
      hotPrompts: hotHost.relays.hot - beforePrompts,
      fullRelays: fullHost.relays.hot,
    };
  } finally {
    await Promise.all([hotHost.client.close(), fullHost.client.close()]);
  }
}

describe('the hot path answers as the full path does', () => {
  it('reads every resource and gets every prompt as the full path does, on the hot path', async () => {
    const { rows, templates, reads, hotReads, hotPrompts, fullRelays } = await runReads();
    // The corpus covers what server-everything offers: listed resources and both templates.
    expect(templates).toEqual(
      expect.arrayContaining([
        'demo://resource/dynamic/text/{resourceId}',
        'demo://resource/dynamic/blob/{resourceId}',
      ]),
    );
    expect(reads).toBeGreaterThan(4);
    expect(rows.map(({ label, hot }) => ({ label, hot }))).toEqual(
      rows.map(({ label, full }) => ({ label, hot: full })),
    );
    expect(fullRelays).toBe(0);
    expect(hotReads).toBe(reads - FALLBACKS.resources);
    expect(hotPrompts).toBe(PROMPTS.length - FALLBACKS.prompts);
  }, 120_000);

  it('for a 2026-07-28 host: every resource read and prompt, on the hot path', async () => {
    const { rows, reads, hotReads, hotPrompts, fullRelays } = await runReads('auto');
    expect(rows.map(({ label, hot }) => ({ label, hot }))).toEqual(
      rows.map(({ label, full }) => ({ label, hot: full })),
    );
    expect(fullRelays).toBe(0);
    expect(hotReads).toBe(reads - FALLBACKS.resources);
    expect(hotPrompts).toBe(PROMPTS.length - FALLBACKS.prompts);
  }, 120_000);

  it('for a 2025-era host: the whole corpus, and the hot path served it', async () => {
    const { rows, hotRelays, fullRelays } = await runCorpus('legacy');
    expect(rows.map(({ label, hot }) => ({ label, hot }))).toEqual(
      rows.map(({ label, full }) => ({ label, hot: full })),
    );
    // The full path never answers as the hot path; the hot path took the calls it can take.
    expect(fullRelays).toBe(0);
    expect(hotRelays).toBeGreaterThanOrEqual(CORPUS.length - 2);
  }, 120_000);

  it('for a stdio upstream: the whole corpus and every prompt, and the hot path served them', async () => {
    const { rows, hotRelays, fullRelays } = await runCorpus('legacy', 'evs');
    withoutLateProgress(rows);
    expect(rows.map(({ label, hot }) => ({ label, hot }))).toEqual(
      rows.map(({ label, full }) => ({ label, hot: full })),
    );
    expect(fullRelays).toBe(0);
    expect(hotRelays).toBeGreaterThanOrEqual(CORPUS.length - 2);
    const [a, b] = await Promise.all([host(hot.gateway, 'legacy'), host(full.gateway, 'legacy')]);
    try {
      for (const [label, name, args] of PROMPTS) {
        const request = { name: name.replace(/^ev__/, 'evs__'), ...(args ? { arguments: args } : {}) };
        const [x, y] = await Promise.all([
          settled(() => a.client.getPrompt(request)),
          settled(() => b.client.getPrompt(request)),
        ]);
        expect(normalized(x as Outcome), label).toEqual(normalized(y as Outcome));
      }
      expect(a.relays.hot).toBe(PROMPTS.length - FALLBACKS.prompts);
      expect(b.relays.hot).toBe(0);
    } finally {
      await Promise.all([a.client.close(), b.client.close()]);
    }
  }, 120_000);

  it('for an upstream that answers JSON: tools, a prompt and a resource, on the hot path', async () => {
    const [a, b] = await Promise.all([host(hot.gateway, 'legacy'), host(full.gateway, 'legacy')]);
    try {
      const requests: Array<[string, (client: Client) => Promise<unknown>]> = [
        ['echo', (client) => client.callTool({ name: 'js__echo', arguments: { text: 'json upstream' } })],
        [
          'echo, 100 KiB',
          (client) => client.callTool({ name: 'js__echo', arguments: { text: 'é'.repeat(50_000) } }),
        ],
        ['add', (client) => client.callTool({ name: 'js__add', arguments: { a: 2, b: 40 } })],
        ['prompt', (client) => client.getPrompt({ name: 'js__greet', arguments: { name: 'Ada' } })],
        ['resource', (client) => client.readResource({ uri: 'demo://readme' })],
      ];
      for (const [label, run] of requests) {
        const [x, y] = await Promise.all([settled(() => run(a.client)), settled(() => run(b.client))]);
        expect(normalized(x as Outcome), label).toEqual(normalized(y as Outcome));
        expect(x, label).toHaveProperty('result');
        expect(JSON.stringify(x), label).not.toContain('"isError":true');
      }
      expect(a.relays.hot).toBe(requests.length);
      expect(b.relays.hot).toBe(0);
    } finally {
      await Promise.all([a.client.close(), b.client.close()]);
    }
  }, 60_000);

  it('for a 2026-07-28 host: the whole corpus, and the hot path served most of it', async () => {
    const { rows, hotRelays, fullRelays } = await runCorpus('auto');
    expect(rows.map(({ label, hot }) => ({ label, hot }))).toEqual(
      rows.map(({ label, full }) => ({ label, hot: full })),
    );
    expect(fullRelays).toBe(0);
    expect(hotRelays).toBeGreaterThanOrEqual(CORPUS.length - 2);
  }, 120_000);

  it('for a 2026-07-28 host and a stdio upstream: the whole corpus, on the hot path', async () => {
    const { rows, hotRelays, fullRelays } = await runCorpus('auto', 'evs');
    withoutLateProgress(rows);
    expect(rows.map(({ label, hot }) => ({ label, hot }))).toEqual(
      rows.map(({ label, full }) => ({ label, hot: full })),
    );
    expect(fullRelays).toBe(0);
    expect(hotRelays).toBeGreaterThanOrEqual(CORPUS.length - 2);
  }, 120_000);

  it('answers a 2026-07-28 request in the full path’s shape (JSON; SSE once progress comes), and leaves an odd one to it', async () => {
    const envelope = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientInfo': { name: 'raw-host', version: '1.0.0' },
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const post = async (side: Side, headers: Record<string, string>, params: Record<string, unknown>) => {
      const response = await fetch(side.gateway.url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${side.gateway.token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          ...headers,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 'raw-1', method: 'tools/call', params }),
      });
      return {
        status: response.status,
        type: response.headers.get('content-type'),
        relay: response.headers.get('x-patchbay-relay'),
        body: await response.text(),
      };
    };
    const cases: Array<[string, Record<string, string>, Record<string, unknown>, string | null]> = [
      [
        'echo',
        { 'mcp-name': 'ev__echo' },
        { name: 'ev__echo', arguments: { message: 'which path?' }, _meta: envelope },
        'hot',
      ],
      [
        'progress',
        { 'mcp-name': 'ev__trigger-long-running-operation' },
        {
          name: 'ev__trigger-long-running-operation',
          arguments: { duration: 1, steps: 2 },
          _meta: { ...envelope, progressToken: 'p-1' },
        },
        'hot',
      ],
      ['Mcp-Name missing', {}, { name: 'ev__echo', arguments: { message: 'x' }, _meta: envelope }, null],
      [
        'Mcp-Name not the body’s',
        { 'mcp-name': 'ev__get-sum' },
        { name: 'ev__echo', arguments: { message: 'x' }, _meta: envelope },
        null,
      ],
      [
        'a host that can be asked',
        { 'mcp-name': 'ev__echo' },
        {
          name: 'ev__echo',
          arguments: { message: 'x' },
          _meta: { ...envelope, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } },
        },
        null,
      ],
      [
        'an unknown revision',
        { 'mcp-name': 'ev__echo', 'mcp-protocol-version': '2099-01-01' },
        {
          name: 'ev__echo',
          arguments: { message: 'x' },
          _meta: { ...envelope, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' },
        },
        null,
      ],
    ];
    for (const [label, headers, params, relay] of cases) {
      const [x, y] = await Promise.all([post(hot, headers, params), post(full, headers, params)]);
      expect(x.relay, label).toBe(relay);
      expect(y.relay, label).toBeNull();
      expect({ status: x.status, type: x.type, body: x.body }, label).toEqual({
        status: y.status,
        type: y.type,
        body: y.body,
      });
    }
  }, 60_000);

  it('for a host that can be asked (elicitation): the full path, with the question relayed', async () => {
    const make = async (gateway: RunningGateway) => {
      const made = await host(gateway, 'legacy', { elicitation: { form: {} } });
      made.client.setRequestHandler('elicitation/create', async () => ({
        action: 'accept' as const,
        content: { name: 'Ada', contactMethod: 'email' },
      }));
      return made;
    };
    const [a, b] = await Promise.all([make(hot.gateway), make(full.gateway)]);
    try {
      const [x, y] = await Promise.all([
        call(a.client, 'ev__trigger-elicitation-request', {}),
        call(b.client, 'ev__trigger-elicitation-request', {}),
      ]);
      expect(normalized(x)).toEqual(normalized(y));
      expect(a.relays.hot).toBe(0);
    } finally {
      await Promise.all([a.client.close(), b.client.close()]);
    }
  }, 60_000);

  it.each(['ev', 'evs'])(
    'cancels (%s): the upstream hears it, the host is not answered, and the next call is served',
    async (server) => {
      const [a, b] = await Promise.all([host(hot.gateway, 'legacy'), host(full.gateway, 'legacy')]);
      try {
        const args = { duration: 5, steps: 5 };
        const [x, y] = await Promise.all([
          call(a.client, `${server}__trigger-long-running-operation`, args, { abortAfterMs: 600 }),
          call(b.client, `${server}__trigger-long-running-operation`, args, { abortAfterMs: 600 }),
        ]);
        expect(x).toEqual({ rejected: 'aborted' });
        expect(y).toEqual({ rejected: 'aborted' });
        const [after, reference] = await Promise.all([
          call(a.client, `${server}__echo`, { message: 'after' }),
          call(b.client, `${server}__echo`, { message: 'after' }),
        ]);
        expect(after).toEqual(reference);
        expect(a.relays.hot).toBe(2);
      } finally {
        await Promise.all([a.client.close(), b.client.close()]);
      }
    },
    60_000,
  );

  it.each(['ev', 'evs'])(
    'cancels (%s) for a 2026-07-28 host (its connection closes): not answered, and the next call is served',
    async (server) => {
      const [a, b] = await Promise.all([host(hot.gateway, 'auto'), host(full.gateway, 'auto')]);
      try {
        const args = { duration: 5, steps: 5 };
        const [x, y] = await Promise.all([
          call(a.client, `${server}__trigger-long-running-operation`, args, { abortAfterMs: 600 }),
          call(b.client, `${server}__trigger-long-running-operation`, args, { abortAfterMs: 600 }),
        ]);
        expect(x).toEqual({ rejected: 'aborted' });
        expect(y).toEqual({ rejected: 'aborted' });
        const [after, reference] = await Promise.all([
          call(a.client, `${server}__echo`, { message: 'after' }),
          call(b.client, `${server}__echo`, { message: 'after' }),
        ]);
        expect(after).toEqual(reference);
        // The cancelled call's head never went out (a JSON answer waits for its response).
        expect(a.relays.hot).toBe(1);
        expect(b.relays.hot).toBe(0);
      } finally {
        await Promise.all([a.client.close(), b.client.close()]);
      }
    },
    60_000,
  );

  it('leaves a request with an unsupported or absent MCP-Protocol-Version to the full path', async () => {
    const [a, b] = await Promise.all([host(hot.gateway, 'legacy'), host(full.gateway, 'legacy')]);
    try {
      const post = async (side: Side, sessionId: string, version: string | undefined) => {
        const response = await fetch(side.gateway.url, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${side.gateway.token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-session-id': sessionId,
            ...(version ? { 'mcp-protocol-version': version } : {}),
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 41,
            method: 'tools/call',
            params: { name: 'ev__echo', arguments: { message: 'which path?' } },
          }),
        });
        return {
          status: response.status,
          type: response.headers.get('content-type'),
          relay: response.headers.get('x-patchbay-relay'),
          body: await response.text(),
        };
      };
      const version = a.transport.protocolVersion!;
      for (const asked of ['1999-01-01', undefined]) {
        const [x, y] = await Promise.all([
          post(hot, a.transport.sessionId!, asked),
          post(full, b.transport.sessionId!, asked),
        ]);
        expect(x.relay, `version ${asked}`).toBeNull();
        expect(x.status).toBe(y.status);
        expect(x.body.replace(/\d{4}-\d\d-\d\d(, )?/g, '')).toBe(y.body.replace(/\d{4}-\d\d-\d\d(, )?/g, ''));
      }
      // With the session's version: hot, and the full path's answer. A response that is the only
      // message comes as JSON (hot-host.ts HttpReply), where the SDK transport sends one SSE event.
      const [x, y] = await Promise.all([
        post(hot, a.transport.sessionId!, version),
        post(full, b.transport.sessionId!, version),
      ]);
      expect(x.relay).toBe('hot');
      expect({ status: x.status, type: x.type }).toEqual({ status: 200, type: 'application/json' });
      expect(y.type).toBe('text/event-stream');
      const [event] = y.body.split('\n').filter((line) => line.startsWith('data: '));
      expect(x.body).toBe(event!.slice('data: '.length));
    } finally {
      await Promise.all([a.client.close(), b.client.close()]);
    }
  }, 60_000);

  it('writes one audit line per call, with the same fields and decisions as the full path', async () => {
    // Lines are written off the path: give the last ones a moment.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const read = async ({ sandbox }: Side, server: string) => {
      const log = await sandbox.run(['log', server, '--json']);
      expect(log.code, log.stderr).toBe(0);
      return JSON.parse(log.stdout) as Array<Record<string, unknown>>;
    };
    const [hotLines, fullLines, hotStdio, fullStdio] = await Promise.all([
      read(hot, 'ev'),
      read(full, 'ev'),
      read(hot, 'evs'),
      read(full, 'evs'),
    ]);
    expect(hotLines.length).toBe(fullLines.length);
    expect(hotStdio.length).toBe(fullStdio.length);
    expect(hotStdio.length).toBeGreaterThan(CORPUS.length);
    const shape = (lines: Array<Record<string, unknown>>) =>
      lines
        .map((line) => ({
          keys: Object.keys(line).sort().join(','),
          kind: line.kind,
          tool: line.tool,
          decision: line.decision,
          outcome: line.outcome,
          host: line.host,
          resultBytes: line.resultBytes,
          error: normalized({ rejected: String(line.error ?? '') }),
          arguments: line.arguments,
        }))
        .sort((p, q) => JSON.stringify(p).localeCompare(JSON.stringify(q)));
    expect(shape(hotLines)).toEqual(shape(fullLines));
    expect(shape(hotStdio)).toEqual(shape(fullStdio));
    // Reads and prompts are in it, as the full path writes them.
    for (const kind of ['resource', 'prompt'])
      expect(hotLines.filter((line) => line.kind === kind).length).toBeGreaterThan(4);
  });
});
