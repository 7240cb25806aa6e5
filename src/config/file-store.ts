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
import { constants, promises as fs } from 'node:fs';
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
      await writeFileAtomic(path, stringifyJson(value, file.parsed?.indent ?? 2), {
        mode: options.secret ? 0o600 : (options.mode ?? 0o644),
        secret: options.secret ?? false,
      });
    }
    return result;
  });
}

export async function writeFileAtomic(
  path: string,
  contents: string,
  options: { mode: number; secret: boolean },
): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
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
    await handle.sync();
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
  try {
    const dir = await fs.open(dirname(path), 'r');
    await dir.sync().catch(() => undefined);
    await dir.close();
  } catch {
    // ignore
  }
}

/** A lock older than this is taken to be left by a crashed process. */
const STALE_LOCK_MS = 30_000;
/** An empty lock older than this was left by a process killed before it wrote its pid. */
const EMPTY_LOCK_MS = 2_000;

/**
 * An exclusive lock: `<file>.lock` created with O_EXCL, holding the owner's pid. A lock whose
 * owner is gone (or that is older than STALE_LOCK_MS) is removed; waiting is bounded.
 */
export async function withFileLock<T>(path: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  const lockPath = `${path}.lock`;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    try {
      const handle = await fs.open(
        lockPath,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
        0o600,
      );
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
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
      if (Date.now() > deadline) {
        throw new PatchbayError(
          'lock-timeout',
          `Another patchbay process holds ${lockPath} (waited ${Math.round(timeoutMs / 1000)} s).`,
          {
            hint: `If no other patchbay is running, remove the lock: rm ${lockPath}`,
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * delay));
      delay = Math.min(delay * 2, 100);
    }
  }
  try {
    return await work();
  } finally {
    await fs.rm(lockPath, { force: true });
  }
}

async function removeIfStale(lockPath: string): Promise<boolean> {
  try {
    const [text, stat] = await Promise.all([fs.readFile(lockPath, 'utf8'), fs.stat(lockPath)]);
    const pid = Number.parseInt(text, 10);
    const age = Date.now() - stat.mtimeMs;
    // A live owner writes its pid right after creating the lock; an empty lock that stays empty
    // was left by a process killed in between.
    const ownerGone = Number.isInteger(pid) && pid > 0 ? !processExists(pid) : age > EMPTY_LOCK_MS;
    if (ownerGone || age > STALE_LOCK_MS) {
      // Rename first so two waiters cannot both delete a lock a third has just taken.
      const grave = `${lockPath}.stale.${process.pid}`;
      await fs.rename(lockPath, grave);
      await fs.rm(grave, { force: true });
      return true;
    }
  } catch {
    // The lock vanished or is being written: just try again.
  }
  return false;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
