/**
 * The one rule for when a stored access token is usable, due for renewal, or expired: used by the
 * refresher, the checks (list, get, doctor, the console), `auth status` and the gateway. Two rules
 * once disagreed — a check treated any token within a flat minute of expiry as expired while the
 * refresher waited for min(1 min, a quarter of the lifetime) — so a fresh 60-second login showed
 * as "expired" right after `patchbay login` while `call` used it. Keep every caller on this file.
 *
 * No imports: it is loaded by commands that must stay cheap.
 */

/** Renew this long before expiry at most (less for tokens that live under four minutes). */
export const EXPIRY_SLACK_MS = 60_000;

/** What the rule needs of a login: the store's token records and its index facts both have it. */
export interface TokenTimes {
  /** Epoch ms; absent when the authorization server gave no `expires_in` (never expires here). */
  expiresAt?: number | undefined;
  /** Epoch ms of the first grant. */
  obtainedAt: number;
  /** Epoch ms of the last successful refresh. */
  lastRefreshAt?: number | undefined;
}

/**
 * - `fresh`: send it as it is.
 * - `due`: still valid, but renew it before use when that is allowed (a minute before expiry, or
 *   at three quarters of its lifetime for short-lived tokens, so a refresh never yields a token
 *   that is due at once).
 * - `expired`: past its expiry; never sent.
 */
export type TokenState = 'fresh' | 'due' | 'expired';

/** When a token becomes due for renewal; undefined for one without an expiry. */
export function renewalDueAt(times: TokenTimes): number | undefined {
  if (times.expiresAt === undefined) return undefined;
  const issuedAt = times.lastRefreshAt ?? times.obtainedAt;
  const lifetime = Math.max(0, times.expiresAt - issuedAt);
  return times.expiresAt - Math.min(EXPIRY_SLACK_MS, lifetime / 4);
}

export function tokenState(times: TokenTimes, now = Date.now()): TokenState {
  if (times.expiresAt === undefined) return 'fresh';
  if (times.expiresAt <= now) return 'expired';
  return renewalDueAt(times)! <= now ? 'due' : 'fresh';
}

export function isExpired(times: { expiresAt?: number | undefined }, now = Date.now()): boolean {
  return times.expiresAt !== undefined && times.expiresAt <= now;
}

/** `25 s`, `42 min`, `3 h`, `2 d`: a duration, roughly. */
export function roughDuration(ms: number): string {
  const seconds = Math.round(Math.abs(ms) / 1000);
  if (seconds < 90) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.round(hours / 24)} d`;
}

/** `in 42 min` or `3 h ago`. */
export function relativeTime(at: number, now = Date.now()): string {
  return at >= now ? `in ${roughDuration(at - now)}` : `${roughDuration(now - at)} ago`;
}

/** `expires in 25 s` or `expired 3 min ago`, by the clock, never by the renewal rule. */
export function expiryText(expiresAt: number, now = Date.now()): string {
  return `${expiresAt > now ? 'expires' : 'expired'} ${relativeTime(expiresAt, now)}`;
}
