/**
 * Where the secret half of each stored credential lives. Two implementations with one contract:
 * the OS keychain (store-keychain.ts) and a 0600 file (store-file.ts). A `put` replaces the whole
 * record at once: a reader sees the old record or the new one, never a mix.
 */

import type { JsonObject } from '../core/json-source.js';

/** Where a secret lives: the OS keychain, or the 0600 secrets file in the data directory. */
export type StoredIn = 'keychain' | 'file';

/** Names a place in a store for error messages: `locate(['tokens', key, 'expiresAt'])`. */
export type Locate = (path: ReadonlyArray<string | number>) => string;

/** The kinds of record, one namespace each. */
export type Section = 'tokens' | 'clients' | 'clientSecrets';
export const SECTIONS: readonly Section[] = ['tokens', 'clients', 'clientSecrets'];

/** A stored record and how to name a place in it for an error message. */
export interface VaultRecord {
  value: JsonObject;
  locate: Locate;
}

export interface SecretVault {
  readonly kind: StoredIn;
  /** Human words for where the secrets are, for messages and `auth status`. */
  readonly location: string;
  get(section: Section, key: string): Promise<VaultRecord | undefined>;
  put(section: Section, key: string, value: JsonObject): Promise<void>;
  /** Whether there was something to delete. */
  delete(section: Section, key: string): Promise<boolean>;
}
