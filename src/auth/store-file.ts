/**
 * The credential store's JSON files: the index (non-secret facts, always a file) and the secrets
 * file (the file backend's vault). Both are `{ "version": 1, "tokens": {…}, "clients": {…},
 * "clientSecrets": {…} }`, mode 0600 in a 0700 directory, written atomically under a lock by
 * file-store.ts. A file that does not parse, has the wrong shape or a newer version is reported
 * with its path and never rewritten.
 */

import { promises as fs } from 'node:fs';

import { PatchbayError } from '../errors.js';
import { readJsonFile, updateJsonFile, type LoadedFile } from '../core/file-store.js';
import { createObject, getOwn, isObject, setOwn, type JsonObject } from '../core/json-source.js';
import { describePath, RecordReader, shapeError, STORE_FIX_HINT, type Locate } from './store-records.js';
import { SECTIONS, type SecretVault, type Section, type VaultRecord } from './store-vault.js';

export const STORE_FILE_VERSION = 1;

export interface StoreFile {
  root: JsonObject;
  locate: Locate;
}

function locator(file: LoadedFile): Locate {
  return (path) => {
    const position = file.parsed?.positionOf(path);
    const where = position ? `${file.path}:${position.line}:${position.column}` : file.path;
    return path.length === 0 ? where : `${where} (${describePath(path)})`;
  };
}

function refuseBroken(file: LoadedFile): never {
  const error = file.error!;
  throw new PatchbayError(error.code, `${error.message}\nThe file was left unchanged.`, {
    hint: `${file.path}: ${STORE_FIX_HINT}`,
    cause: error,
  });
}

/** Deep checks of a file's records, beyond the root and sections checkRoot looks at. */
export type RecordsCheck = (root: JsonObject, locate: Locate) => void;

/** Checks what every store file must be, then `check` its records. */
function checkRoot(file: LoadedFile, value: unknown, check: RecordsCheck): StoreFile {
  const locate = locator(file);
  const root = RecordReader.of(value as JsonObject, locate, []);
  const version = root.optionalNumber('version');
  if (version !== undefined && version !== STORE_FILE_VERSION) {
    throw new PatchbayError(
      'config-shape',
      `${file.path} is version ${version}; this patchbay understands version ${STORE_FILE_VERSION}.`,
      { hint: 'It was written by a newer patchbay: upgrade patchbay (npm install -g patchbay@latest).' },
    );
  }
  for (const section of SECTIONS) {
    const entries = getOwn(root.raw, section);
    if (entries === undefined) continue;
    if (!isObject(entries)) throw shapeError(locate, [section], 'an object');
    for (const [key, entry] of Object.entries(entries)) {
      if (!isObject(entry)) throw shapeError(locate, [section, key], 'an object');
    }
  }
  check(root.raw, locate);
  return { root: root.raw, locate };
}

/** The file's content, or undefined when it does not exist. Lock-free: writes are atomic renames. */
export async function readStoreFile(path: string, check: RecordsCheck): Promise<StoreFile | undefined> {
  const file = await readJsonFile(path);
  if (file.error) refuseBroken(file);
  if (!file.exists || !file.parsed) return undefined;
  return checkRoot(file, file.parsed.value, check);
}

/** Read-modify-write under the file's lock; `mutate` returns whether to write. */
export async function updateStoreFile<T>(
  path: string,
  check: RecordsCheck,
  mutate: (file: StoreFile) => { write: boolean; result: T },
): Promise<T> {
  return updateJsonFile(
    path,
    (value, loaded) => {
      if (loaded.error) refuseBroken(loaded);
      const file = checkRoot(loaded, value, check);
      if (getOwn(file.root, 'version') === undefined) setOwn(file.root, 'version', STORE_FILE_VERSION);
      return mutate(file);
    },
    { secret: true },
  );
}

/** One section of a checked store file; created (empty) on request. */
export function sectionOf(root: JsonObject, section: Section, create: true): JsonObject;
export function sectionOf(root: JsonObject, section: Section, create?: false): JsonObject | undefined;
export function sectionOf(root: JsonObject, section: Section, create = false): JsonObject | undefined {
  const existing = getOwn(root, section);
  if (isObject(existing)) return existing;
  if (!create) return undefined;
  const fresh = createObject();
  setOwn(root, section, fresh);
  return fresh;
}

/** The file backend's vault: every secret in one 0600 JSON file. */
export class FileVault implements SecretVault {
  readonly kind = 'file' as const;

  constructor(
    readonly path: string,
    private readonly check: RecordsCheck,
  ) {}

  get location(): string {
    return `${this.path} (mode 0600)`;
  }

  async get(section: Section, key: string): Promise<VaultRecord | undefined> {
    const file = await readStoreFile(this.path, this.check);
    const entries = file && sectionOf(file.root, section);
    const value = entries && getOwn(entries, key);
    if (!file || !isObject(value)) return undefined;
    return { value, locate: (path) => file.locate([section, key, ...path]) };
  }

  async put(section: Section, key: string, value: JsonObject): Promise<void> {
    await updateStoreFile(this.path, this.check, ({ root }) => {
      setOwn(sectionOf(root, section, true), key, value);
      return { write: true, result: undefined };
    });
  }

  async delete(section: Section, key: string): Promise<boolean> {
    try {
      await fs.access(this.path);
    } catch {
      return false; // Nothing stored yet: do not create a file just to delete from it.
    }
    return updateStoreFile(this.path, this.check, ({ root }) => {
      const entries = sectionOf(root, section);
      if (!entries || getOwn(entries, key) === undefined) return { write: false, result: false };
      delete entries[key];
      return { write: true, result: true };
    });
  }
}
