/**
 * `patchbay export` on the built binary, into real host files in a sandbox: each server goes to
 * the host's file of its scope, and the files keep their comments, formatting and mode.
 */

import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { parseJsonSource } from '../../src/core/json-source.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await sandbox.cleanup();
});

// A VS Code user file as people leave it: comments, tabs, a trailing comma, an input.
const VSCODE_USER = `// Servers for every workspace
{
\t"servers": {
\t\t// the search we use every day
\t\t"search": {"type": "http", "url": "https://search.example/mcp"},   // keep me here
\t},

\t/* VS Code asks for this one */
\t"inputs": [
\t\t{ "id": "token", "type": "promptString", "password": true },
\t],
}
`;

// A Cursor project file with comments and four-space, CRLF formatting.
const CURSOR_PROJECT =
  '{\r\n    // the team\'s own tools\r\n    "mcpServers": {\r\n        "repo-tools": { "command": "node", "args": ["tools/mcp.js"] } // do not touch\r\n    }\r\n}\r\n';

async function backups(file: string): Promise<string[]> {
  return (await readdir(dirname(file))).filter((name) =>
    name.startsWith(`${basename(file)}.patchbay-backup-`),
  );
}

function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('warning:'));
}

function jsonc(text: string): Record<string, Record<string, unknown>> {
  return parseJsonSource(text, { jsonc: true, fileLabel: 'test' }).value as Record<
    string,
    Record<string, unknown>
  >;
}

async function seed(): Promise<void> {
  const add = async (args: string[]) => {
    const done = await sandbox.run(['add', ...args]);
    expect(done.code, done.stderr).toBe(0);
  };
  await add(['-s', 'user', 'docs', 'https://docs.example/mcp']);
  // A literal token: a credential in the clear, which decides the mode warning.
  await add(['-s', 'user', 'tracker', 'https://tracker.example/mcp', '-H', 'Authorization: Bearer tk-123']);
  await add(['shop-db', '--', 'npx', '-y', 'shop-db-mcp']); // local: this project only
  await add(['-s', 'user', 'old', 'https://old.example/mcp']);
  const disabled = await sandbox.run(['disable', 'old', '-s', 'user']);
  expect(disabled.code, disabled.stderr).toBe(0);
}

describe('patchbay export', () => {
  it('VS Code: local to the workspace file, user to the user file; comments, format and mode kept; backups; the dry run warns the same', async () => {
    await seed();
    const userFile = join(sandbox.home, '.config', 'Code', 'User', 'mcp.json');
    const workspaceFile = join(sandbox.project, '.vscode', 'mcp.json');
    await mkdir(dirname(userFile), { recursive: true });
    await writeFile(userFile, VSCODE_USER);
    // Readable by others: the token going in is worth a warning, and the mode stays the user's.
    await chmod(userFile, 0o644);

    const dry = await sandbox.run(['export', '--to', 'vscode', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(await readFile(userFile, 'utf8')).toBe(VSCODE_USER);
    await expect(stat(workspaceFile)).rejects.toThrow();
    expect(await backups(userFile)).toEqual([]);
    expect(dry.stdout).toMatch(/old: disabled in patchbay/);
    expect(dry.stderr).toContain('patchbay-backup-');

    const done = await sandbox.run(['export', '--to', 'vscode']);
    expect(done.code, done.stderr).toBe(0);
    expect(warnings(done.stderr)).toEqual(warnings(dry.stderr));
    expect(warnings(done.stderr)).toEqual([expect.stringMatching(/mode 0644.*tracker.*chmod 600/)]);
    expect(done.stdout).toMatch(/old: disabled in patchbay.*patchbay enable old/);

    const text = await readFile(userFile, 'utf8');
    // Everything that was there is there, in place: the new entries follow the last one.
    const kept = VSCODE_USER.split('\n').slice(0, 4).join('\n');
    expect(
      text.startsWith(
        `${kept}\n\t\t"search": {"type": "http", "url": "https://search.example/mcp"},   // keep me here\n`,
      ),
    ).toBe(true);
    expect(
      text.endsWith(
        `\t},\n\n\t/* VS Code asks for this one */\n\t"inputs": [\n\t\t{ "id": "token", "type": "promptString", "password": true },\n\t],\n}\n`,
      ),
    ).toBe(true);
    expect(text).toContain('\t\t"docs": {\n\t\t\t"type": "http",');
    expect(Object.keys(jsonc(text).servers!)).toEqual(['search', 'docs', 'tracker']);
    expect((await stat(userFile)).mode & 0o777).toBe(0o644);
    const [backup] = await backups(userFile);
    expect(await readFile(join(dirname(userFile), backup!), 'utf8')).toBe(VSCODE_USER);

    // The local server went to the workspace's file, with a note that it is the project's.
    expect(Object.keys(jsonc(await readFile(workspaceFile, 'utf8')).servers!)).toEqual(['shop-db']);
    expect(done.stdout).toMatch(
      /shop-db[^\n]*\.vscode\/mcp\.json\n\s+note: a local server goes to this project's \.vscode\/mcp\.json/,
    );
    expect(text).not.toContain('old.example');
  }, 60_000);

  it('Cursor: a 0600 project file with comments and CRLF keeps them; user servers go to ~/.cursor/mcp.json', async () => {
    await seed();
    const projectFile = join(sandbox.project, '.cursor', 'mcp.json');
    await mkdir(dirname(projectFile), { recursive: true });
    await writeFile(projectFile, CURSOR_PROJECT);
    await chmod(projectFile, 0o600);
    const done = await sandbox.run(['export', '--to', 'cursor', '--json']);
    expect(done.code, done.stderr).toBe(0);
    const report = JSON.parse(done.stdout) as {
      taken: Array<{ name: string; to: string }>;
      skipped: Array<{ name: string; reason: string }>;
      warnings: string[];
      backups: Array<{ path: string; backup: string }>;
    };
    const to = Object.fromEntries(report.taken.map((item) => [item.name, item.to]));
    const userFile = join(sandbox.home, '.cursor', 'mcp.json');
    expect(to).toEqual({ 'shop-db': projectFile, docs: userFile, tracker: userFile });
    expect(report.skipped).toEqual([
      expect.objectContaining({ name: 'old', reason: expect.stringContaining('disabled') }),
    ]);
    // Owner-only files raise no mode warning.
    expect(report.warnings).toEqual([]);
    expect(report.backups).toEqual([
      { path: projectFile, backup: expect.stringContaining('.patchbay-backup-') },
    ]);

    const text = await readFile(projectFile, 'utf8');
    expect(text).toBe(
      '{\r\n    // the team\'s own tools\r\n    "mcpServers": {\r\n        "repo-tools": { "command": "node", "args": ["tools/mcp.js"] }, // do not touch\r\n        "shop-db": {\r\n            "command": "npx",\r\n            "args": [\r\n                "-y",\r\n                "shop-db-mcp"\r\n            ]\r\n        }\r\n    }\r\n}\r\n',
    );
    expect((await stat(projectFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(report.backups[0]!.backup, 'utf8')).toBe(CURSOR_PROJECT);
    expect((await stat(report.backups[0]!.backup)).mode & 0o777).toBe(0o600);
    // Run again: nothing changes, so no rewrite and no second backup.
    const again = await sandbox.run(['export', '--to', 'cursor']);
    expect(again.code, again.stderr).toBe(0);
    expect(await readFile(projectFile, 'utf8')).toBe(text);
    expect(await backups(projectFile)).toHaveLength(1);
  }, 60_000);

  it('Claude Code: local under the project in ~/.claude.json, user at the top; Claude Desktop: every scope to its one file, said', async () => {
    await seed();
    const claudeFile = join(sandbox.home, '.claude.json');
    const claudeText = '{\n    "numStartups": 12,\n    "projects": {},\n    "mcpServers": {}\n}\n';
    await writeFile(claudeFile, claudeText);
    await chmod(claudeFile, 0o600);
    const done = await sandbox.run(['export', '--to', 'claude-code']);
    expect(done.code, done.stderr).toBe(0);
    const written = JSON.parse(await readFile(claudeFile, 'utf8')) as {
      numStartups: number;
      projects: Record<string, { mcpServers: Record<string, unknown> }>;
      mcpServers: Record<string, unknown>;
    };
    expect(written.numStartups).toBe(12);
    expect(Object.keys(written.mcpServers)).toEqual(['docs', 'tracker']);
    expect(Object.keys(written.projects[sandbox.project]!.mcpServers)).toEqual(['shop-db']);
    expect(
      (await readFile(claudeFile, 'utf8')).startsWith(
        '{\n    "numStartups": 12,\n    "projects": {\n        ',
      ),
    ).toBe(true);
    expect((await stat(claudeFile)).mode & 0o777).toBe(0o600);
    expect(await backups(claudeFile)).toHaveLength(1);

    const desktop = await sandbox.run(['export', '--to', 'claude-desktop', '--json']);
    expect(desktop.code, desktop.stderr).toBe(0);
    const report = JSON.parse(desktop.stdout) as { taken: Array<{ name: string; notes: string[] }> };
    // Remote servers are refused by Claude Desktop's file; the local command goes, said to be global.
    expect(report.taken.map((item) => item.name)).toEqual(['shop-db']);
    expect(report.taken[0]!.notes).toEqual([expect.stringContaining('in every conversation')]);
  }, 60_000);
});
