/**
 * Opaque access tokens, checked by asking their issuer (RFC 7662 token introspection), with a
 * bounded cache so that a host sending the same token on every request costs one round trip per
 * token per minute, not one per request: least recently used entries go first past `maxEntries`;
 * an active answer is kept at most `maxTtlMs` and never past the token's `exp`; an inactive one
 * briefly (`inactiveTtlMs`), so a flood of bad tokens does not become a flood of introspections
 * of the same one. Concurrent checks of one token share one request. Keys are SHA-256 digests: the
 * cache holds no token.
 */

import { AnswerCache } from './answer-cache.js';

export interface IntrospectionOptions {
  endpoint: URL;
  /** Client authentication: HTTP Basic (RFC 6749 §2.3.1, both parts form-encoded first). */
  clientId: string;
  clientSecret: string;
  /** Default 10 000. */
  maxEntries?: number;
  /** Default 60 s. */
  maxTtlMs?: number;
  /** Default 5 s. */
  inactiveTtlMs?: number;
  fetch?: typeof fetch;
}

/** The issuer's answer: `active` and the token's claims, or why there is none. */
export type Introspected =
  { active: true; claims: Record<string, unknown> } | { active: false } | { error: string };

export interface Introspection {
  introspect(token: string): Promise<Introspected>;
  /** Requests sent to the endpoint so far. */
  readonly requests: number;
  readonly size: number;
}

export const DEFAULT_MAX_ENTRIES = 10_000;
export const DEFAULT_MAX_TTL_MS = 60_000;
export const DEFAULT_INACTIVE_TTL_MS = 5_000;
const TIMEOUT_MS = 5_000;

export function introspection(options: IntrospectionOptions): Introspection {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxTtl = options.maxTtlMs ?? DEFAULT_MAX_TTL_MS;
  const inactiveTtl = options.inactiveTtlMs ?? DEFAULT_INACTIVE_TTL_MS;
  const fetchFn = options.fetch ?? fetch;
  const basic = `Basic ${Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString('base64')}`;
  const cache = new AnswerCache<Introspected>(maxEntries);
  const pending = new Map<string, Promise<Introspected>>();
  let requests = 0;

  const remember = (key: string, answer: Introspected) => {
    if ('error' in answer) return; // a failure is not an answer: the next request asks again
    const now = Date.now();
    let until = now + inactiveTtl;
    if (answer.active) {
      const exp = answer.claims.exp;
      until = Math.min(now + maxTtl, typeof exp === 'number' ? exp * 1000 : Infinity);
    }
    cache.set(key, answer, until, now);
  };

  const ask = async (token: string): Promise<Introspected> => {
    requests++;
    let response: Response;
    try {
      response = await fetchFn(options.endpoint, {
        method: 'POST',
        headers: {
          authorization: basic,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      return {
        error: `the issuer's introspection endpoint could not be reached (${(error as Error).message})`,
      };
    }
    const type = response.headers.get('content-type') ?? '';
    if (response.status !== 200 || !/^application\/json\b/i.test(type)) {
      await response.body?.cancel().catch(() => undefined);
      return {
        error: `the issuer's introspection endpoint answered ${response.status}${response.status === 200 ? ` with ${type || 'no content type'}` : ''}`,
      };
    }
    const body = (await response.json().catch(() => undefined)) as unknown;
    if (
      typeof body !== 'object' ||
      body === null ||
      typeof (body as { active?: unknown }).active !== 'boolean'
    )
      return { error: "the issuer's introspection answer has no boolean `active`" };
    const claims = body as Record<string, unknown>;
    return claims.active === true ? { active: true, claims } : { active: false };
  };

  return {
    async introspect(token) {
      const key = AnswerCache.keyOf(token);
      const hit = cache.get(key);
      if (hit) return hit;
      let inFlight = pending.get(key);
      if (!inFlight) {
        inFlight = ask(token).then((answer) => {
          remember(key, answer);
          return answer;
        });
        pending.set(key, inFlight);
        void inFlight.finally(() => pending.delete(key));
      }
      return inFlight;
    },
    get requests() {
      return requests;
    },
    get size() {
      return cache.size;
    },
  };
}

/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 asks of Basic credentials. */
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}
