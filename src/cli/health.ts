/**
 * How long a command waits for a server: `--timeout`, else `PATCHBAY_TIMEOUT`, else 10 s. (The
 * checks of many servers at once are a job of their own: use/check-many.ts.)
 */

import { parseDuration } from '../core/duration.js';

/**
 * `--timeout` (`30s`, `2m`, `500ms`; a bare number is seconds), else `PATCHBAY_TIMEOUT` (the same
 * forms), else 10 s; in milliseconds.
 */
export function timeoutFrom(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  const text = flag ?? env.PATCHBAY_TIMEOUT;
  if (text === undefined || text === '') return 10_000;
  return parseDuration(text, flag === undefined ? 'PATCHBAY_TIMEOUT' : '--timeout');
}
