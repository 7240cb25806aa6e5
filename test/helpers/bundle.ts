/**
 * The `patchbay` binary is a bundle (scripts/bundle-cli.mjs): dist/cli/main.js, a loader, runs
 * dist/cli/patchbay.cjs, one file holding every source module, each run only when first imported.
 * Which of them a command ran is read from V8's coverage of the bundle (run the binary with
 * NODE_V8_COVERAGE=dir): a source module ran when a function of its code did, found through the
 * bundle's source map.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join } from 'node:path';
import { expect } from 'vitest';

const DIST_CLI = new URL('../../dist/cli/', import.meta.url);
const BUNDLE = new URL('patchbay.cjs', DIST_CLI);

interface Coverage {
  result: {
    url: string;
    functions: { ranges: { startOffset: number; endOffset: number; count: number }[] }[];
  }[];
}

/**
 * The modules behind loaded URLs: a URL outside dist/cli/ as it is; the binary's own files
 * (traced as loaded by node) as every source module (`…/src/…ts`, `…/node_modules/…`) whose code
 * ran in the bundle during that run, per the coverage in `coverageDir`.
 */
export function bundledModules(urls: string[], coverageDir: string): string[] {
  const outside = urls.filter((url) => !url.startsWith(DIST_CLI.href));
  const own = urls.filter((url) => url.startsWith(DIST_CLI.href));
  for (const url of own)
    expect(url, `${url} is not a file of the binary`).toBe(new URL('main.js', DIST_CLI).href);
  return own.length === 0 ? outside : [...outside, ...modulesRun(coverageDir)];
}

function modulesRun(coverageDir: string): string[] {
  const text = readFileSync(BUNDLE, 'utf8');
  const map = new SourceMap(JSON.parse(readFileSync(new URL('patchbay.cjs.map', DIST_CLI), 'utf8')));
  const lineStarts = [0];
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lineStarts.push(at + 1);
  const scripts = readdirSync(coverageDir)
    .filter((name) => name.endsWith('.json'))
    .flatMap((name) => (JSON.parse(readFileSync(join(coverageDir, name), 'utf8')) as Coverage).result)
    .filter(({ url }) => url === BUNDLE.href);
  expect(scripts.length, 'the coverage holds the bundle').toBeGreaterThan(0);
  const modules = new Set<string>();
  for (const { functions } of scripts) {
    // The loader compiles the bundle inside a function wrapper (`0,function (…) {` + text + `\n}`,
    // scripts/cli-loader.js); Node's require (Node >= 22) keeps the offsets of the text itself.
    const end = Math.max(...functions.map(({ ranges }) => ranges[0]!.endOffset));
    const wrapper = end === text.length ? 0 : end - text.length - '\n}'.length;
    for (const { ranges } of functions) {
      const { startOffset, count } = ranges[0]!;
      const at = startOffset - wrapper;
      if (count === 0 || at <= 0) continue;
      let line = lineStarts.length - 1;
      while (lineStarts[line]! > at) line--;
      const entry = map.findEntry(line, at - lineStarts[line]!) as { originalSource?: string };
      if (entry.originalSource) modules.add(entry.originalSource);
    }
  }
  return [...modules];
}
