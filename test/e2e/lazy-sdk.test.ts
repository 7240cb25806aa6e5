/**
 * Commands that need no network must not load the MCP SDK: it is most of the start-up time. The
 * binary is a bundle (scripts/bundle-cli.mjs): what a file of it holds is in
 * dist/cli/chunks/inputs.json, so a loaded chunk counts as every module bundled into it.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createSandbox, runBinary, type Sandbox } from '../helpers/sandbox.js';

const TRACER = fileURLToPath(new URL('../fixtures/trace-imports.mjs', import.meta.url));
let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
  await sandbox.run(['add', 'a', 'https://a.example.com/mcp']);
});
afterEach(async () => {
  await sandbox.cleanup();
});

const DIST_CLI = new URL('../../dist/cli/', import.meta.url);
/** Source modules by bundle file (`main.js`, `chunks/…`), relative to dist/cli/. */
const bundled = JSON.parse(await readFile(new URL('chunks/inputs.json', DIST_CLI), 'utf8')) as Record<
  string,
  string[]
>;

/** What a loaded URL stands for: the modules bundled into it, or the URL itself. */
function modulesOf(url: string): string[] {
  if (!url.startsWith(DIST_CLI.href)) return [url];
  const inputs = bundled[url.slice(DIST_CLI.href.length)];
  expect(inputs, `${url} is not a file of the bundle`).toBeDefined();
  return inputs!;
}

async function loadedModules(args: string[]): Promise<string[]> {
  const traceFile = join(sandbox.root, `trace-${args[0]}.txt`);
  const result = await runBinary(
    args,
    { ...sandbox.env, TRACE_IMPORTS_FILE: traceFile, NODE_OPTIONS: `--import ${TRACER}` },
    undefined,
    sandbox.project,
  );
  expect(result.code, result.stderr).toBe(0);
  return (await readFile(traceFile, 'utf8')).split('\n').filter(Boolean);
}

for (const args of [
  ['list', '--no-check'],
  ['get', 'a', '--no-check'],
  ['add', 'b', 'https://b.example.com/mcp'],
  ['remove', 'a'],
]) {
  it(`patchbay ${args.join(' ')} does not load the SDK`, async () => {
    const urls = await loadedModules(args);
    expect(urls.some((url) => url.includes('/dist/cli/'))).toBe(true);
    const modules = urls.flatMap(modulesOf);
    // The bundle holds the command's own module: the map is read right.
    expect(modules.some((module) => module.endsWith(`src/cli/commands/${args[0]}.ts`))).toBe(true);
    expect(
      modules.filter((module) =>
        /@modelcontextprotocol|\/undici\/|\/zod\/|\/connect\/(network|session)\.(js|ts)/.test(module),
      ),
    ).toEqual([]);
  });
}

it('importing the library loads neither the SDK nor undici', async () => {
  const { spawn } = await import('node:child_process');
  const traceFile = join(sandbox.root, 'trace-library.txt');
  const library = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', TRACER, '--input-type=module', '-e', `await import(${JSON.stringify(library)})`],
      { env: { ...process.env, TRACE_IMPORTS_FILE: traceFile }, stdio: 'ignore' },
    );
    child.once('exit', resolve);
  });
  expect(code).toBe(0);
  const modules = (await readFile(traceFile, 'utf8')).split('\n').filter(Boolean);
  expect(modules.some((url) => url.endsWith('/dist/index.js'))).toBe(true);
  expect(modules.filter((url) => /@modelcontextprotocol|\/undici\//.test(url))).toEqual([]);
});
