/**
 * Reading and writing JSON config files without losing anything.
 *
 * - A file that does not parse is never rewritten: `updateJsonFile` refuses before touching it.
 * - Writes go to a temporary file in the same directory, are fsynced, then renamed over the
 *   original, so a crash or a full disk leaves the old file whole.
 * - Read-modify-write happens under an exclusive lock file, so concurrent patchbay processes
 *   (20 `patchbay add` at once) each see the others' entries.
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  promises as fs,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PatchbayError } from '../errors.js';
import {
  createObject,
  parseJsonSource,
  stringifyJson,
  type JsonValue,
  type ParsedJson,
} from './json-source.js';

export interface LoadedFile {
  path: string;
  exists: boolean;
  parsed?: ParsedJson;
  /** Set when the file exists but cannot be read or parsed; the file must not be rewritten. */
  error?: PatchbayError;
}

export interface ReadOptions {
  jsonc?: boolean;
}

export async function readJsonFile(path: string, options: ReadOptions = {}): Promise<LoadedFile> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path, exists: false };
    return {
      path,
      exists: true,
      error: new PatchbayError('read-failed', `Cannot read ${path}: ${(error as Error).message}.`, {
        hint: `Check the file's permissions: ls -l ${path}`,
        cause: error,
      }),
    };
  }
  try {
    return {
      path,
      exists: true,
      parsed: parseJsonSource(text, { fileLabel: path, jsonc: options.jsonc ?? false }),
    };
  } catch (error) {
    if (error instanceof PatchbayError) {
      return {
        path,
        exists: true,
        error: new PatchbayError('config-parse', `${error.message}`, {
          hint: `Fix the syntax in ${path}; patchbay will not rewrite it while it is broken.`,
        }),
      };
    }
    throw error;
  }
}

export interface WriteOptions {
  /** File mode for a file patchbay creates; an existing file keeps its mode unless it is looser than this for a secret file. */
  mode?: number;
  /** Treat the file as holding secrets: it is created 0600 and tightened to 0600 if it is looser. */
  secret?: boolean;
  jsonc?: boolean;
  /** How long to wait for another process's lock. */
  lockTimeoutMs?: number;
  /** Run under the lock just before the file is replaced (e.g. to back it up). */
  beforeWrite?: (path: string, existed: boolean) => Promise<void>;
}

/**
 * Read the file under its lock, let `mutate` change the parsed value (or build one from
 * nothing), and write it back atomically. `mutate` returns false to skip the write.
 */
export async function updateJsonFile<T>(
  path: string,
  mutate: (value: JsonValue, file: LoadedFile) => { write: boolean; result: T },
  options: WriteOptions = {},
): Promise<T> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  return withFileLock(path, options.lockTimeoutMs ?? 15_000, async () => {
    const file = await readJsonFile(path, { jsonc: options.jsonc ?? false });
    if (file.error) {
      throw new PatchbayError(file.error.code, `${file.error.message}\nThe file was left unchanged.`, {
        hint: file.error.hint,
      });
    }
    const value = file.parsed?.value ?? createObject();
    const { write, result } = mutate(value, file);
    if (write) {
      await options.beforeWrite?.(path, file.exists);
      await writeFileAtomic(path, stringifyJson(value, file.parsed?.indent ?? 2), {
        mode: options.secret ? 0o600 : (options.mode ?? 0o644),
        secret: options.secret ?? false,
      });
    }
    return result;
  });
}

/** A hidden file beside `path`, unique to this process and call, to write whole before it takes `path`'s place. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export interface AtomicWriteOptions {
  mode: number;
  secret: boolean;
  /**
   * false: the rename is atomic (readers and a crashed process see the old file or the new one)
   * but not forced to the disk before returning, so a power loss may keep the old contents. For
   * files rewritten on every call (limit counts), where an fsync per call would be most of the
   * call's cost; everything else is durable (the default).
   */
  durable?: boolean;
}

export async function writeFileAtomic(
  path: string,
  contents: string,
  options: AtomicWriteOptions,
): Promise<void> {
  const temp = tempPathFor(path);
  const durable = options.durable ?? true;
  let mode = options.mode;
  try {
    const stat = await fs.stat(path);
    // Keep the mode a user chose, but never leave a secret file readable by others.
    mode = options.secret ? stat.mode & 0o600 || 0o600 : stat.mode & 0o777;
  } catch {
    // New file: the requested mode.
  }
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    await handle.writeFile(contents, 'utf8');
    if (durable) await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.chmod(temp, mode);
    await fs.rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw new PatchbayError(
      'write-failed',
      `Could not write ${path}: ${(error as Error).message}. The old file is intact.`,
      {
        hint: `Check free space and permissions of ${dirname(path)}.`,
        cause: error,
      },
    );
  }
  // Persist the rename itself; not every platform lets a directory be opened, hence best effort.
  if (!durable) return;
  try {
    const dir = await fs.open(dirname(path), 'r');
    await dir.sync().catch(() => undefined);
    await dir.close();
  } catch {
    // ignore
  }
}

/**
 * writeFileAtomic's quick form, for a file this process rewrites on every call while it holds the
 * file's lock (the usage counts of a gateway): a temporary file of `mode` renamed over it, done
 * synchronously — four system calls of a few microseconds on a local disk, where the same work
 * through the thread pool costs a hand-off each, which on a busy machine is most of a call's
 * wait — and not fsync'd (see writeFileAtomic's `durable`).
 */
export function replaceFileSync(path: string, contents: string, mode: number): void {
  const temp = tempPathFor(path);
  try {
    writeFileSync(temp, contents, { mode, flag: 'wx' });
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw new PatchbayError(
      'write-failed',
      `Could not write ${path}: ${(error as Error).message}. The old file is intact.`,
      {
        hint: `Check free space and permissions of ${dirname(path)}.`,
        cause: error,
      },
    );
  }
}

/** A file's size in bytes; 0 when it does not exist (other errors are thrown). */
export async function fileSize(path: string): Promise<number> {
  try {
    return (await fs.stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

/** fileSize, synchronously: for a check on a path that must not wait (a log's rotation). */
export function fileSizeNow(path: string): number {
  try {
    return statSync(path).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

/** A lock older than this is taken to be left by a crashed process. */
const STALE_LOCK_MS = 30_000;
/** A lock is broken only when at least this old, so one that just changed hands never is. */
const MIN_BREAK_AGE_MS = 1_000;

/**
 * A file rewritten often by the one process that holds its lock (a gateway's usage counts): the
 * first write replaces it (replaceFileSync), the next ones overwrite it in place through an open
 * descriptor, one write() at offset 0, padded with spaces to the length it had (the contents are
 * JSON, where trailing spaces are allowed). A rename that replaces a file makes ext4 push the new
 * file's data out at once (auto_da_alloc); that was the largest part of a gateway's CPU per call.
 * A single write of at most one page is never cut short by a kill, so a crash still leaves the
 * old contents or the new ones whole; larger contents are replaced as before. `close` when the
 * lock is given back: another process may then replace the file, and the descriptor would write
 * to the old one.
 */
export class OverwrittenFile {
  private fd: number | undefined;
  private length = 0;

  constructor(
    private readonly path: string,
    private readonly mode: number,
  ) {}

  write(contents: string): void {
    let bytes = Buffer.from(contents);
    if (this.fd === undefined || bytes.length > IN_PLACE_MAX_BYTES) {
      this.close();
      replaceFileSync(this.path, contents, this.mode);
      this.fd = openSync(this.path, 'r+');
      this.length = bytes.length;
      return;
    }
    if (bytes.length < this.length)
      bytes = Buffer.concat([bytes, Buffer.alloc(this.length - bytes.length, 0x20)]);
    try {
      writeSync(this.fd, bytes, 0, bytes.length, 0);
    } catch (error) {
      this.close();
      throw new PatchbayError('write-failed', `Could not write ${this.path}: ${(error as Error).message}.`, {
        hint: `Check free space and permissions of ${dirname(this.path)}.`,
        cause: error,
      });
    }
    this.length = bytes.length;
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // Closing an open descriptor of a regular file does not fail in a way that matters here.
    }
  }
}

/** One page: a write() of at most this much at offset 0 is done whole or not at all under a kill. */
const IN_PLACE_MAX_BYTES = 4096;

/**
 * An exclusive lock: `<file>.lock` created with O_EXCL, holding the owner's pid. A lock whose
 * owner is gone (or that is older than STALE_LOCK_MS) is removed; waiting is bounded.
 */
export async function withFileLock<T>(path: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  const release = await acquireFileLock(path, timeoutMs);
  try {
    return await work();
  } finally {
    await release();
  }
}

/** `<path>.lock.waiting`: touched by each try of a process waiting for `<path>.lock`. */
function waitingPathOf(path: string): string {
  return `${path}.lock.waiting`;
}

/** Whether a process tried to take `<path>.lock` lately (it sleeps at most 200 ms between tries). */
function someoneWaitsFor(path: string): boolean {
  try {
    return Date.now() - statSync(waitingPathOf(path)).mtimeMs < WAITER_FRESH_MS;
  } catch {
    return false;
  }
}

const WAITER_FRESH_MS = 1_000;

/** Takes `<path>.lock` (waiting up to `timeoutMs`); resolves to the function that gives it back. */
async function acquireFileLock(path: string, timeoutMs: number): Promise<() => Promise<void>> {
  const lockPath = `${path}.lock`;
  // pid for staleness checks, plus a nonce so an owner never mistakes another acquisition for its own.
  const token = `${process.pid} ${randomBytes(8).toString('hex')}\n`;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  let announced = false;
  for (;;) {
    try {
      const handle = await fs.open(
        lockPath,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
        0o600,
      );
      await handle.writeFile(token);
      await handle.close();
      // Another waiter's announcement may go with it: that one makes it again on its next try.
      if (announced) await fs.rm(waitingPathOf(path), { force: true }).catch(() => undefined);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new PatchbayError(
          'write-failed',
          `Cannot create the lock ${lockPath}: ${(error as Error).message}.`,
          {
            hint: `Check the permissions of ${dirname(lockPath)}.`,
            cause: error,
          },
        );
      }
      if (await removeIfStale(lockPath)) continue;
      // Say that someone waits: a holder that keeps the lock across its runs (HeldFileLock) then
      // gives it back at its bound. Best effort: at worst it is given back at each bound anyway.
      await fs.writeFile(waitingPathOf(path), '', { mode: 0o600 }).catch(() => undefined);
      announced = true;
      if (Date.now() > deadline) {
        throw new PatchbayError(
          'lock-timeout',
          `Another patchbay process holds ${lockPath} (waited ${Math.round(timeoutMs / 1000)} s).`,
          { hint: `If no other patchbay is running, remove the lock: rm ${lockPath}` },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * delay));
      delay = Math.min(delay * 2, 100);
    }
  }
  return async () => {
    // Remove the lock only if it is still ours.
    const current = await fs.readFile(lockPath, 'utf8').catch(() => undefined);
    if (current === token) await fs.rm(lockPath, { force: true });
  };
}

/**
 * The same lock, kept by a long-lived process (a gateway) across a burst of work instead of taken
 * and given back for each piece: taking it costs a dozen file operations, which at one call in
 * flight were most of a limit decision. It is given back after `idleMs` without work, and, when
 * another process waits for it (each of its tries touches `<path>.lock.waiting`), once it has
 * been held `maxHoldMs`, so other processes wait at most about that long (far below
 * STALE_LOCK_MS: a held lock is never judged stale while its owner lives).
 *
 * Waiters poll (withFileLock sleeps up to 200 ms between tries), so after giving the lock back
 * at its bound it is not kept again for YIELD_MS: runs take it and give it back each, as
 * withFileLock does, and the gaps between them let a waiting process in.
 *
 * `run` tells the work whether the lock was kept since the last run (`kept`): then nothing else
 * wrote the file meanwhile and what the work read last time still holds; and whether it stays
 * held after the run (`held`: not during a yield, when the run takes and gives it back itself).
 * Only while `held` may the work leave a write for later: `beforeGiveBack` is called, with the
 * lock still ours, each time it is given back, to finish such a write. Runs must not overlap
 * (the caller serializes them).
 */
export class HeldFileLock {
  private release: (() => Promise<void>) | undefined;
  private heldSince = 0;
  private idle: NodeJS.Timeout | undefined;
  /** Not kept again before this time (epoch ms): a waiting process's turn. */
  private yieldUntil = 0;
  /** A give-back under way (the lock file is still there until it is over). */
  private givingBack: Promise<void> | undefined;

  constructor(
    private readonly path: string,
    private readonly options: {
      timeoutMs: number;
      idleMs: number;
      maxHoldMs: number;
      beforeGiveBack?: () => void;
    },
  ) {}

  async run<T>(work: (kept: boolean, held: boolean) => Promise<T>): Promise<T> {
    clearTimeout(this.idle);
    this.idle = undefined;
    // Our own lock file, not yet removed, would look like another process's.
    if (this.givingBack) await this.givingBack;
    if (!this.release && Date.now() < this.yieldUntil)
      return withFileLock(this.path, this.options.timeoutMs, () => work(false, false));
    const kept = this.release !== undefined;
    if (!this.release) {
      this.release = await acquireFileLock(this.path, this.options.timeoutMs);
      this.heldSince = Date.now();
    }
    let result: T;
    try {
      result = await work(kept, true);
    } catch (error) {
      // What the work left is unknown: give the lock back, and read afresh next time.
      await this.giveBack();
      throw error;
    }
    if (Date.now() - this.heldSince >= this.options.maxHoldMs) {
      if (someoneWaitsFor(this.path)) {
        this.yieldUntil = Date.now() + YIELD_MS;
        await this.giveBack();
        return result;
      }
      // Nobody waits: keep it for another bound (a stat at each bound, not lock files at each run).
      this.heldSince = Date.now();
    }
    this.idle = setTimeout(() => void this.giveBack(), this.options.idleMs);
    // A process with nothing else to do may end: its lock is then stale, and is broken.
    this.idle.unref();
    return result;
  }

  /**
   * Run `work` at once under the lock if it is kept and within its bound, else undefined (the
   * caller goes through `run`). It must not throw: what it read may be the kept state.
   */
  runKept<T>(work: () => T): T | undefined {
    if (!this.release || this.givingBack || Date.now() - this.heldSince >= this.options.maxHoldMs)
      return undefined;
    const result = work();
    // Kept another idleMs from now, as after `run`.
    this.idle?.refresh();
    return result;
  }

  /** Give the lock back now (a gateway closing). */
  async giveBack(): Promise<void> {
    clearTimeout(this.idle);
    this.idle = undefined;
    const release = this.release;
    this.release = undefined;
    if (!release) return this.givingBack;
    // A throw here must not keep the lock: the hook reports its own failures.
    try {
      this.options.beforeGiveBack?.();
    } catch {
      // Nothing more to do: the lock goes back all the same.
    }
    const done = release()
      .catch(() => undefined)
      .finally(() => {
        if (this.givingBack === done) this.givingBack = undefined;
      });
    this.givingBack = done;
    return done;
  }
}

/** Longer than a waiter's longest sleep between tries (withFileLock: up to twice 100 ms). */
const YIELD_MS = 250;

/**
 * Break a lock whose owner is gone. Only the owner or a breaker ever removes a lock, and breakers
 * exclude each other with a second lock, so once a lock is judged stale under that second lock
 * (its owner dead, itself old), nothing can replace it before it is removed. A lock that merely
 * changed hands is young, hence never judged stale: that is why age is part of the test.
 */
async function removeIfStale(lockPath: string): Promise<boolean> {
  const first = await readLock(lockPath);
  if (!first || !isStale(first)) return false;
  const breakerPath = `${lockPath}.breaker`;
  try {
    await fs.writeFile(breakerPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
  } catch {
    // Another process is breaking it. A breaker left by a crash is old; clear it for next time.
    const breaker = await readLock(breakerPath);
    if (breaker && breaker.ageMs > STALE_LOCK_MS) await fs.rm(breakerPath, { force: true });
    return false;
  }
  try {
    const judged = await readLock(lockPath);
    if (!judged || !isStale(judged)) return false;
    await fs.rm(lockPath, { force: true });
    return true;
  } finally {
    await fs.rm(breakerPath, { force: true });
  }
}

async function readLock(path: string): Promise<{ text: string; ageMs: number } | undefined> {
  try {
    const handle = await fs.open(path, 'r');
    try {
      const [stat, text] = await Promise.all([handle.stat(), handle.readFile('utf8')]);
      return { text, ageMs: Date.now() - stat.mtimeMs };
    } finally {
      await handle.close();
    }
  } catch {
    return undefined; // Vanished meanwhile.
  }
}

function isStale(lock: { text: string; ageMs: number }): boolean {
  const pid = Number.parseInt(lock.text, 10);
  // An empty lock was left by a process killed between creating it and writing its token.
  const ownerGone = !(Number.isInteger(pid) && pid > 0) || !processExists(pid);
  return (ownerGone && lock.ageMs > MIN_BREAK_AGE_MS) || lock.ageMs > STALE_LOCK_MS;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
