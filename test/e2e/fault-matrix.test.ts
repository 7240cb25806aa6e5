/**
 * The fault matrix, on the built binary: each command that contacts a server (call, read,
 * prompt, tools, list, get) against each way a connection fails (refused, TLS reset, reset in
 * the middle of an answer, the server process killed mid-answer, no answer at all, an answer
 * stream that goes silent), over Streamable HTTP in front of server-everything, and a stdio
 * server that dies mid-request. Each must say what happened, with the command's exit code, and
 * a connection that broke must be reported as broken — not waited out to the timeout and
 * blamed on a firewall. The "broke" rows run with a 30 s timeout: a reason that is not a
 * timeout's is the proof that they ended before it.
 */

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EVERYTHING_SCRIPT, startEverything, type EverythingServer } from '../fixtures/everything.js';
import {
  getFreePort,
  startFaultFront,
  startTlsResetServer,
  type FaultServer,
  type FrontFault,
} from '../fixtures/fault-servers.js';
import { createSandbox, type RunResult, type Sandbox } from '../helpers/sandbox.js';

/**
 * A server not reached, or whose connection broke, exits 8 from every command (README's exit
 * codes); `list` and `get` say it through their health code, the same 8.
 */
const NOT_REACHED = 8;
const DEGRADED = 8;
const LONG = '30s';
/** For the rows that must time out: long enough for the handshake before it on a busy machine. */
const SHORT = '8s';

interface Command {
  name: string;
  /** The JSON-RPC method the fault is put on. */
  method: string;
  args: (server: string) => string[];
  /** How a broken connection under it is described. */
  during: string | RegExp;
  /** list and get print the reason in their JSON and exit with the health code. */
  json: boolean;
  exit: number;
}

const COMMANDS: Command[] = [
  {
    name: 'call',
    method: 'tools/call',
    args: (s) => ['call', s, 'echo', 'message=hi'],
    during: 'the call',
    json: false,
    exit: NOT_REACHED,
  },
  {
    name: 'read',
    method: 'resources/read',
    args: (s) => ['read', s, 'demo://resource/static/document/architecture.md'],
    during: 'the request (resources/read)',
    json: false,
    exit: NOT_REACHED,
  },
  {
    name: 'prompt',
    method: 'prompts/get',
    args: (s) => ['prompt', s, 'simple-prompt'],
    during: 'the request (prompts/get)',
    json: false,
    exit: NOT_REACHED,
  },
  {
    name: 'tools',
    method: 'tools/list',
    args: (s) => ['tools', s],
    during: 'the request (tools/list)',
    json: false,
    exit: NOT_REACHED,
  },
  {
    name: 'list',
    method: 'tools/list',
    args: () => ['list', '--json'],
    during: 'the request (tools/list)',
    json: true,
    exit: DEGRADED,
  },
  {
    name: 'get',
    method: 'tools/list',
    args: (s) => ['get', s, '--json'],
    // get counts tools, resources and prompts at once: the server's death breaks whichever
    // answer was under way (a listing not yet sent fails on the refused reconnection).
    during: /the request( \((tools|resources|prompts)\/list\))?/,
    json: true,
    exit: DEGRADED,
  },
];

type Fault = 'refused' | 'tls-reset' | FrontFault;

interface Expectation {
  timeout: string;
  reason: (hostPort: string, command: Command) => string | RegExp;
}

/** `the connection to <host:port> broke during <what>`, exactly. */
function broke(hostPort: string, command: Command): string | RegExp {
  if (typeof command.during === 'string')
    return `the connection to ${hostPort} broke during ${command.during}`;
  return new RegExp(
    `^the connection to ${hostPort.replace(/\./g, '\\.')} broke during ${command.during.source}$`,
  );
}

const FAULTS: Record<Fault, Expectation> = {
  refused: {
    timeout: LONG,
    reason: (hp) => `connection refused: nothing is listening on ${hp}`,
  },
  'tls-reset': {
    timeout: LONG,
    reason: (hp) => `the connection to ${hp} was reset during the TLS handshake`,
  },
  'reset-mid-body': { timeout: LONG, reason: broke },
  exit: { timeout: LONG, reason: broke },
  'hang-headers': {
    timeout: SHORT,
    reason: (hp) => `timed out after 8 s: no answer from ${hp} to the request (not even response headers)`,
  },
  'hang-stream': {
    timeout: SHORT,
    reason: (hp) => `timed out after 8 s: ${hp} began its answer and then sent nothing more`,
  },
};

let everything: EverythingServer;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  everything = await startEverything('streamableHttp');
}, 30_000);
afterAll(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup().catch(() => undefined)));
  await everything?.close();
});

/** A sandbox whose only server is `srv`, as given. */
async function sandboxWith(entry: Record<string, unknown>): Promise<Sandbox> {
  const sandbox = await createSandbox();
  cleanups.push(() => sandbox.cleanup());
  await mkdir(dirname(sandbox.userConfig), { recursive: true });
  await writeFile(sandbox.userConfig, JSON.stringify({ mcpServers: { srv: entry } }));
  return sandbox;
}

async function faultyServer(fault: Fault, command: Command): Promise<{ url: string; port: number }> {
  let server: FaultServer;
  if (fault === 'refused') {
    const port = await getFreePort();
    return { url: `http://127.0.0.1:${port}/mcp`, port };
  }
  if (fault === 'tls-reset') server = await startTlsResetServer();
  else server = await startFaultFront(everything.url, fault, command.method);
  cleanups.push(() => server.close());
  return server;
}

/** The reason a run gave: `error: …` on stderr, or the server's reason in the JSON. */
function reasonOf(result: RunResult, command: Command): string | undefined {
  if (!command.json) return /^error: (.*)$/m.exec(result.stderr)?.[1];
  const parsed = JSON.parse(result.stdout) as { reason: string | null } | Array<{ reason: string | null }>;
  return (Array.isArray(parsed) ? parsed[0]! : parsed).reason ?? undefined;
}

const ROWS = (Object.keys(FAULTS) as Fault[]).flatMap((fault) =>
  COMMANDS.map((command) => [fault, command.name, command] as const),
);
/** The rows that wait out a timeout: mostly idle, so they run beside the others. */
const WAITING: Fault[] = ['hang-headers', 'hang-stream'];

async function checkRow(fault: Fault, command: Command): Promise<void> {
  const { url, port } = await faultyServer(fault, command);
  const sandbox = await sandboxWith({ type: 'http', url });
  const result = await sandbox.run([...command.args('srv'), '--timeout', FAULTS[fault].timeout]);
  const expected = FAULTS[fault].reason(`127.0.0.1:${port}`, command);
  if (typeof expected === 'string') expect(reasonOf(result, command)).toBe(expected);
  else expect(reasonOf(result, command)).toMatch(expected);
  expect(result.code).toBe(command.exit);
  // Never the guess a dead server used to get after the whole timeout.
  expect(result.stderr + result.stdout).not.toMatch(/firewall/);
}

describe.concurrent('over Streamable HTTP', () => {
  // Groups of their own (first, so that they start at once), one per fault: vitest bounds the cases
  // running at once per group, and these would otherwise hold the places of the ones that work.
  describe.concurrent.each(WAITING)('waiting out the timeout (%s)', (waiting) => {
    it.each(ROWS.filter(([fault]) => fault === waiting))(
      '%s under %s: says what happened',
      async (fault, _name, command) => checkRow(fault, command),
    );
  });
  it.each(ROWS.filter(([fault]) => !WAITING.includes(fault)))(
    '%s under %s: says what happened',
    async (fault, _name, command) => checkRow(fault, command),
  );
});

describe.concurrent('over stdio: the server process exits mid-request', () => {
  const exitOn = fileURLToPath(new URL('../fixtures/stdio/exit-on.mjs', import.meta.url));
  it.each(COMMANDS.map((command) => [command.name, command] as const))(
    '%s: says the process exited, with its last stderr line',
    async (_name, command) => {
      const sandbox = await sandboxWith({
        command: process.execPath,
        args: [exitOn, command.method, EVERYTHING_SCRIPT, 'stdio'],
      });
      const result = await sandbox.run([...command.args('srv'), '--timeout', LONG]);
      expect(reasonOf(result, command)).toBe(
        `the process exited with code 3: fatal: crashed while handling ${command.method}`,
      );
      expect(result.code).toBe(command.exit);
    },
  );
});

describe.concurrent('one unit of time', () => {
  it('add --timeout takes a duration and writes milliseconds; call honours the entry\u2019s timeout', async () => {
    const front = await startFaultFront(everything.url, 'hang-headers', 'tools/call');
    cleanups.push(() => front.close());
    const sandbox = await createSandbox();
    cleanups.push(() => sandbox.cleanup());
    const bad = await sandbox.run(['add', '-s', 'user', 'srv', front.url, '--timeout', '30x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`--timeout: "30x" is not a duration; use e.g. 500ms, 30s, 2m`);
    expect((await sandbox.run(['add', '-s', 'user', 'srv', front.url, '--timeout', '3s'])).code).toBe(0);
    const file = JSON.parse(await readFile(sandbox.userConfig, 'utf8')) as {
      mcpServers: { srv: { timeout: number } };
    };
    expect(file.mcpServers.srv.timeout).toBe(3_000);
    // No --timeout: the entry's 3 s applies, not the default 10 s.
    const call = await sandbox.run(['call', 'srv', 'echo', 'message=hi']);
    expect(call.code).toBe(NOT_REACHED);
    expect(call.stderr).toMatch(/^error: timed out after 3 s/m);
  });
});
