/** Output hygiene for what servers, processes and the network hand back. */

import { displayUrl as originAndPath } from '../config/text.js';
import { terminalText } from '../core/terminal-text.js';

/** One line for a finding: the one terminal sanitizer's rule, trimmed, then bounded. */
export function clean(text: string, max = 200): string {
  return terminalText(terminalText(text).trim(), { max });
}

/** Origin and path only: a query string or user-info part may carry a key. */
export function displayUrl(url: URL | string): string {
  try {
    return originAndPath(typeof url === 'string' ? new URL(url) : url);
  } catch {
    return clean(String(url), 120);
  }
}

/** `host:port` with the scheme's default port filled in and IPv6 literals bracketed. */
export function hostPort(url: URL): string {
  return `${url.hostname}:${portOf(url)}`;
}

export function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** The hostname without IPv6 brackets, as node:dns and node:net want it. */
export function bareHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/** Quote a shell word only when it needs it, so a printed fix can be pasted as is. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The node error code on an error or anywhere down its cause chain. */
export function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function errorMessage(error: unknown): string {
  return clean(error instanceof Error ? error.message : String(error));
}
