/** Text from outside (a server, a process, a file) made safe to show. */

/** Origin and path only: a query string or user-info part may carry a key. */
export function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
