/** Broken files are reported precisely and never rewritten; concurrent writers lose nothing. */

import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSandbox, runBinary, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await sandbox.cleanup();
});

const MALFORMED: Array<[string, string, string]> = [
  [
    'a missing comma',
    '{\n  "mcpServers": {\n    "a": {"url": "https://a.example.com"}\n    "b": {}\n  }\n}\n',
    ":4:5: expected ',' or '}'",
  ],
  [
    'a trailing comma',
    '{\n  "mcpServers": {\n    "a": {"url": "https://a.example.com"},\n  }\n}\n',
    ':4:3: expected a property name',
  ],
  ['a comment', '// team servers\n{"mcpServers": {}}\n', ':1:1: expected a value'],
  [
    'an unclosed string',
    '{"mcpServers": {"a": {"url": "https://a.example.com}}}\n',
    ':1:30: a string is not closed on its line',
  ],
  ['an empty file', '', ':1:1: the file is empty'],
  ['truncated', '{"mcpServers": {"a": {"url": ', ':1:30: expected a value but found the end of the file'],
  ['a top-level array', '[1, 2]\n', ':1:1: the file: expected a JSON object'],
  ['mcpServers as an array', '{\n  "mcpServers": []\n}\n', ':2:17: mcpServers: expected an object'],
  [
    'an entry with a number URL',
    '{\n  "mcpServers": {\n    "a": {"type": "http", "url": 42}\n  }\n}\n',
    ':3:34: mcpServers.a.url: expected a URL string',
  ],
  [
    'an unknown type',
    '{\n  "mcpServers": {\n    "a": {"type": "websocket", "url": "wss://x"}\n  }\n}\n',
    ':3:19: mcpServers.a.type: expected "http", "sse" or "stdio"',
  ],
  [
    'args not an array',
    '{"mcpServers": {"a": {"command": "x", "args": "--flag"}}}',
    ':1:47: mcpServers.a.args: expected an array of strings',
  ],
  [
    'an entry with neither url nor command',
    '{"mcpServers": {"a": {"headers": {}}}}',
    ':1:22: mcpServers.a: expected "url"',
  ],
];

describe('a malformed .mcp.json', () => {
  for (const [label, text, expected] of MALFORMED) {
    it(`with ${label}: file:line:col, other scopes keep working, never rewritten`, async () => {
      await writeFile(sandbox.projectConfig, text);
      const before = await stat(sandbox.projectConfig);
      await sandbox.run(['add', '-s', 'user', 'fine', 'https://fine.example.com/mcp']);

      const list = await sandbox.run(['list', '--no-check', '--json']);
      expect(list.stderr + list.stdout).toContain(`${sandbox.projectConfig}${expected}`);
      const views = JSON.parse(list.stdout) as Array<{ name: string; status: string }>;
      expect(views.find((view) => view.name === 'fine')).toMatchObject({ status: 'unchecked' });
      expect([2, 8]).toContain(list.code);

      const add = await sandbox.run(['add', '-s', 'project', 'new', 'https://new.example.com/mcp']);
      expect(add.code).toBe(2);
      expect(add.stderr).toContain('left unchanged');
      expect(await readFile(sandbox.projectConfig, 'utf8')).toBe(text);
      expect((await stat(sandbox.projectConfig)).mtimeMs).toBe(before.mtimeMs);
      expect((await sandbox.run(['remove', 'a', '-s', 'project'])).code).not.toBe(0);
      expect(await readFile(sandbox.projectConfig, 'utf8')).toBe(text);
    });
  }
});

describe('a malformed user config', () => {
  it('is reported, never rewritten, and the project scope keeps working', async () => {
    const text = '{\n  "mcpServers": {\n    "a": { "url": "https://a.example.com" },,\n  }\n}\n';
    await mkdir(dirname(sandbox.userConfig), { recursive: true });
    await writeFile(sandbox.userConfig, text);
    await writeFile(
      sandbox.projectConfig,
      JSON.stringify({ mcpServers: { team: { type: 'http', url: 'https://team.example.com/mcp' } } }),
    );
    const list = await sandbox.run(['list', '--no-check', '--json']);
    expect(list.code).toBe(2);
    expect(list.stderr).toContain(`${sandbox.userConfig}:3:45:`);
    expect(list.stderr).toContain('local and user scopes are ignored');
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ name: 'team', status: 'pending-approval' }),
    ]);
    for (const args of [
      ['add', 'x', 'https://x.example.com'],
      ['add', '-s', 'user', 'x', 'https://x.example.com'],
      ['approve', 'team'],
    ]) {
      const result = await sandbox.run(args);
      expect(result.code, args.join(' ')).toBe(2);
    }
    expect(await readFile(sandbox.userConfig, 'utf8')).toBe(text);
  });
});

describe('writes', () => {
  it('leave the old file intact when the writer is killed mid-write, and the next writer recovers', async () => {
    await sandbox.run(['add', '-s', 'project', 'a', 'https://a.example.com/mcp']);
    const before = await readFile(sandbox.projectConfig, 'utf8');
    // A file-size limit of 0 makes the first byte written fail (SIGXFSZ): a crash in the middle of a write.
    const crashed = await runBinary(
      ['add', '-s', 'project', 'b', 'https://b.example.com/mcp'],
      sandbox.env,
      undefined,
      sandbox.project,
      ['sh', '-c', 'ulimit -f 0; exec "$0" "$@"'],
    );
    expect(crashed.code).not.toBe(0);
    expect(await readFile(sandbox.projectConfig, 'utf8')).toBe(before);
    const next = await sandbox.run(['add', '-s', 'project', 'c', 'https://c.example.com/mcp']);
    expect(next.code, next.stderr).toBe(0);
    const servers = (JSON.parse(await readFile(sandbox.projectConfig, 'utf8')) as { mcpServers: object })
      .mcpServers;
    expect(Object.keys(servers)).toEqual(['a', 'c']);
    // No temporary files are left behind.
    expect((await readdir(sandbox.project)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('a lock left by a crashed process is cleared', async () => {
    await sandbox.run(['add', '-s', 'user', 'a', 'https://a.example.com/mcp']);
    await writeFile(`${sandbox.userConfig}.lock`, '999999999\n');
    const result = await sandbox.run(['add', '-s', 'user', 'b', 'https://b.example.com/mcp']);
    expect(result.code, result.stderr).toBe(0);
  });
});

describe('20 concurrent `patchbay add` processes', () => {
  for (const scope of ['local', 'project', 'user'] as const) {
    it(`leave 20 entries in the ${scope} scope`, async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          sandbox.run(['add', '-s', scope, `server-${i}`, `https://s${i}.example.com/mcp`]),
        ),
      );
      for (const result of results) expect(result.code, result.stderr).toBe(0);
      const list = JSON.parse((await sandbox.run(['list', '--no-check', '--json'])).stdout) as Array<{
        name: string;
        scope: string;
      }>;
      expect(
        list
          .filter((view) => view.scope === scope)
          .map((view) => view.name)
          .sort(),
      ).toEqual(Array.from({ length: 20 }, (_, i) => `server-${i}`).sort());
      if (scope === 'project') {
        // Each project add also records its approval in the user file: none of those is lost either.
        const config = JSON.parse(await readFile(sandbox.userConfig, 'utf8')) as {
          projects: Record<string, { mcpjsonChoices: object }>;
        };
        expect(Object.keys(config.projects[sandbox.project]!.mcpjsonChoices)).toHaveLength(20);
      }
    }, 60_000);
  }
});
