/**
 * Inbound authentication: who is behind one HTTP request to the gateway. The listener
 * (http.ts) asks its Authenticator once per request and hands the answer on as the request's
 * caller, which every control (policy, limits, listings, audit, the member vault) reads.
 *
 * One authenticator per credential kind, each in its own file — the static token (here), API keys
 * (api-keys.ts), OAuth access tokens (access-tokens.ts) — and `firstOf` to accept several.
 */

import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import type { AuditCaller } from '../policy/audit.js';

/** Who a request's credential names (AuditCaller without what the listener adds: transport, session, peer). */
export type Identity = Pick<AuditCaller, 'auth' | 'subject' | 'email' | 'groups' | 'client' | 'scopes'>;

export type Authenticated =
  | { ok: true; identity: Identity }
  /**
   * Not this authenticator's kind of credential: the next one is asked. An authenticator that
   * recognises the credential and refuses it answers `refused` instead, so that an expired
   * access token is not tried as an API key and reported as "unknown".
   */
  | { ok: false; kind: 'not-mine' }
  | Refusal;

/** The answer to a refused request: 401 (no or bad credential) or 403 (not enough scope). */
export interface Refusal {
  ok: false;
  kind: 'refused';
  status: 401 | 403;
  /** RFC 6750 error code: invalid_token, insufficient_scope, invalid_request; none when no credential was sent. */
  error?: 'invalid_token' | 'insufficient_scope' | 'invalid_request';
  /** For the person reading the 401 (no secret in it). */
  description: string;
  /** insufficient_scope: the scopes that would do. */
  scope?: string;
}

export interface Authenticator {
  /** `bearer`: the request's `Authorization: Bearer` credential, undefined when none was sent. */
  authenticate(bearer: string | undefined, req: IncomingMessage): Promise<Authenticated>;
  /**
   * The parameters of this authenticator's `WWW-Authenticate: Bearer` challenge (RFC 6750 §3 and
   * RFC 9728 §5.1's `resource_metadata`), beside `error`/`error_description` which the listener adds.
   */
  challenge(): Record<string, string>;
}

/** The bearer credential of a request, undefined when there is none (a malformed header is none). */
export function bearerOf(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

/** The single-user default: one static token (gateway/token.ts), compared in constant time. */
export function staticToken(token: string): Authenticator {
  const expected = Buffer.from(token);
  return {
    async authenticate(bearer) {
      if (bearer === undefined) return { ok: false, kind: 'not-mine' };
      const given = Buffer.from(bearer);
      if (given.length === expected.length && timingSafeEqual(given, expected))
        return { ok: true, identity: { auth: 'gateway-token', subject: null } };
      return { ok: false, kind: 'not-mine' };
    },
    challenge: () => ({ realm: 'patchbay' }),
  };
}

/**
 * The first authenticator that recognises the credential decides; none: 401. The challenge is
 * the first one's that has more than a realm (the OAuth one, pointing to its metadata).
 */
export function firstOf(authenticators: Authenticator[], hint: string): Authenticator {
  return {
    async authenticate(bearer, req) {
      for (const authenticator of authenticators) {
        const answer = await authenticator.authenticate(bearer, req);
        if (answer.ok || answer.kind === 'refused') return answer;
      }
      return bearer === undefined
        ? { ok: false, kind: 'refused', status: 401, description: hint }
        : { ok: false, kind: 'refused', status: 401, error: 'invalid_token', description: hint };
    },
    challenge() {
      const challenges = authenticators.map((authenticator) => authenticator.challenge());
      return (
        challenges.find((params) => Object.keys(params).some((key) => key !== 'realm')) ?? challenges[0] ?? {}
      );
    },
  };
}

/** `Bearer k="v", …` with quotes escaped (RFC 7235 quoted-string). */
export function challengeHeader(params: Record<string, string>): string {
  const parts = Object.entries(params).map(([key, value]) => `${key}="${value.replace(/[\\"]/g, '\\$&')}"`);
  return parts.length ? `Bearer ${parts.join(', ')}` : 'Bearer';
}

/** A route of the gateway's listener besides `/mcp` (metadata, sign-in pages, health). */
export interface GatewayRoute {
  /** The path, or a prefix ending in `/` that matches everything under it. */
  path: string;
  /**
   * Served before the Host and Origin checks, without waiting for the front door, and while the
   * gateway drains: for answers that say nothing about anyone (/healthz, /readyz), which a load
   * balancer asks for by the listener's address.
   */
  open?: boolean;
  /**
   * Served only to a request the listener's authenticator accepts, as `/mcp` is (`/metrics`);
   * otherwise the route does its own authentication, if any.
   */
  authenticated?: boolean;
  /** Serves the request (its own authentication, if any). */
  handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> | void;
}
