/**
 * The Redis backend of the state store, for gateways that run as several replicas: every record
 * is one Redis string `<prefix><namespace>:<key>` holding its JSON, with Redis's own expiry for
 * records put with a TTL. Chosen client: the official `redis` (node-redis), which speaks RESP3,
 * Sentinel and Cluster. One server, a Sentinel-watched master or a Cluster (redis-url.ts,
 * redis-connection.ts): the same records, counters and bus over each.
 *
 * Atomicity, as the interface promises it:
 * - `take` is GETDEL: of two replicas taking one key, exactly one gets the value;
 * - `update` reads the record, computes the change, and writes it with a compare-and-set script
 *   (only if the record is still what was read); when another writer changed it in between, it
 *   reads again, a bounded number of times. One key per script, so it works on a Cluster too
 *   (a WATCH/MULTI transaction there would need a connection of its own per master).
 */

import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PatchbayError } from '../errors.js';
import { RedisBus } from './redis-bus.js';
import { redisConnection, runScript, type RedisCommands, type RedisConnection } from './redis-connection.js';
import { RedisLeases } from './redis-leases.js';
import { RedisLog } from './redis-log.js';
import { describeRedis, parseRedisUrl } from './redis-url.js';
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

/**
 * `update`'s write. KEYS[1]: the record. ARGV[1]: its JSON as read ('' when absent: JSON is never
 * empty); ARGV[2]: the new JSON ('' deletes it); ARGV[3]: its time to live in ms ('' for none).
 * Returns 1 when written, 0 when the record changed since it was read.
 */
const UPDATE_TEXT = `
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1])
elseif ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2])
else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
`;
const UPDATE_SCRIPT = { text: UPDATE_TEXT, sha: createHash('sha1').update(UPDATE_TEXT).digest('hex') };

export class RedisState implements StateStore {
  readonly description: string;
  readonly windows: RedisWindows;
  readonly bus: RedisBus;
  readonly leases: RedisLeases;
  /** One writer per log name, so that one process has one spool and one batch per log. */
  private readonly logs = new Map<string, SpooledLog>();

  private constructor(
    private readonly connection: RedisConnection,
    description: string,
    private readonly options: RedisStateOptions,
  ) {
    // Never the password (nor the user name) of the URL: this is printed and logged.
    this.description = description;
    this.windows = new RedisWindows(connection.commands);
    this.bus = new RedisBus(connection.pubsub, KEY_PREFIX);
    this.leases = new RedisLeases(connection.commands, `${KEY_PREFIX}lease:`);
  }

  /**
   * Connects; a URL that cannot be reached is an error that says so (redis://, rediss://,
   * redis+sentinel://, redis+cluster://).
   */
  static async connect(urlText: string, options: RedisStateOptions = {}): Promise<RedisState> {
    const target = parseRedisUrl(urlText);
    const description = describeRedis(target);
    // Reconnects on its own for as long as it runs (a bounded back-off); commands made while
    // Redis is away fail at once rather than queue, so callers can refuse clearly.
    const connection = redisConnection(target, {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2_000),
    });
    try {
      await withDeadline(connection.connect(), CONNECT_TIMEOUT_MS);
    } catch (error) {
      await connection.destroy().catch(() => undefined);
      throw new PatchbayError(
        'connect-failed',
        `Could not reach ${target.kind === 'server' ? `Redis at ${new URL(target.url).host}` : description}: ${(error as Error).message}`,
        {
          hint: 'Check that Redis runs and that the URL (host, port, password, master name) is right.',
          cause: error,
        },
      );
    }
    return new RedisState(connection, description, options);
  }

  records<T>(namespace: string): RecordStore<T> {
    return new RedisRecords<T>(
      this.connection.commands,
      `${KEY_PREFIX}${checkNamespace(namespace)}:`,
      this.connection.crossSlot,
    );
  }

  log(name: string, options: SharedLogOptions = {}): SpooledLog {
    let log = this.logs.get(name);
    if (!log) {
      const backend = new RedisLog(this.connection.commands, KEY_PREFIX, name, this.options.maxLogLines);
      // Without a directory (RedisState.connect called directly): a spool in the temp dir.
      const directory = this.options.directory ?? tmpdir();
      this.logs.set(name, (log = new SpooledLog(backend, join(directory, `${name}-spool.jsonl`), options)));
    }
    return log;
  }

  async reachable(): Promise<boolean> {
    if (!this.connection.isReady) return false;
    try {
      return (await withDeadline(this.connection.ping(), PING_TIMEOUT_MS)) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    // Lines still in flight are stored or spooled before the connection goes.
    await Promise.all([...this.logs.values()].map((log) => log.close()));
    await this.bus.close();
    await this.connection.close().catch(() => undefined);
  }
}

class RedisRecords<T> implements RecordStore<T> {
  constructor(
    private readonly client: RedisCommands,
    private readonly prefix: string,
    /** MGET may name keys of any slot (not on a Cluster). */
    private readonly crossSlot: boolean,
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
      const values = this.crossSlot
        ? await this.client.mGet(chunk)
        : await Promise.all(chunk.map((key) => this.client.get(key)));
      chunk.forEach((key, index) => {
        const value = decode<T>(values[index] ?? null);
        // Gone (expired, deleted) between the scan and the read: not an entry.
        if (value !== undefined) entries.push([key.slice(this.prefix.length), value]);
      });
    }
    return entries;
  }

  async update(key: string, change: (current: T | undefined) => T | undefined, options: PutOptions = {}) {
    const full = this.prefix + key;
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      const read = await this.client.get(full);
      const next = change(decode<T>(read));
      // Read after the change: a caller may set the lifetime from what it saw (a getter).
      const ttl = expiry(options)?.expiration.value;
      const written = await runScript(
        this.client,
        UPDATE_SCRIPT,
        [full],
        [read ?? '', next === undefined ? '' : JSON.stringify(next), ttl === undefined ? '' : String(ttl)],
      );
      if (written === 1) return next;
      // Lost to another writer: step aside for a random moment, so that many writers of one
      // key take turns instead of colliding again in lockstep.
      await sleep(Math.random() * Math.min(2 ** attempt, 50));
    }
    throw new PatchbayError('write-failed', `Could not update ${full}: other writers kept changing it.`, {
      hint: 'Try again; if it persists, something writes this record in a loop.',
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
