/**
 * The file backend of the state store: one JSON file per namespace in one directory (0700), each
 * change made under that file's lock and written atomically, so that processes on one machine
 * (a gateway, `patchbay keys` in another terminal) lose nothing. Meant for the small, slowly
 * changing namespaces of one machine; replicas use Redis.
 */

import { promises as fs } from 'node:fs';
import { join } from 'node:path';

import { withFileLock, writeFileAtomic } from '../core/file-store.js';
import { PatchbayError } from '../errors.js';
import { recordLeases } from './leases.js';
import { LocalBus } from './local-bus.js';
import { checkNamespace, type Leases, type PutOptions, type RecordStore, type StateStore } from './store.js';

interface Stored {
  value: unknown;
  /** Epoch milliseconds. */
  expiresAt?: number;
}

type FileContents = Record<string, Stored>;

const LOCK_TIMEOUT_MS = 15_000;

export class FileState implements StateStore {
  readonly description: string;
  /** One machine, one gateway process: its messages stay in memory. */
  readonly bus = new LocalBus();
  /** Under the leases file's lock: every process of this machine (a gateway, the CLI) sees them. */
  readonly leases: Leases;

  constructor(private readonly directory: string) {
    this.description = `files in ${directory}`;
    // Secret: a lease's name may hold a member's subject (the vault's refresh locks).
    this.leases = recordLeases(this.records('leases', { secret: true }));
  }

  records<T>(namespace: string, options: { secret?: boolean } = {}): RecordStore<T> {
    return new FileRecords<T>(
      join(this.directory, `${checkNamespace(namespace)}.json`),
      options.secret ?? false,
    );
  }

  reachable(): Promise<boolean> {
    // A file that cannot be written is reported by the write that needs it.
    return Promise.resolve(true);
  }

  async close(): Promise<void> {
    // Nothing held open between calls.
  }
}

class FileRecords<T> implements RecordStore<T> {
  constructor(
    private readonly path: string,
    private readonly secret: boolean,
  ) {}

  async get(key: string): Promise<T | undefined> {
    const stored = (await this.read())[key];
    return live(stored) ? (stored.value as T) : undefined;
  }

  async entries(): Promise<Array<[string, T]>> {
    return Object.entries(await this.read())
      .filter(([, stored]) => live(stored))
      .map(([key, stored]) => [key, stored.value as T]);
  }

  put(key: string, value: T, options: PutOptions = {}): Promise<void> {
    return this.change((contents) => {
      contents[key] = stored(value, options);
    });
  }

  take(key: string): Promise<T | undefined> {
    return this.change((contents) => {
      const found = contents[key];
      delete contents[key];
      return live(found) ? (found.value as T) : undefined;
    });
  }

  delete(key: string): Promise<boolean> {
    return this.change((contents) => {
      const found = live(contents[key]);
      delete contents[key];
      return found;
    });
  }

  update(key: string, change: (current: T | undefined) => T | undefined, options: PutOptions = {}) {
    return this.change((contents) => {
      const current = contents[key];
      const next = change(live(current) ? (current.value as T) : undefined);
      if (next === undefined) delete contents[key];
      else contents[key] = stored(next, options);
      return next;
    });
  }

  /** The file's records; none when it does not exist yet. A file that does not parse is an error. */
  private async read(): Promise<FileContents> {
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        return parsed as FileContents;
    } catch {
      // Reported below.
    }
    throw new PatchbayError('read-failed', `${this.path} is not a patchbay state file (it does not parse).`, {
      hint: `Move it aside (it is left unchanged) and restart; its records are lost.`,
    });
  }

  /** Read, change and write under the file's lock; expired records are dropped on the way. */
  private async change<R>(mutate: (contents: FileContents) => R): Promise<R> {
    await fs.mkdir(join(this.path, '..'), { recursive: true, mode: 0o700 });
    return withFileLock(this.path, LOCK_TIMEOUT_MS, async () => {
      const contents = await this.read();
      for (const [key, stored] of Object.entries(contents)) if (!live(stored)) delete contents[key];
      const result = mutate(contents);
      await writeFileAtomic(this.path, `${JSON.stringify(contents, null, 2)}\n`, {
        mode: this.secret ? 0o600 : 0o644,
        secret: this.secret,
      });
      return result;
    });
  }
}

function stored(value: unknown, options: PutOptions): Stored {
  return options.ttlMs === undefined ? { value } : { value, expiresAt: Date.now() + options.ttlMs };
}

function live(stored: Stored | undefined): stored is Stored {
  return stored !== undefined && (stored.expiresAt === undefined || stored.expiresAt > Date.now());
}
