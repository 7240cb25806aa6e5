/** How messages name a state store, without the password a Redis URL may carry (open.ts, redis.ts). */

import { describeRedis, parseRedisUrl } from './redis-url.js';

/**
 * The store as messages name it: `redis at redis://host:6379/0` (no password),
 * `redis cluster at redis+cluster://host:7000,host:7001`, or `files in DIR`.
 */
export function describeState(url: string | undefined, directory: string): string {
  if (url === undefined) return `files in ${directory}`;
  return describeRedis(parseRedisUrl(url));
}
