/**
 * The credential store: OAuth token sets per server, client registrations per authorization
 * server, and pre-registered client secrets, with the same API and behaviour whether the secrets
 * live in the OS keychain or in files.
 *
 * Layout, under the data directory (`${PATCHBAY_DATA_DIR:-${XDG_DATA_HOME:-~/.local/share}/patchbay}`, 0700):
 *
 * - `auth-index.json` (0600): the non-secret facts of every record (issuer, expiry, scopes, client
 *   kind, last refresh error…) and where its secret is (`storedIn`). `list()` reads only this, so
 *   `patchbay auth status` never touches the keychain (which cannot be enumerated anyway).
 * - `auth-secrets.json` (0600): the secrets, when they are in files. In the keychain each record is
 *   one entry (service "patchbay", account `<section>:<key>`) holding the record as JSON.
 * - `locks/<hash>.tokens.lock`: the per-server lock of `withServerLock`.
 *
 * Backend: the `backend` option, else `PATCHBAY_CREDENTIAL_STORE=keychain|file|auto`, else 'auto',
 * which uses the keychain when a probe finds it working (once per process, bounded), otherwise
 * files. Because the index records where each secret went, a process that
 * chose differently (a gateway without a desktop session) still finds every record.
 *
 * Writes: the secret first, then the index. The secret is the commit point: a token set is read
 * from its secret record alone (the index only adds `lastRefreshError`), so a rotated refresh
 * token is durable as soon as `saveTokens` returns, and a crash between the two writes leaves
 * facts one write behind, never a token lost. Every file write is atomic (temporary file, fsync,
 * rename) under the file's lock, so concurrent writers of different keys keep each other's records.
 */

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';

import { PatchbayError } from '../errors.js';
import { withFileLock } from '../core/file-store.js';
import { getOwn, isObject, setOwn, toJsonValue, type JsonObject } from '../core/json-source.js';
import { resolvePaths, type Paths } from '../core/paths.js';
import { FileVault, readStoreFile, sectionOf, updateStoreFile, type StoreFile } from './store-file.js';
import {
  KeychainVault,
  nativeKeychainVerdict,
  probeKeychain,
  PROBE_TIMEOUT_MS,
  type KeychainApi,
  type KeychainVerdict,
} from './store-keychain.js';
import { clientSecretKey, drainLegacySecrets, readLegacySecrets } from './store-legacy.js';
import {
  checkIndexRecords,
  checkSecretRecords,
  clientFacts,
  readClientFacts,
  readClientSecretFacts,
  readClientSecretRecord,
  readStoredClient,
  readStoredTokens,
  readTokenFacts,
  RecordReader,
  redactSecrets,
  STORED_IN,
  tokenFacts,
  type ClientFacts,
  type ClientSecretFacts,
  type StoredClient,
  type StoredIn,
  type StoredTokens,
  type TokenFacts,
} from './store-records.js';
import type { SecretVault, Section } from './store-vault.js';
import type { ClientMatch, ServerLockOptions, TokenStore } from './token-store.js';

export type { ClientMatch, ServerLockOptions };

export type {
  ClientFacts,
  ClientKind,
  ClientSecretFacts,
  RefreshError,
  StoredClient,
  StoredIn,
  StoredTokens,
  TokenFacts,
} from './store-records.js';
export type { KeychainApi } from './store-keychain.js';
export { redactSecrets } from './store-records.js';

export type BackendChoice = 'auto' | 'keychain' | 'file';
const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'keychain', 'file'];

export interface OpenCredentialStoreOptions {
  /** Wins over PATCHBAY_CREDENTIAL_STORE; without either, 'auto'. */
  backend?: BackendChoice;
  /** A stand-in for the OS keychain (tests). It is probed on every open, the real one once per process. */
  keychain?: KeychainApi;
  /** How long the keychain probe may take before the keychain counts as unusable. */
  probeTimeoutMs?: number;
  /** Where the store's files are: the caller's resolved paths; without them, resolved from `env`. */
  paths?: Paths;
}

export interface StoreDescription {
  /** Where new secrets go. */
  backend: StoredIn;
  /** The same, in words: a file path or the keychain's name. */
  location: string;
  dataDirectory: string;
  /** The non-secret index `list()` reads. */
  indexPath: string;
  /** Why the keychain is not used, when 'auto' tried it. */
  keychainUnavailable?: string;
}

export interface CredentialListing {
  store: StoreDescription;
  tokens: Array<TokenFacts & { serverKey: string; storedIn: StoredIn }>;
  clients: Array<ClientFacts & { storedIn: StoredIn }>;
  /** `legacy-file`: still in the pre-store credentials.json, moved on the next client-secret write. */
  clientSecrets: Array<ClientSecretFacts & { storedIn: StoredIn | 'legacy-file' }>;
}

/** Which registration of an issuer `getClient`/`deleteClient` mean. */

/** `${issuer} ${redirectUri}`; issuers are URLs, so no key is a prefix of another's issuer. */
function clientKey(issuer: string, redirectUri: string | undefined): string {
  return `${issuer} ${redirectUri ?? ''}`;
}

/** A JSON object of the record with undefined fields left out. */
function jsonRecord(value: object): JsonObject {
  return toJsonValue(value) as JsonObject;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, inner]) => inner !== undefined)) as T;
}

const FILE_FALLBACK_HINT = (dataDir: string) =>
  `To keep credentials in 0600 files under ${dataDir} instead: export PATCHBAY_CREDENTIAL_STORE=file`;

interface FoundRecord {
  secret: RecordReader;
  facts: RecordReader | undefined;
}

export class CredentialStore implements TokenStore {
  private readonly dataDir: string;
  private readonly indexPath: string;
  private readonly locksDirectory: string;
  private readonly legacyPath: string;
  private readonly fileVault: FileVault;

  /** @internal Use openCredentialStore. */
  constructor(
    paths: Paths,
    private readonly choice: BackendChoice,
    private readonly vault: SecretVault | undefined,
    private readonly keychainVerdict: () => Promise<KeychainVerdict>,
    private readonly keychainUnavailable: string | undefined,
  ) {
    this.dataDir = paths.dataDir;
    this.indexPath = paths.authIndex;
    this.locksDirectory = join(paths.dataDir, 'locks');
    this.legacyPath = paths.legacyCredentials;
    this.fileVault = new FileVault(join(paths.dataDir, 'auth-secrets.json'), checkSecretRecords);
  }

  /** Where new secrets go. */
  private get writeVault(): SecretVault {
    return this.vault ?? this.fileVault;
  }

  get backend(): StoredIn {
    return this.writeVault.kind;
  }

  /** One refresh at a time per login of this data directory (token-store.ts). */
  refreshScope(): string {
    return this.dataDir;
  }

  describe(): StoreDescription {
    return withoutUndefined({
      backend: this.backend,
      location: this.writeVault.location,
      dataDirectory: this.dataDir,
      indexPath: this.indexPath,
      keychainUnavailable: this.keychainUnavailable,
    });
  }

  // ----- tokens -------------------------------------------------------------------------------

  /** The token set stored for `serverKey`, with its last refresh error. */
  async getTokens(serverKey: string): Promise<StoredTokens | undefined> {
    const found = await this.readRecord('tokens', serverKey);
    if (!found) return undefined;
    const tokens = readStoredTokens(found.secret);
    const facts = found.facts && readTokenFacts(found.facts);
    return withoutUndefined({ ...tokens, lastRefreshError: facts?.lastRefreshError });
  }

  /**
   * Replace the token set of `serverKey`. Durable when this returns (a rotated refresh token is
   * stored before anyone uses it). `lastRefreshError` is kept only if given: a save after a
   * successful refresh clears it.
   */
  async saveTokens(serverKey: string, tokens: StoredTokens): Promise<void> {
    const { lastRefreshError, ...secret } = tokens;
    const facts = tokenFacts({
      ...tokens,
      lastRefreshError: lastRefreshError && {
        at: lastRefreshError.at,
        message: redactSecrets(lastRefreshError.message, [tokens.accessToken, tokens.refreshToken]),
      },
    });
    await this.putRecord('tokens', serverKey, jsonRecord(secret), jsonRecord(facts));
  }

  /** Whether there were tokens to delete. */
  deleteTokens(serverKey: string): Promise<boolean> {
    return this.deleteRecord('tokens', serverKey);
  }

  /**
   * Note why a refresh failed, for `auth status`. The message is stored with the server's tokens
   * (and anything shaped like a credential) redacted. Returns false when there are no tokens.
   */
  async recordRefreshError(serverKey: string, message: string, at: number = Date.now()): Promise<boolean> {
    let known: Array<string | undefined> = [];
    try {
      const current = await this.getTokens(serverKey);
      known = [current?.accessToken, current?.refreshToken];
    } catch {
      // The secret cannot be read (a keychain out of reach): the pattern-based redaction still applies.
    }
    const lastRefreshError = jsonRecord({ at, message: redactSecrets(message, known) });
    if (!(await this.readIndex())) return false;
    return updateStoreFile(this.indexPath, checkIndexRecords, ({ root }) => {
      const entries = sectionOf(root, 'tokens');
      const entry = entries && getOwn(entries, serverKey);
      if (!isObject(entry)) return { write: false, result: false };
      setOwn(entry, 'lastRefreshError', lastRefreshError);
      return { write: true, result: true };
    });
  }

  /**
   * Run `work` holding the cross-process lock of `serverKey`, with the token set as re-read under
   * the lock: another process may have refreshed it while this one waited. The refresh pattern:
   * `withServerLock(key, async (current) => expired(current) ? refreshAndSave(current) : current)`.
   * `work` should finish well within 30 s, after which a waiting process takes the lock for stale.
   */
  async withServerLock<T>(
    serverKey: string,
    work: (current: StoredTokens | undefined) => Promise<T>,
    options: ServerLockOptions = {},
  ): Promise<T> {
    await this.ensureDataDirectory();
    await fs.mkdir(this.locksDirectory, { recursive: true, mode: 0o700 });
    const name = createHash('sha256').update(serverKey).digest('hex').slice(0, 32);
    return withFileLock(join(this.locksDirectory, `${name}.tokens`), options.timeoutMs ?? 60_000, async () =>
      work(await this.getTokens(serverKey)),
    );
  }

  // ----- client registrations -----------------------------------------------------------------

  /**
   * A registration at `issuer`: one bound to `match.redirectUri` (or to no redirect URI), with
   * `match.clientId` if given; the most recent when several fit, an exact redirect URI first.
   */
  async getClient(issuer: string, match: ClientMatch = {}): Promise<StoredClient | undefined> {
    for (const key of await this.clientKeys(issuer, match)) {
      const found = await this.readRecord('clients', key);
      const client = found && readStoredClient(found.secret);
      if (client && client.issuer === issuer) return withoutUndefined(client);
    }
    return undefined;
  }

  async saveClient(client: StoredClient): Promise<void> {
    await this.putRecord(
      'clients',
      clientKey(client.issuer, client.redirectUri),
      jsonRecord(client),
      jsonRecord(clientFacts(client)),
    );
  }

  /** Delete the registrations of `issuer` that fit `match` (all of them without one); how many. */
  async deleteClient(issuer: string, match: ClientMatch = {}): Promise<number> {
    let deleted = 0;
    for (const key of await this.clientKeys(issuer, match)) {
      if (await this.deleteRecord('clients', key)) deleted++;
    }
    return deleted;
  }

  private async clientKeys(issuer: string, match: ClientMatch): Promise<string[]> {
    const index = await this.readIndex();
    const entries = index && sectionOf(index.root, 'clients');
    if (!index || !entries) return [];
    const fits: Array<{ key: string; facts: ClientFacts }> = [];
    for (const key of Object.keys(entries)) {
      const facts = readClientFacts(RecordReader.of(entries[key], index.locate, ['clients', key]));
      if (facts.issuer !== issuer) continue;
      if (match.clientId !== undefined && facts.clientId !== match.clientId) continue;
      if (
        match.redirectUri !== undefined &&
        facts.redirectUri !== undefined &&
        facts.redirectUri !== match.redirectUri
      ) {
        continue;
      }
      fits.push({ key, facts });
    }
    const exact = (facts: ClientFacts) =>
      match.redirectUri !== undefined && facts.redirectUri === match.redirectUri ? 1 : 0;
    fits.sort((a, b) => exact(b.facts) - exact(a.facts) || b.facts.registeredAt - a.facts.registeredAt);
    return fits.map((fit) => fit.key);
  }

  // ----- pre-registered client secrets --------------------------------------------------------

  /** The secret given with `add --client-secret` for this server name and URL. */
  async getClientSecret(name: string, url: string): Promise<string | undefined> {
    const found = await this.readRecord('clientSecrets', clientSecretKey(name, url));
    if (found) return readClientSecretRecord(found.secret).secret;
    const legacy = await readLegacySecrets(this.legacyPath);
    return legacy.find((entry) => entry.name === name && entry.url === url)?.secret;
  }

  async saveClientSecret(name: string, url: string, secret: string, storedAt = Date.now()): Promise<void> {
    await this.migrateLegacyClientSecrets();
    await this.putClientSecret(name, url, secret, storedAt);
  }

  async deleteClientSecret(name: string, url: string): Promise<boolean> {
    await this.migrateLegacyClientSecrets();
    return this.deleteRecord('clientSecrets', clientSecretKey(name, url));
  }

  /**
   * Move the secrets of the pre-store `credentials.json` into the store (one the store already has
   * is not overwritten) and remove them from that file, under its lock. Runs before every
   * client-secret write, so the old file can never bring back a secret changed or deleted since.
   */
  migrateLegacyClientSecrets(): Promise<number> {
    return drainLegacySecrets(this.legacyPath, async (secrets) => {
      for (const { name, url, secret } of secrets) {
        if (await this.readRecord('clientSecrets', clientSecretKey(name, url))) continue;
        await this.putClientSecret(name, url, secret, undefined);
      }
    });
  }

  private putClientSecret(name: string, url: string, secret: string, storedAt: number | undefined) {
    const facts = { name, url, storedAt };
    return this.putRecord(
      'clientSecrets',
      clientSecretKey(name, url),
      jsonRecord({ ...facts, secret }),
      jsonRecord(facts),
    );
  }

  // ----- listing ------------------------------------------------------------------------------

  /** Everything stored, from the index alone (no keychain access), sorted by key. */
  async list(): Promise<CredentialListing> {
    const index = await this.readIndex();
    const listing: CredentialListing = { store: this.describe(), tokens: [], clients: [], clientSecrets: [] };
    const each = <T>(section: Section, read: (record: RecordReader, key: string) => T): T[] => {
      const entries = index && sectionOf(index.root, section);
      if (!index || !entries) return [];
      return Object.keys(entries)
        .sort()
        .map((key) => read(RecordReader.of(entries[key], index.locate, [section, key]), key));
    };
    const storedIn = (record: RecordReader) => record.oneOf('storedIn', STORED_IN);
    listing.tokens = each('tokens', (record, serverKey) =>
      withoutUndefined({ serverKey, ...readTokenFacts(record), storedIn: storedIn(record) }),
    );
    listing.clients = each('clients', (record) =>
      withoutUndefined({ ...readClientFacts(record), storedIn: storedIn(record) }),
    );
    listing.clientSecrets = each('clientSecrets', (record) =>
      withoutUndefined({ ...readClientSecretFacts(record), storedIn: storedIn(record) }),
    );
    const known = new Set(listing.clientSecrets.map((entry) => clientSecretKey(entry.name, entry.url)));
    for (const { name, url } of await readLegacySecrets(this.legacyPath)) {
      if (!known.has(clientSecretKey(name, url)))
        listing.clientSecrets.push({ name, url, storedIn: 'legacy-file' });
    }
    return listing;
  }

  // ----- records: a secret in a vault, facts in the index -------------------------------------

  private readIndex(): Promise<StoreFile | undefined> {
    return readStoreFile(this.indexPath, checkIndexRecords);
  }

  private async vaultFor(storedIn: StoredIn, section: Section, key: string): Promise<SecretVault> {
    if (storedIn === this.writeVault.kind) return this.writeVault;
    if (storedIn === 'file') return this.fileVault;
    const verdict = await this.keychainVerdict();
    if (verdict.usable) return new KeychainVault(verdict.api, FILE_FALLBACK_HINT(this.dataDir));
    const what = {
      tokens: `The tokens for ${key} are`,
      clients: `The client registration ${key} is`,
      clientSecrets: `The client secret for ${key} is`,
    }[section];
    throw new PatchbayError(
      'needs-auth',
      `${what} in the OS keychain, which this process cannot use: ${verdict.reason}.`,
      {
        hint: 'Run patchbay where the keychain is available, or log in again here to keep the credentials in files (patchbay login <server>).',
      },
    );
  }

  private async readRecord(section: Section, key: string): Promise<FoundRecord | undefined> {
    const index = await this.readIndex();
    const entries = index && sectionOf(index.root, section);
    const entry = entries && getOwn(entries, key);
    const facts = index && isObject(entry) ? RecordReader.of(entry, index.locate, [section, key]) : undefined;
    // No index entry: a crash between the secret's write and the index's; the secret is the truth.
    const storedIn = facts ? facts.oneOf('storedIn', STORED_IN) : this.writeVault.kind;
    const vault = await this.vaultFor(storedIn, section, key);
    const found = await vault.get(section, key);
    if (!found) return undefined;
    return { secret: RecordReader.of(found.value, found.locate, []), facts };
  }

  private async putRecord(
    section: Section,
    key: string,
    secret: JsonObject,
    facts: JsonObject,
  ): Promise<void> {
    await this.ensureDataDirectory();
    const vault = await this.putSecret(section, key, secret);
    setOwn(facts, 'storedIn', vault.kind);
    const previous = await updateStoreFile<StoredIn | undefined>(
      this.indexPath,
      checkIndexRecords,
      ({ root }) => {
        const entries = sectionOf(root, section, true);
        const old = getOwn(entries, key);
        const storedIn = isObject(old) ? getOwn(old, 'storedIn') : undefined;
        setOwn(entries, key, facts);
        return { write: true, result: storedIn === 'keychain' || storedIn === 'file' ? storedIn : undefined };
      },
    );
    if (previous !== undefined && previous !== vault.kind) {
      // The index no longer points at the old copy; removing it is tidying, not correctness.
      try {
        await (await this.vaultFor(previous, section, key)).delete(section, key);
      } catch {
        // A keychain out of reach keeps an orphaned copy that nothing reads.
      }
    }
  }

  /** In 'auto', a secret the keychain refuses (Windows caps an entry at 2.5 KB) goes to the file. */
  private async putSecret(section: Section, key: string, secret: JsonObject): Promise<SecretVault> {
    try {
      await this.writeVault.put(section, key, secret);
      return this.writeVault;
    } catch (error) {
      if (this.choice !== 'auto' || this.writeVault.kind !== 'keychain') throw error;
      await this.fileVault.put(section, key, secret);
      return this.fileVault;
    }
  }

  private async deleteRecord(section: Section, key: string): Promise<boolean> {
    const index = await this.readIndex();
    const entries = index && sectionOf(index.root, section);
    const entry = entries && getOwn(entries, key);
    const recorded = isObject(entry) ? getOwn(entry, 'storedIn') : undefined;
    const places = new Set<StoredIn>([this.writeVault.kind]);
    if (recorded === 'keychain' || recorded === 'file') places.add(recorded);
    let existed = false;
    for (const place of places) {
      if (await (await this.vaultFor(place, section, key)).delete(section, key)) existed = true;
    }
    if (!index) return existed;
    const inIndex = await updateStoreFile(this.indexPath, checkIndexRecords, ({ root }) => {
      const current = sectionOf(root, section);
      if (!current || getOwn(current, key) === undefined) return { write: false, result: false };
      delete current[key];
      return { write: true, result: true };
    });
    return existed || inIndex;
  }

  /** The data directory, 0700 (tightened if it is looser). */
  private async ensureDataDirectory(): Promise<void> {
    await fs.mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const stat = await fs.stat(this.dataDir);
    if ((stat.mode & 0o077) !== 0) await fs.chmod(this.dataDir, stat.mode & 0o700);
  }
}

function chosenBackend(env: NodeJS.ProcessEnv, option: BackendChoice | undefined): BackendChoice {
  if (option !== undefined) return option;
  const fromEnv = env.PATCHBAY_CREDENTIAL_STORE;
  if (!fromEnv) return 'auto';
  if (!(BACKEND_CHOICES as readonly string[]).includes(fromEnv)) {
    throw new PatchbayError(
      'usage',
      `PATCHBAY_CREDENTIAL_STORE is "${fromEnv}"; it must be keychain, file or auto.`,
      { hint: 'export PATCHBAY_CREDENTIAL_STORE=file   # or keychain, or unset it for auto' },
    );
  }
  return fromEnv as BackendChoice;
}

/**
 * Open the credential store at `options.paths` (else the paths of `env`), with the backend
 * `options.backend` or PATCHBAY_CREDENTIAL_STORE names. Opening writes
 * nothing; with the file backend it does not load the keychain module either.
 */
export async function openCredentialStore(
  env: NodeJS.ProcessEnv = process.env,
  options: OpenCredentialStoreOptions = {},
): Promise<CredentialStore> {
  const choice = chosenBackend(env, options.backend);
  const paths = options.paths ?? resolvePaths(env);
  const dataDir = paths.dataDir;
  const timeoutMs = options.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
  let verdict: Promise<KeychainVerdict> | undefined;
  const keychainVerdict = () => {
    const standIn = options.keychain;
    verdict ??= standIn ? probeKeychain(standIn, timeoutMs) : nativeKeychainVerdict(timeoutMs);
    return verdict;
  };
  const open = (vault: SecretVault | undefined, unavailable?: string) =>
    new CredentialStore(paths, choice, vault, keychainVerdict, unavailable);

  if (choice === 'file') return open(undefined);
  const found = await keychainVerdict();
  if (found.usable) return open(new KeychainVault(found.api, FILE_FALLBACK_HINT(dataDir)));
  if (choice === 'keychain') {
    throw new PatchbayError(
      'write-failed',
      `The credential store is set to the OS keychain, which cannot be used here: ${found.reason}.`,
      { hint: FILE_FALLBACK_HINT(dataDir) },
    );
  }
  return open(undefined, found.reason);
}
