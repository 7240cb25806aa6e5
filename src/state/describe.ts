/** How messages name a state store, without the password a Redis URL may carry (open.ts, redis.ts). */

/** The store as messages name it: `redis at redis://host:6379/0` (no password), or `files in DIR`. */
export function describeState(url: string | undefined, directory: string): string {
  if (url === undefined) return `files in ${directory}`;
  const parsed = new URL(url);
  return `redis at ${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}
