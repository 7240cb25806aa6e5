/** Protected resources compared as URLs, the one rule for stored logins, refresh and logout. */

/** A URL in its parsed form (`HTTP://Host:80/mcp` is `http://host/mcp`); text that is no URL as it is. */
export function normalUrl(value: string): string {
  try {
    return new URL(value).href;
  } catch {
    return value;
  }
}

/** The same protected resource: equal URLs once parsed. */
export function sameResource(a: string, b: string): boolean {
  return a === b || normalUrl(a) === normalUrl(b);
}
