/**
 * A member's browser session on the gateway, for the gateway's own pages (a sign-in link to a
 * perMember upstream, `/me/links`) opened in an ordinary browser, which sends no bearer: the
 * browser is identified, never trusted. It goes through the same organisation IdP sign-in as a
 * host's (sign-in.ts: the same client, the same return URL, the same single-use state bound to
 * the browser by a cookie; the stored state says this one is for a browser session), and comes
 * back with a session cookie:
 *
 * - the cookie holds 256 random bits; the state store (`browser-sessions`, secret) keeps only its
 *   sha256, with the member the IdP named, a CSRF token for the pages' forms, for SESSION_TTL_MS;
 * - HttpOnly, SameSite=Lax (the host's link is a top-level navigation from another app: it must
 *   carry the cookie; a cross-site POST must not), Path=/, Secure and `__Host-` on https;
 * - a cookie the store does not know (forged, expired, signed out) names nobody;
 * - a browser that already signed in here for a host (Claude Code opens the gateway's OAuth
 *   sign-in in the same system browser) is identified by that: oidc-provider's own session, from
 *   its signed cookie, names the member, and no second trip to the IdP is made (sign-in.ts);
 * - the session ends when the member signs out (`/me/links`; oidc-provider's session in this
 *   browser ends with it), and when this browser signs in at the IdP as someone else (a new
 *   browser session, or a host's sign-in through the gateway's authorization server).
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import type { RecordStore, StateStore } from '../../state/store.js';
import type { Identity } from '../inbound.js';
import type { Member } from './members.js';

export const SESSION_TTL_MS = 8 * 3_600_000;

interface SessionRecord {
  member: Member;
  /** The token the pages' forms carry back (a POST without it is refused). */
  csrf: string;
  createdAt: number;
}

export interface BrowserSession {
  identity: Identity;
  csrf: string;
}

export class BrowserSessions {
  private readonly records: RecordStore<SessionRecord>;
  private readonly secure: boolean;
  readonly cookieName: string;

  constructor(
    state: StateStore,
    /** The gateway's base URL as browsers reach it: https makes the cookie Secure. */
    base: URL,
    private readonly ttlMs = SESSION_TTL_MS,
  ) {
    this.records = state.records<SessionRecord>('browser-sessions', { secret: true });
    this.secure = base.protocol === 'https:';
    // `__Host-`: the browser keeps it only if Secure, Path=/ and no Domain (no subdomain can set it).
    this.cookieName = this.secure ? '__Host-patchbay_session' : 'patchbay_session';
  }

  /** The session this request's cookie names, if the store knows it (and it has not expired). */
  async find(req: IncomingMessage): Promise<BrowserSession | undefined> {
    const value = cookieOf(req, this.cookieName);
    if (!value || !/^[\w-]{43}$/.test(value)) return undefined;
    const found = await this.records.get(sha256(value));
    if (!found) return undefined;
    const { subject, email, groups } = found.member;
    return {
      identity: { auth: 'oauth', subject, ...(email ? { email } : {}), ...(groups.length ? { groups } : {}) },
      csrf: found.csrf,
    };
  }

  /** A new session for `member` in this browser (its former one ends); the Set-Cookie to send. */
  async create(req: IncomingMessage, member: Member): Promise<string> {
    await this.end(req);
    const value = randomBytes(32).toString('base64url');
    await this.records.put(
      sha256(value),
      { member, csrf: randomBytes(24).toString('base64url'), createdAt: Date.now() },
      { ttlMs: this.ttlMs },
    );
    return this.cookie(value, Math.floor(this.ttlMs / 1000));
  }

  /** Ends this browser's session, if any; the Set-Cookie that clears it. */
  async end(req: IncomingMessage): Promise<string> {
    const value = cookieOf(req, this.cookieName);
    if (value && /^[\w-]{43}$/.test(value)) await this.records.delete(sha256(value));
    return this.cookie('', 0);
  }

  /** This browser signed in as `subject`: a session naming someone else ends (Set-Cookie), or nothing. */
  async signedInAs(req: IncomingMessage, subject: string): Promise<string | undefined> {
    const current = await this.find(req);
    if (!current || current.identity.subject === subject) return undefined;
    return this.end(req);
  }

  private cookie(value: string, maxAgeSeconds: number): string {
    return `${this.cookieName}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${this.secure ? '; Secure' : ''}`;
  }
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

export function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
