/**
 * The Redis backend of the state store, for gateways that run as several replicas: every record
 * is one Redis string `<prefix><namespace>:<key>` holding its JSON, with Redis's own expiry for
 * records put with a TTL. Chosen client: the official `redis` (node-redis), which speaks RESP3,
 * Sentinel and Cluster, and gives isolated connections from a pool for optimistic transactions.
 *
 * Atomicity, as the interface promises it:
 * - `take` is GETDEL: of two replicas taking one key, exactly one gets the value;
 * - `update` is an optimistic transaction (WATCH the key, read, MULTI/SET/EXEC on a connection of
 *   its own from the pool), retried when another writer changed the key in between, a bounded
 *   number of times.
 */

import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  createClient,
  createClientPool,
  WatchError,
  type RedisClientPoolType,
  type RedisClientType,
} from 'redis';

import { PatchbayError } from '../errors.js';
import { describeState } from './describe.js';
import { RedisBus } from './redis-bus.js';
import { RedisLog } from './redis-log.js';
import { RedisWindows } from './redis-windows.js';
import { SpooledLog } from './spooled-log.js';
import {
  checkNamespace,
  type PutOptions,
  type RecordStore,
  type SharedLogOptions,
  type StateStore,
} from './store.js';

export interface RedisStateOptions {
  /** This machine's state directory: where a shared log's spool is kept while Redis is away. */
  directory?: string;
  /** The audit stream's approximate bound (redis-log.ts DEFAULT_MAX_LINES). */
  maxLogLines?: number;
}

/** Records of all namespaces share this prefix, so one Redis can serve other things too. */
export const KEY_PREFIX = 'patchbay:';
/** An update that keeps losing to other writers gives up after this many tries. */
const UPDATE_ATTEMPTS = 50;
/** The first connection must be made within this. */
const CONNECT_TIMEOUT_MS = 5_000;
/** A readiness PING that takes longer than this counts as unreachable. */
const PING_TIMEOUT_MS = 1_000;
/** Keys asked for per SCAN step, and per MGET. */
const SCAN_COUNT = 500;

type Client = RedisClientType;
type Pool = RedisClientPoolType;

export class RedisState implements StateStore {
  readonly description: string;
  readonly windows: RedisWindows;
  readonly bus: RedisBus;
  /** One writer per log name, so that one process has one spool and one batch per log. */
  private readonly logs = new Map<string, SpooledLog>();

  private constructor(
    private readonly client: Client,
    private readonly pool: Pool,
    url: URL,
    private readonly options: RedisStateOptions,
  ) {
    // Never the password (nor the user name) of the URL: this is printed and logged.
    this.description = describeState(url.href, '');
    this.windows = new RedisWindows(client);
    this.bus = new RedisBus(client, KEY_PREFIX);
  }

  /** Connects; a URL that cannot be reached is an error that says so (redis:// or rediss://). */
  static async connect(urlText: string, options: RedisStateOptions = {}): Promise<RedisState> {
    let url: URL;
    try {
      url = new URL(urlText);
    } catch {
      // Not repeated: the text may hold a password.
      throw new PatchbayError('usage', 'Not a Redis URL.', {
        hint: 'Give redis://host:6379 or rediss://host:6380 (TLS).',
      });
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
      throw new PatchbayError('usage', `Not a Redis URL: ${url.protocol}//${url.host}`, {
        hint: 'Give redis://host:6379 or rediss://host:6380 (TLS).',
      });
    // Reconnects on its own for as long as it runs (a bounded back-off); commands made while
    // Redis is away fail at once rather than queue, so callers can refuse clearly.
    const socket = {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2_000),
    };
    const client: Client = createClient({ url: urlText, socket, disableOfflineQueue: true });
    const pool: Pool = createClientPool(
      { url: urlText, socket, disableOfflineQueue: true },
      { minimum: 1, maximum: 8 },
    );
    // Reconnection is the client's own; errors between commands are reported by the commands.
    client.on('error', () => undefined);
    pool.on('error', () => undefined);
    try {
      await withDeadline(Promise.all([client.connect(), pool.connect()]), CONNECT_TIMEOUT_MS);
    } catch (error) {
      await Promise.allSettled([client.destroy(), pool.destroy()]);
      throw new PatchbayError(
        'connect-failed',
        `Could not reach Redis at ${url.host}: ${(error as Error).message}`,
        {
          hint: 'Check that Redis runs and that the URL (host, port, password) is right.',
          cause: error,
        },
      );
    }
    return new RedisState(client, pool, url, options);
  }

  records<T>(namespace: string): RecordStore<T> {
    return new RedisRecords<T>(this.client, this.pool, `${KEY_PREFIX}${checkNamespace(namespace)}:`);
  }

  log(name: string, options: SharedLogOptions = {}): SpooledLog {
    let log = this.logs.get(name);
    if (!log) {
      const backend = new RedisLog(this.client, KEY_PREFIX, name, this.options.maxLogLines);
      // Without a directory (a reader such as patchbay log --state): a spool in the temp dir.
      const directory = this.options.directory ?? tmpdir();
      this.logs.set(name, (log = new SpooledLog(backend, join(directory, `${name}-spool.jsonl`), options)));
    }
    return log;
  }

  async reachable(): Promise<boolean> {
    if (!this.client.isReady) return false;
    try {
      return (await withDeadline(this.client.ping(), PING_TIMEOUT_MS)) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    // Lines still in flight are stored or spooled before the connection goes.
    await Promise.all([...this.logs.values()].map((log) => log.close()));
    await this.bus.close();
    await Promise.allSettled([this.client.close(), this.pool.close()]);
  }
}

class RedisRecords<T> implements RecordStore<T> {
  constructor(
    private readonly client: Client,
    private readonly pool: Pool,
    private readonly prefix: string,
  ) {}

  async get(key: string): Promise<T | undefined> {
    return decode<T>(await this.client.get(this.prefix + key));
  }

  async put(key: string, value: T, options: PutOptions = {}): Promise<void> {
    await this.client.set(this.prefix + key, JSON.stringify(value), expiry(options));
  }

  async take(key: string): Promise<T | undefined> {
    return decode<T>(await this.client.getDel(this.prefix + key));
  }

  async delete(key: string): Promise<boolean> {
    return (await this.client.del(this.prefix + key)) > 0;
  }

  async entries(): Promise<Array<[string, T]>> {
    const keys: string[] = [];
    for await (const batch of this.client.scanIterator({
      MATCH: `${escapeGlob(this.prefix)}*`,
      COUNT: SCAN_COUNT,
    }))
      keys.push(...batch);
    const entries: Array<[string, T]> = [];
    for (let start = 0; start < keys.length; start += SCAN_COUNT) {
      const chunk = keys.slice(start, start + SCAN_COUNT);
      const values = await this.client.mGet(chunk);
      chunk.forEach((key, index) => {
        const value = decode<T>(values[index] ?? null);
        // Gone (expired, deleted) between the scan and the read: not an entry.
        if (value !== undefined) entries.push([key.slice(this.prefix.length), value]);
      });
    }
    return entries;
  }

  update(key: string, change: (current: T | undefined) => T | undefined, options: PutOptions = {}) {
    const full = this.prefix + key;
    return this.pool.execute(async (client) => {
      for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
        await client.watch(full);
        const next = change(decode<T>(await client.get(full)));
        const transaction = client.multi();
        if (next === undefined) transaction.del(full);
        else transaction.set(full, JSON.stringify(next), expiry(options));
        try {
          await transaction.exec();
          return next;
        } catch (error) {
          if (!(error instanceof WatchError)) throw error;
        }
        // Lost to another writer: step aside for a random moment, so that many writers of one
        // key take turns instead of colliding again in lockstep.
        await sleep(Math.random() * Math.min(2 ** attempt, 50));
      }
      throw new PatchbayError('write-failed', `Could not update ${full}: other writers kept changing it.`, {
        hint: 'Try again; if it persists, something writes this record in a loop.',
      });
    });
  }
}

function expiry(options: PutOptions): { expiration: { type: 'PX'; value: number } } | undefined {
  return options.ttlMs === undefined
    ? undefined
    : { expiration: { type: 'PX', value: Math.max(1, Math.ceil(options.ttlMs)) } };
}

function decode<T>(text: string | null): T | undefined {
  return text === null ? undefined : (JSON.parse(text) as T);
}

/** A literal prefix inside a SCAN MATCH pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no connection within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
