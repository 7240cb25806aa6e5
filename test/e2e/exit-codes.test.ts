/**
 * The same situation gives the same exit status from every command: each command is run through
 * the built binary in each of the four situations a user meets (a server that cannot be reached,
 * one that needs a login, one waiting for the project approval, one refused by policy), and the
 * status is compared with one table. `help exit-codes` and the README list the same codes.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { getFreePort, startUnauthorizedServer, type FaultServer } from '../fixtures/fault-servers.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

type Situation = 'unreachable' | 'needs-login' | 'pending-approval' | 'refused-by-policy';

const SITUATIONS: Situation[] = ['unreachable', 'needs-login', 'pending-approval', 'refused-by-policy'];

/** Each command as a user types it, about the server `x`. */
const COMMANDS: Record<string, string[]> = {
  list: ['list', '--timeout', '5'],
  get: ['get', 'x', '--timeout', '5'],
  tools: ['tools', 'x', '--timeout', '5'],
  tool: ['tool', 'x', 'echo', '--timeout', '5'],
  resources: ['resources', 'x', '--timeout', '5'],
  prompts: ['prompts', 'x', '--timeout', '5'],
  call: ['call', 'x', 'echo', 'text=hi', '--timeout', '5'],
  read: ['read', 'x', 'demo://readme', '--timeout', '5'],
  prompt: ['prompt', 'x', 'greet', 'name=Ada', '--timeout', '5'],
  doctor: ['doctor', 'x', '--timeout', '5'],
  'doctor (all)': ['doctor', '--timeout', '5'],
  policy: ['policy', 'x', '--timeout', '5'],
  login: ['login', 'x', '--no-browser', '--timeout', '5'],
  'auth refresh': ['auth', 'refresh', 'x', '--timeout', '5'],
  connect: ['connect', 'x', '--timeout', '5'],
};

/** One code per situation, whatever the command. `login` is the fix for a missing login: not run there. */
const EXPECTED: Record<Situation, number> = {
  unreachable: 8,
  'needs-login': 4,
  'pending-approval': 5,
  'refused-by-policy': 6,
};

/**
 * Where a command gives another code, on purpose. Commands that report (list, get, doctor,
 * policy) show a server that is off by the administrator's rule as such: it is not a failure of
 * the report, and only a command that needs the server is refused. `connect` is a long-running
 * bridge: a server that is down or needs a login at start-up may come back (the host sees the
 * reason on each request), so it serves until its input ends. `auth refresh` meets the missing
 * login before the network. `login` is the fix for a missing login: not run there.
 */
const OTHERWISE: Record<string, number | 'skip'> = {
  'refused-by-policy/list': 0,
  'refused-by-policy/get': 0,
  'refused-by-policy/doctor': 0,
  'refused-by-policy/doctor (all)': 0,
  'refused-by-policy/policy': 0,
  'unreachable/connect': 0,
  'needs-login/connect': 0,
  'unreachable/auth refresh': 4,
  'needs-login/login': 'skip',
};

let demo: DemoServer;
let locked: FaultServer;
const sandboxes = new Map<Situation, Sandbox>();

beforeAll(async () => {
  [demo, locked] = await Promise.all([startDemoServer(), startUnauthorizedServer(401)]);
  const refusedPort = await getFreePort();
  // The four sandboxes are made at once.
  await Promise.all(
    SITUATIONS.map(async (situation) => {
      const sandbox = await createSandbox();
      sandboxes.set(situation, sandbox);
      switch (situation) {
        case 'unreachable':
          await sandbox.run(['add', 'x', `http://127.0.0.1:${refusedPort}/mcp`]);
          break;
        case 'needs-login':
          await sandbox.run(['add', 'x', locked.url]);
          break;
        case 'pending-approval':
          await writeFile(
            sandbox.projectConfig,
            JSON.stringify({ mcpServers: { x: { type: 'http', url: demo.url } } }),
          );
          break;
        case 'refused-by-policy': {
          await sandbox.run(['add', 'x', demo.url]);
          const managed = join(sandbox.root, 'managed.json');
          await writeFile(managed, JSON.stringify({ deniedMcpServers: [{ serverName: 'x' }] }));
          sandbox.env.PATCHBAY_MANAGED_POLICY = managed;
          break;
        }
      }
    }),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all([...sandboxes.values()].map((sandbox) => sandbox.cleanup()));
  await Promise.all([demo?.close(), locked?.close()]);
});

describe('exit codes: one code per situation, from every command', () => {
  const cells = SITUATIONS.flatMap((situation) =>
    Object.entries(COMMANDS)
      .filter(([command]) => OTHERWISE[`${situation}/${command}`] !== 'skip')
      .map(([command, args]) => ({
        situation,
        command,
        args,
        expected: (OTHERWISE[`${situation}/${command}`] as number | undefined) ?? EXPECTED[situation],
      })),
  );
  // Each cell is one run of the binary in its situation's sandbox, which none of them changes: they
  // run at once.
  it.concurrent.each(cells)(
    '$command when the server is $situation',
    async ({ situation, command, args, expected }) => {
      const sandbox = sandboxes.get(situation)!;
      const result = await sandbox.run(args, { env: sandbox.env });
      expect(result.code, `${command} (${situation}):\n${result.stderr}`).toBe(expected);
    },
  );

  it('a tool refused by policy, and a limit reached, give the code of a refused server', async () => {
    const sandbox = await createSandbox();
    try {
      await sandbox.run(['add', 'x', demo.url]);
      await sandbox.run(['permit', 'x', 'echo', 'deny']);
      const denied = await sandbox.run(['call', 'x', 'echo', 'text=hi']);
      expect(denied.code, denied.stderr).toBe(EXPECTED['refused-by-policy']);
      await sandbox.run(['limit', 'x', 'add', '1/day']);
      expect((await sandbox.run(['call', 'x', 'add', 'a=1', 'b=2'])).code).toBe(0);
      const limited = await sandbox.run(['call', 'x', 'add', 'a=1', 'b=2']);
      expect(limited.code, limited.stderr).toBe(EXPECTED['refused-by-policy']);
      await sandbox.run(['disable', 'x']);
      const disabled = await sandbox.run(['tools', 'x']);
      expect(disabled.code, disabled.stderr).toBe(EXPECTED['refused-by-policy']);
    } finally {
      await sandbox.cleanup();
    }
  });
});

describe('help exit-codes and the README', () => {
  it('list the same codes with the same meanings', async () => {
    const sandbox = await createSandbox();
    try {
      const help = await sandbox.run(['help', 'exit-codes']);
      expect(help.code).toBe(0);
      const fromHelp = [...help.stdout.matchAll(/^ {2}(\d+) +(.+)$/gm)].map(([, code, meaning]) => [
        Number(code),
        meaning!.trim(),
      ]);
      const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
      const section = readme.slice(readme.indexOf('### Exit codes'));
      const rows = section.slice(0, section.indexOf('\n\n', section.indexOf('| code')));
      const fromReadme = [...rows.matchAll(/^\| (\d+) +\| (.+?) *\|$/gm)].map(([, code, meaning]) => [
        Number(code),
        meaning!.replaceAll('`', '').trim(),
      ]);
      expect(fromHelp.length).toBeGreaterThan(4);
      expect(fromReadme).toEqual(fromHelp);
    } finally {
      await sandbox.cleanup();
    }
  });
});
