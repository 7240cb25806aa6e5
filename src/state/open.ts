/**
 * The one place a gateway's state store is chosen: `--state` (or a deployment file's `"state"`)
 * names Redis; unset or `files`, the state directory of this machine. `patchbay serve`, `keys`
 * and `vault` all open it here, so they see one store. The Redis URL forms (redis-url.ts):
 *
 * - `redis://host:6379[/db]`, `rediss://host:6380` (TLS): one server;
 * - `redis+sentinel://[:password@]host:26379,host:26380/<master-name>`: the master Sentinel names,
 *   followed across failovers (the password is the data nodes'; `rediss+sentinel://` for TLS);
 * - `redis+cluster://[:password@]host:7000,host:7001`: a Redis Cluster (`rediss+cluster://`).
 *
 * URLs rather than deployment-file objects: one `--state` flag, and the file's `"state"`, take
 * every form the same way, with a password only ever a ${VAR} there.
 *
 * A Redis URL may carry a password: it is never printed (`describeState`, the store's
 * `description`, every message here show the URL without it).
 */

import { PatchbayError } from '../errors.js';
import { isRedisUrl, parseRedisUrl } from './redis-url.js';
import type { StateStore } from './store.js';

export { describeState } from './describe.js';

export const STATE_HINT =
  'Give --state redis://host:6379 (rediss:// for TLS; redis+sentinel://host:26379/<master-name>, redis+cluster://host:7000,host:7001), or leave it out for files on this machine.';

/** A `--state` value checked (a usage error before anything starts); undefined: files. */
export function parseStateOption(text: string | undefined, flag = '--state'): string | undefined {
  if (text === undefined || text.trim() === '' || text.trim() === 'files') return undefined;
  if (!isRedisUrl(text)) {
    let protocol: string | undefined;
    try {
      protocol = new URL(text.trim()).protocol;
    } catch {
      protocol = undefined;
    }
    // The text itself is not repeated: it may hold a password.
    throw new PatchbayError(
      'usage',
      protocol ? `${flag}: ${protocol} is not a state store (redis: or rediss:).` : `${flag} is not a URL.`,
      { hint: STATE_HINT },
    );
  }
  try {
    parseRedisUrl(text);
  } catch (error) {
    throw new PatchbayError('usage', `${flag}: ${(error as Error).message}`, { hint: STATE_HINT });
  }
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
