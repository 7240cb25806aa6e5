/** `patchbay install` / `uninstall`: the gateway as one entry in a host's real config file. */

import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startDemoServer } from '../../src/demo/demo-server.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
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
    const demo = await startDemoServer();
    try {
      await sandbox.run(['add', 'demo', demo.url]);
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
    const broken = await sandbox.run(['install', '--host', 'claude-desktop']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('left unchanged');
    expect(await readFile(desktopFile, 'utf8')).toBe('{ "mcpServers": { ');
    expect((await readdir(dirname(desktopFile))).filter((name) => name.includes('backup'))).toEqual([]);
    const theirs = JSON.stringify({ mcpServers: { patchbay: { command: 'something-else' } } });
    await writeFile(desktopFile, theirs);
    const clash = await sandbox.run(['install', '--host', 'claude-desktop']);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain('not patchbay');
    expect(await readFile(desktopFile, 'utf8')).toBe(theirs);
    const notOurs = await sandbox.run(['uninstall', '--host', 'claude-desktop']);
    expect(notOurs.code).toBe(2);
    const forced = await sandbox.run(['install', '--host', 'claude-desktop', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/^Replaced/);
  }, 30_000);
});
