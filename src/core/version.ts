/**
 * patchbay's version, from the package.json beside dist/ (or src/, run from source). The CLI
 * bundle rewrites `import.meta.url` to this module's place in dist/, so both read the same file.
 */

import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    try {
      const url = new URL('../../package.json', import.meta.url);
      cached = (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
