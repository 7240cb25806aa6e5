/**
 * On the built binary: a stdio server gets the user's environment (as under Claude Code, Cursor
 * and VS Code), so an entry imported from Claude Code that needs a shell variable keeps working;
 * keeping the environment from it is an explicit choice whose failure names what the server
 * said. And every command sees the same tools of a server: a check (`list`, `get`) declares the
 * same client capabilities as `tools` and `call`.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EVERYTHING_SCRIPT, startEverything, type EverythingServer } from '../fixtures/everything.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const NEEDS_ENV = fileURLToPath(new URL('../fixtures/stdio/needs-env.mjs', import.meta.url));

let sandbox: Sandbox;
let everything: EverythingServer;

beforeAll(async () => {
  sandbox = await createSandbox();
  everything = await startEverything('streamableHttp');
}, 30_000);
afterAll(async () => {
  await everything?.close();
  await sandbox?.cleanup();
});

describe('stdio servers get the environment users expect', () => {
  beforeAll(async () => {
    // Claude Code's own file, as `claude mcp add` writes it: no env for the token, which the
    // server reads from the shell.
    await writeFile(
      join(sandbox.home, '.claude.json'),
      JSON.stringify({
        mcpServers: {
          tokened: {
            type: 'stdio',
            command: process.execPath,
            args: [NEEDS_ENV, 'MY_SERVICE_TOKEN', EVERYTHING_SCRIPT, 'stdio'],
          },
        },
      }),
    );
    const imported = await sandbox.run(['import', '--from', 'claude-code', '-s', 'user']);
    expect(imported.code).toBe(0);
  });

  it('an imported stdio entry that needs a variable from the shell works, as under Claude Code', async () => {
    const result = await sandbox.run(['tools', 'tokened', '--json', '--timeout', '30s'], {
      env: { MY_SERVICE_TOKEN: 'from-the-shell' },
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as unknown[]).length).toBeGreaterThan(0);
  });

  it('kept from the server on request, it fails with what the server said, not a timeout hint', async () => {
    const result = await sandbox.run(['tools', 'tokened', '--timeout', '3s'], {
      env: { MY_SERVICE_TOKEN: 'from-the-shell', PATCHBAY_STDIO_INHERIT_ENV: '0' },
    });
    expect(result.code).toBe(8); // not reached
    expect(result.stderr).toContain(
      "error: the server said on stderr: error: MY_SERVICE_TOKEN is not set; export it or put it in the server's env (no answer to the MCP handshake; timed out after 3 s)",
    );
    expect(result.stderr).toMatch(/hint: Fix what it reports: patchbay get tokened/);
  });

  it('"inheritEnv": false in the entry keeps the shell\'s variables from that server only', async () => {
    const config = join(sandbox.configDir, 'config.json');
    await mkdir(sandbox.configDir, { recursive: true });
    await writeFile(
      config,
      JSON.stringify({
        mcpServers: {
          kept: {
            command: process.execPath,
            args: [NEEDS_ENV, 'MY_SERVICE_TOKEN', EVERYTHING_SCRIPT, 'stdio'],
            inheritEnv: false,
          },
          given: {
            command: process.execPath,
            args: [NEEDS_ENV, 'MY_SERVICE_TOKEN', EVERYTHING_SCRIPT, 'stdio'],
            env: { MY_SERVICE_TOKEN: '${MY_SERVICE_TOKEN}' },
            inheritEnv: false,
          },
        },
      }),
    );
    const env = { MY_SERVICE_TOKEN: 'from-the-shell' };
    const [kept, given] = await Promise.all([
      sandbox.run(['tools', 'kept', '--timeout', '3s'], { env }),
      sandbox.run(['tools', 'given', '--json', '--timeout', '30s'], { env }),
    ]);
    expect(kept.stderr).toContain('MY_SERVICE_TOKEN is not set');
    // Named in its env, the variable reaches it all the same.
    expect(given.code).toBe(0);
  });
});

describe('one view of a server', () => {
  // Its own config: list checks every server, and the ones above are made to hang.
  let viewer: Sandbox;
  beforeAll(async () => {
    viewer = await createSandbox();
  });
  afterAll(() => viewer?.cleanup());

  it.each(['http', 'stdio'] as const)(
    'list --json and get --json count the tools that tools --json shows (server-everything over %s)',
    async (transport) => {
      const name = `everything-${transport}`;
      const add =
        transport === 'http'
          ? ['add', '-s', 'user', name, everything.url]
          : ['add', '-s', 'user', name, '--', process.execPath, EVERYTHING_SCRIPT, 'stdio'];
      expect((await viewer.run(add)).code).toBe(0);
      const [tools, got] = await Promise.all([
        viewer.run(['tools', name, '--json', '--timeout', '30s']),
        viewer.run(['get', name, '--json', '--timeout', '30s']),
      ]);
      const listed = await viewer.run(['list', '--json', '--timeout', '30s']);
      const count = (JSON.parse(tools.stdout) as unknown[]).length;
      // server-everything offers its elicitation and sampling tools only to a client that
      // declares those capabilities: 16 with them, 13 without.
      expect(count).toBe(16);
      expect((JSON.parse(got.stdout) as { toolCount: number }).toolCount).toBe(count);
      const row = (JSON.parse(listed.stdout) as Array<{ name: string; toolCount: number }>).find(
        (server) => server.name === name,
      );
      expect(row?.toolCount).toBe(count);
    },
  );
});
