/**
 * Shell completion: the scripts parse, and `patchbay __complete` answers commands, flags, server
 * names (every scope) and cached tool names from local files only: a server on a closed port
 * costs it nothing, and it loads no SDK.
 */

import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import { writeToolNames } from '../../src/core/tool-name-cache.js';
import { startEverything } from '../fixtures/everything.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await sandbox.cleanup();
});

/** A port nothing listens on: taken, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const values = (stdout: string) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t')[0]);

it('prints a bash script that parses, and zsh and fish scripts that call __complete', async () => {
  const bash = await sandbox.run(['completion', 'bash']);
  expect(bash.code).toBe(0);
  const check = spawnSync('bash', ['-n'], { input: bash.stdout });
  expect(check.status, String(check.stderr)).toBe(0);
  for (const shell of ['zsh', 'fish']) {
    const script = await sandbox.run(['completion', shell]);
    expect(script.code).toBe(0);
    expect(script.stdout).toContain('patchbay __complete');
  }
  expect((await sandbox.run(['completion', 'tcsh'])).code).toBe(2);
  const help = await sandbox.run(['completion', '--help']);
  expect(help.stdout).toContain('eval "$(patchbay completion bash)"');
});

it('answers commands, flags, server names and cached tool names, without the network', async () => {
  const port = await closedPort();
  expect((await sandbox.run(['add', 'alpha', `http://127.0.0.1:${port}/mcp`])).code).toBe(0);
  expect((await sandbox.run(['add', '-s', 'user', 'beta', `http://127.0.0.1:${port}/mcp`])).code).toBe(0);
  expect((await sandbox.run(['add', '-s', 'project', 'gamma', '--', 'node', 'x.js'])).code).toBe(0);
  const paths = resolvePaths(sandbox.env);
  await writeToolNames(paths, 'alpha', ['echo', 'add', 'get-env', 'bad name', '$(reboot)']);

  expect(values((await sandbox.run(['__complete', 'se'])).stdout)).toEqual(['search', 'set', 'serve']);
  expect(values((await sandbox.run(['__complete', 'get', '--j'])).stdout)).toEqual(['--json']);
  expect(values((await sandbox.run(['__complete', 'remove', '-s', ''])).stdout)).toEqual([
    'local',
    'project',
    'user',
  ]);
  expect(values((await sandbox.run(['__complete', 'get', ''])).stdout).sort()).toEqual([
    'alpha',
    'beta',
    'gamma',
  ]);
  // A new name is not completed from the configured ones.
  expect(values((await sandbox.run(['__complete', 'add', ''])).stdout)).toEqual([]);
  // Only names safe on a command line are offered.
  const started = performance.now();
  const tools = await sandbox.run(['__complete', 'call', 'alpha', '']);
  const elapsed = performance.now() - started;
  expect(values(tools.stdout)).toEqual(['add', 'echo', 'get-env']);
  expect(values((await sandbox.run(['__complete', 'call', 'alpha', 'e'])).stdout)).toEqual(['echo']);
  expect(values((await sandbox.run(['__complete', 'call', 'beta', ''])).stdout)).toEqual([]);
  expect(values((await sandbox.run(['__complete', 'set', 'alpha', 'oauth.c'])).stdout)).toEqual([
    'oauth.client-id',
    'oauth.client-secret',
    'oauth.callback-port',
  ]);
  expect(values((await sandbox.run(['__complete', 'completion', ''])).stdout)).toEqual([
    'bash',
    'zsh',
    'fish',
  ]);
  // Never waits on the closed port: as quick as starting the binary (generous for a loaded machine).
  expect(elapsed).toBeLessThan(5_000);
  expect(tools.stderr).toBe('');
});

it('remembers the tool names a command listed', async () => {
  const everything = await startEverything('streamableHttp');
  try {
    expect((await sandbox.run(['add', 'ev', everything.url])).code).toBe(0);
    const listed = await sandbox.run(['tools', 'ev', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const names = (JSON.parse(listed.stdout) as Array<{ name: string }>).map((tool) => tool.name);
    expect(names.length).toBeGreaterThan(0);
    const answer = await sandbox.run(['__complete', 'call', 'ev', '']);
    expect(values(answer.stdout)).toEqual([...names].sort());
  } finally {
    await everything.close();
  }
});

it('a list of several servers remembers each one; a read-only list (--no-refresh) writes no cache', async () => {
  const everything = await startEverything('streamableHttp');
  try {
    for (const name of ['one', 'two', 'three'])
      expect((await sandbox.run(['add', name, everything.url])).code).toBe(0);
    const readOnly = await sandbox.run(['list', '--no-refresh', '--timeout', '30s']);
    expect(readOnly.code, readOnly.stderr).toBe(0);
    expect(values((await sandbox.run(['__complete', 'call', 'one', ''])).stdout)).toEqual([]);
    const listed = await sandbox.run(['list', '--timeout', '30s']);
    expect(listed.code, listed.stderr).toBe(0);
    const names = await Promise.all(
      ['one', 'two', 'three'].map(
        async (name) => values((await sandbox.run(['__complete', 'call', name, ''])).stdout).length,
      ),
    );
    expect(
      names.every((count) => count > 0),
      String(names),
    ).toBe(true);
  } finally {
    await everything.close();
  }
});

it('answers nothing, quietly, when the config is broken', async () => {
  await mkdir(sandbox.configDir, { recursive: true });
  await writeFile(join(sandbox.configDir, 'config.json'), '{ broken');
  const result = await sandbox.run(['__complete', 'get', '']);
  expect(result.code).toBe(0);
  expect(result.stdout).toBe('');
  expect(result.stderr).toBe('');
});
