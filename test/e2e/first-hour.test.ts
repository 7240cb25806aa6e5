/**
 * What a new user trips on in the first hour, run as the built binary against real servers:
 * a URL typed without its scheme, `login` on a server that needs none, `login --scope`,
 * `remove` of a project server, long stdio commands in `list`, and `--help` by job.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { COMMAND_GROUPS } from '../../src/cli/main.js';
import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let everything: EverythingServer;
let sandbox: Sandbox;

beforeAll(async () => {
  everything = await startEverything('streamableHttp');
}, 30_000);
afterAll(async () => {
  await everything?.close();
});
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await sandbox.cleanup();
});

describe('add: an address without its scheme', () => {
  it.each([
    ['mcp.example.com/mcp', 'https://mcp.example.com/mcp'],
    ['mcp.example.com:8443/mcp', 'https://mcp.example.com:8443/mcp'],
    ['localhost:3000/mcp', 'http://localhost:3000/mcp'],
    ['127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['[::1]:9000/mcp', 'http://[::1]:9000/mcp'],
  ])('%s is refused with the URL it most likely means', async (typed, meant) => {
    const result = await sandbox.run(['add', 'x', typed]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${JSON.stringify(typed)} has no scheme (https:// or http://).`);
    expect(result.stderr).toContain(`hint: Did you mean ${meant}? patchbay add x ${meant}`);
    // Nothing was written.
    expect((await sandbox.run(['list', '--no-check', '--json'])).stdout.trim()).toBe('[]');
  });

  it('a bare word or a script is still pointed at "--", not at a URL', async () => {
    for (const typed of ['notion', 'server.py']) {
      const result = await sandbox.run(['add', 'x', typed]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`patchbay add x -- ${typed}`);
      expect(result.stderr).not.toContain('Did you mean');
    }
  });
});

describe('login', () => {
  it('on a server that needs no login says so and exits 0', async () => {
    await sandbox.run(['add', 'ev', everything.url]);
    const result = await sandbox.run(['login', 'ev', '--no-browser', '--timeout', '20']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(
      'ev needs no login: it answers without credentials and publishes no OAuth metadata.\n',
    );
    expect(result.stderr).not.toMatch(/error/i);
  });

  it('--scope with a config scope is refused, naming --oauth-scope; any other value still works, with a note', async () => {
    await sandbox.run(['add', 'ev', everything.url]);
    const confused = await sandbox.run(['login', 'ev', '--scope', 'user']);
    expect(confused.code).toBe(2);
    expect(confused.stderr).toContain('login takes no config scope');
    expect(confused.stderr).toContain('hint: For OAuth scopes: patchbay login ev --oauth-scope');
    const old = await sandbox.run(['login', 'ev', '--scope', 'mcp:read', '--timeout', '20']);
    expect(old.code, old.stderr).toBe(0);
    expect(old.stderr).toContain('login --scope is now --oauth-scope');
    const help = await sandbox.run(['login', '--help']);
    expect(help.stdout).toContain('--oauth-scope <scopes>');
    expect(help.stdout).not.toMatch(/--scope\b/);
  });
});

describe('remove', () => {
  it('forgets the approval of a removed project server: the same entry added back waits again', async () => {
    await sandbox.run(['add', '-s', 'project', 'ev', everything.url]);
    const approvals = async () => {
      const config = JSON.parse(await readFile(sandbox.userConfig, 'utf8')) as {
        projects?: Record<string, { mcpjsonChoices?: Record<string, unknown> }>;
      };
      return Object.keys(config.projects?.[sandbox.project]?.mcpjsonChoices ?? {});
    };
    expect(await approvals()).toEqual(['ev']);
    const removed = await sandbox.run(['remove', 'ev']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(await approvals()).toEqual([]);
    // A teammate's .mcp.json brings the very same entry back: it is new to this user.
    await writeFile(
      sandbox.projectConfig,
      JSON.stringify({ mcpServers: { ev: { type: 'http', url: everything.url } } }),
    );
    const list = await sandbox.run(['list', '--no-check', '--json']);
    expect(JSON.parse(list.stdout)).toMatchObject([{ name: 'ev', status: 'pending-approval' }]);
  });
});

describe('list', () => {
  it('keeps its columns with a long stdio command, shortened with an ellipsis; get shows it whole', async () => {
    const long = Array.from({ length: 12 }, (_, index) => `--option-number-${index}=value`);
    await sandbox.run(['add', 'long', '--', 'node', 'server.js', ...long]);
    await sandbox.run(['add', 'short', '--', 'node', 's.js']);
    const list = await sandbox.run(['list', '--no-check']);
    const lines = list.stdout.split('\n').filter((line) => /unchecked/.test(line));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('\u2026');
    expect(lines[0]!.indexOf('unchecked')).toBe(lines[1]!.indexOf('unchecked'));
    expect(lines[0]!.length).toBeLessThan(120);
    expect(list.stderr).toContain('patchbay get long');
    const get = await sandbox.run(['get', 'long', '--no-check']);
    expect(get.stdout).toContain(long.join(' '));
  });
});

describe('--help', () => {
  it('groups every command by job, each in exactly one group', async () => {
    const help = await sandbox.run(['--help']);
    expect(help.code).toBe(0);
    const groups = new Map<string, string[]>();
    let heading: string | undefined;
    for (const line of help.stdout.split('\n')) {
      if (/^\S.*:$/.test(line)) heading = line;
      else if (heading && /^ {2}[a-z]/.test(line) && !['Options:', 'Examples:'].includes(heading))
        groups.set(heading, [...(groups.get(heading) ?? []), line.trim().split(/\s/, 1)[0]!]);
      else if (line === '') heading = heading === 'Options:' ? undefined : heading;
    }
    groups.delete('Options:');
    groups.delete('Examples:');
    expect([...groups.keys()]).toEqual(COMMAND_GROUPS.map(([name]) => name));
    const listed = [...groups.values()].flat();
    expect(new Set(listed).size).toBe(listed.length);
    // The commands patchbay knows (as its own "no such command" hint lists them): all grouped.
    const unknown = await sandbox.run(['help', 'no-such-command']);
    const known = /Commands: (.+)\./.exec(unknown.stderr)![1]!.split(', ');
    expect(listed.sort()).toEqual(known.sort());
    expect(known.length).toBeGreaterThan(30);
  });

  it('has no unfilled placeholders in any command help or help topic', async () => {
    const unknown = await sandbox.run(['help', 'no-such-command']);
    const commands = /Commands: (.+)\./.exec(unknown.stderr)![1]!.split(', ');
    const texts = await Promise.all([
      sandbox.run(['--help']),
      ...commands.map((command) => sandbox.run([command, '--help'])),
      sandbox.run(['auth', 'status', '--help']),
      sandbox.run(['auth', 'refresh', '--help']),
      sandbox.run(['help', 'config']),
      sandbox.run(['help', 'exit-codes']),
    ]);
    for (const text of texts) {
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).not.toMatch(
        /%[sdjo]|\{\}|\{\d\}|\bTODO\b|\bFIXME\b|\bXXX\b|undefined|\[object |\bNaN\b|<>|<project root>|\$\{PATCHBAY_CONFIG_DIR:-/,
      );
    }
    // help config names this machine's files, not templates of them.
    const config = texts.at(-2)!.stdout;
    expect(config).toContain(sandbox.userConfig);
    expect(config).toContain(sandbox.projectConfig);
  });
});
