/** diagnose() against real servers on 127.0.0.1: config, DNS, TCP, HTTP, MCP and tools. */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { diagnose } from '../../src/diagnose/doctor.js';
import {
  getFreePort,
  startHangingServer,
  startHtmlServer,
  startHttpFaultServer,
  startStatusServer,
  type FaultServer,
} from '../fixtures/fault-servers.js';
import { layer, optionsWith, serverFor, statuses } from './helpers.js';

let demo: DemoServer;
const faults: FaultServer[] = [];

beforeAll(async () => {
  demo = await startDemoServer();
});
afterAll(async () => {
  await Promise.all([demo.close(), ...faults.map((server) => server.close())]);
});

async function fault(start: Promise<FaultServer>): Promise<FaultServer> {
  const server = await start;
  faults.push(server);
  return server;
}

describe('a healthy Streamable HTTP server', () => {
  it('passes every layer, with the evidence of each', async () => {
    const diagnosis = await diagnose(serverFor('demo', { type: 'http', url: demo.url }), optionsWith());
    expect(diagnosis.verdict).toBe('ok');
    expect(statuses(diagnosis)).toEqual([
      'config:pass',
      'proxy:pass',
      'dns:pass',
      'tcp:pass',
      'http:pass',
      'auth:pass',
      'mcp:pass',
      'tools:pass',
    ]);
    expect(layer(diagnosis, 'proxy').summary).toMatch(/^direct/);
    expect(layer(diagnosis, 'dns').evidence.addresses).toBe('127.0.0.1');
    expect(layer(diagnosis, 'http').evidence).toMatchObject({ method: 'POST', status: 200 });
    expect(layer(diagnosis, 'mcp').evidence).toMatchObject({
      transport: 'http',
      fellBackToSse: false,
      serverName: 'patchbay-demo',
    });
    expect(layer(diagnosis, 'tools').evidence.count).toBe(3);
    expect(diagnosis).toMatchObject({ name: 'demo', scope: 'local', transport: 'http', target: demo.url });
  });
});

describe('network failures stop at the layer that failed', () => {
  it('a refused port fails TCP after DNS passed, and skips the rest', async () => {
    const port = await getFreePort();
    const diagnosis = await diagnose(
      serverFor('gone', { type: 'http', url: `http://127.0.0.1:${port}/mcp` }),
      optionsWith(),
    );
    expect(diagnosis.verdict).toBe('failed');
    expect(layer(diagnosis, 'dns').status).toBe('pass');
    const tcp = layer(diagnosis, 'tcp');
    expect(tcp.status).toBe('fail');
    expect(tcp.summary).toBe(`nothing listening on 127.0.0.1:${port} (connection refused)`);
    expect(tcp.fix).toMatch(/patchbay get gone/);
    for (const later of ['http', 'auth', 'mcp', 'tools'] as const)
      expect(layer(diagnosis, later)).toMatchObject({ status: 'skip', summary: 'skipped: tcp failed' });
  });

  it('a .invalid host fails DNS', async () => {
    const diagnosis = await diagnose(
      serverFor('nowhere', { type: 'http', url: 'https://mcp.example.invalid/mcp' }),
      optionsWith(),
    );
    const dns = layer(diagnosis, 'dns');
    expect(dns.status).toBe('fail');
    expect(dns.summary).toMatch(/^DNS name not found: mcp\.example\.invalid/);
    expect(dns.evidence.code).toBe('ENOTFOUND');
    expect(layer(diagnosis, 'tcp').summary).toBe('skipped: dns failed');
    expect(layer(diagnosis, 'tls').summary).toBe('skipped: dns failed');
  });

  it('localhost resolves and connects', async () => {
    const url = new URL(demo.url);
    const diagnosis = await diagnose(
      serverFor('local', { type: 'http', url: `http://localhost:${url.port}/mcp` }),
      optionsWith(),
    );
    expect(layer(diagnosis, 'dns').status).toBe('pass');
    expect(diagnosis.verdict).toBe('ok');
  });

  it('a server that accepts and never answers costs the time budget and no more', async () => {
    const hanging = await fault(startHangingServer());
    const started = Date.now();
    const diagnosis = await diagnose(
      serverFor('slow', { type: 'http', url: hanging.url }),
      optionsWith({}, 800),
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(layer(diagnosis, 'tcp').status).toBe('pass');
    const http = layer(diagnosis, 'http');
    expect(http.status).toBe('fail');
    expect(http.summary).toMatch(/no HTTP answer from .* within 800 ms/);
  });

  it("the entry's own timeout (ms) wins over the default budget", async () => {
    const hanging = await fault(startHangingServer());
    const started = Date.now();
    const diagnosis = await diagnose(
      serverFor('slow', { type: 'http', url: hanging.url, timeout: 500 }),
      optionsWith({}, 20_000),
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(layer(diagnosis, 'http').summary).toMatch(/within 500 ms/);
  });
});

describe('HTTP answers that are not MCP', () => {
  const cases: Array<{ what: string; start: () => Promise<FaultServer>; summary: RegExp; fix: RegExp }> = [
    {
      what: '404',
      start: () => startStatusServer(404),
      summary: /^HTTP 404 from POST .*: there is no MCP endpoint at this path$/,
      fix: /Check the URL's path/,
    },
    {
      what: '405',
      start: () => startStatusServer(405),
      summary: /^HTTP 405 from POST .*: this URL does not take POST/,
      fix: /Check the URL's path/,
    },
    {
      what: '500',
      start: () => startStatusServer(500),
      summary: /^HTTP 500 from POST .*: the server failed/,
      fix: /server's side/,
    },
    {
      what: 'an HTML page',
      start: () => startHtmlServer(),
      summary: /^HTTP 200 with an HTML page from .*, not MCP/,
      fix: /MCP endpoint/,
    },
    {
      what: 'the wrong content type',
      start: () => startStatusServer(200, { contentType: 'text/plain', body: 'hello' }),
      summary:
        /^HTTP 200 with text\/plain from .*, not MCP \(expected application\/json or text\/event-stream\)$/,
      fix: /MCP endpoint/,
    },
    {
      what: 'JSON that is not JSON-RPC',
      start: () => startStatusServer(200, { contentType: 'application/json', body: '{"hello":"world"}' }),
      summary: /not a JSON-RPC answer to initialize/,
      fix: /MCP endpoint/,
    },
  ];
  for (const { what, start, summary, fix } of cases) {
    it(`${what} fails the HTTP layer with its cause`, async () => {
      const server = await fault(start());
      const diagnosis = await diagnose(serverFor('odd', { type: 'http', url: server.url }), optionsWith());
      expect(diagnosis.verdict).toBe('failed');
      const http = layer(diagnosis, 'http');
      expect(http.status).toBe('fail');
      expect(http.summary).toMatch(summary);
      expect(http.fix).toMatch(fix);
      expect(layer(diagnosis, 'mcp').summary).toBe('skipped: http failed');
      // The doctor asked like an MCP client does.
      const post = server.requests.find((request) => request.method === 'POST')!;
      expect(post.headers.accept).toBe('application/json, text/event-stream');
      expect(post.headers['content-type']).toBe('application/json');
      expect(post.headers['mcp-protocol-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    });
  }

  it('a session the initialize POST opened is ended with DELETE; the session id is not reported', async () => {
    const server = await fault(
      startHttpFaultServer((req, res) => {
        if (req.method === 'DELETE') {
          res.writeHead(200).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'doctor-session-1' });
        res.end(
          JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            result: {
              protocolVersion: '2025-06-18',
              capabilities: {},
              serverInfo: { name: 'x', version: '1' },
            },
          }),
        );
      }),
    );
    const diagnosis = await diagnose(
      serverFor('sessions', { type: 'http', url: server.url }),
      optionsWith({}, 2_000),
    );
    const http = layer(diagnosis, 'http');
    expect(http).toMatchObject({
      status: 'pass',
      evidence: { status: 200, sessionId: true, sessionEnded: true, protocolVersion: '2025-06-18' },
    });
    const [first, second] = server.requests;
    expect(first).toMatchObject({ method: 'POST' });
    expect(second).toMatchObject({ method: 'DELETE', headers: { 'mcp-session-id': 'doctor-session-1' } });
    expect(JSON.stringify(http)).not.toContain('doctor-session-1');
  });

  it('a redirect is reported with where it goes, not followed', async () => {
    const server = await fault(
      startStatusServer(301, { headers: { location: 'https://elsewhere.example/new/mcp?key=secret' } }),
    );
    const diagnosis = await diagnose(serverFor('moved', { type: 'http', url: server.url }), optionsWith());
    const http = layer(diagnosis, 'http');
    expect(http.status).toBe('fail');
    expect(http.evidence.location).toBe('https://elsewhere.example/new/mcp');
    expect(http.summary).toMatch(/redirects .* to https:\/\/elsewhere\.example\/new\/mcp$/);
    expect(http.fix).toMatch(/patchbay add --force -s local moved https:\/\/elsewhere\.example\/new\/mcp/);
    expect(JSON.stringify(diagnosis)).not.toMatch(/secret/);
    expect(server.requests).toHaveLength(1);
  });
});
