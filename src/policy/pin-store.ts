/**
 * The pin store: `<state dir>/pins.json` (0600), keyed by server identity, then by tool name:
 *
 *     { "version": 1,
 *       "servers": { "github https://api.example.com/mcp": { "tools": { "create_issue": {
 *         "digest": "<sha256 hex>", "pinnedAt": "2026-…Z", "view": { "description": "…", … },
 *         "change": { "digest": "<sha256 hex>", "changedAt": "2026-…Z", "view": { … } } } } } } }
 *
 * Reads are lock-free (writes are atomic renames, so a read is a consistent snapshot); a write
 * takes the file's lock and decides again under it.
 *
 * A file that cannot be understood is an error, never a reason to start over: re-pinning
 * everything from a damaged file would accept exactly the change the pins exist to catch.
 */

import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';

import { PatchbayError } from '../errors.js';
import { readJsonFile, withFileLock, writeFileAtomic, type LoadedFile } from '../core/file-store.js';
import {
  createObject,
  getOwn,
  isObject,
  setOwn,
  stringifyJson,
  type JsonObject,
  type JsonValue,
} from '../core/json-source.js';
import type { Paths } from '../core/paths.js';
import type { PinnedView } from './pin-view.js';

export interface PinStoreOptions {
  /** The pins file is `paths.pins`. */
  paths: Paths;
  /** How long to wait for another process holding the pins file's lock. */
  lockTimeoutMs?: number;
  /**
   * Where pins are kept when not in this machine's file: a team gateway's shared state store
   * (`pin-records.ts`, Redis), so that every replica and `review --state` see one set of pins.
   */
  storage?: PinStorage;
}

/**
 * A place pins are kept other than pins.json. `keys` are the server keys the caller reads or
 * decides about; a decision touches only those servers.
 */
export interface PinStorage {
  /** A snapshot of those servers' pins (every server's when `keys` is undefined). */
  read(keys?: readonly string[]): Promise<PinsDocument>;
  /** As `updatePins`: decided on a snapshot, and again under the storage's lock to write. */
  update<T>(keys: readonly string[], decide: PinDecision<T>): Promise<T>;
}

export type PinDecision<T> = (document: PinsDocument) => { result: T; dirty: boolean };

export interface StoredChange {
  digest: string;
  changedAt: string;
  view: PinnedView;
}

export interface StoredPin {
  digest: string;
  pinnedAt: string;
  view: PinnedView;
  change?: StoredChange;
}

const FORMAT_VERSION = 1;
const DEFAULT_LOCK_TIMEOUT_MS = 15_000;

/** The checked content of pins.json; unknown keys are kept as they are on rewrite. */
export class PinsDocument {
  constructor(readonly root: JsonObject) {}

  private tools(key: string, create: boolean): JsonObject | undefined {
    let servers = getOwn(this.root, 'servers');
    if (!isObject(servers)) {
      if (!create) return undefined;
      setOwn(this.root, 'servers', (servers = createObject()));
    }
    let server = getOwn(servers, key);
    if (!isObject(server)) {
      if (!create) return undefined;
      setOwn(servers, key, (server = createObject()));
    }
    let tools = getOwn(server, 'tools');
    if (!isObject(tools)) {
      if (!create) return undefined;
      setOwn(server, 'tools', (tools = createObject()));
    }
    return tools;
  }

  pin(key: string, name: string): StoredPin | undefined {
    const tools = this.tools(key, false);
    const pin = tools && getOwn(tools, name);
    return isObject(pin) ? (pin as unknown as StoredPin) : undefined;
  }

  *pins(key: string): Generator<[string, StoredPin]> {
    const tools = this.tools(key, false);
    if (!tools) return;
    for (const [name, pin] of Object.entries(tools)) yield [name, pin as unknown as StoredPin];
  }

  setPin(key: string, name: string, pin: StoredPin): void {
    const record = createObject();
    setOwn(record, 'digest', pin.digest);
    setOwn(record, 'pinnedAt', pin.pinnedAt);
    setOwn(record, 'view', pin.view);
    if (pin.change) {
      const change = createObject();
      setOwn(change, 'digest', pin.change.digest);
      setOwn(change, 'changedAt', pin.change.changedAt);
      setOwn(change, 'view', pin.change.view);
      setOwn(record, 'change', change);
    }
    setOwn(this.tools(key, true)!, name, record);
  }
}

/** The pins as they are now: a lock-free read (of `keys` only, where the storage can tell). */
export async function readPins(options: PinStoreOptions, keys?: readonly string[]): Promise<PinsDocument> {
  if (options.storage) return options.storage.read(keys);
  return loadPins(options.paths.pins);
}

/**
 * Apply `decide` to the pins and write them if it says they changed. `decide` runs on a lock-free
 * snapshot first, so an update that changes nothing costs one read and no lock; otherwise it runs
 * again on a fresh read under the file's lock, and that run's answer is the one returned.
 */
export async function updatePins<T>(
  options: PinStoreOptions,
  decide: PinDecision<T>,
  keys: readonly string[] = [],
): Promise<T> {
  if (options.storage) return options.storage.update(keys, decide);
  const path = options.paths.pins;
  const snapshot = decide(await loadPins(path));
  if (!snapshot.dirty) return snapshot.result;
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  return withFileLock(path, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, async () => {
    const document = await loadPins(path);
    const decided = decide(document);
    if (decided.dirty) await savePins(path, document);
    return decided.result;
  });
}

const MOVE_ASIDE = (path: string) =>
  `Fix it by hand, or move it aside (mv ${path} ${path}.broken); tools are then pinned afresh the ` +
  `next time they are allowed, so a change made meanwhile would go unnoticed.`;

function corrupt(message: string, path: string, cause?: unknown): PatchbayError {
  return new PatchbayError(
    'config-parse',
    `${message}\nThe pinned tool definitions cannot be read, and patchbay will not re-pin them from nothing.`,
    { hint: MOVE_ASIDE(path), cause },
  );
}

/** The file's checked content; an empty document when there is no file. Lock-free. */
async function loadPins(path: string): Promise<PinsDocument> {
  const file = await readJsonFile(path);
  if (file.error) {
    if (file.error.code === 'config-parse') throw corrupt(file.error.message, path, file.error);
    throw file.error;
  }
  if (!file.parsed) {
    const root = createObject();
    setOwn(root, 'version', FORMAT_VERSION);
    return new PinsDocument(root);
  }
  return new PinsDocument(checkShape(file));
}

async function savePins(path: string, document: PinsDocument): Promise<void> {
  setOwn(document.root, 'version', FORMAT_VERSION);
  await writeFileAtomic(path, stringifyJson(document.root), { mode: 0o600, secret: true });
}

const DIGEST = /^[0-9a-f]{64}$/;

function checkShape(file: LoadedFile): JsonObject {
  const root = file.parsed!.value;
  const where = (path: ReadonlyArray<string>): string => {
    const position = file.parsed!.positionOf(path);
    const at = position ? `${file.path}:${position.line}:${position.column}` : file.path;
    return path.length === 0 ? at : `${at} (${path.map((part) => JSON.stringify(part)).join(' → ')})`;
  };
  const expect = (value: JsonValue | undefined, path: string[], what: string, ok: boolean): void => {
    if (!ok) {
      const found = value === undefined ? 'nothing' : Array.isArray(value) ? 'an array' : typeof value;
      throw corrupt(`${where(path)}: expected ${what}, found ${found}.`, file.path);
    }
  };
  expect(root, [], 'an object', isObject(root));
  const object = root as JsonObject;
  const version = getOwn(object, 'version');
  expect(version, ['version'], 'a number', version === undefined || typeof version === 'number');
  if (typeof version === 'number' && version !== FORMAT_VERSION) {
    throw new PatchbayError(
      'config-shape',
      `${file.path} is version ${version}; this patchbay understands version ${FORMAT_VERSION}.`,
      { hint: 'It was written by a newer patchbay: upgrade patchbay (npm install -g patchbay@latest).' },
    );
  }
  const servers = getOwn(object, 'servers');
  if (servers === undefined) return object;
  expect(servers, ['servers'], 'an object', isObject(servers));
  for (const [key, server] of Object.entries(servers as JsonObject))
    checkServerPins(server, ['servers', key], expect);
  return object;
}

type Expect = (value: JsonValue | undefined, path: string[], what: string, ok: boolean) => void;

/** One server's pins (`{ "tools": { … } }`), as the file and the store's records keep them. */
export function checkServerPins(server: JsonValue | undefined, at: string[], expect: Expect): void {
  expect(server, at, 'an object', isObject(server));
  const tools = getOwn(server as JsonObject, 'tools');
  if (tools === undefined) return;
  expect(tools, [...at, 'tools'], 'an object', isObject(tools));
  for (const [name, pin] of Object.entries(tools as JsonObject)) {
    const path = [...at, 'tools', name];
    expect(pin, path, 'an object', isObject(pin));
    checkRecord(pin as JsonObject, path, 'pinnedAt', expect);
    const change = getOwn(pin as JsonObject, 'change');
    if (change === undefined) continue;
    expect(change, [...path, 'change'], 'an object', isObject(change));
    checkRecord(change as JsonObject, [...path, 'change'], 'changedAt', expect);
  }
}

/** One recorded version of a tool: its digest, its view and when it was recorded. */
function checkRecord(
  record: JsonObject,
  at: string[],
  timeField: 'pinnedAt' | 'changedAt',
  expect: Expect,
): void {
  const digest = getOwn(record, 'digest');
  expect(digest, [...at, 'digest'], 'a sha256 hex digest', typeof digest === 'string' && DIGEST.test(digest));
  const time = getOwn(record, timeField);
  expect(time, [...at, timeField], 'a time', typeof time === 'string');
  const view = getOwn(record, 'view');
  expect(view, [...at, 'view'], 'an object', isObject(view));
}
