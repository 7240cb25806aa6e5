/**
 * The `patchbay` binary is a bundle (scripts/bundle-cli.mjs): dist/cli/main.js and its chunks, each
 * holding many source modules, listed in dist/cli/chunks/inputs.json. Tests that trace which
 * modules a command loaded read a loaded file of the bundle as every module bundled into it.
 */

import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

const DIST_CLI = new URL('../../dist/cli/', import.meta.url);

let inputs: Record<string, string[]> | undefined;

/** The source modules (`src/…ts`, `…/node_modules/…`) behind loaded URLs; other URLs as they are. */
export function bundledModules(urls: string[]): string[] {
  inputs ??= JSON.parse(readFileSync(new URL('chunks/inputs.json', DIST_CLI), 'utf8')) as Record<
    string,
    string[]
  >;
  return urls.flatMap((url) => {
    if (!url.startsWith(DIST_CLI.href)) return [url];
    const held = inputs![url.slice(DIST_CLI.href.length)];
    expect(held, `${url} is not a file of the bundle`).toBeDefined();
    return held!;
  });
}
