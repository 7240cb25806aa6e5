/**
 * What patchbay's OAuth client (oauth-provider.ts, refresh.ts, the gateway's sign-in) needs of a
 * place that keeps logins: token sets by server key, client registrations by issuer, the refresh
 * lock. Two implementations: the user's credential store (store.ts: keychain or 0600 files) and a
 * team gateway's member vault (member-vault.ts: one member's logins, encrypted in the state
 * store). The client code is one; where the tokens live is this interface.
 */

import type { StoredClient, StoredTokens } from './store-records.js';

export interface ClientMatch {
  /** A registration bound to this redirect URI, or to none (pre-registered, metadata document). */
  redirectUri?: string;
  clientId?: string;
}

export interface ServerLockOptions {
  /** How long to wait for another process's refresh; default 60 s. */
  timeoutMs?: number;
}

/** The facts of a stored token set that a token source chooses by (no secret in them). */
export interface TokenListingEntry {
  serverKey: string;
  issuer: string;
  resource: string;
  obtainedAt: number;
  lastRefreshAt?: number;
}

export interface TokenStore {
  /**
   * Names this store among the others of a process, so that one refresh in flight is shared only
   * by the token sources of the same login (a data directory; a vault member and server).
   */
  refreshScope(): string;
  getTokens(serverKey: string): Promise<StoredTokens | undefined>;
  /** Durable when it returns: a rotated refresh token is stored before anyone uses it. */
  saveTokens(serverKey: string, tokens: StoredTokens): Promise<void>;
  deleteTokens(serverKey: string): Promise<boolean>;
  /** The server's last refresh failure, kept with its tokens until a save replaces them. */
  recordRefreshError(serverKey: string, message: string, at?: number): Promise<boolean>;
  /**
   * Run `work` with the token set of `serverKey` as it is now, alone: no other refresh of the same
   * login runs meanwhile (across processes for the credential store; within the gateway process,
   * and later across replicas, for the vault).
   */
  withServerLock<T>(
    serverKey: string,
    work: (current: StoredTokens | undefined) => Promise<T>,
    options?: ServerLockOptions,
  ): Promise<T>;
  getClient(issuer: string, match?: ClientMatch): Promise<StoredClient | undefined>;
  saveClient(client: StoredClient): Promise<void>;
  deleteClient(issuer: string, match?: ClientMatch): Promise<number>;
  /** A pre-registered client's secret (`add --client-secret`) for this server name and URL. */
  getClientSecret(name: string, url: string): Promise<string | undefined>;
  list(): Promise<{ tokens: TokenListingEntry[] }>;
}
