/**
 * Commands that need no network must not load the MCP SDK: it is most of the start-up time. In the
 * bundled binary a module counts as loaded when its code ran (helpers/bundle.ts).
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { bundledModules } from '../helpers/bundle.js';
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

async function loadedModules(args: string[]): Promise<string[]> {
  const traceFile = join(sandbox.root, `trace-${args[0]}.txt`);
  const coverageDir = join(sandbox.root, `coverage-${args[0]}`);
  const result = await runBinary(
    args,
    {
      ...sandbox.env,
      TRACE_IMPORTS_FILE: traceFile,
      NODE_OPTIONS: `--import ${TRACER}`,
      NODE_V8_COVERAGE: coverageDir,
    },
    undefined,
    sandbox.project,
  );
  expect(result.code, result.stderr).toBe(0);
  const urls = (await readFile(traceFile, 'utf8')).split('\n').filter(Boolean);
  expect(urls.some((url) => url.includes('/dist/cli/'))).toBe(true);
  return bundledModules(urls, coverageDir);
}

for (const args of [
  ['list', '--no-check'],
  ['get', 'a', '--no-check'],
  ['add', 'b', 'https://b.example.com/mcp'],
  ['remove', 'a'],
  ['set', 'a', 'timeout', '30s'],
  ['completion', 'bash'],
]) {
  it(`patchbay ${args.join(' ')} does not load the SDK`, async () => {
    const modules = await loadedModules(args);
    // The bundle holds the command's own module: the map is read right.
    expect(modules.some((module) => module.endsWith(`src/cli/commands/${args[0]}.ts`))).toBe(true);
    expect(
      modules.filter((module) =>
        /@modelcontextprotocol|\/undici\/|\/zod\/|\/connect\/(network|session)\.(js|ts)/.test(module),
      ),
    ).toEqual([]);
    // Nor OpenTelemetry, which only a gateway with trace export configured runs.
    expect(modules.filter((module) => module.includes('@opentelemetry'))).toEqual([]);
  });
}

it('patchbay __complete does not load the SDK', async () => {
  const modules = await loadedModules(['__complete', 'call', 'a', '']);
  expect(modules.some((module) => module.endsWith('src/cli/commands/complete.ts'))).toBe(true);
  expect(
    modules.filter((module) =>
      /@modelcontextprotocol|\/undici\/|\/zod\/|\/connect\/(network|session)\.(js|ts)/.test(module),
    ),
  ).toEqual([]);
});

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
