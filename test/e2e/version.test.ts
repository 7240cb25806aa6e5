/**
 * `patchbay --version` is answered by the binary's loader without compiling the CLI
 * (scripts/cli-loader.js): the same answer as the CLI's own (commander's `.version()`, which a
 * second flag still reaches), from the same package.json.
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, beforeEach, expect, it } from 'vitest';

import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await sandbox.cleanup();
});

/** Where the loader keeps its code cache (or Node's compile cache) once it has compiled the CLI. */
const cacheOf = (sandbox: Sandbox) => join(sandbox.home, '.cache', 'patchbay');

it.each([['--version'], ['-V']])(
  'patchbay %s prints the package version, without compiling the CLI',
  async (flag) => {
    const result = await sandbox.run([flag]);
    expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(existsSync(cacheOf(sandbox))).toBe(false);
  },
);

it("is the CLI's own answer: commander's, reached with a second flag, is the same", async () => {
  const result = await sandbox.run(['--version', '-V']);
  expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  expect(existsSync(cacheOf(sandbox))).toBe(true);
});
