/**
 * What the audit log says about who called through `patchbay serve`: beside the name the client
 * gives itself (`hostClaimed`), what patchbay established — the transport, the gateway token, the
 * 2025 session (hashed) and the peer address — for tool calls, and for the resource reads and
 * prompts it relays (not governed by allow/ask/deny, but recorded), over HTTP in both eras and
 * over stdio; `patchbay log` shows it.
 */

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import type { AuditEntry } from '../../src/policy/audit.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { BINARY, createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let demo: DemoServer;
let gateway: RunningGateway | undefined;

beforeAll(async () => {
  sandbox = await createSandbox();
  demo = await startDemoServer();
  await sandbox.run(['add', 'demo', demo.url]);
}, 30_000);

afterAll(async () => {
  await gateway?.stop();
  await demo?.close();
  await sandbox?.cleanup();
});

/** The gateway over HTTP in front of the demo server, stopped after all tests. */
async function startHttpGateway(): Promise<RunningGateway> {
  gateway = await startGateway(sandbox, ['--servers', 'demo']);
  return gateway;
}

/** A tool call, a resource read and a prompt, as the host `name`. */
async function exercise(client: Client): Promise<void> {
  const echoed = await client.callTool({ name: 'demo__echo', arguments: { text: 'audited' } });
  expect(JSON.stringify(echoed.content)).toContain('audited');
  const read = await client.readResource({ uri: 'demo://readme' });
  expect(JSON.stringify(read.contents)).toContain('patchbay demo server');
  const prompt = await client.getPrompt({ name: 'demo__greet', arguments: { name: 'Ada' } });
  expect(JSON.stringify(prompt.messages)).toContain('Ada');
}

async function logged(): Promise<AuditEntry[]> {
  const run = await sandbox.run(['log', '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as AuditEntry[];
}

describe('the audit log through the gateway', () => {
  it('records what patchbay knows of each caller beside its claimed name, for tools, resources and prompts', async () => {
    const gateway = await startHttpGateway();
    const auth = { requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } } };
    const legacy = new Client(
      { name: 'legacy-host', version: '1' },
      { versionNegotiation: { mode: 'legacy' } },
    );
    const modern = new Client(
      { name: 'modern-host', version: '1' },
      { versionNegotiation: { mode: 'auto' } },
    );
    const legacyTransport = new StreamableHTTPClientTransport(new URL(gateway.url), auth);
    await legacy.connect(legacyTransport);
    await modern.connect(new StreamableHTTPClientTransport(new URL(gateway.url), auth));
    const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');
    const local = new Client({ name: 'stdio-host', version: '1' });
    await local.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BINARY, 'serve', '--servers', 'demo'],
        env: sandbox.env as Record<string, string>,
        cwd: sandbox.project,
        stderr: 'ignore',
      }),
    );
    try {
      await exercise(legacy);
      await exercise(modern);
      await exercise(local);
      // A name no upstream answers to is not relayed, so not recorded.
      await expect(local.readResource({ uri: 'nowhere://x' })).rejects.toThrow();
    } finally {
      await Promise.all([legacy.close(), modern.close(), local.close()]);
    }

    const entries = await logged();
    const of = (host: string) => entries.filter((entry) => entry.hostClaimed === host);
    const sessionHash = `sha256:${(await import('node:crypto'))
      .createHash('sha256')
      .update(legacyTransport.sessionId!)
      .digest('hex')
      .slice(0, 16)}`;
    for (const [host, caller] of [
      ['legacy-host', { transport: 'http', auth: 'gateway-token', subject: null, session: sessionHash }],
      ['modern-host', { transport: 'http', auth: 'gateway-token', subject: null }],
      ['stdio-host', { transport: 'stdio', auth: 'parent-process', subject: null }],
    ] as const) {
      const mine = of(host);
      expect(
        mine.map((entry) => [entry.kind ?? 'tool', entry.tool, entry.decision, entry.outcome]),
        host,
      ).toEqual([
        ['tool', 'echo', 'allowed', 'ok'],
        ['resource', 'demo://readme', 'not-governed', 'ok'],
        ['prompt', 'greet', 'not-governed', 'ok'],
      ]);
      for (const entry of mine) {
        // The old field stays for older readers; the new one says what it is.
        expect(entry.host).toBe(host);
        expect(entry.via).toBe('gateway');
        expect(entry.caller).toEqual(
          caller.transport === 'http'
            ? { ...caller, peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) }
            : caller,
        );
      }
    }
    expect(entries.every((entry) => entry.tool !== 'nowhere://x')).toBe(true);
    // No session id in the clear, and no token.
    const raw = JSON.stringify(entries);
    expect(raw).not.toContain(legacyTransport.sessionId!);
    expect(raw).not.toContain(gateway.token);

    const shown = await sandbox.run(['log']);
    expect(shown.stdout).toMatch(
      new RegExp(
        `legacy-host\\s+demo/echo .*\\[http 127\\.0\\.0\\.1:\\d+ gateway-token session ${sessionHash}\\]`,
      ),
    );
    expect(shown.stdout).toMatch(
      /stdio-host\s+demo resource demo:\/\/readme\s+not-governed\s+ok .*\[stdio parent-process\]/,
    );
    const stats = await sandbox.run(['stats']);
    expect(stats.stdout).toMatch(/demo\s+prompt greet\s+3\s+0/);
  }, 60_000);
});
