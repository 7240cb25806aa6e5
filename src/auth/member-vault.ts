/**
 * The member vault of a team gateway: each member's own login to each `perMember` upstream
 * (tokens), and the gateway's client registrations at those upstreams' authorization servers,
 * kept in the state store (namespace `vault`, secret) and encrypted there.
 *
 * - Every secret is sealed with AES-256-GCM under the operator's 32-byte key (`vault.key` of the
 *   deployment: an environment variable or a file, never the state directory). The additional
 *   authenticated data is the record's own key (member and server, or issuer and redirect URI),
 *   so a sealed value moved to another record does not open: one member's tokens can never be
 *   served as another's by swapping records in the file (or in Redis).
 * - Beside the sealed value, each record keeps only facts (member, server, issuer, times, scope):
 *   `patchbay vault list|revoke` and the members' links page read and delete without the key.
 * - A key-check record says at start whether the key is the one the vault was written with: a
 *   wrong key is a clear error, not a "corrupt token" later.
 * - Refresh is single flight per (member, server): a `VaultLock` — in this process
 *   (`processLock`, the default), or across replicas by the state store's lease (`storeLock`, what
 *   a gateway uses) — and the refresh itself is refresh.ts's, as for every other login.
 */

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { relative, resolve, isAbsolute } from 'node:path';

import { PatchbayError } from '../errors.js';
import { withLease } from '../state/leases.js';
import type { RecordStore, StateStore } from '../state/store.js';
import type { ClientMatch, ServerLockOptions } from './store.js';
import type { RefreshError, StoredClient, StoredTokens } from './store-records.js';
import { redactSecrets } from './store-records.js';
import type { TokenListingEntry, TokenStore } from './token-store.js';

export const VAULT_NAMESPACE = 'vault';

/** Where the key comes from (the deployment's `vault.key`). */
export type VaultKeySource = { from: 'env'; name: string } | { from: 'file'; path: string };

/** AES-256-GCM output, base64url. */
export interface Sealed {
  v: 1;
  iv: string;
  data: string;
  tag: string;
}

/** A member's login to one server: facts in the clear, the token set sealed. */
export interface MemberLinkFacts {
  member: string;
  server: string;
  issuer: string;
  resource: string;
  /** The token store's key of the set (issuer and resource), as the OAuth client named it. */
  serverKey: string;
  obtainedAt: number;
  lastRefreshAt?: number;
  expiresAt?: number;
  scope?: string;
  lastRefreshError?: RefreshError;
}

type VaultRecord =
  | ({ kind: 'tokens'; sealed: Sealed } & MemberLinkFacts)
  | {
      kind: 'client';
      issuer: string;
      redirectUri?: string;
      clientId: string;
      registeredAt: number;
      sealed: Sealed;
    }
  | { kind: 'key-check'; sealed: Sealed };

/** Serialises work per key: in this process (`processLock`), or across replicas (`storeLock`). */
export interface VaultLock {
  run<T>(key: string, work: () => Promise<T>, options?: { waitMs?: number }): Promise<T>;
}

/** A refresh holder that vanished blocks the others at most this long (renewed while it works). */
export const VAULT_LEASE_MS = 10_000;
/** How long a refresh waits for another replica's, unless the caller says (refresh.ts does). */
const VAULT_WAIT_MS = 60_000;

/**
 * One holder at a time per key across every process that shares `state` (replicas on Redis; on
 * files, the processes of this machine): the store's lease, taken by one caller per process at a
 * time so that a process's waiters do not all poll the store.
 */
export function storeLock(
  state: Pick<StateStore, 'leases' | 'bus'>,
  leaseMs: number = VAULT_LEASE_MS,
): VaultLock {
  const local = processLock();
  return {
    run: (key, work, options) =>
      local.run(key, () =>
        withLease(state, `vault ${key}`, { leaseMs, waitMs: options?.waitMs ?? VAULT_WAIT_MS }, work),
      ),
  };
}

/** One holder at a time per key, in this process. */
export function processLock(): VaultLock {
  const tails = new Map<string, Promise<unknown>>();
  return {
    async run(key, work) {
      const before = tails.get(key) ?? Promise.resolve();
      const mine = before.catch(() => undefined).then(work);
      const tail = mine.catch(() => undefined);
      tails.set(key, tail);
      try {
        return await mine;
      } finally {
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
  };
}

const KEY_CHECK = 'key-check';
const KEY_CHECK_TEXT = 'patchbay member vault';

/**
 * The vault key from its source: 32 bytes, written as base64 (44 characters) or hex (64). A file
 * source must not be inside the gateway's state directory (the key never lies beside the data).
 */
export async function readVaultKey(
  source: VaultKeySource,
  env: NodeJS.ProcessEnv,
  stateDirectory: string,
): Promise<Buffer> {
  let text: string;
  let where: string;
  if (source.from === 'env') {
    where = `the environment variable ${source.name} (vault.key)`;
    const value = env[source.name];
    if (!value)
      throw new PatchbayError('unset-variable', `${where} is not set: the member vault has no key.`, {
        hint: `Generate one with: openssl rand -base64 32, and export ${source.name}=… before patchbay serve --config.`,
      });
    text = value;
  } else {
    where = `the key file ${source.path} (vault.key)`;
    const inside = relative(resolve(stateDirectory), resolve(source.path));
    if (!inside.startsWith('..') && !isAbsolute(inside))
      throw new PatchbayError(
        'config-shape',
        `${where} is inside the gateway's state directory ${stateDirectory}: the key must never be kept beside the data it protects.`,
        {
          hint: 'Move the key file elsewhere (e.g. /etc/patchbay/vault.key, mode 0600) and point vault.key at it.',
        },
      );
    try {
      text = await readFile(source.path, 'utf8');
    } catch (error) {
      throw new PatchbayError('read-failed', `Could not read ${where}: ${(error as Error).message}.`, {
        hint: 'Create it with: openssl rand -base64 32 > FILE && chmod 600 FILE',
      });
    }
  }
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)
      ? Buffer.from(trimmed, 'base64')
      : undefined;
  if (!key || key.length !== 32)
    throw new PatchbayError('config-shape', `${where} does not hold a 32-byte key (base64 or hex).`, {
      hint: 'Generate one with: openssl rand -base64 32',
    });
  return key;
}

export interface MemberVaultOptions {
  /** Serialises refreshes of one login; default: this process only. */
  lock?: VaultLock;
  /** A pre-registered client's secret (configured by the operator, not per member). */
  clientSecret?: (name: string, url: string) => Promise<string | undefined>;
}

export class MemberVault {
  private readonly records: RecordStore<VaultRecord>;
  private readonly lock: VaultLock;
  private readonly index: MemberVaultFacts;

  constructor(
    state: StateStore,
    private readonly key: Buffer,
    private readonly options: MemberVaultOptions = {},
  ) {
    if (key.length !== 32) throw new PatchbayError('internal', 'a vault key is 32 bytes');
    this.records = state.records<VaultRecord>(VAULT_NAMESPACE, { secret: true });
    this.lock = options.lock ?? processLock();
    this.index = new MemberVaultFacts(state);
  }

  /**
   * Open the vault: the first start writes the key-check record; later starts must open it, or
   * the key is not the one the vault was written with.
   */
  async check(): Promise<void> {
    const found = await this.records.get(KEY_CHECK);
    if (!found) {
      await this.records.put(KEY_CHECK, { kind: 'key-check', sealed: this.seal(KEY_CHECK, KEY_CHECK_TEXT) });
      return;
    }
    if (found.kind !== 'key-check' || this.open(KEY_CHECK, found.sealed) !== KEY_CHECK_TEXT) throw wrongKey();
  }

  /** One member's login to one server, as patchbay's OAuth client keeps logins. */
  forMember(member: string, server: string): TokenStore {
    return new MemberLogin(this, member, server);
  }

  /** Whether the member has a login to the server (facts only, no decryption). */
  async has(member: string, server: string): Promise<boolean> {
    return (await this.records.get(tokensKey(member, server)))?.kind === 'tokens';
  }

  /** Logins, optionally of one member and/or one server (facts only). */
  links(filter: { member?: string; server?: string } = {}): Promise<MemberLinkFacts[]> {
    return this.index.links(filter);
  }

  /** Remove a member's logins (to one server, or all); how many. */
  revoke(member: string, server?: string): Promise<number> {
    return this.index.revoke(member, server);
  }

  // ----- what MemberLogin uses --------------------------------------------------------------

  /** @internal */
  async tokens(member: string, server: string): Promise<StoredTokens | undefined> {
    const key = tokensKey(member, server);
    const record = await this.records.get(key);
    if (record?.kind !== 'tokens') return undefined;
    const tokens = JSON.parse(this.open(key, record.sealed)) as StoredTokens;
    return record.lastRefreshError ? { ...tokens, lastRefreshError: record.lastRefreshError } : tokens;
  }

  /** @internal */
  async facts(member: string, server: string): Promise<MemberLinkFacts | undefined> {
    const record = await this.records.get(tokensKey(member, server));
    if (record?.kind !== 'tokens') return undefined;
    const { kind: _kind, sealed: _sealed, ...facts } = record;
    return facts;
  }

  /** @internal */
  async saveTokens(member: string, server: string, serverKey: string, tokens: StoredTokens): Promise<void> {
    const key = tokensKey(member, server);
    const { lastRefreshError, ...secret } = tokens;
    await this.records.put(key, {
      kind: 'tokens',
      member,
      server,
      serverKey,
      issuer: tokens.issuer,
      resource: tokens.resource,
      obtainedAt: tokens.obtainedAt,
      ...(tokens.lastRefreshAt !== undefined ? { lastRefreshAt: tokens.lastRefreshAt } : {}),
      ...(tokens.expiresAt !== undefined ? { expiresAt: tokens.expiresAt } : {}),
      ...(tokens.scope ? { scope: tokens.scope } : {}),
      ...(lastRefreshError
        ? {
            lastRefreshError: {
              at: lastRefreshError.at,
              message: redactSecrets(lastRefreshError.message, [tokens.accessToken, tokens.refreshToken]),
            },
          }
        : {}),
      sealed: this.seal(key, JSON.stringify(secret)),
    });
  }

  /** @internal */
  async deleteTokens(member: string, server: string): Promise<boolean> {
    return this.records.delete(tokensKey(member, server));
  }

  /** @internal */
  async recordRefreshError(member: string, server: string, message: string, at: number): Promise<boolean> {
    const key = tokensKey(member, server);
    const known = await this.tokens(member, server).catch(() => undefined);
    const stored = await this.records.update(key, (current) =>
      current?.kind === 'tokens'
        ? {
            ...current,
            lastRefreshError: {
              at,
              message: redactSecrets(message, [known?.accessToken, known?.refreshToken]),
            },
          }
        : undefined,
    );
    return stored !== undefined;
  }

  /** @internal */
  withLock<T>(member: string, server: string, work: () => Promise<T>, waitMs?: number): Promise<T> {
    return this.lock.run(tokensKey(member, server), work, waitMs === undefined ? {} : { waitMs });
  }

  /** @internal Registrations are the gateway's (one client per authorization server and redirect URI), shared by members. */
  async client(issuer: string, match: ClientMatch): Promise<StoredClient | undefined> {
    const fits: Array<{ key: string; registeredAt: number; exact: boolean }> = [];
    for (const [key, record] of await this.records.entries()) {
      if (record.kind !== 'client' || record.issuer !== issuer) continue;
      if (match.clientId !== undefined && record.clientId !== match.clientId) continue;
      if (
        match.redirectUri !== undefined &&
        record.redirectUri !== undefined &&
        record.redirectUri !== match.redirectUri
      )
        continue;
      fits.push({ key, registeredAt: record.registeredAt, exact: record.redirectUri === match.redirectUri });
    }
    fits.sort((a, b) => Number(b.exact) - Number(a.exact) || b.registeredAt - a.registeredAt);
    for (const { key } of fits) {
      const record = await this.records.get(key);
      if (record?.kind !== 'client') continue;
      const client = JSON.parse(this.open(key, record.sealed)) as StoredClient;
      if (client.issuer === issuer) return client;
    }
    return undefined;
  }

  /** @internal */
  async saveClient(client: StoredClient): Promise<void> {
    const key = clientKey(client.issuer, client.redirectUri);
    await this.records.put(key, {
      kind: 'client',
      issuer: client.issuer,
      ...(client.redirectUri ? { redirectUri: client.redirectUri } : {}),
      clientId: client.clientId,
      registeredAt: client.registeredAt,
      sealed: this.seal(key, JSON.stringify(client)),
    });
  }

  /** @internal */
  async deleteClient(issuer: string, match: ClientMatch): Promise<number> {
    let deleted = 0;
    for (const [key, record] of await this.records.entries()) {
      if (record.kind !== 'client' || record.issuer !== issuer) continue;
      if (match.clientId !== undefined && record.clientId !== match.clientId) continue;
      if (
        match.redirectUri !== undefined &&
        record.redirectUri !== undefined &&
        record.redirectUri !== match.redirectUri
      )
        continue;
      if (await this.records.delete(key)) deleted++;
    }
    return deleted;
  }

  /**
   * Seal a secret the gateway keeps outside the vault's own records (a member's sign-in in
   * progress: its PKCE verifier) under the vault key, bound to `context` — what the record is and
   * whose (its namespace, key and owner), so that it opens only as that record.
   */
  sealFor(context: string, plaintext: string): Sealed {
    return sealWith(this.key, sealedAad(context), plaintext);
  }

  /** What `sealFor` sealed for this same `context`; undefined when it does not open (another key, another record, not sealed). */
  openFor(context: string, sealed: unknown): string | undefined {
    if (!isSealed(sealed)) return undefined;
    try {
      return openWith(this.key, sealedAad(context), sealed);
    } catch {
      return undefined;
    }
  }

  /** @internal */
  clientSecret(name: string, url: string): Promise<string | undefined> {
    return this.options.clientSecret?.(name, url) ?? Promise.resolve(undefined);
  }

  private seal(recordKey: string, plaintext: string): Sealed {
    return sealWith(this.key, aad(recordKey), plaintext);
  }

  private open(recordKey: string, sealed: Sealed): string {
    try {
      return openWith(this.key, aad(recordKey), sealed);
    } catch {
      // Wrong key, or a record moved from another key: neither is readable, and neither is said apart.
      throw recordKey === KEY_CHECK ? wrongKey() : unreadable(recordKey);
    }
  }
}

/**
 * The vault's facts without its key: which member has a login to which server, and removing
 * them (`patchbay vault list|revoke`, the members' links page). Never opens a sealed value.
 */
export class MemberVaultFacts {
  private readonly records: RecordStore<VaultRecord>;

  constructor(state: StateStore) {
    this.records = state.records<VaultRecord>(VAULT_NAMESPACE, { secret: true });
  }

  async links(filter: { member?: string; server?: string } = {}): Promise<MemberLinkFacts[]> {
    const out: MemberLinkFacts[] = [];
    for (const [, record] of await this.records.entries()) {
      if (record.kind !== 'tokens') continue;
      if (filter.member !== undefined && record.member !== filter.member) continue;
      if (filter.server !== undefined && record.server !== filter.server) continue;
      const { kind: _kind, sealed: _sealed, ...facts } = record;
      out.push(facts);
    }
    return out.sort((a, b) => a.member.localeCompare(b.member) || a.server.localeCompare(b.server));
  }

  async revoke(member: string, server?: string): Promise<number> {
    let removed = 0;
    for (const link of await this.links({ member, ...(server === undefined ? {} : { server }) }))
      if (await this.records.delete(tokensKey(link.member, link.server))) removed++;
    return removed;
  }
}

/** One member's login to one server, behind the interface patchbay's OAuth client takes. */
class MemberLogin implements TokenStore {
  constructor(
    private readonly vault: MemberVault,
    readonly member: string,
    readonly server: string,
  ) {}

  refreshScope(): string {
    return `vault\n${this.member}\n${this.server}`;
  }

  async getTokens(serverKey: string): Promise<StoredTokens | undefined> {
    const facts = await this.vault.facts(this.member, this.server);
    if (!facts || facts.serverKey !== serverKey) return undefined;
    return this.vault.tokens(this.member, this.server);
  }

  saveTokens(serverKey: string, tokens: StoredTokens): Promise<void> {
    return this.vault.saveTokens(this.member, this.server, serverKey, tokens);
  }

  async deleteTokens(serverKey: string): Promise<boolean> {
    const facts = await this.vault.facts(this.member, this.server);
    if (!facts || facts.serverKey !== serverKey) return false;
    return this.vault.deleteTokens(this.member, this.server);
  }

  async recordRefreshError(serverKey: string, message: string, at: number = Date.now()): Promise<boolean> {
    const facts = await this.vault.facts(this.member, this.server);
    if (!facts || facts.serverKey !== serverKey) return false;
    return this.vault.recordRefreshError(this.member, this.server, message, at);
  }

  withServerLock<T>(
    serverKey: string,
    work: (current: StoredTokens | undefined) => Promise<T>,
    options?: ServerLockOptions,
  ): Promise<T> {
    // Read under the lock: the holder before us (on any replica) may have refreshed already.
    return this.vault.withLock(
      this.member,
      this.server,
      async () => work(await this.getTokens(serverKey)),
      options?.timeoutMs,
    );
  }

  getClient(issuer: string, match: ClientMatch = {}): Promise<StoredClient | undefined> {
    return this.vault.client(issuer, match);
  }

  saveClient(client: StoredClient): Promise<void> {
    return this.vault.saveClient(client);
  }

  deleteClient(issuer: string, match: ClientMatch = {}): Promise<number> {
    return this.vault.deleteClient(issuer, match);
  }

  getClientSecret(name: string, url: string): Promise<string | undefined> {
    return this.vault.clientSecret(name, url);
  }

  async list(): Promise<{ tokens: TokenListingEntry[] }> {
    const facts = await this.vault.facts(this.member, this.server);
    if (!facts) return { tokens: [] };
    return {
      tokens: [
        {
          serverKey: facts.serverKey,
          issuer: facts.issuer,
          resource: facts.resource,
          obtainedAt: facts.obtainedAt,
          ...(facts.lastRefreshAt !== undefined ? { lastRefreshAt: facts.lastRefreshAt } : {}),
        },
      ],
    };
  }
}

/** A link as `/me/links` and `patchbay vault list` show it: facts, never a token. */
export function linkView(link: MemberLinkFacts) {
  return {
    member: link.member,
    server: link.server,
    issuer: link.issuer,
    obtainedAt: new Date(link.obtainedAt).toISOString(),
    ...(link.lastRefreshAt ? { lastRefreshAt: new Date(link.lastRefreshAt).toISOString() } : {}),
    ...(link.scope ? { scope: link.scope } : {}),
    ...(link.lastRefreshError ? { lastRefreshError: link.lastRefreshError.message } : {}),
  };
}

/** Record keys: the member's subject is any string an IdP gives, so it is encoded. */
function tokensKey(member: string, server: string): string {
  return `tokens ${encodeURIComponent(member)} ${encodeURIComponent(server)}`;
}

function clientKey(issuer: string, redirectUri: string | undefined): string {
  return `client ${encodeURIComponent(issuer)} ${encodeURIComponent(redirectUri ?? '')}`;
}

/** The record's key is what the ciphertext is bound to. */
function aad(recordKey: string): Buffer {
  return Buffer.from(`patchbay-vault/1\n${recordKey}`, 'utf8');
}

/** A value sealed for a record outside the vault: a prefix of its own, so neither opens as the other. */
function sealedAad(context: string): Buffer {
  return Buffer.from(`patchbay-sealed/1\n${context}`, 'utf8');
}

function sealWith(key: Buffer, additional: Buffer, plaintext: string): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(additional);
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return {
    v: 1,
    iv: iv.toString('base64url'),
    data: data.toString('base64url'),
    tag: cipher.getAuthTag().toString('base64url'),
  };
}

/** Throws when `sealed` does not open with this key and these additional data. */
function openWith(key: Buffer, additional: Buffer, sealed: Sealed): string {
  const tag = Buffer.from(sealed.tag, 'base64url');
  // A shortened tag would be accepted by GCM and is easier to forge: only the full 16 bytes open.
  if (tag.length !== 16) throw new Error('wrong tag length');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64url'));
  decipher.setAAD(additional);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64url')), decipher.final()]).toString(
    'utf8',
  );
}

function isSealed(value: unknown): value is Sealed {
  if (typeof value !== 'object' || value === null) return false;
  const { v, iv, data, tag } = value as Record<string, unknown>;
  return v === 1 && typeof iv === 'string' && typeof data === 'string' && typeof tag === 'string';
}

function wrongKey(): PatchbayError {
  return new PatchbayError(
    'read-failed',
    "The vault key does not open this gateway's member vault: it is not the key the vault was written with.",
    {
      hint: "Start with the original vault.key; or, to start over, remove the members' links (patchbay vault revoke) and the vault file, and let members sign in again.",
    },
  );
}

function unreadable(recordKey: string): PatchbayError {
  return new PatchbayError(
    'read-failed',
    `A member vault record (${recordKey.split(' ')[0]}) does not open with the vault key: it was written under another key or moved from another record.`,
    { hint: 'patchbay vault revoke --member <subject> removes it; the member then signs in again.' },
  );
}
