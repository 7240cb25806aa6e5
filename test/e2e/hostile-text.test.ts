/**
 * Nothing a server sends reaches a terminal raw: hostile text — CSI (colours, cursor moves, clear
 * screen), OSC 0/2 titles, OSC 52 clipboard writes, OSC 8 links, DCS, 8-bit C1 introducers, BEL/
 * BS/CR tricks and bidi overrides — fed through every printing path of the built binary, from a
 * real loopback MCP server, an HTTP server, a local process, a config file, the audit log and a
 * real authorization server. One assertion (expectTerminalSafe) for all of them.
 */

import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { ProtocolError, Server } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import { recordCall } from '../../src/policy/audit.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';
import { startHttpFaultServer, type FaultServer } from '../fixtures/fault-servers.js';
import { startModernServer, type LoopbackServer } from '../fixtures/modern-servers.js';
import { expectTerminalSafe, hostile } from '../helpers/hostile-text.js';
import { oauthEnv } from '../helpers/oauth.js';
import { createSandbox, type RunResult, type Sandbox } from '../helpers/sandbox.js';

const STDERR_FIXTURE = fileURLToPath(new URL('../fixtures/stdio/hostile-stderr.mjs', import.meta.url));

/** A server whose every self-description, tool, result and error is hostile text. */
function createHostileServer(): Server {
  const server = new Server(
    { name: hostile('srv'), version: hostile('1.0'), title: hostile('Title') },
    { capabilities: { tools: {}, prompts: {} }, instructions: hostile('instructions') },
  );
  const schema = {
    type: 'object' as const,
    properties: { text: { type: 'string' as const, description: hostile('argdesc') } },
  };
  server.setRequestHandler('tools/list', () => ({
    tools: [
      {
        name: 'echo',
        title: hostile('EchoTitle'),
        description: `${hostile('line1')}\n${hostile('line2')}`,
        inputSchema: schema,
      },
      { name: 'fails', description: hostile('fails'), inputSchema: { type: 'object' as const } },
      { name: 'rpc', description: 'JSON-RPC error', inputSchema: { type: 'object' as const } },
      { name: hostile('evilname'), description: 'a hostile name', inputSchema: { type: 'object' as const } },
    ],
  }));
  server.setRequestHandler('tools/call', (request) => {
    switch (request.params.name) {
      case 'echo':
        return {
          content: [{ type: 'text' as const, text: `${hostile('result')}\r\n${hostile('more')}` }],
          structuredContent: { note: hostile('structured') },
        };
      case 'fails':
        return { content: [{ type: 'text' as const, text: hostile('toolerror') }], isError: true };
      case 'rpc':
        throw new ProtocolError(-32000, hostile('rpcerror'));
      default:
        return { content: [{ type: 'text' as const, text: hostile('named') }] };
    }
  });
  server.setRequestHandler('prompts/list', () => ({
    prompts: [{ name: 'greet', title: hostile('PromptTitle'), description: hostile('promptdesc') }],
  }));
  server.setRequestHandler('prompts/get', () => ({
    description: hostile('promptget'),
    messages: [{ role: 'user' as const, content: { type: 'text' as const, text: hostile('prompttext') } }],
  }));
  return server;
}

let sandbox: Sandbox;
let mcp: LoopbackServer;
let http500: FaultServer;

beforeAll(async () => {
  sandbox = await createSandbox();
  mcp = await startModernServer(() => createHostileServer());
  // An HTTP error whose body (shown by doctor and in reasons) is hostile.
  http500 = await startHttpFaultServer((_req, res) => {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(hostile('httpbody'));
  });
  const stderrText = Buffer.from(hostile('stderrline')).toString('base64');
  expect((await sandbox.run(['add', 'hostile', mcp.url])).code).toBe(0);
  expect((await sandbox.run(['add', 'broken', http500.url])).code).toBe(0);
  expect(
    (await sandbox.run(['add', 'crashy', '--', process.execPath, STDERR_FIXTURE, stderrText])).code,
  ).toBe(0);
  // A config file is outside text too: a project .mcp.json whose command is hostile.
  await writeFile(
    sandbox.projectConfig,
    JSON.stringify({ mcpServers: { fromfile: { command: hostile('cmd'), args: [hostile('arg')] } } }),
  );
  // An audit record from another host, with hostile names and error text.
  await recordCall(
    {
      time: new Date().toISOString(),
      host: hostile('host'),
      via: 'gateway',
      server: hostile('server'),
      tool: hostile('tool'),
      outcome: 'error',
      durationMs: 5,
      decision: 'allowed',
      argumentBytes: 2,
      resultBytes: 0,
      error: hostile('auditerror'),
    },
    { paths: resolvePaths(sandbox.env), logArguments: false },
  );
}, 60_000);

afterAll(async () => {
  await mcp?.close();
  await http500?.close();
  await sandbox?.cleanup();
});

function expectSafe(what: string, result: RunResult): void {
  expectTerminalSafe(result.stdout, `${what}: stdout`);
  expectTerminalSafe(result.stderr, `${what}: stderr`);
}

describe('hostile text through every printing path', () => {
  // [path, arguments, text that shows the server's (cleaned) words reached that output]
  it.each([
    ['list', ['list'], ['srvred', 'stderrline', 'cmdred']],
    ['get (MCP server)', ['get', 'hostile'], ['srvred']],
    ['get (HTTP 500)', ['get', 'broken'], ['HTTP 500']],
    ['get (stdio stderr)', ['get', 'crashy'], ['stderrline']],
    ['get (config file)', ['get', 'fromfile'], ['cmdred', 'argred']],
    ['tools', ['tools', 'hostile'], ['EchoTitlered', 'evilnamered', 'line1red']],
    ['tool', ['tool', 'hostile', 'echo'], ['EchoTitlered', 'line1red', 'line2red', 'argdesc']],
    ['prompts', ['prompts', 'hostile'], ['PromptTitlered', 'promptdescred']],
    ['policy', ['policy', 'hostile'], ['evilnamered']],
    ['call (result)', ['call', 'hostile', 'echo', 'text=hi'], ['resultred', 'morered', 'structured']],
    ['call (tool error)', ['call', 'hostile', 'fails'], ['toolerrorred']],
    ['call (JSON-RPC error)', ['call', 'hostile', 'rpc'], ['rpcerrorred']],
    ['call (stdio stderr)', ['call', 'crashy', 'anything'], ['stderrline']],
    ['call (HTTP 500)', ['call', 'broken', 'anything'], ['HTTP 500']],
    ['prompt', ['prompt', 'hostile', 'greet'], ['prompttextred']],
    ['doctor', ['doctor'], ['srvred', 'evilnamered', 'stderrline', 'HTTP 500', 'cmdred']],
    ['doctor <stdio>', ['doctor', 'crashy'], ['stderrline']],
    // After the calls above: their audit records hold the server's tool names and error texts.
    ['log', ['log'], ['hostred', 'serverred', 'toolred', 'rpcerrorred']],
    ['stats', ['stats'], ['serverred', 'toolred']],
  ])('%s', async (what, args, shown) => {
    const result = await sandbox.run(args as string[], { input: '' });
    expectSafe(what as string, result);
    for (const text of shown as string[]) expect(result.stdout + result.stderr).toContain(text);
  });

  it('multi-line output keeps its lines; a carriage return is a line break, not an overwrite', async () => {
    const call = await sandbox.run(['call', 'hostile', 'echo', 'text=hi']);
    expect(call.stdout).toMatch(
      /^resultredclick8bit.*publicrm -rf \/\nlsusergnp\.exe iso markzerowidthresult\nmorered/,
    );
  });

  it('--json stays faithful: the data is escaped by JSON, not altered', async () => {
    const result = await sandbox.run(['tool', 'hostile', 'echo', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expectSafe('tools --json', result);
    expect(JSON.parse(result.stdout)).toMatchObject({ title: hostile('EchoTitle') });
    expect(result.stdout).toContain('\\u001b[31m');
    expect(result.stdout).toContain('\\u009b31m'); // JSON.stringify leaves C1 raw; printJson does not
  });
});

describe('hostile text from an authorization server', () => {
  let as: AuthorizationServer | undefined;
  let protectedMcp: ProtectedMcpServer | undefined;
  let device: HttpServer | undefined;

  afterAll(async () => {
    await protectedMcp?.close();
    await as?.close();
    await new Promise((resolve) => (device ? device.close(resolve) : resolve(undefined)));
  });

  /** A device authorization endpoint that answers with `answer`, in place of the real one. */
  async function deviceEndpoint(answer: Record<string, unknown>): Promise<string> {
    device = createServer((req, res) => {
      req.resume();
      req.once('end', () =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)),
      );
    });
    await new Promise<void>((resolve) => device!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(device.address() as AddressInfo).port}/device`;
  }

  async function login(
    overrides: Record<string, unknown>,
    deviceAnswer?: Record<string, unknown>,
    command: string[] = ['login', 'corp', ...(deviceAnswer ? ['--device'] : []), '--timeout', '20'],
  ): Promise<RunResult> {
    await protectedMcp?.close();
    await as?.close();
    if (device) await new Promise((resolve) => device!.close(resolve));
    device = undefined;
    const endpoint = deviceAnswer
      ? { device_authorization_endpoint: await deviceEndpoint(deviceAnswer) }
      : {};
    as = await startAuthorizationServer({
      deviceFlow: true,
      metadataOverrides: { ...overrides, ...endpoint },
    });
    protectedMcp = await startProtectedMcpServer({ authorizationServer: as });
    const box = await createSandbox();
    try {
      await box.run(['add', 'corp', protectedMcp.url]);
      return await box.run(command, { env: oauthEnv(box) });
    } finally {
      await box.cleanup();
    }
  }

  const good = {
    device_code: 'dc-1',
    user_code: 'WDJB-MJHT',
    verification_uri: 'https://as.example/device',
    interval: 1,
    expires_in: 30,
  };

  it.each([
    ['javascript:', { verification_uri: `javascript:alert(1)//${hostile('uri')}` }],
    ['escapes in an https URL', { verification_uri: `https://as.example/${hostile('uri')}` }],
    ['plain http off loopback', { verification_uri: 'http://as.example/device' }],
    ['verification_uri_complete', { verification_uri_complete: `file:///etc/passwd${hostile('complete')}` }],
  ])(
    'device flow: a hostile verification URI (%s) is refused, and nothing of it acts on the terminal',
    async (_what, answer) => {
      const result = await login({}, { ...good, ...answer });
      expectSafe('login --device', result);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /verification_uri(_complete)? of the device authorization response: .*refusing/,
      );
      expect(result.stderr).toMatch(/hint: .*patchbay login corp --no-browser/);
      expect(result.stderr).not.toContain('enter the code');
    },
  );

  it('device flow: a user_code that is not a short printable code is refused, shown cleaned', async () => {
    const result = await login({}, { ...good, user_code: hostile('CODE') });
    expectSafe('login --device', result);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/user_code .* is not a short printable code \("CODE/);
  });

  it.each([
    [
      'javascript:',
      `javascript:alert(1)//${hostile('ep')}`,
      /authorization_endpoint 'javascript:alert\(1\)\/\/ep.*' is not an https URL/,
    ],
    ['not a URL', `${hostile('ep')} not a url`, /authorization_endpoint 'ep.*' is not a URL/],
  ])(
    'an authorization_endpoint the SDK refuses (%s) is said in words, naming the offending value',
    async (_what, endpoint, said) => {
      const result = await login({ authorization_endpoint: endpoint });
      expectSafe('login', result);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /error: the authorization server's metadata at http:\/\/127\.0\.0\.1:\d+\/\.well-known\/\S+ is unusable: /,
      );
      expect(result.stderr).toMatch(said);
      expect(result.stderr).not.toMatch(/"code":|\[\s*\{/);
      expect(result.stderr).toMatch(/hint: .*patchbay doctor corp/);

      // doctor's auth layer says the same, not the raw validation JSON either.
      const doctor = await login({ authorization_endpoint: endpoint }, undefined, ['doctor', 'corp']);
      expectSafe('doctor', doctor);
      expect(doctor.stdout).toMatch(said);
      expect(doctor.stdout).not.toMatch(/"code":|\[\s*\{/);
    },
  );
});
