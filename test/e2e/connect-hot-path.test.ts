/**
 * `patchbay connect` (the stdio bridge) with its hot path against its reference, the full path (the
 * SDK server and client), on the built binary: bridges started by two sandboxes, one with
 * PATCHBAY_HOT_PATH=0, each with a deny rule, a usage limit and the audit log. The bridge's host
 * speaks stdio; its upstream is server-everything over Streamable HTTP (one per side: its session
 * resources are kept across sessions, so two sides' gzip calls would replace each other's; each
 * behind a recording pass-through, which shows which requests the hot path sent: their ids are the
 * gateway's own strings) or its own server-everything child over stdio. The same corpus goes through both —
 * every tool, errors, the denied and the limited tool, progress, cancellation, prompts, resource
 * reads — and the answers and the audit lines must be the same.
 */

import { request as httpRequest, createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EVERYTHING_SCRIPT, startEverything, type EverythingServer } from '../fixtures/everything.js';
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
import { BINARY, createSandbox, type Sandbox } from '../helpers/sandbox.js';

let servers: EverythingServer[] = [];
let proxies: HttpServer[] = [];
/** What the recording pass-through saw: requests and cancellations with the hot path's ids. */
const seen = { hotRequests: 0, hotCancels: 0 };
let hot: Sandbox;
let full: Sandbox;

async function sandbox(hotPath: boolean): Promise<Sandbox> {
  const everything = await startEverything('streamableHttp');
  servers.push(everything);
  const target = new URL(everything.url);
  const proxy = await startProxy(target);
  proxies.push(proxy);
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}${target.pathname}`;
  const made = await createSandbox();
  if (!hotPath) made.env.PATCHBAY_HOT_PATH = '0';
  for (const args of [
    ['add', 'ev', proxyUrl],
    ['add', 'evs', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio'],
    ['permit', 'ev', 'get-env', 'deny'],
    ['limit', 'ev', 'get-sum', '2/hour'],
    ['permit', 'evs', 'get-env', 'deny'],
    ['limit', 'evs', 'get-sum', '2/hour'],
  ]) {
    const run = await made.run(args);
    expect(run.code, run.stderr).toBe(0);
  }
  return made;
}

/** A node:http pass-through to server-everything that counts the hot path's requests. */
async function startProxy(target: URL): Promise<HttpServer> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      if (/"id"\s*:\s*"pb-hot-/.test(text)) seen.hotRequests++;
      if (text.includes('notifications/cancelled') && text.includes('"pb-hot-')) seen.hotCancels++;
      const upstream = httpRequest(
        target,
        { method: req.method, headers: { ...req.headers, host: target.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

beforeAll(async () => {
  [hot, full] = await Promise.all([sandbox(true), sandbox(false)]);
}, 60_000);

afterAll(async () => {
  await hot?.cleanup();
  await full?.cleanup();
  for (const proxy of proxies) {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
  }
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
  proxies = [];
});

/** A stdio host of `patchbay connect <server>` in a sandbox. */
async function bridge(side: Sandbox, server: string, era: 'legacy' | 'auto' = 'legacy'): Promise<Client> {
  const client = new Client({ name: 'bridge-host', version: '1.0.0' }, { versionNegotiation: { mode: era } });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [BINARY, 'connect', server],
      env: side.env as Record<string, string>,
      cwd: side.project,
      stderr: 'ignore',
    }),
  );
  return client;
}

type Row = { label: string; hot: unknown; full: unknown };

/** The corpus, prompts and (for `ev`) every resource read, through both bridges of `server`. */
async function runAll(server: string, era: 'legacy' | 'auto'): Promise<Row[]> {
  const [a, b] = await Promise.all([bridge(hot, server, era), bridge(full, server, era)]);
  try {
    const rows: Row[] = [];
    // The bridge serves the upstream's own names.
    const own = (name: string) => name.replace(/^ev__/, '');
    for (const [label, tool, args, options] of CORPUS) {
      const [x, y] = await Promise.all([
        call(a, own(tool), args, options),
        call(b, own(tool), args, options),
      ]);
      rows.push({ label, hot: normalized(x), full: normalized(y) });
    }
    for (const [label, name, args] of PROMPTS) {
      const request = { name: own(name), ...(args ? { arguments: args } : {}) };
      const [x, y] = await Promise.all([
        settled(() => a.getPrompt(request)),
        settled(() => b.getPrompt(request)),
      ]);
      rows.push({ label, hot: normalized(x as Outcome), full: normalized(y as Outcome) });
    }
    // Each bridge lists them (what a host lists is what the gateway offers to read).
    const [{ resources }] = await Promise.all([b.listResources(), a.listResources()]);
    const uris = [
      ...resources.map((resource) => resource.uri),
      'demo://resource/dynamic/text/7',
      'demo://resource/dynamic/blob/8',
      'demo://resource/dynamic/text/not-a-number',
      'demo://resource/static/document/no-such-file.md',
    ];
    for (const uri of uris) {
      const [x, y] = await Promise.all([
        settled(() => a.readResource({ uri })),
        settled(() => b.readResource({ uri })),
      ]);
      rows.push({ label: `read ${uri}`, hot: normalized(x as Outcome), full: normalized(y as Outcome) });
    }
    return rows;
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

function expectSame(rows: Row[]): void {
  expect(rows.map(({ label, hot }) => ({ label, hot }))).toEqual(
    rows.map(({ label, full }) => ({ label, hot: full })),
  );
}

describe('patchbay connect: the hot path answers as the full path does', () => {
  it('for a 2025-era host, an HTTP upstream: every tool, prompt and read, sent hot', async () => {
    const before = seen.hotRequests;
    const rows = await runAll('ev', 'legacy');
    withoutLateProgress(rows);
    expectSame(rows);
    // What went hot: all but the unknown tool, the unknown prompt and the URI nobody offers (the
    // full path's to answer), and the denied tool and the limited one past its limit (refused
    // before anything goes upstream).
    const upstreamCalls = CORPUS.length - 3 + PROMPTS.length - FALLBACKS.prompts;
    expect(seen.hotRequests - before).toBeGreaterThanOrEqual(upstreamCalls);
  }, 120_000);

  it('for a 2025-era host, a stdio upstream: every tool, prompt and read', async () => {
    const rows = await runAll('evs', 'legacy');
    withoutLateProgress(rows);
    expectSame(rows);
  }, 120_000);

  it('for a 2026-07-28 host (the full path on both)', async () => {
    const before = seen.hotRequests;
    const [a, b] = await Promise.all([bridge(hot, 'ev', 'auto'), bridge(full, 'ev', 'auto')]);
    try {
      for (const [label, tool, args] of CORPUS.slice(0, 4)) {
        const name = tool.replace(/^ev__/, '');
        const [x, y] = await Promise.all([call(a, name, args), call(b, name, args)]);
        expect(normalized(x), label).toEqual(normalized(y));
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    expect(seen.hotRequests).toBe(before);
  }, 60_000);

  it.each(['ev', 'evs'])(
    'cancels (%s): the upstream hears it, the host is not answered, and the next call is served',
    async (server) => {
      const cancelsBefore = seen.hotCancels;
      const [a, b] = await Promise.all([bridge(hot, server), bridge(full, server)]);
      try {
        // Connected first: the call to cancel is on its way upstream when the host cancels it.
        await Promise.all([a.listTools(), b.listTools()]);
        const args = { duration: 5, steps: 5 };
        const [x, y] = await Promise.all([
          call(a, 'trigger-long-running-operation', args, { abortAfterMs: 600 }),
          call(b, 'trigger-long-running-operation', args, { abortAfterMs: 600 }),
        ]);
        expect(x).toEqual({ rejected: 'aborted' });
        expect(y).toEqual({ rejected: 'aborted' });
        const [after, reference] = await Promise.all([
          call(a, 'echo', { message: 'after' }),
          call(b, 'echo', { message: 'after' }),
        ]);
        expect(after).toEqual(reference);
        if (server === 'ev') expect(seen.hotCancels).toBe(cancelsBefore + 1);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
    60_000,
  );

  it('writes the same audit lines as the full path', async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const read = async (side: Sandbox, server: string) => {
      const log = await side.run(['log', server, '--json']);
      expect(log.code, log.stderr).toBe(0);
      return JSON.parse(log.stdout) as Array<Record<string, unknown>>;
    };
    const shape = (lines: Array<Record<string, unknown>>) =>
      lines
        .map((line) => ({
          keys: Object.keys(line).sort().join(','),
          kind: line.kind,
          tool: line.tool,
          decision: line.decision,
          outcome: line.outcome,
          host: line.host,
          caller: line.caller,
          resultBytes: line.resultBytes,
          error: normalized({ rejected: String(line.error ?? '') }),
          arguments: line.arguments,
        }))
        .sort((p, q) => JSON.stringify(p).localeCompare(JSON.stringify(q)));
    for (const server of ['ev', 'evs']) {
      const [hotLines, fullLines] = await Promise.all([read(hot, server), read(full, server)]);
      expect(hotLines.length, server).toBeGreaterThan(CORPUS.length);
      expect(shape(hotLines), server).toEqual(shape(fullLines));
    }
  });
});
