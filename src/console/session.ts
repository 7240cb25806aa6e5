/**
 * Who may use the console: whoever opened the URL `patchbay ui` printed, in that browser tab.
 *
 * The URL carries a random per-launch token in its fragment (`/#token=…`), which a browser never
 * sends to any server. The page's script takes it out of the address, and exchanges it once
 * (`POST /api/session`, same-origin, JSON) for a random session secret in the JSON answer; the
 * token is spent by that. The page keeps the secret in sessionStorage, which belongs to this
 * origin (scheme, host and port) and this tab, and sends it as `Authorization: Bearer …` on every
 * API call.
 *
 * No cookie is involved on purpose: a browser sends the cookies of 127.0.0.1 to every port of
 * 127.0.0.1, and any page can send the browser to another port, so a cookie session would be
 * handed to whatever listens there. A header the page's script adds goes only where that script
 * sends it. Secrets are compared through fixed-size digests, so timing tells nothing.
 *
 * A spent link is not a dead end: `patchbay ui` run again while this console is up asks it for a
 * new launch token (registration.ts), which works once, like the first.
 */

import { createHash, randomBytes } from 'node:crypto';

/** 32 random bytes, base64url: the launch token and every session secret. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The secret of an `Authorization: Bearer <secret>` header (RFC 6750 §2.1), or undefined. */
export function bearerSecret(header: string | null): string | undefined {
  return header === null ? undefined : /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim())?.[1];
}

/** Unspent launch tokens kept at most; asking for more forgets the oldest. */
const MAX_UNSPENT_TOKENS = 8;

export class ConsoleSessions {
  /** The first launch token, for the URL printed at start. */
  readonly token: string;
  /** Digests of unspent launch tokens, oldest first (a lookup by digest leaks nothing). */
  private readonly launchDigests = new Set<string>();
  /** Digests of live session secrets. */
  private readonly sessions = new Set<string>();

  constructor() {
    this.token = this.issueLaunchToken();
  }

  /** A new one-time launch token (for `patchbay ui` run again while this console is up). */
  issueLaunchToken(): string {
    const token = randomSecret();
    this.launchDigests.add(digest(token).toString('hex'));
    if (this.launchDigests.size > MAX_UNSPENT_TOKENS)
      this.launchDigests.delete(this.launchDigests.values().next().value!);
    return token;
  }

  /** A new session secret if `candidate` is an unspent launch token; the token is spent by it. */
  exchange(candidate: string): string | undefined {
    if (!this.launchDigests.delete(digest(candidate).toString('hex'))) return undefined;
    const secret = randomSecret();
    this.sessions.add(digest(secret).toString('hex'));
    return secret;
  }

  /** Whether the Authorization header holds a session secret of this console. */
  isValid(authorization: string | null): boolean {
    const secret = bearerSecret(authorization);
    return secret !== undefined && this.sessions.has(digest(secret).toString('hex'));
  }
}
