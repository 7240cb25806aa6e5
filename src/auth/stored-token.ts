/**
 * The access token a login left for a server, as a health check first reads it: from the index,
 * with its state by the one expiry rule (expiry.ts). Reading the index needs neither the keychain
 * probe nor the native module; only a usable token is read in full. Whether a due or expired
 * login is then renewed is the caller's choice (connect's `credentials`).
 */

import { statSync, type Stats } from 'node:fs';

import type { Paths } from '../core/paths.js';
import { tokenState } from './expiry.js';

export type StoredAccess =
  | {
      kind: 'valid';
      issuer: string;
      accessToken: string;
      /** Valid, but due for renewal by the one rule (renewed first where that is allowed). */
      due: boolean;
      expiresAt: number | undefined;
      refreshable: boolean;
    }
  | { kind: 'expired'; issuer: string; expiresAt: number; refreshable: boolean };

export async function storedAccess(resource: string, paths: Paths): Promise<StoredAccess | undefined> {
  // No login was ever stored: say so without loading the store (most checks end here).
  const indexPath = paths.authIndex;
  const index = statIfAny(indexPath);
  if (!index) return undefined;
  const { openCredentialStore } = await import('./store.js');
  // The backend is named, so no variable is read from the (empty) environment.
  const store = await openCredentialStore({}, { backend: 'file', paths });
  const tokens = await tokenFacts(store, indexPath, index);
  const candidates = tokens.filter((facts) => facts.resource === resource);
  if (candidates.length === 0) return undefined;
  // The most recent login wins when a resource has tokens from more than one issuer.
  const facts = candidates.sort(
    (a, b) => (b.lastRefreshAt ?? b.obtainedAt) - (a.lastRefreshAt ?? a.obtainedAt),
  )[0]!;
  const state = tokenState(facts);
  if (state === 'expired') {
    return {
      kind: 'expired',
      issuer: facts.issuer,
      expiresAt: facts.expiresAt!,
      refreshable: facts.refreshable,
    };
  }
  const full = await store.getTokens(facts.serverKey);
  if (!full) return undefined;
  return {
    kind: 'valid',
    issuer: facts.issuer,
    accessToken: full.accessToken,
    due: state === 'due',
    expiresAt: facts.expiresAt,
    refreshable: facts.refreshable,
  };
}

type Store = Awaited<ReturnType<(typeof import('./store.js'))['openCredentialStore']>>;
type TokenListing = Awaited<ReturnType<Store['list']>>['tokens'];

/**
 * The index's token facts, read once per version of the file: `list` checks every server at once
 * and each check would otherwise read and parse the same index again.
 */
let cachedFacts: { key: string; tokens: Promise<TokenListing> } | undefined;

function tokenFacts(store: Store, indexPath: string, index: Stats): Promise<TokenListing> {
  const key = `${indexPath}\0${index.mtimeMs}\0${index.size}`;
  if (cachedFacts?.key !== key) {
    const tokens = store.list().then((listing) => listing.tokens);
    cachedFacts = { key, tokens };
    tokens.catch(() => {
      if (cachedFacts?.tokens === tokens) cachedFacts = undefined;
    });
  }
  return cachedFacts.tokens;
}

function statIfAny(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
