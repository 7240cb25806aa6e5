/**
 * `patchbay serve` in front of real servers — server-everything over Streamable HTTP, SSE and
 * stdio at once, and the demo server (2026-07-28) — driven by real clients: patchbay itself (as a
 * host would start it, over stdio and over HTTP) and the SDK's client.
 */

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { EVERYTHING_SCRIPT, startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startHangingServer, type FaultServer } from '../fixtures/fault-servers.js';
import { createAskingServer, startModernServer } from '../fixtures/modern-servers.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { BINARY, createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let http: EverythingServer;
let sse: EverythingServer;
let demo: DemoServer;
let hanging: FaultServer;
let gateway: RunningGateway | undefined;

const UPSTREAMS = ['evhttp', 'evsse', 'evstdio', 'demo'];

beforeAll(async () => {
  sandbox = await createSandbox();
  [http, sse, demo, hanging] = await Promise.all([
    startEverything('streamableHttp'),
    startEverything('sse'),
    startDemoServer(),
    startHangingServer(),
  ]);
  await sandbox.run(['add', 'evhttp', http.url]);
  await sandbox.run(['add', '-t', 'sse', 'evsse', sse.url]);
  await sandbox.run(['add', 'evstdio', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio']);
  await sandbox.run(['add', 'demo', demo.url]);
  await sandbox.run(['add', '--timeout', '2s', 'stuck', hanging.url]);
  // The host's view: the gateway as one stdio server, as `claude mcp add patchbay -- patchbay serve`.
  await sandbox.run(['add', 'gw', '--', process.execPath, BINARY, 'serve', '--servers', UPSTREAMS.join(',')]);
}, 30_000);

afterAll(async () => {
  await gateway?.stop();
  await Promise.all([http?.close(), sse?.close(), demo?.close(), hanging?.close()]);
  await sandbox?.cleanup();
});

/** A POST through node:http, which (unlike fetch) sends the Host header it is given. */
async function rawStatus(url: string, headers: Record<string, string>, body: string): Promise<number> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const sent = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    sent.on('error', reject);
    sent.end(body);
  });
}

describe('patchbay serve over stdio, used by patchbay as a host would', () => {
  it('lists the tools of every upstream under <server>__<tool>, calls each, reads resources, gets prompts', async () => {
    const listed = await sandbox.run(['tools', 'gw', '--json', '--timeout', '30']);
    expect(listed.code, listed.stderr).toBe(0);
    const tools = JSON.parse(listed.stdout) as Array<{
      name: string;
      title: string;
      _meta: Record<string, unknown>;
    }>;
    for (const upstream of ['evhttp', 'evsse', 'evstdio']) {
      const echo = tools.find((tool) => tool.name === `${upstream}__echo`);
      expect(echo?._meta).toMatchObject({ 'io.patchbay/server': upstream, 'io.patchbay/name': 'echo' });
      expect(echo?.title).toBe(`Echo Tool (${upstream})`);
    }
    expect(tools.some((tool) => tool.name === 'demo__add')).toBe(true);
    const calls = await Promise.all(
      ['evhttp', 'evsse', 'evstdio'].map((upstream) =>
        sandbox.run(['call', 'gw', `${upstream}__echo`, `message=via ${upstream}`, '--timeout', '30']),
      ),
    );
    calls.forEach((call, index) =>
      expect(call.stdout, call.stderr).toBe(`Echo: via ${['evhttp', 'evsse', 'evstdio'][index]}\n`),
    );
    const sum = await sandbox.run(['call', 'gw', 'demo__add', 'a=2', 'b=40', '--json', '--timeout', '30']);
    expect(JSON.parse(sum.stdout)).toMatchObject({ structuredContent: { sum: 42 } });
    const read = await sandbox.run(['read', 'gw', 'demo://resource/dynamic/text/4', '--timeout', '30']);
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toContain('Resource 4');
    const readme = await sandbox.run(['read', 'gw', 'demo://readme', '--timeout', '30']);
    expect(readme.stdout).toContain('patchbay demo server');
    const prompt = await sandbox.run(['prompt', 'gw', 'demo__greet', 'name=Ada', '--timeout', '30']);
    expect(prompt.stdout).toContain('Say hello to Ada.');
  }, 90_000);

  it('refuses to run inside another gateway (a gateway among its own servers)', async () => {
    const nested = await sandbox.run(['serve'], { env: { PATCHBAY_GATEWAY_PID: '12345' } });
    expect(nested.code).toBe(2);
    expect(nested.stderr).toContain('would serve itself');
  });
});

describe('patchbay serve --http', () => {
  beforeAll(async () => {
    gateway = await startGateway(sandbox, ['--servers', [...UPSTREAMS, 'stuck'].join(',')]);
  }, 20_000);

  it('serves patchbay as an HTTP host with the bearer token, and a hanging upstream delays nothing for long', async () => {
    await sandbox.run(['add', 'gwhttp', gateway!.url, '-H', `Authorization: Bearer ${gateway!.token}`]);
    const started = Date.now();
    const listed = await sandbox.run(['tools', 'gwhttp', '--json', '--timeout', '30']);
    expect(listed.code, listed.stderr).toBe(0);
    // The listing waits 3 s for each upstream at most: the hanging one is left out, not waited for.
    expect(Date.now() - started).toBeLessThan(8_000);
    const names = (JSON.parse(listed.stdout) as Array<{ name: string }>).map((tool) => tool.name);
    expect(names).toEqual(
      expect.arrayContaining(['evhttp__echo', 'evsse__echo', 'evstdio__echo', 'demo__echo']),
    );
    expect(names.some((name) => name.startsWith('stuck__'))).toBe(false);
    const call = await sandbox.run(['call', 'gwhttp', 'evsse__get-sum', 'a=1', 'b=2', '--timeout', '30']);
    expect(call.stdout, call.stderr).toContain('The sum of 1 and 2 is 3.');
  }, 60_000);

  it('relays progress to an SDK client, and ends a call the client cancels', async () => {
    const client = new Client({ name: 'test-host', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gateway!.url), {
        requestInit: { headers: { Authorization: `Bearer ${gateway!.token}` } },
      }),
    );
    try {
      const progress: number[] = [];
      const long = await client.callTool(
        { name: 'evhttp__trigger-long-running-operation', arguments: { duration: 1, steps: 3 } },
        { onprogress: (update) => progress.push(update.progress), timeout: 30_000 },
      );
      expect(JSON.stringify(long.content)).toContain('Long running operation completed');
      expect(progress.length).toBeGreaterThanOrEqual(2);
      const aborter = new AbortController();
      const cancelled = client.callTool(
        { name: 'evhttp__trigger-long-running-operation', arguments: { duration: 30, steps: 30 } },
        { signal: aborter.signal, timeout: 60_000 },
      );
      setTimeout(() => aborter.abort(), 1_000);
      await expect(cancelled).rejects.toThrow();
    } finally {
      await client.close();
    }
  }, 60_000);

  it('closes the holes of CVE-2025-49596: token, Host, Origin, body size, and survives malformed JSON-RPC', async () => {
    const post = (headers: Record<string, string>, body: string) =>
      fetch(gateway!.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body,
      });
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const auth = { authorization: `Bearer ${gateway!.token}` };
    expect((await post({}, ping)).status).toBe(401);
    expect((await post({ authorization: 'Bearer wrong' }, ping)).status).toBe(401);
    expect((await post({ ...auth, origin: 'http://evil.example' }, ping)).status).toBe(403);
    expect(await rawStatus(gateway!.url, { ...auth, host: 'evil.example' }, ping)).toBe(403);
    expect(
      await rawStatus(gateway!.url, { ...auth, host: `localhost:${new URL(gateway!.url).port}` }, ping),
    ).not.toBe(403);
    expect(
      (
        await post(
          auth,
          `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"${'x'.repeat(2 * 1024 * 1024)}"}}`,
        )
      ).status,
    ).toBe(413);
    expect((await fetch(gateway!.url.replace('/mcp', '/other'), { headers: auth })).status).toBe(404);
    // A bounded fuzz run: every malformed message gets an answer, none brings the gateway down.
    const samples = [
      '',
      '{',
      'null',
      '[]',
      '[1,2,3]',
      '{"jsonrpc":"1.0","id":1,"method":"ping"}',
      '{"jsonrpc":"2.0","id":{},"method":"ping"}',
      '{"jsonrpc":"2.0","id":1}',
      '{"jsonrpc":"2.0","id":1,"method":42}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope__nothing"}}',
      '{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"nowhere://x"}}',
      `{"jsonrpc":"2.0","id":1,"method":"${'a'.repeat(10_000)}"}`,
      '"\\ud800"',
    ];
    for (let round = 0; round < 4; round++) {
      for (const sample of samples) {
        const response = await post(auth, sample);
        expect(response.status, sample.slice(0, 80)).toBeLessThan(500);
        await response.arrayBuffer();
      }
    }
    await sandbox.run(['add', '-f', 'gwhttp', gateway!.url, '-H', `Authorization: Bearer ${gateway!.token}`]);
    const still = await sandbox.run(['call', 'gwhttp', 'demo__echo', 'text=still here', '--timeout', '30']);
    expect(still.stdout, still.stderr).toBe('still here\n');
  }, 60_000);

  it('refuses to listen off loopback without --dangerously-expose, and no-auth off loopback at all', async () => {
    const exposed = await sandbox.run(['serve', '--http', '0.0.0.0:0']);
    expect(exposed.code).toBe(2);
    expect(exposed.stderr).toContain('--dangerously-expose');
    const open = await sandbox.run([
      'serve',
      '--http',
      '0.0.0.0:0',
      '--dangerously-expose',
      '--dangerously-no-auth',
    ]);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain('refused off loopback');
  });
});

describe('sessions of 2025-era hosts over HTTP', () => {
  it('are bounded in number, closed by DELETE, and expire when idle', async () => {
    const local = await startGateway(sandbox, [
      '--servers',
      'demo',
      '--max-sessions',
      '2',
      '--session-idle-timeout',
      '2',
    ]);
    const auth = { Authorization: `Bearer ${local.token}` };
    const legacyClient = () =>
      new Client({ name: 'legacy-host', version: '1.0.0' }, { versionNegotiation: { mode: 'legacy' } });
    const connectLegacy = async () => {
      const client = legacyClient();
      const transport = new StreamableHTTPClientTransport(new URL(local.url), {
        requestInit: { headers: auth },
      });
      await client.connect(transport);
      return { client, transport };
    };
    try {
      const first = await connectLegacy();
      const second = await connectLegacy();
      expect(first.transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect((await second.client.listTools()).tools.map((tool) => tool.name)).toContain('demo__echo');
      // A third while two are open (each with its standing GET stream, so never idle): refused, with the reason.
      const initialize = {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      };
      const post = (body: unknown, headers: Record<string, string> = {}) =>
        fetch(local.url, {
          method: 'POST',
          headers: {
            ...auth,
            ...headers,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
          body: JSON.stringify(body),
        });
      const refused = await post(initialize);
      expect(refused.status).toBe(503);
      expect(await refused.text()).toContain('--max-sessions');
      // The first host leaves (DELETE): its place is free.
      await first.transport.terminateSession();
      await first.client.close();
      const raw = await post(initialize);
      expect(raw.status).toBe(200);
      await raw.text();
      const sessionId = raw.headers.get('mcp-session-id')!;
      expect(sessionId).toBeTruthy();
      const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' };
      await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).text();
      const listed = await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, headers);
      expect(listed.status).toBe(200);
      expect(await listed.text()).toContain('demo__echo');
      // Nothing open on the raw session for longer than the idle timeout: it is gone, and 404 says so.
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      const expired = await post({ jsonrpc: '2.0', id: 3, method: 'tools/list' }, headers);
      expect(expired.status).toBe(404);
      expect(await expired.text()).toContain('initialize again');
      // The host that kept its stream open still has its session.
      expect((await second.client.listTools()).tools.length).toBeGreaterThan(0);
      await second.client.close();
    } finally {
      await local.stop();
    }
  }, 60_000);
});

describe('the MCP Inspector CLI as the host', () => {
  /** `mcp-inspector-cli --cli …`: its JSON answer on stdout. */
  async function inspector(args: string[]): Promise<unknown> {
    const { createRequire } = await import('node:module');
    const { writeFile } = await import('node:fs/promises');
    const bin = createRequire(import.meta.url).resolve('@modelcontextprotocol/inspector-cli/build/cli.js');
    // Inspector CLI 1.0.3 looks for a package.json next to its working directory.
    await writeFile(`${sandbox.root}/package.json`, '{}');
    const { execFile } = await import('node:child_process');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [bin, '--cli', ...args],
        { env: sandbox.env, cwd: sandbox.project, timeout: 30_000 },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
      ),
    );
    return JSON.parse(stdout.slice(stdout.indexOf('{')));
  }

  it('lists and calls through patchbay serve over stdio and over HTTP with the token', async () => {
    const viaStdio = (await inspector([
      process.execPath,
      BINARY,
      'serve',
      '--servers',
      'evstdio,demo',
      '--method',
      'tools/call',
      '--tool-name',
      'evstdio__echo',
      '--tool-arg',
      'message=from the inspector',
    ])) as { content: Array<{ text: string }> };
    expect(viaStdio.content[0]!.text).toBe('Echo: from the inspector');
    gateway ??= await startGateway(sandbox, ['--servers', [...UPSTREAMS, 'stuck'].join(',')]);
    const listed = (await inspector([
      gateway.url,
      '--transport',
      'http',
      '--header',
      `Authorization: Bearer ${gateway.token}`,
      '--method',
      'tools/list',
    ])) as { tools: Array<{ name: string }> };
    expect(listed.tools.map((tool) => tool.name)).toEqual(
      expect.arrayContaining(['demo__add', 'evsse__echo']),
    );
  }, 60_000);
});

describe('patchbay connect <name>', () => {
  it('bridges one server over stdio under its own names', async () => {
    await sandbox.run(['add', 'bridge', '--', process.execPath, BINARY, 'connect', 'evhttp']);
    const tools = await sandbox.run(['tools', 'bridge', '--json', '--timeout', '30']);
    expect(tools.code, tools.stderr).toBe(0);
    const names = (JSON.parse(tools.stdout) as Array<{ name: string }>).map((tool) => tool.name);
    expect(names).toContain('echo');
    expect(names.some((name) => name.includes('__'))).toBe(false);
    const echo = await sandbox.run(['call', 'bridge', 'echo', 'message=bridged', '--timeout', '30']);
    expect(echo.stdout, echo.stderr).toBe('Echo: bridged\n');
    const unknown = await sandbox.run(['connect', 'nosuch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No server named nosuch');
  }, 60_000);
});

describe('a config edit while serving', () => {
  it('serves a server added meanwhile, and keeps serving when a file is saved broken', async () => {
    const own = await createSandbox();
    try {
      await own.run(['add', 'demo', demo.url]);
      const { url, token, stderr, stop } = await startGateway(own);
      // A 2025-era host holds a session: it hears of the change on its standing GET stream.
      const legacyHost = new Client(
        { name: 'legacy-host', version: '1.0.0' },
        { versionNegotiation: { mode: 'legacy' } },
      );
      const heard: string[] = [];
      legacyHost.setNotificationHandler('notifications/tools/list_changed', () => {
        heard.push('tools');
      });
      try {
        await legacyHost.connect(
          new StreamableHTTPClientTransport(new URL(url), {
            requestInit: { headers: { Authorization: `Bearer ${token}` } },
          }),
        );
        await own.run(['add', 'gw', url, '-H', `Authorization: Bearer ${token}`]);
        const toolNames = async () =>
          (
            JSON.parse((await own.run(['tools', 'gw', '--json', '--timeout', '30'])).stdout) as Array<{
              name: string;
            }>
          ).map((tool) => tool.name);
        expect((await toolNames()).filter((name) => name.startsWith('evhttp__'))).toEqual([]);
        await own.run(['add', 'evhttp', http.url]);
        let names: string[] = [];
        for (let attempt = 0; attempt < 20 && !names.includes('evhttp__echo'); attempt++) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          names = await toolNames();
        }
        expect(names).toContain('evhttp__echo');
        expect(stderr()).toContain('The configuration changed; now serving');
        expect(heard).toContain('tools');
        expect((await legacyHost.listTools()).tools.map((tool) => tool.name)).toContain('evhttp__echo');
        await legacyHost.close();
        const { writeFile } = await import('node:fs/promises');
        await writeFile(own.userConfig, '{ "mcpServers": ');
        await new Promise((resolve) => setTimeout(resolve, 800));
        expect(stderr()).toContain('was not applied');
        // The gateway's own entry was in that file too; the host that already has the URL goes on.
        const client = new Client({ name: 'test-host', version: '1.0.0' });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(url), {
            requestInit: { headers: { Authorization: `Bearer ${token}` } },
          }),
        );
        const still = (await client.listTools()).tools.map((tool) => tool.name);
        await client.close();
        expect(still).toEqual(expect.arrayContaining(['demo__echo', 'evhttp__echo']));
      } finally {
        await stop();
      }
    } finally {
      await own.cleanup();
    }
  }, 60_000);
});

describe('questions an upstream asks during a call', () => {
  it('reach a 2025-era host over HTTP in its session, and its answer reaches the upstream', async () => {
    const client = new Client(
      { name: 'test-host', version: '1.0.0' },
      { capabilities: { elicitation: {} }, versionNegotiation: { mode: 'legacy' } },
    );
    client.setRequestHandler('elicitation/create', async () => ({
      action: 'accept' as const,
      content: { name: 'Grace Hopper' },
    }));
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gateway!.url), {
        requestInit: { headers: { Authorization: `Bearer ${gateway!.token}` } },
      }),
    );
    try {
      for (const upstream of ['evhttp', 'evstdio']) {
        const asked = await client.callTool(
          { name: `${upstream}__trigger-elicitation-request`, arguments: {} },
          { timeout: 30_000 },
        );
        expect(JSON.stringify(asked.content), upstream).toContain('Grace Hopper');
      }
    } finally {
      await client.close();
    }
  }, 60_000);

  it('reach a 2026-07-28 host as input_required rounds, from upstreams of both eras, over HTTP and stdio', async () => {
    const asking = await startModernServer(() => createAskingServer());
    await sandbox.run(['add', 'asking', asking.url]);
    const local = await startGateway(sandbox, ['--servers', 'evhttp,evstdio,asking']);
    const modernHost = () => {
      const client = new Client(
        { name: 'modern-host', version: '1.0.0' },
        { capabilities: { elicitation: { form: {} }, sampling: {} }, versionNegotiation: { mode: 'auto' } },
      );
      const questions: string[] = [];
      client.setRequestHandler('elicitation/create', async (request) => {
        questions.push(String(request.params.message));
        const schema = (request.params as { requestedSchema?: { properties?: object } }).requestedSchema;
        const content: Record<string, string | number> =
          schema?.properties && 'environment' in schema.properties
            ? { environment: 'prd', replicas: 3 }
            : { name: 'Ada Lovelace' };
        return { action: 'accept' as const, content };
      });
      client.setRequestHandler('sampling/createMessage', async () => ({
        role: 'assistant' as const,
        content: { type: 'text' as const, text: 'sampled by the host' },
        model: 'test-model',
      }));
      return { client, questions };
    };
    const exercise = async (client: Client, questions: string[], transport: string) => {
      for (const upstream of ['evhttp', 'evstdio']) {
        const asked = await client.callTool(
          { name: `${upstream}__trigger-elicitation-request`, arguments: {} },
          { timeout: 30_000 },
        );
        expect(JSON.stringify(asked.content), `${transport} ${upstream}`).toContain('Ada Lovelace');
      }
      const deployed = await client.callTool({ name: 'asking__deploy', arguments: {} }, { timeout: 30_000 });
      expect(JSON.stringify(deployed.content), transport).toContain('prd');
      const sampled = await client.callTool(
        { name: 'evhttp__trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } },
        { timeout: 30_000 },
      );
      expect(JSON.stringify(sampled.content), transport).toContain('sampled by the host');
      const thought = await client.callTool({ name: 'asking__think', arguments: {} }, { timeout: 30_000 });
      expect(JSON.stringify(thought.content), transport).toContain('sampled by the host');
      expect(questions).toContain('Deploy where?');
    };
    try {
      const overHttp = modernHost();
      await overHttp.client.connect(
        new StreamableHTTPClientTransport(new URL(local.url), {
          requestInit: { headers: { Authorization: `Bearer ${local.token}` } },
        }),
      );
      expect(overHttp.client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      await exercise(overHttp.client, overHttp.questions, 'http');
      // A requestState the gateway never issued is refused, not guessed at.
      const forged = await fetch(local.url, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${local.token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': 'asking__deploy',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 9,
          method: 'tools/call',
          params: {
            name: 'asking__deploy',
            arguments: {},
            requestState: 'forged',
            inputResponses: { q1: { action: 'accept', content: { environment: 'prd', replicas: 1 } } },
            _meta: {
              'io.modelcontextprotocol/protocolVersion': '2026-07-28',
              'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
              'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
            },
          },
        }),
      });
      expect(await forged.text()).toContain('Invalid or expired requestState');
      await overHttp.client.close();

      const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');
      const overStdio = modernHost();
      await overStdio.client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [BINARY, 'serve', '--servers', 'evhttp,evstdio,asking'],
          env: sandbox.env as Record<string, string>,
          cwd: sandbox.project,
          stderr: 'ignore',
        }),
      );
      try {
        expect(overStdio.client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
        await exercise(overStdio.client, overStdio.questions, 'stdio');
      } finally {
        await overStdio.client.close();
      }
    } finally {
      await local.stop();
      await asking.close();
    }
  }, 90_000);

  it('reach a 2025-era host on stdio, and its answer reaches the upstream', async () => {
    const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');
    const client = new Client({ name: 'test-host', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    client.setRequestHandler('elicitation/create', async () => ({
      action: 'accept' as const,
      content: { name: 'Ada Lovelace' },
    }));
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BINARY, 'serve', '--servers', 'evstdio,evhttp'],
        env: sandbox.env as Record<string, string>,
        cwd: sandbox.project,
        stderr: 'ignore',
      }),
    );
    try {
      for (const upstream of ['evstdio', 'evhttp']) {
        const asked = await client.callTool(
          { name: `${upstream}__trigger-elicitation-request`, arguments: {} },
          { timeout: 30_000 },
        );
        expect(JSON.stringify(asked.content), upstream).toContain('Ada Lovelace');
      }
    } finally {
      await client.close();
    }
  }, 60_000);
});

describe('an upstream that dies', () => {
  it('fails the call in flight with a clear error, keeps the others working, and comes back after a restart', async () => {
    const victim = await startEverything('streamableHttp');
    const port = Number(new URL(victim.url).port);
    await sandbox.run(['add', 'victim', victim.url]);
    const local = await startGateway(sandbox, ['--servers', 'victim,demo']);
    const client = new Client({ name: 'test-host', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(local.url), {
        requestInit: { headers: { Authorization: `Bearer ${local.token}` } },
      }),
    );
    try {
      await client.listTools();
      const inFlight = client.callTool(
        { name: 'victim__trigger-long-running-operation', arguments: { duration: 20, steps: 20 } },
        { timeout: 30_000 },
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await victim.close();
      const failed = await inFlight.catch((error: unknown) => ({
        isError: true,
        content: [{ type: 'text', text: String(error) }],
      }));
      expect(failed.isError).toBe(true);
      expect(JSON.stringify(failed.content)).toMatch(/victim/);
      const other = await client.callTool({ name: 'demo__echo', arguments: { text: 'alive' } });
      expect(JSON.stringify(other.content)).toContain('alive');
      const down = await client.callTool({ name: 'victim__echo', arguments: { message: 'x' } });
      expect(down.isError).toBe(true);
      // Within the backoff: the reason the last attempt failed, and the command to look closer.
      expect(JSON.stringify(down.content)).toMatch(
        /patchbay could not reach victim: .+Fix: patchbay doctor victim/,
      );
      const revived = await startEverything('streamableHttp', 10_000, port);
      try {
        // The backoff after two failures is at most a few seconds.
        let answer: unknown;
        for (let attempt = 0; attempt < 20; attempt++) {
          const result = await client.callTool({ name: 'victim__echo', arguments: { message: 'back' } });
          if (!result.isError) {
            answer = result.content;
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        expect(JSON.stringify(answer)).toContain('Echo: back');
      } finally {
        await revived.close();
      }
    } finally {
      await client.close();
      await local.stop();
    }
  }, 60_000);
});
