/**
 * The store interface for the gateway's mutable shared state: API keys, per-member upstream
 * logins (the vault), sign-in states, the authorization server's records, and later (#20) limit
 * windows, sessions and pending rounds. One interface, two backends: files on one machine (the
 * default, `state/files.ts`) and Redis for replicas. Jobs are written once, against this.
 *
 * A namespace holds records by key. Values are JSON. A record may expire; an expired record is
 * absent to every read.
 */

export interface PutOptions {
  /** The record is gone this many milliseconds from now. */
  ttlMs?: number;
}

export interface RecordStore<T> {
  get(key: string): Promise<T | undefined>;
  put(key: string, value: T, options?: PutOptions): Promise<void>;
  /**
   * Read and remove in one step: of two callers taking one key at once, exactly one gets the
   * value (single-use sign-in states, authorization codes).
   */
  take(key: string): Promise<T | undefined>;
  /** True when a record was there. */
  delete(key: string): Promise<boolean>;
  /** Every live record (for small namespaces: listings, lookups by a secondary field). */
  entries(): Promise<Array<[key: string, value: T]>>;
  /**
   * Change one record atomically: `change` gets the current value (undefined when absent) and
   * returns the new one, or undefined to delete it. Returns what was stored.
   */
  update(
    key: string,
    change: (current: T | undefined) => T | undefined,
    options?: PutOptions,
  ): Promise<T | undefined>;
}

export interface StateStore {
  /** Where the state lives, for messages (`files in ~/.local/share/patchbay/gateway`, `redis://host:6379`). */
  readonly description: string;
  /**
   * A namespace's records. `secret`: the backend keeps them as it keeps secrets (0600 files); the
   * values themselves are encrypted by their owner where the issue requires it (the vault).
   */
  records<T>(namespace: string, options?: { secret?: boolean }): RecordStore<T>;
  /**
   * Counters for limit windows where the backend counts them itself, atomically across replicas
   * (Redis). Undefined for files: limits then stay in the machine's usage file (policy/limits.ts).
   */
  readonly windows?: WindowCounters;
  /**
   * Messages between the processes that share this state: files, the one process of this machine
   * (in memory); Redis, every replica (pub/sub).
   */
  readonly bus: MessageBus;
  /**
   * Locks with a bounded lease (`state/leases.ts`): one holder per name across every process that
   * shares this state, and a holder that vanishes loses its lease when the time is up.
   */
  readonly leases: Leases;
  /**
   * An append-only log every replica writes and any reader pages through (Redis: a Stream), for
   * the audit log. Undefined for files: the audit log is then policy/audit.ts's JSONL file.
   */
  log?(name: string, options?: SharedLogOptions): SharedLog;
  /** Whether the store answers now (for /readyz): files always, Redis when a PING comes back. */
  reachable(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Fire-and-forget messages to whoever listens on a channel now, on any replica: how a replica
 * reaches the one that holds a host's stream or a paused call. Nothing is kept for a listener that
 * is not there (publish says whether any replica heard it), and a message is heard at most once per
 * subscription. Channels are names made by the code (a session's or a replica's), never user input.
 */
export interface MessageBus {
  /** This process's own name on the bus (random per start): a channel other replicas reply to. */
  readonly replica: string;
  /**
   * Deliver `message` (JSON) to every current subscriber of `channel`; resolves to the number of
   * replicas (processes) that have one: 0 when nobody listens.
   */
  publish(channel: string, message: unknown): Promise<number>;
  /** Hear `channel` until the returned function is called. Resolves once subscribed. */
  subscribe(channel: string, onMessage: (message: unknown) => void): Promise<() => Promise<void>>;
}

/** A lease held: the name it locks and the random token that proves who holds it. */
export interface Lease {
  name: string;
  token: string;
}

/**
 * The store's part of a lock: single steps, each atomic across replicas. Waiting, renewing while
 * the work runs and releasing after it are `withLease`'s (`state/leases.ts`), written once.
 */
export interface Leases {
  /** Take `name` for `leaseMs` if nobody holds it now; undefined when someone does. */
  acquire(name: string, leaseMs: number): Promise<Lease | undefined>;
  /** Extend a lease still held by this token for `leaseMs` from now; false when it is not. */
  renew(lease: Lease, leaseMs: number): Promise<boolean>;
  /** Give the lease up if this token still holds it; false when it does not (expired, taken). */
  release(lease: Lease): Promise<boolean>;
}

/** One window a call is counted in: its counter's key, the most it may reach, how long it lives. */
export interface WindowCharge {
  key: string;
  limit: number;
  /** The counter is gone this long after it was first counted (the window's end, and a margin). */
  ttlMs: number;
}

export interface ChargeResult {
  /** Every window was below its limit, and each was counted once. */
  admitted: boolean;
  /** Each window's count before this call, in the order given. */
  used: number[];
}

export interface WindowCounters {
  /**
   * Decide calls in order, atomically as one step: a call whose windows are all below their limit
   * is counted once in each (a key given twice is counted once); a call with one window at its
   * limit counts nothing. Of N concurrent callers on any replicas against a limit L, exactly
   * min(N, L) are admitted. Rejects when the store cannot be reached (nothing was admitted).
   */
  charge(calls: ReadonlyArray<readonly WindowCharge[]>): Promise<ChargeResult[]>;
  /** The current counts (0 for a counter that does not exist). */
  read(keys: readonly string[]): Promise<number[]>;
}

/** Namespaces are fixed words of the code, never user input: a file name or a key prefix. */
export function checkNamespace(namespace: string): string {
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(namespace)) throw new Error(`invalid state namespace: ${namespace}`);
  return namespace;
}

/** One line of a shared log, under the unique id it was written with (what makes a retry safe). */
export interface LoggedLine {
  id: string;
  /** A JSON text, one line. */
  line: string;
}

export interface SharedLogOptions {
  /** Told when lines go to the local spool (the store is unreachable) and when they are sent. */
  onWarning?: (message: string) => void;
}

export interface SharedLog {
  /**
   * Store one line. Never rejects: resolves once the line is in the store, or in the local spool
   * while the store cannot be reached (sent from there in order once it can). A line is stored
   * once, even when a write whose outcome was unknown is sent again.
   */
  write(line: string): Promise<void>;
  /** The stored lines, oldest first, from `sinceMs` (epoch ms) on, a page at a time. */
  read(options?: { sinceMs?: number }): AsyncIterable<LoggedLine>;
}
