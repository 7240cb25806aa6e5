/**
 * Who may use the console: whoever opened the URL `patchbay ui` printed. That URL carries a random
 * per-launch token; the first `GET /?token=…` with it gets a random session ID in an HttpOnly,
 * SameSite=Strict cookie and is sent on to `/`, and the token is spent. Every other request needs
 * the cookie. Secrets are compared through fixed-size digests, so timing tells nothing.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The cookie's name carries the port: cookies are kept per host, not per port, so two consoles
 * on 127.0.0.1 would otherwise overwrite each other's session.
 */
export function sessionCookieName(port: number): string {
  return `patchbay_console_${port}`;
}

/** 32 random bytes, base64url: the launch token and every session ID. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class ConsoleSessions {
  private readonly cookie: string;

  constructor(port: number) {
    this.cookie = sessionCookieName(port);
  }

  /** The launch token, for the printed URL. */
  readonly token = randomSecret();
  private launchDigest: Buffer | undefined = digest(this.token);
  /** Digests of live session IDs (a lookup by digest leaks nothing about an ID). */
  private readonly sessions = new Set<string>();

  /** A new session ID if `candidate` is the unspent launch token; the token is spent by it. */
  exchange(candidate: string): string | undefined {
    const expected = this.launchDigest;
    if (!expected || !timingSafeEqual(digest(candidate), expected)) return undefined;
    this.launchDigest = undefined;
    const id = randomSecret();
    this.sessions.add(digest(id).toString('hex'));
    return id;
  }

  /** Whether the Cookie header holds a session ID of this console. */
  isValid(cookieHeader: string | null): boolean {
    for (const value of cookieValues(cookieHeader, this.cookie))
      if (this.sessions.has(digest(value).toString('hex'))) return true;
    return false;
  }

  setCookie(id: string): string {
    return `${this.cookie}=${id}; HttpOnly; SameSite=Strict; Path=/`;
  }
}

/** Every value of the cookie `name` in a Cookie header. */
function cookieValues(header: string | null, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const equals = part.indexOf('=');
    if (equals === -1) continue;
    if (part.slice(0, equals).trim() === name) values.push(part.slice(equals + 1).trim());
  }
  return values;
}
