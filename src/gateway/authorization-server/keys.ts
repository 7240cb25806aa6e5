/**
 * The authorization server's keys: the private key that signs access tokens (and ID tokens) and
 * the keys that sign its cookies. Made on the first start and kept in the state store, so that a
 * restart and every replica sign and verify with the same ones; of two replicas starting at once,
 * the first to store its keys wins and the other uses them.
 */

import { randomBytes } from 'node:crypto';

import { exportJWK, generateKeyPair, type JWK } from 'jose';

import type { StateStore } from '../../state/store.js';

export interface ServerKeys {
  /** Private JWKs, for oidc-provider's `jwks`. */
  signing: JWK[];
  /** For oidc-provider's `cookies.keys`. */
  cookies: string[];
}

export const SIGNING_ALG = 'RS256';

/** The public half of a private JWK: what the JWKS endpoint and a token checker see. */
export function publicJwk(key: JWK): JWK {
  const { kty, n, e, crv, x, y, kid, alg, use } = key;
  return Object.fromEntries(
    Object.entries({ kty, n, e, crv, x, y, kid, alg, use }).filter(([, value]) => value !== undefined),
  ) as JWK;
}

export async function serverKeys(state: StateStore): Promise<ServerKeys> {
  const store = state.records<ServerKeys>('as-keys', { secret: true });
  const existing = await store.get('current');
  if (existing) return existing;
  const made = await newKeys();
  // `update` keeps whatever another process stored in the meantime.
  return (await store.update('current', (current) => current ?? made))!;
}

async function newKeys(): Promise<ServerKeys> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  return {
    signing: [{ ...jwk, kid: randomBytes(8).toString('base64url'), alg: SIGNING_ALG, use: 'sig' }],
    cookies: [randomBytes(32).toString('base64url')],
  };
}
