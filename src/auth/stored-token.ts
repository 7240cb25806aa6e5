/**
 * The access token a login left for a server, as a health check may use it: read, never
 * refreshed (a check makes no token request). Reading the index needs neither the keychain probe
 * nor the native module; only a matching record is read in full.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { AUTH_INDEX_FILE, dataDirectory } from '../config/paths.js';

export type StoredAccess =
  | { kind: 'valid'; issuer: string; accessToken: string }
  | { kind: 'expired'; issuer: string; expiresAt: number; refreshable: boolean };

/** A minute of slack: a token that expires mid-check would fail it for no good reason. */
const EXPIRY_SLACK_MS = 60_000;

export async function storedAccess(
  resource: string,
  env: NodeJS.ProcessEnv,
): Promise<StoredAccess | undefined> {
  // No login was ever stored: say so without loading the store (most checks end here).
  if (!existsSync(join(dataDirectory(env), AUTH_INDEX_FILE))) return undefined;
  const { openCredentialStore } = await import('./store.js');
  const store = await openCredentialStore(env, { backend: 'file' });
  const { tokens } = await store.list();
  const candidates = tokens.filter((facts) => facts.resource === resource);
  if (candidates.length === 0) return undefined;
  // The most recent login wins when a resource has tokens from more than one issuer.
  const facts = candidates.sort(
    (a, b) => (b.lastRefreshAt ?? b.obtainedAt) - (a.lastRefreshAt ?? a.obtainedAt),
  )[0]!;
  if (facts.expiresAt !== undefined && facts.expiresAt - EXPIRY_SLACK_MS < Date.now()) {
    return {
      kind: 'expired',
      issuer: facts.issuer,
      expiresAt: facts.expiresAt,
      refreshable: facts.refreshable,
    };
  }
  const full = await store.getTokens(facts.serverKey);
  if (!full) return undefined;
  return { kind: 'valid', issuer: facts.issuer, accessToken: full.accessToken };
}
