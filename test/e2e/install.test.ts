/** `patchbay install` / `uninstall`: the gateway as one entry in a host's real config file. */

import { chmod, readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { Client } from '@modelcontextprotocol/client';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startDemoServer } from '../../src/demo/demo-server.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;

/** The tools a host sees through a stdio entry: its env over the SDK's default environment. */
async function toolsVia(entry: { command: string; args: string[]; env?: Record<string, string> }) {
  const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');
  const client = new Client({ name: 'host', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: entry.command,
      args: entry.args,
      ...(entry.env ? { env: entry.env } : {}),
      cwd: tmpdir(),
      stderr: 'ignore',
    }),
  );
  try {
    return (await client.listTools()).tools.map((tool) => tool.name);
  } finally {
    await client.close();
  }
}
let desktopFile: string;

beforeEach(async () => {
  sandbox = await createSandbox();
  desktopFile = join(sandbox.home, '.config', 'Claude', 'claude_desktop_config.json');
});
afterEach(async () => {
  await sandbox.cleanup();
});

describe('patchbay install --host', () => {
  it('adds a working gateway entry, keeps the rest of the file and a backup, and uninstall removes exactly it', async () => {
    await mkdir(dirname(desktopFile), { recursive: true });
    const before = JSON.stringify(
      { mcpServers: { other: { command: 'other-server' } }, theme: 'dark' },
      null,
      2,
    );
    await writeFile(desktopFile, before);
    const demo = await startDemoServer();
    await sandbox.run(['add', 'demo', demo.url]);
    const dry = await sandbox.run(['install', '--host', 'claude-desktop', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(await readFile(desktopFile, 'utf8')).toBe(before);
    const installed = await sandbox.run([
      'install',
      '--host',
      'claude-desktop',
      '--servers',
      'demo',
      '--json',
    ]);
    expect(installed.code, installed.stderr).toBe(0);
    const report = JSON.parse(installed.stdout) as { action: string; backup: string };
    expect(report.action).toBe('add');
    expect(await readFile(report.backup, 'utf8')).toBe(before);
    const written = JSON.parse(await readFile(desktopFile, 'utf8')) as {
      mcpServers: Record<string, { command: string; args: string[] }>;
      theme: string;
    };
    expect(written.theme).toBe('dark');
    expect(written.mcpServers.other).toEqual({ command: 'other-server' });
    const gateway = written.mcpServers.patchbay!;
    expect(gateway.args.slice(1)).toEqual(['serve', '--servers', 'demo']);
    // The entry works as the host will run it.
    try {
      await sandbox.run(['add', 'viahost', '--', gateway.command, ...gateway.args]);
      const call = await sandbox.run([
        'call',
        'viahost',
        'demo__echo',
        'text=through the host entry',
        '--timeout',
        '20',
      ]);
      expect(call.stdout, call.stderr).toBe('through the host entry\n');
    } finally {
      await demo.close();
    }
    const again = await sandbox.run(['install', '--host', 'claude-desktop', '--servers', 'demo']);
    expect(again.stdout).toMatch(/^Already there/);
    const removed = await sandbox.run(['uninstall', '--host', 'claude-desktop']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(await readFile(desktopFile, 'utf8'))).toEqual({
      mcpServers: { other: { command: 'other-server' } },
      theme: 'dark',
    });
  }, 60_000);

  it('refuses a file it cannot parse, and an entry named patchbay that is not its own', async () => {
    await mkdir(dirname(desktopFile), { recursive: true });
    await writeFile(desktopFile, '{ "mcpServers": { ');
    const broken = await sandbox.run(['install', '--host', 'claude-desktop', '--allow-empty']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('left unchanged');
    expect(await readFile(desktopFile, 'utf8')).toBe('{ "mcpServers": { ');
    expect((await readdir(dirname(desktopFile))).filter((name) => name.includes('backup'))).toEqual([]);
    const theirs = JSON.stringify({ mcpServers: { patchbay: { command: 'something-else' } } });
    await writeFile(desktopFile, theirs);
    const clash = await sandbox.run(['install', '--host', 'claude-desktop', '--allow-empty']);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain('not patchbay');
    expect(await readFile(desktopFile, 'utf8')).toBe(theirs);
    const notOurs = await sandbox.run(['uninstall', '--host', 'claude-desktop']);
    expect(notOurs.code).toBe(2);
    const forced = await sandbox.run(['install', '--host', 'claude-desktop', '--force', '--allow-empty']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/^Replaced/);
  }, 30_000);

  it("--http enters a running gateway with the token from the host's environment, and the entry works", async () => {
    const demo = await startDemoServer();
    await sandbox.run(['add', 'demo', demo.url]);
    let gateway: RunningGateway | undefined;
    try {
      gateway = await startGateway(sandbox);
      const { url, token } = gateway;
      const installed = await sandbox.run(['install', '--host', 'claude-code', '--http', url, '--json']);
      expect(installed.code, installed.stderr).toBe(0);
      expect(installed.stderr).toContain('PATCHBAY_GATEWAY_TOKEN');
      const claudeFile = JSON.parse(await readFile(join(sandbox.home, '.claude.json'), 'utf8')) as {
        mcpServers: Record<string, unknown>;
      };
      const entry = claudeFile.mcpServers.patchbay;
      // No secret in the host's file: the header names the variable.
      expect(entry).toEqual({
        type: 'http',
        url,
        headers: { Authorization: 'Bearer ${PATCHBAY_GATEWAY_TOKEN}' },
      });
      expect(JSON.stringify(claudeFile)).not.toContain(token);
      // Claude Code's format is patchbay's: the entry, used with the variable set, reaches the demo.
      await sandbox.run(['add-json', 'viahost', JSON.stringify(entry)]);
      const call = await sandbox.run(['call', 'viahost', 'demo__echo', 'text=over http', '--timeout', '20'], {
        env: { PATCHBAY_GATEWAY_TOKEN: token },
      });
      expect(call.stdout, call.stderr).toBe('over http\n');
      // Cursor and VS Code name the variable their way; Claude Desktop takes no remote entries.
      const cursor = await sandbox.run(['install', '--host', 'cursor', '--http', '--json']);
      expect(JSON.parse(cursor.stdout)).toMatchObject({
        entry: {
          url: 'http://127.0.0.1:7431/mcp',
          headers: { Authorization: 'Bearer ${env:PATCHBAY_GATEWAY_TOKEN}' },
        },
      });
      const desktop = await sandbox.run(['install', '--host', 'claude-desktop', '--http']);
      expect(desktop.code).toBe(2);
      expect(desktop.stderr).toContain('Connectors');
      const mixed = await sandbox.run(['install', '--host', 'cursor', '--http', '--servers', 'demo']);
      expect(mixed.code).toBe(2);
      // Uninstall knows the HTTP entry as patchbay's.
      for (const host of ['claude-code', 'cursor']) {
        const removed = await sandbox.run(['uninstall', '--host', host]);
        expect(removed.stdout, removed.stderr).toMatch(/^Removed/);
      }
    } finally {
      await gateway?.stop();
      await demo.close();
    }
  }, 60_000);

  it("writes a stdio entry in Claude Code's own format", async () => {
    const installed = await sandbox.run([
      'install',
      '--host',
      'claude-code',
      '--servers',
      'a,b',
      '--allow-empty',
      '--json',
    ]);
    expect(installed.code, installed.stderr).toBe(0);
    const entry = (
      JSON.parse(installed.stdout) as { entry: { type: string; command: string; args: string[] } }
    ).entry;
    expect(entry.type).toBe('stdio');
    expect(entry.command).toBe(process.execPath);
    expect(entry.args.slice(1)).toEqual(['serve', '--servers', 'a,b']);
  });

  it('with PATCHBAY_CONFIG_DIR set, writes the env the gateway needs, and the entry run as a host runs it sees the servers', async () => {
    const demo = await startDemoServer();
    const elsewhere = { PATCHBAY_CONFIG_DIR: join(sandbox.root, 'elsewhere', 'patchbay') };
    try {
      // A local server (the default scope: this project only) and a user one, in a config
      // directory no host would find by itself.
      expect((await sandbox.run(['add', 'demo', demo.url], { env: elsewhere })).code).toBe(0);
      expect((await sandbox.run(['add', '-s', 'user', 'shared', demo.url], { env: elsewhere })).code).toBe(0);
      await mkdir(dirname(desktopFile), { recursive: true });
      await writeFile(desktopFile, '{\n  "mcpServers": {}\n}\n');
      await chmod(desktopFile, 0o600);
      const installed = await sandbox.run(['install', '--host', 'claude-desktop', '--json'], {
        env: elsewhere,
      });
      expect(installed.code, installed.stderr).toBe(0);
      const report = JSON.parse(installed.stdout) as { serves: string[]; backup: string };
      expect((await stat(desktopFile)).mode & 0o777).toBe(0o600);
      expect(await readFile(report.backup, 'utf8')).toBe('{\n  "mcpServers": {}\n}\n');
      const written = JSON.parse(await readFile(desktopFile, 'utf8')) as {
        mcpServers: { patchbay: { command: string; args: string[]; env: Record<string, string> } };
      };
      const entry = written.mcpServers.patchbay;
      // Started as Claude Desktop starts it: the entry's env over the SDK's default environment
      // (HOME, PATH, USER… of the account, not of this sandbox), in another directory.
      const names = await toolsVia(entry);
      expect(names).toContain('demo__echo');
      expect(names).toContain('shared__echo');
      expect(report.serves.sort()).toEqual(['demo', 'shared']);
      expect(entry.env).toMatchObject({
        PATCHBAY_CONFIG_DIR: elsewhere.PATCHBAY_CONFIG_DIR,
        PATCHBAY_PROJECT_DIR: sandbox.project,
      });
    } finally {
      await demo.close();
    }
  }, 60_000);

  it('refuses to point a host at a gateway that would serve nothing, saying why, unless --allow-empty', async () => {
    const cursorFile = join(sandbox.home, '.cursor', 'mcp.json');
    const none = await sandbox.run(['install', '--host', 'cursor']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('serves no servers');
    expect(none.stderr).toContain('--allow-empty');
    await expect(stat(cursorFile)).rejects.toThrow();
    // Every server it has is disabled: the reason names it.
    await sandbox.run(['add', 'demo', 'https://demo.example/mcp']);
    expect((await sandbox.run(['disable', 'demo'])).code).toBe(0);
    const disabled = await sandbox.run(['install', '--host', 'cursor', '--dry-run']);
    expect(disabled.code).toBe(2);
    expect(disabled.stderr).toMatch(/demo: disabled/);
    // A misspelt --servers name is not served silently either.
    await sandbox.run(['enable', 'demo']);
    const typo = await sandbox.run(['install', '--host', 'cursor', '--servers', 'demo,dmeo']);
    expect(typo.code, typo.stderr).toBe(0);
    expect(typo.stderr).toMatch(/Not served: dmeo: no server of that name/);
    const empty = await sandbox.run(['install', '--host', 'vscode', '--servers', 'later', '--allow-empty']);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stderr).toContain('serves no servers yet');
  }, 60_000);
});
