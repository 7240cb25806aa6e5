/** Text from outside (a server, a process, a file) made safe to show. */

/** Printable characters only, bounded: the text came from somewhere patchbay does not control. */
export function printable(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max - 1)}\u2026` : clean;
}

/** Origin and path only: a query string or user-info part may carry a key. */
export function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
