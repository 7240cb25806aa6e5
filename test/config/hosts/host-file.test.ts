/** Edits of a host's file change the entries they name and not one other character. */

import { chmod, lstat, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { editHostFile, editJsonText } from '../../../src/config/hosts/host-file.js';
import { makeSandbox, type Sandbox } from './helpers.js';

const VSCODE = `// My workspace's MCP servers
{
\t"servers": {
\t\t// the one we use every day
\t\t"github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"},   // keep me here
\t},

\t/* prompts */
\t"inputs": [
\t\t{ "id": "token", "type": "promptString", "password": true },
\t],
}
`;

const edit = (text: string, path: string[], value: unknown, jsonc = true) =>
  editJsonText(text, [{ path, value: value as never }], { jsonc, label: 'test.json' });

describe('editJsonText', () => {
  it('adds an entry on its own line, in the file’s indentation, and leaves every other line as it was', () => {
    const out = edit(VSCODE, ['servers', 'docs'], { type: 'http', url: 'https://docs.example/mcp' });
    expect(out).toBe(`// My workspace's MCP servers
{
\t"servers": {
\t\t// the one we use every day
\t\t"github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"},   // keep me here
\t\t"docs": {
\t\t\t"type": "http",
\t\t\t"url": "https://docs.example/mcp"
\t\t},
\t},

\t/* prompts */
\t"inputs": [
\t\t{ "id": "token", "type": "promptString", "password": true },
\t],
}
`);
  });

  it('puts the comma after the previous entry, not after its comment, when there is no trailing comma', () => {
    const text = '{\n    "mcpServers": {\n        "a": { "command": "x" } // first\n    }\n}\n';
    expect(edit(text, ['mcpServers', 'b'], { command: 'y' })).toBe(
      '{\n    "mcpServers": {\n        "a": { "command": "x" }, // first\n        "b": {\n            "command": "y"\n        }\n    }\n}\n',
    );
  });

  it('replaces a changed entry where it stands and keeps CRLF line endings', () => {
    const text =
      '{\r\n  "mcpServers": {\r\n    "a": {\r\n      "command": "old"\r\n    },\r\n    "z": {}\r\n  }\r\n}\r\n';
    expect(edit(text, ['mcpServers', 'a'], { command: 'new', args: ['1'] }, false)).toBe(
      '{\r\n  "mcpServers": {\r\n    "a": {\r\n      "command": "new",\r\n      "args": [\r\n        "1"\r\n      ]\r\n    },\r\n    "z": {}\r\n  }\r\n}\r\n',
    );
  });

  it('creates the missing objects on the way (Claude Code’s projects[<root>].mcpServers) as one new entry', () => {
    const text = '{\n  "numStartups": 3, // counted\n  "projects": {}\n}\n';
    const out = edit(text, ['projects', '/src/shop', 'mcpServers', 'a'], { type: 'http', url: 'https://a' });
    expect(out).toBe(
      '{\n  "numStartups": 3, // counted\n  "projects": {\n    "/src/shop": {\n      "mcpServers": {\n        "a": {\n          "type": "http",\n          "url": "https://a"\n        }\n      }\n    }\n  }\n}\n',
    );
    expect(edit('{}', ['servers', 'a'], { command: 'x' })).toBe(
      '{\n  "servers": {\n    "command": "x"\n  }\n}'.replace(
        '"servers": {\n    "command": "x"\n  }',
        '"servers": {\n    "a": {\n      "command": "x"\n    }\n  }',
      ),
    );
  });

  it('keeps a one-line file on one line, and removes an entry without touching its neighbours', () => {
    expect(edit('{"servers": {"a": {"command": "x"}}}', ['servers', 'b'], { command: 'y' })).toBe(
      '{"servers": {"a": {"command": "x"}, "b": {"command":"y"}}}',
    );
    const removed = edit(VSCODE, ['servers', 'github'], undefined);
    expect(removed).toContain('/* prompts */');
    expect(removed).toContain('// My workspace');
    expect(removed).toBe(VSCODE.replace(/\t\t"github".*\n/, ''));
    const last = '{\n  "a": 1,\n  "b": 2 // about b\n}\n';
    expect(edit(last, ['b'], undefined)).toBe('{\n  "a": 1\n}\n');
  });

  it('writes a new file in two-space JSON', () => {
    expect(edit('', ['mcpServers', 'a'], { command: 'x' }, false)).toBe(
      '{\n  "mcpServers": {\n    "a": {\n      "command": "x"\n    }\n  }\n}\n',
    );
  });
});

describe('editHostFile', () => {
  let sandbox: Sandbox;
  beforeEach(async () => {
    sandbox = await makeSandbox();
  });
  afterEach(async () => {
    await sandbox.cleanup();
  });

  it('keeps the mode, backs the file up with the same mode, and edits a symlink’s target', async () => {
    const real = await sandbox.put(join(sandbox.root, 'dotfiles', 'mcp.json'), VSCODE);
    await chmod(real, 0o640);
    const link = join(sandbox.home, '.cursor', 'mcp.json');
    await mkdir(dirname(link), { recursive: true });
    await symlink(real, link);
    const outcome = await editHostFile(link, { jsonc: true, dryRun: false }, () => ({
      edits: [{ path: ['servers', 'docs'], value: { url: 'https://docs.example/mcp' } }],
      result: null,
    }));
    expect(outcome.path).toBe(real);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect((await stat(real)).mode & 0o777).toBe(0o640);
    expect(await readFile(outcome.backup!, 'utf8')).toBe(VSCODE);
    expect((await stat(outcome.backup!)).mode & 0o777).toBe(0o640);
    expect(await readFile(real, 'utf8')).toContain('// keep me here');
  });

  it('writes nothing on a dry run, not even a directory or a lock', async () => {
    const path = join(sandbox.home, 'absent', 'mcp.json');
    const outcome = await editHostFile(path, { jsonc: true, dryRun: true }, () => ({
      edits: [{ path: ['servers', 'a'], value: { command: 'x' } }],
      result: 1,
    }));
    expect(outcome).toMatchObject({ result: 1, exists: false, written: false });
    expect(await readdir(sandbox.home)).toEqual([]);
    await writeFile(join(sandbox.home, 'x.json'), '{}');
  });
});
