/**
 * The one place a gateway's state store is chosen: `--state` (or a deployment file's `"state"`)
 * names Redis (`redis://…`, `rediss://…` with TLS); unset or `files`, the state directory of
 * this machine. `patchbay serve`, `keys` and `vault` all open it here, so they see one store.
 *
 * A Redis URL may carry a password: it is never printed (`describeState`, the store's
 * `description`, every message here show the URL without it).
 */

import { PatchbayError } from '../errors.js';
import type { StateStore } from './store.js';

export { describeState } from './describe.js';

export const STATE_HINT =
  'Give --state redis://host:6379 (or rediss://host:6380 for TLS), or leave it out for files on this machine.';

/** A `--state` value checked (a usage error before anything starts); undefined: files. */
export function parseStateOption(text: string | undefined, flag = '--state'): string | undefined {
  if (text === undefined || text.trim() === '' || text.trim() === 'files') return undefined;
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    // The text itself is not repeated: it may hold a password.
    throw new PatchbayError('usage', `${flag} is not a URL.`, { hint: STATE_HINT });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new PatchbayError('usage', `${flag}: ${url.protocol} is not a state store (redis: or rediss:).`, {
      hint: STATE_HINT,
    });
  return text.trim();
}

/** Open the store `url` names (checked by parseStateOption); undefined: files in `directory`. */
export async function openState(
  url: string | undefined,
  directory: string,
  options: { maxLogLines?: number } = {},
): Promise<StateStore> {
  if (url === undefined) return new (await import('./files.js')).FileState(directory);
  const { RedisState } = await import('./redis.js');
  // The directory still matters: a shared log's spool is kept there while Redis is away.
  return RedisState.connect(url, { directory, ...options });
}
