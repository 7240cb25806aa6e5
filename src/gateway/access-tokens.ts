/**
 * OAuth access tokens as the gateway's inbound credential: the resource server's check (RFC 6750,
 * RFC 9068, RFC 8707, RFC 7662, the MCP authorization spec), one `Authenticator`.
 *
 * A JWT is checked here, with no network round trip once the issuer's keys are known: signature
 * against the issuer's JWKS (fetched once, cached, fetched again for an unknown `kid` at most once
 * per cooldown, so a rotation is picked up and a stream of made-up kids costs nothing) or against
 * a local key set (the gateway's own authorization server), asymmetric algorithms only, `iss`
 * exactly the issuer, `aud` including this gateway's resource URL (a token minted for another
 * resource is refused), `exp`/`nbf` with a small tolerance, `typ` at+jwt accepted but not
 * required. An opaque token goes to introspection (introspection.ts) when that is configured.
 * Then the scopes: a token without every required one is a 403 `insufficient_scope` naming them,
 * which a host steps up from.
 *
 * A host sends the same token on every request: an accepted JWT's answer is kept (by its digest,
 * answer-cache.ts) for at most a minute and never past its expiry, so a repeat costs a hash, not a
 * signature check. A key the issuer withdraws stops working within that minute of the refetch.
 *
 * Every refusal says why, for the person reading it; none repeats the token or anything read from
 * it (the description goes into a WWW-Authenticate header: RFC 6750 §3 allows no quotes there).
 */

import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';

import { AnswerCache } from './answer-cache.js';
import type { ClaimMapping } from './deployment.js';
import type { Authenticated, Authenticator, Refusal } from './inbound.js';
import type { Introspection } from './introspection.js';
import { memberOf, scopesOf } from './member-claims.js';

/** Asymmetric only: `none` and the HS* family (where a public key could be used as the secret) never. */
export const ALLOWED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];
export const CLOCK_TOLERANCE_SECONDS = 10;
/** The shortest time between two fetches of the issuer's keys for an unknown `kid`. */
export const JWKS_COOLDOWN_MS = 30_000;
/** Keys are fetched again after this even when every `kid` is known (a removed key stops working). */
export const JWKS_MAX_AGE_MS = 10 * 60_000;
/** Accepted JWTs remembered (0: none), each for at most VERIFIED_MAX_TTL_MS. */
export const VERIFIED_MAX_ENTRIES = 10_000;
export const VERIFIED_MAX_TTL_MS = 60_000;

/** Where the issuer's signing keys come from. */
export type KeySource =
  | { jwksUri: URL; cooldownMs?: number; maxAgeMs?: number }
  /** The gateway's own authorization server: its keys in memory, no HTTP at all. */
  | { local: () => JSONWebKeySet | Promise<JSONWebKeySet> };

export interface AccessTokenOptions {
  /** The issuer's identifier exactly as its metadata gives it; `iss` must equal it. */
  issuer: string;
  /** The gateway's MCP endpoint as hosts reach it: every token's audience must include it. */
  resource: URL;
  /** Scopes every request needs. */
  scopes: string[];
  claims: ClaimMapping;
  /** JWT access tokens are checked with these; without: every token goes to introspection. */
  keys?: KeySource;
  /** Opaque tokens; without: only JWTs are accepted. */
  introspection?: Introspection;
  /** RFC 9728 §5.1: named in every challenge. */
  resourceMetadataUrl: URL;
  clockToleranceSeconds?: number;
  /** Default VERIFIED_MAX_ENTRIES; 0 checks every JWT's signature on every request. */
  verifiedCacheEntries?: number;
}

const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]*$/;
const ACCEPTED_TYPES = new Set(['at+jwt', 'application/at+jwt', 'jwt', 'application/jwt']);

export function accessTokens(options: AccessTokenOptions): Authenticator {
  const resource = options.resource.href;
  const tolerance = options.clockToleranceSeconds ?? CLOCK_TOLERANCE_SECONDS;
  const required = options.scopes;
  const getKey = options.keys ? keyResolver(options.keys) : undefined;
  const verified = new AnswerCache<Authenticated>(options.verifiedCacheEntries ?? VERIFIED_MAX_ENTRIES);
  const challenge = {
    resource_metadata: options.resourceMetadataUrl.href,
    ...(required.length ? { scope: required.join(' ') } : {}),
  };

  const invalid = (why: string): Refusal => ({
    ok: false,
    kind: 'refused',
    status: 401,
    error: 'invalid_token',
    description: `The access token was refused: ${why}.`,
  });

  /** The claims of an accepted token → the member, once the scopes are enough. */
  const admit = (claims: Record<string, unknown>): Authenticated => {
    const granted = new Set(scopesOf(claims));
    const missing = required.filter((scope) => !granted.has(scope));
    if (missing.length)
      return {
        ok: false,
        kind: 'refused',
        status: 403,
        error: 'insufficient_scope',
        description: `The access token lacks the scope ${missing.join(' ')} that this gateway requires.`,
        scope: required.join(' '),
      };
    const member = memberOf(claims, options.claims, 'oauth');
    return typeof member === 'string' ? invalid(member) : { ok: true, identity: member };
  };

  const checkJwt = async (token: string, keys: JWTVerifyGetKey): Promise<Authenticated> => {
    const key = AnswerCache.keyOf(token);
    const known = verified.get(key);
    if (known) return known;
    let payload: Record<string, unknown>;
    let typ: string | undefined;
    try {
      const verified = await jwtVerify(token, keys, {
        issuer: options.issuer,
        audience: resource,
        algorithms: ALLOWED_ALGORITHMS,
        clockTolerance: tolerance,
        requiredClaims: ['exp'],
      });
      payload = verified.payload;
      typ = verified.protectedHeader.typ;
    } catch (error) {
      return invalid(jwtProblem(error, options.issuer, resource));
    }
    if (typ !== undefined && !ACCEPTED_TYPES.has(typ.toLowerCase()))
      // What the token says is not repeated: it would land in a response header.
      return invalid('its type (typ) says it is not an access token');
    const answer = admit(payload);
    if (answer.ok) {
      const now = Date.now();
      verified.set(
        key,
        answer,
        Math.min(now + VERIFIED_MAX_TTL_MS, ((payload.exp as number) + tolerance) * 1000),
        now,
      );
    }
    return answer;
  };

  const checkOpaque = async (token: string, introspection: Introspection): Promise<Authenticated> => {
    const answer = await introspection.introspect(token);
    if ('error' in answer) return invalid(`it could not be checked: ${answer.error}`);
    if (!answer.active) return invalid('the issuer says it is not active (revoked, expired or unknown)');
    const { claims } = answer;
    if (claims.iss !== undefined && claims.iss !== options.issuer)
      return invalid(`it was issued by another issuer, not ${options.issuer}`);
    if (claims.aud !== undefined) {
      const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!audience.includes(resource)) return invalid(`it is for another resource, not ${resource}`);
    }
    const now = Date.now() / 1000;
    if (typeof claims.exp === 'number' && claims.exp + tolerance <= now) return invalid('it has expired');
    if (typeof claims.nbf === 'number' && claims.nbf - tolerance > now) return invalid('it is not valid yet');
    return admit(claims);
  };

  return {
    async authenticate(bearer) {
      if (bearer === undefined) return { ok: false, kind: 'not-mine' };
      if (getKey && JWT_SHAPE.test(bearer)) return checkJwt(bearer, getKey);
      if (options.introspection) return checkOpaque(bearer, options.introspection);
      // Last in the chain (team.ts): nobody else knew it either.
      return invalid("it is not a JWT access token of this gateway's issuer");
    },
    challenge: () => challenge,
  };
}

function keyResolver(source: KeySource): JWTVerifyGetKey {
  if ('jwksUri' in source)
    return createRemoteJWKSet(source.jwksUri, {
      cooldownDuration: source.cooldownMs ?? JWKS_COOLDOWN_MS,
      cacheMaxAge: source.maxAgeMs ?? JWKS_MAX_AGE_MS,
      timeoutDuration: 5_000,
    });
  // The same key set object is looked up once; a new one (rotated) is indexed again.
  let last: { set: JSONWebKeySet; resolve: JWTVerifyGetKey } | undefined;
  return async (header, token) => {
    const set = await source.local();
    if (last?.set !== set) last = { set, resolve: createLocalJWKSet(set) };
    return last.resolve(header, token);
  };
}

/** Why jose refused a token, for the person reading the 401 (never the token itself). */
function jwtProblem(error: unknown, issuer: string, resource: string): string {
  if (error instanceof errors.JWTExpired) return 'it has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return `it was issued by another issuer, not ${issuer}`;
      case 'aud':
        return `it is for another resource (its audience does not include ${resource})`;
      case 'nbf':
        return 'it is not valid yet';
      case 'exp':
        return 'it has no expiry';
      default:
        return `its ${error.claim} claim is not acceptable (${error.reason})`;
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return `it is signed with an algorithm this gateway does not accept (only ${ALLOWED_ALGORITHMS.join(', ')})`;
  if (error instanceof errors.JWKSNoMatchingKey) return 'it is signed with a key the issuer does not publish';
  if (error instanceof errors.JWKSMultipleMatchingKeys) return "its key is ambiguous in the issuer's key set";
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (error instanceof errors.JWKSTimeout) return "the issuer's keys could not be fetched in time";
  if (error instanceof errors.JWKSInvalid) return "the issuer's key set is not a valid JWKS";
  if (error instanceof errors.JOSENotSupported)
    return 'it uses an algorithm or key type this gateway does not support';
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid)
    return 'it is not a well-formed signed JWT';
  return `its issuer's keys could not be used (${(error as Error).message})`;
}
