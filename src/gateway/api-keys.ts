/**
 * Named API keys for machines (CI, scripts): `patchbay keys create|list|revoke` and the gateway's
 * authenticator for them. A key belongs to a member (their subject) or to a service, carries its
 * own groups and scopes, may expire, and can be revoked from any process on the machine.
 *
 * A key is `pbk_<id>_<secret>`: the id (16 hex digits) finds the record, the secret (256 random
 * bits, base64url) proves it. The key is shown once, at creation; the store keeps only the
 * secret's SHA-256. A slow password hash (scrypt, argon2) exists to make guessing a low-entropy
 * password expensive; a 256-bit random secret cannot be guessed at any speed, so one fast hash is
 * as strong and keeps the check cheap on every request. Hashes are compared in constant time.
 *
 * Records live in the state store (namespace `api-keys`, kept as secrets), keyed by id; a second
 * namespace (`api-key-names`) maps each name to its key's id, claimed atomically, so that two
 * `patchbay keys create` at once can never give two live keys one name.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import { PatchbayError } from '../errors.js';
import type { RecordStore, StateStore } from '../state/store.js';
import { DEFAULT_SCOPES, type Deployment } from './deployment.js';
import type { Authenticator, Identity } from './inbound.js';

export const KEY_PREFIX = 'pbk_';

const KEYS_NAMESPACE = 'api-keys';
const NAMES_NAMESPACE = 'api-key-names';

/**
 * How long the gateway trusts what it read about a key: a revocation (or a key created for an id
 * it had looked up before) made by another process takes effect within this bound.
 */
export const KEY_CACHE_MS = 5_000;
/** `lastUsedAt` is written at most this often per key, after the request has been answered. */
export const LAST_USED_EVERY_MS = 60_000;
/** At most this many ids are remembered (known or unknown); beyond it the oldest are forgotten. */
const CACHE_ENTRIES = 10_000;

/** What the store keeps about a key (never the key or its secret). */
export interface ApiKeyRecord {
  id: string;
  name: string;
  /** The member's subject; absent for a service key. */
  member?: string;
  /** The service's name (the key's name) for a service key. */
  service?: string;
  email?: string;
  groups: string[];
  scopes: string[];
  /** ISO 8601. */
  createdAt: string;
  expiresAt?: string;
  revokedAt?: string;
  lastUsedAt?: string;
  /** `sha256:` and the secret's SHA-256, base64url. */
  secretHash: string;
}

/** A key as `keys list` shows it: no hash. */
export type ApiKeyView = Omit<ApiKeyRecord, 'secretHash'> & { state: ApiKeyState };

export type ApiKeyState = 'active' | 'expired' | 'revoked';

export interface CreateKeyOptions {
  name: string;
  /** Exactly one of member and service. */
  member?: string;
  service?: boolean;
  email?: string;
  groups?: string[];
  scopes: string[];
  /** Milliseconds from now; undefined: never expires. */
  expiresInMs?: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A key's name: letters, digits, `.`, `_`, `-`, starting with a letter or digit, at most 64. */
export function validateKeyName(name: string): string {
  if (!NAME.test(name))
    throw new PatchbayError('invalid-name', `Invalid key name ${JSON.stringify(name)}.`, {
      hint: 'Use letters, digits, ".", "_" and "-" (start with a letter or digit, at most 64), e.g. ci-deploy.',
    });
  return name;
}

export function keyState(record: ApiKeyRecord, now = Date.now()): ApiKeyState {
  if (record.revokedAt !== undefined) return 'revoked';
  if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now) return 'expired';
  return 'active';
}

function hashSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('base64url')}`;
}

function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** `pbk_<id>_<secret>` → its parts; undefined for anything else. */
export function parseKey(key: string): { id: string; secret: string } | undefined {
  const match = /^pbk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(key);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

/** The API keys of one state store. */
export class ApiKeys {
  private readonly keys: RecordStore<ApiKeyRecord>;
  private readonly names: RecordStore<string>;

  constructor(state: StateStore) {
    this.keys = state.records<ApiKeyRecord>(KEYS_NAMESPACE, { secret: true });
    this.names = state.records<string>(NAMES_NAMESPACE);
  }

  /** Creates a key and returns it (the only time it is seen) with its record. */
  async create(options: CreateKeyOptions, now = Date.now()): Promise<{ key: string; record: ApiKeyRecord }> {
    const name = validateKeyName(options.name);
    if ((options.member === undefined) === !options.service)
      throw new PatchbayError('usage', 'A key belongs to a member or to a service: give one of the two.', {
        hint: `patchbay keys create ${name} --member <subject>   or   patchbay keys create ${name} --service`,
      });
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const record: ApiKeyRecord = {
      id,
      name,
      ...(options.member !== undefined ? { member: options.member } : { service: name }),
      ...(options.email !== undefined ? { email: options.email } : {}),
      groups: [...new Set(options.groups ?? [])],
      scopes: [...new Set(options.scopes)],
      createdAt: new Date(now).toISOString(),
      ...(options.expiresInMs !== undefined
        ? { expiresAt: new Date(now + options.expiresInMs).toISOString() }
        : {}),
      secretHash: hashSecret(secret),
    };
    // The record first, then the name: the claim is the step that decides, and a record whose
    // claim failed is deleted again (its key was never shown).
    await this.keys.put(id, record);
    let holder: ApiKeyRecord | undefined;
    try {
      holder = await this.claimName(name, id, now);
    } catch (error) {
      await this.keys.delete(id).catch(() => undefined);
      throw error;
    }
    if (holder !== undefined) {
      await this.keys.delete(id);
      throw new PatchbayError(
        'duplicate',
        `An API key named ${name} exists already (${keyState(holder, now)}).`,
        {
          hint: `Choose another name, or revoke it first: patchbay keys revoke ${name}`,
        },
      );
    }
    return { key: `${KEY_PREFIX}${id}_${secret}`, record };
  }

  /**
   * Points `name` at `id` unless a live key holds it; returns that key when one does. The name of
   * a revoked or expired key (or of one that is gone) may be used again: compare-and-set on the
   * holder read, so that of two processes taking one free name, exactly one wins.
   */
  private async claimName(name: string, id: string, now: number): Promise<ApiKeyRecord | undefined> {
    let expected: string | undefined;
    for (let attempt = 0; attempt < 10; attempt++) {
      const holderId = await this.names.update(name, (current) => (current === expected ? id : current));
      if (holderId === id) return undefined;
      const holder = holderId === undefined ? undefined : await this.keys.get(holderId);
      if (holder !== undefined && keyState(holder, now) === 'active') return holder;
      expected = holderId;
    }
    throw new PatchbayError('conflict', `The name ${name} kept changing hands while this key was created.`, {
      hint: `Try again: patchbay keys create ${name} …`,
    });
  }

  /** Every key, oldest first, without hashes; a key whose name another key took over stays listed. */
  async list(now = Date.now()): Promise<ApiKeyView[]> {
    return (await this.keys.entries())
      .map(([, record]) => view(record, now))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  }

  /** Revokes the key of this name (its current one); returns it, or undefined when no key has it. */
  async revoke(name: string, now = Date.now()): Promise<ApiKeyView | undefined> {
    validateKeyName(name);
    const id = await this.names.get(name);
    if (id === undefined) return undefined;
    const revoked = await this.keys.update(id, (current) =>
      current === undefined || current.revokedAt !== undefined
        ? current
        : { ...current, revokedAt: new Date(now).toISOString() },
    );
    return revoked && view(revoked, now);
  }

  /** The record of an id, straight from the store. */
  get(id: string): Promise<ApiKeyRecord | undefined> {
    return this.keys.get(id);
  }

  /** Records a use (kept unless the key is gone). */
  async touch(id: string, at: number): Promise<void> {
    await this.keys.update(id, (current) =>
      current === undefined ? undefined : { ...current, lastUsedAt: new Date(at).toISOString() },
    );
  }
}

function view(record: ApiKeyRecord, now: number): ApiKeyView {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { secretHash, ...shown } = record;
  return { ...shown, state: keyState(record, now) };
}

export interface ApiKeyAuthenticatorOptions {
  /** Scopes every request needs: a key lacking one is refused with 403 insufficient_scope. */
  requiredScopes: string[];
  /** Default KEY_CACHE_MS. */
  cacheMs?: number;
  /** For tests. */
  now?: () => number;
  /** A failed `lastUsedAt` write (it never fails the request). */
  onError?: (error: unknown) => void;
}

interface Cached {
  record: ApiKeyRecord | undefined;
  readAt: number;
}

/**
 * The gateway's authenticator for API keys: a bearer starting with `pbk_` is one (whatever else
 * it holds). Lookups are cached by id for `cacheMs`, so a request reads no file in the common
 * case and a revocation by another process takes effect within that bound.
 */
export function apiKeyAuthenticator(
  keys: ApiKeys,
  options: ApiKeyAuthenticatorOptions,
): Authenticator & { close(): Promise<void> } {
  const cacheMs = options.cacheMs ?? KEY_CACHE_MS;
  const now = options.now ?? Date.now;
  const cache = new Map<string, Cached>();
  const reading = new Map<string, Promise<ApiKeyRecord | undefined>>();
  /** When each key's use was last written (or is being written). */
  const lastWritten = new Map<string, number>();
  const writes = new Set<Promise<void>>();

  const lookup = async (id: string): Promise<ApiKeyRecord | undefined> => {
    const cached = cache.get(id);
    if (cached && now() - cached.readAt < cacheMs) return cached.record;
    // Single flight: a burst of requests with one key reads the store once.
    let pending = reading.get(id);
    if (!pending) {
      pending = keys.get(id).finally(() => reading.delete(id));
      reading.set(id, pending);
    }
    const record = await pending;
    if (cache.size >= CACHE_ENTRIES && !cache.has(id)) cache.delete(cache.keys().next().value!);
    cache.set(id, { record, readAt: now() });
    return record;
  };

  const noteUse = (record: ApiKeyRecord, at: number) => {
    const written = lastWritten.get(record.id) ?? (record.lastUsedAt ? Date.parse(record.lastUsedAt) : NaN);
    if (!Number.isNaN(written) && at - written < LAST_USED_EVERY_MS) return;
    lastWritten.set(record.id, at);
    if (lastWritten.size > CACHE_ENTRIES) lastWritten.delete(lastWritten.keys().next().value!);
    // After the answer: the request never waits for this write.
    const write = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => keys.touch(record.id, at))
      .catch((error: unknown) => options.onError?.(error))
      .finally(() => writes.delete(write));
    writes.add(write);
  };

  const invalid = (description: string) =>
    ({ ok: false, kind: 'refused', status: 401, error: 'invalid_token', description }) as const;

  return {
    async authenticate(bearer) {
      if (bearer === undefined || !bearer.startsWith(KEY_PREFIX)) return { ok: false, kind: 'not-mine' };
      const parts = parseKey(bearer);
      if (!parts) return invalid('This API key is malformed.');
      const record = await lookup(parts.id);
      if (!record || !sameHash(hashSecret(parts.secret), record.secretHash))
        return invalid('This API key is not known to this gateway.');
      const at = now();
      const state = keyState(record, at);
      if (state === 'revoked') return invalid(`The API key ${record.name} was revoked.`);
      if (state === 'expired') return invalid(`The API key ${record.name} has expired.`);
      const missing = options.requiredScopes.filter((scope) => !record.scopes.includes(scope));
      if (missing.length > 0)
        return {
          ok: false,
          kind: 'refused',
          status: 403,
          error: 'insufficient_scope',
          description: `The API key ${record.name} lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}.`,
          scope: options.requiredScopes.join(' '),
        };
      noteUse(record, at);
      const identity: Identity = {
        auth: 'api-key',
        subject: record.member ?? `service:${record.service ?? record.name}`,
        ...(record.email !== undefined ? { email: record.email } : {}),
        groups: record.groups,
        client: record.name,
        scopes: record.scopes,
      };
      return { ok: true, identity };
    },
    challenge: () => ({ realm: 'patchbay' }),
    async close() {
      await Promise.all([...writes]);
    },
  };
}

/**
 * The authenticator a team deployment uses (team.ts): a key needs the scopes the deployment's
 * OAuth side asks of every request (default `mcp`), so a key and an access token open the same doors.
 */
export function apiKeysFront(
  deployment: Deployment,
  state: StateStore,
): ReturnType<typeof apiKeyAuthenticator> {
  const { auth } = deployment;
  return apiKeyAuthenticator(new ApiKeys(state), {
    requiredScopes: auth.oauth?.scopes ?? auth.authorizationServer?.scopes ?? DEFAULT_SCOPES,
  });
}
