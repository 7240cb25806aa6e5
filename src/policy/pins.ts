/**
 * Pinned tool definitions: the defence against a "rug pull", where a server the user trusted
 * later changes what a tool tells the model (new instructions in a description, a new parameter,
 * a tool that stops being read-only). The first time a tool is allowed, the parts of it that
 * instruct the model are pinned; a later listing that differs is flagged until the user reviews
 * the change (`patchbay review <name>`) and accepts it.
 *
 * Pins live in `<state dir>/pins.json` (0600), keyed by server identity (name plus URL or command
 * line, so two projects' `github` servers do not share pins), then by tool name:
 *
 *     { "version": 1,
 *       "servers": { "github https://api.example.com/mcp": { "tools": { "create_issue": {
 *         "digest": "<sha256 hex>", "pinnedAt": "2026-…Z", "view": { "description": "…", … },
 *         "change": { "digest": "<sha256 hex>", "changedAt": "2026-…Z", "view": { … } } } } } } }
 *
 * `change` is present only while a tool differs from its pin. The old pin is kept until the user
 * accepts, so a server cannot make its change stick by repeating it. Pins of tools a server no
 * longer lists are kept (a tool that disappears and comes back changed is still a change).
 *
 * A file that cannot be understood is an error, never a reason to start over: re-pinning
 * everything from a damaged file would accept exactly the change the pins exist to catch.
 */

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';

import { PatchbayError } from '../errors.js';
import type { ServerEntry } from '../config/entry.js';
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
import { resolvePaths } from '../core/paths.js';

/** The parts of a tool that instruct the model, in the order a summary names them. */
export const PINNED_FIELDS = ['title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const;
export type PinnedField = (typeof PINNED_FIELDS)[number];

/** A tool's pinned fields, canonical: keys sorted at every depth, absent fields left out. */
export type PinnedView = JsonObject;

/**
 * A tool as a server lists it (the SDK's `Tool` fits). Only PINNED_FIELDS are pinned: `_meta`,
 * icons and the like do not reach the model as instructions.
 */
export interface ListedTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: unknown;
  outputSchema?: unknown;
  annotations?: unknown;
  _meta?: unknown;
}

export type PinStatus =
  /** Not pinned, and `pinNew` said not to pin it (the tool is not allowed yet). */
  | 'new'
  /** Pinned by this check: the first time it was allowed. */
  | 'pinned'
  /** As pinned. */
  | 'same'
  /** Differs from its pin; the change is recorded and the old pin kept until accepted. */
  | 'changed';

export interface ToolPinResult {
  name: string;
  status: PinStatus;
  /** The digest of the tool as listed now. */
  digest: string;
  /** For 'changed': when this version of the tool was first seen. */
  changedAt?: string;
}

export interface ToolChange {
  name: string;
  pinnedDigest: string;
  pinnedView: PinnedView;
  pinnedAt: string;
  newDigest: string;
  newView: PinnedView;
  changedAt: string;
}

export interface PinStoreOptions {
  env: NodeJS.ProcessEnv;
  /** How long to wait for another process holding the pins file's lock. */
  lockTimeoutMs?: number;
}

export interface CheckToolsOptions extends PinStoreOptions {
  /** Whether a tool not pinned yet is allowed now, hence pinned. Asked at most once per tool and call. */
  pinNew: (toolName: string) => boolean;
  /** The time recorded for new pins and changes; defaults to the clock. */
  now?: Date;
}

export interface AcceptOptions extends PinStoreOptions {
  now?: Date;
  /**
   * Tool name → the `newDigest` the user was shown. A tool whose change has moved on since (the
   * server changed it again while the user read the diff) is not accepted but reported `stale`,
   * so a review never approves a version nobody saw. Tools not in the map are accepted as they are.
   */
  reviewed?: ReadonlyMap<string, string>;
}

export interface AcceptResult {
  /** Tools re-pinned to their new definitions. */
  accepted: string[];
  /** Tools named that had no change to accept (not pinned, or as pinned). */
  notChanged: string[];
  /** Tools whose recorded change differs from the one reviewed; left flagged. */
  stale: string[];
}

export interface FieldChange {
  field: string;
  kind: 'changed' | 'added' | 'removed';
}

export interface ViewDiff {
  /** One line, e.g. "description and inputSchema changed, outputSchema added". */
  summary: string;
  fields: FieldChange[];
  /** Unified-diff lines of the canonical pretty-printed JSON: `@@` hunk headers, then ' ', '-', '+' lines. */
  lines: string[];
}

const FORMAT_VERSION = 1;
const DEFAULT_LOCK_TIMEOUT_MS = 15_000;
const DIFF_CONTEXT = 3;
/** Beyond this many LCS cells (after trimming common ends), a diff shows all old then all new lines. */
const MAX_DIFF_CELLS = 4_000_000;

export function pinsFilePath(env: NodeJS.ProcessEnv): string {
  return resolvePaths(env).pins;
}

/**
 * The identity pins are kept under: the server's name and its target. Names never contain a
 * space, so the first space separates the two.
 */
export function serverKey(name: string, target: string): string {
  return `${name} ${target}`;
}

/**
 * A configured server's key: its name and its target as written (before `${VAR}` expansion, so a
 * rotated token in the URL is the same server, and no secret lands in the pin store).
 */
export function configuredServerKey(server: {
  name: string;
  winner: { entry?: Pick<ServerEntry, 'url' | 'command' | 'args'> };
}): string {
  return serverKey(server.name, server.winner.entry ? serverTarget(server.winner.entry) : '');
}

/** The target of `serverKey`: the URL, or the command line of a stdio server. */
export function serverTarget(entry: Pick<ServerEntry, 'url' | 'command' | 'args'>): string {
  if (entry.url !== undefined) return entry.url;
  return [entry.command ?? '', ...(entry.args ?? [])].map(quoteArgument).join(' ');
}

function quoteArgument(argument: string): string {
  return /^[\w@%+=:,./-]+$/.test(argument) ? argument : `'${argument.replace(/'/g, `'\\''`)}'`;
}

/** What is pinned of a tool. */
export function pinnedView(tool: ListedTool): PinnedView {
  const picked = createObject();
  for (const field of PINNED_FIELDS) {
    const value = tool[field];
    if (value !== undefined) setOwn(picked, field, canonical(value));
  }
  return canonical(picked) as PinnedView;
}

/** sha256 hex of the canonical JSON of the tool's pinned view. */
export function toolDigest(tool: ListedTool): string {
  return viewDigest(pinnedView(tool));
}

function viewDigest(view: PinnedView): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(view)))
    .digest('hex');
}

/**
 * A JSON value with object keys sorted at every depth, in prototype-less objects (a schema may
 * have a property called `__proto__`). Values JSON cannot hold go as JSON.stringify would have it.
 */
function canonical(value: unknown): JsonValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map((item) => (isDropped(item) ? null : canonical(item)));
  if (typeof value === 'object') {
    const out = createObject();
    const source = value as Record<string, unknown>;
    for (const key of Object.keys(source).sort()) {
      const inner = source[key];
      if (!isDropped(inner)) setOwn(out, key, canonical(inner));
    }
    return out;
  }
  return null;
}

function isDropped(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

/**
 * Compare each listed tool with its pin, pin the tools not pinned yet that `pinNew` allows, and
 * record changes. The file is written only when something changed, so listing the same tools
 * again costs one read and no lock.
 *
 * A listing that names a tool twice (no honest server does) is judged on its first entry; a
 * later entry that differs from the pin is reported 'changed' but not recorded.
 */
export async function checkTools(
  key: string,
  tools: readonly ListedTool[],
  options: CheckToolsOptions,
): Promise<ToolPinResult[]> {
  const [results] = await checkServers([{ key, tools, pinNew: options.pinNew }], options);
  return results!;
}

/**
 * `checkTools` for several servers at once (a gateway listing every upstream): one read, and at
 * most one locked write for all of them, instead of one per server.
 */
export async function checkServers(
  servers: ReadonlyArray<{
    key: string;
    tools: readonly ListedTool[];
    pinNew: (toolName: string) => boolean;
  }>,
  options: Omit<CheckToolsOptions, 'pinNew'>,
): Promise<ToolPinResult[][]> {
  const path = pinsFilePath(options.env);
  const changedAt = (options.now ?? new Date()).toISOString();
  const prepared = servers.map(({ key, tools, pinNew }) => {
    const answers = new Map<string, boolean>();
    const allowed = (name: string): boolean => {
      let answer = answers.get(name);
      if (answer === undefined) answers.set(name, (answer = pinNew(name)));
      return answer;
    };
    const listed = tools.map((tool) => {
      const view = pinnedView(tool);
      return { name: tool.name, view, digest: viewDigest(view) };
    });
    return { key, listed, allowed };
  });
  const evaluateAll = (document: PinsDocument) => {
    const decided = prepared.map(({ key, listed, allowed }) =>
      evaluate(document, key, listed, allowed, changedAt),
    );
    return { results: decided.map((one) => one.results), dirty: decided.some((one) => one.dirty) };
  };

  // Writes are atomic renames, so a lock-free read is a consistent snapshot: take the lock only
  // when there is something to write, and decide again under it.
  const snapshot = evaluateAll(await loadPins(path));
  if (!snapshot.dirty) return snapshot.results;
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  return withFileLock(path, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, async () => {
    const document = await loadPins(path);
    const decided = evaluateAll(document);
    if (decided.dirty) await savePins(path, document);
    return decided.results;
  });
}

interface ListedView {
  name: string;
  view: PinnedView;
  digest: string;
}

function evaluate(
  document: PinsDocument,
  key: string,
  listed: readonly ListedView[],
  allowed: (name: string) => boolean,
  now: string,
): { results: ToolPinResult[]; dirty: boolean } {
  const results: ToolPinResult[] = [];
  const seen = new Set<string>();
  let dirty = false;
  for (const { name, view, digest } of listed) {
    const pin = document.pin(key, name);
    if (seen.has(name)) {
      const status: PinStatus = !pin ? 'new' : pin.digest === digest ? 'same' : 'changed';
      results.push({ name, status, digest });
      continue;
    }
    seen.add(name);
    if (!pin) {
      if (!allowed(name)) {
        results.push({ name, status: 'new', digest });
        continue;
      }
      document.setPin(key, name, { digest, pinnedAt: now, view });
      dirty = true;
      results.push({ name, status: 'pinned', digest });
    } else if (pin.digest === digest) {
      // Back to what was reviewed: nothing is left to review.
      if (pin.change) {
        document.setPin(key, name, { digest: pin.digest, pinnedAt: pin.pinnedAt, view: pin.view });
        dirty = true;
      }
      results.push({ name, status: 'same', digest });
    } else {
      let since = pin.change?.changedAt;
      if (pin.change?.digest !== digest) {
        since = now;
        document.setPin(key, name, { ...pin, change: { digest, changedAt: now, view } });
        dirty = true;
      }
      results.push({ name, status: 'changed', digest, changedAt: since });
    }
  }
  return { results, dirty };
}

/** The server's tools that differ from their pins, with both definitions. */
export async function changedTools(key: string, options: PinStoreOptions): Promise<ToolChange[]> {
  const document = await loadPins(pinsFilePath(options.env));
  const changes: ToolChange[] = [];
  for (const [name, pin] of document.pins(key)) {
    if (!pin.change) continue;
    changes.push({
      name,
      pinnedDigest: pin.digest,
      pinnedView: pin.view,
      pinnedAt: pin.pinnedAt,
      newDigest: pin.change.digest,
      newView: pin.change.view,
      changedAt: pin.change.changedAt,
    });
  }
  return changes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Re-pin changed tools to their new definitions: the review's "accept". */
export async function acceptChanges(
  key: string,
  toolNames: readonly string[] | 'all',
  options: AcceptOptions,
): Promise<AcceptResult> {
  const path = pinsFilePath(options.env);
  const pinnedAt = (options.now ?? new Date()).toISOString();
  const accept = (document: PinsDocument): AcceptResult => {
    const names =
      toolNames === 'all'
        ? [...document.pins(key)].filter(([, pin]) => pin.change).map(([n]) => n)
        : toolNames;
    const result: AcceptResult = { accepted: [], notChanged: [], stale: [] };
    for (const name of new Set(names)) {
      const change = document.pin(key, name)?.change;
      if (!change) {
        result.notChanged.push(name);
        continue;
      }
      const seen = options.reviewed?.get(name);
      if (seen !== undefined && seen !== change.digest) {
        result.stale.push(name);
        continue;
      }
      document.setPin(key, name, { digest: change.digest, pinnedAt, view: change.view });
      result.accepted.push(name);
    }
    return result;
  };
  const snapshot = accept(await loadPins(path));
  if (snapshot.accepted.length === 0) return snapshot;
  return withFileLock(path, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, async () => {
    const document = await loadPins(path);
    const result = accept(document);
    if (result.accepted.length > 0) await savePins(path, document);
    return result;
  });
}

// ---------------------------------------------------------------------------------------------
// The file

interface StoredChange {
  digest: string;
  changedAt: string;
  view: PinnedView;
}

interface StoredPin {
  digest: string;
  pinnedAt: string;
  view: PinnedView;
  change?: StoredChange;
}

/** The checked content of pins.json; unknown keys are kept as they are on rewrite. */
class PinsDocument {
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
  for (const [key, server] of Object.entries(servers as JsonObject)) {
    expect(server, ['servers', key], 'an object', isObject(server));
    const tools = getOwn(server as JsonObject, 'tools');
    if (tools === undefined) continue;
    expect(tools, ['servers', key, 'tools'], 'an object', isObject(tools));
    for (const [name, pin] of Object.entries(tools as JsonObject)) {
      const at = ['servers', key, 'tools', name];
      expect(pin, at, 'an object', isObject(pin));
      checkRecord(pin as JsonObject, at, 'pinnedAt', expect);
      const change = getOwn(pin as JsonObject, 'change');
      if (change === undefined) continue;
      expect(change, [...at, 'change'], 'an object', isObject(change));
      checkRecord(change as JsonObject, [...at, 'change'], 'changedAt', expect);
    }
  }
  return object;
}

/** One recorded version of a tool: its digest, its view and when it was recorded. */
function checkRecord(
  record: JsonObject,
  at: string[],
  timeField: 'pinnedAt' | 'changedAt',
  expect: (value: JsonValue | undefined, path: string[], what: string, ok: boolean) => void,
): void {
  const digest = getOwn(record, 'digest');
  expect(digest, [...at, 'digest'], 'a sha256 hex digest', typeof digest === 'string' && DIGEST.test(digest));
  const time = getOwn(record, timeField);
  expect(time, [...at, timeField], 'a time', typeof time === 'string');
  const view = getOwn(record, 'view');
  expect(view, [...at, 'view'], 'an object', isObject(view));
}

// ---------------------------------------------------------------------------------------------
// The diff

/**
 * What changed between two views: a one-line summary by field, and a line diff of their
 * canonical pretty-printed JSON. The text is a server's, so invisible and direction-changing
 * characters (the usual way to hide instructions from a reviewer) are shown as `\u` escapes;
 * control characters are escaped by JSON already.
 */
export function diffViews(oldView: PinnedView, newView: PinnedView): ViewDiff {
  const fields = fieldChanges(oldView, newView);
  return {
    summary: summarize(fields, oldView, newView),
    fields,
    lines: unifiedDiff(renderView(oldView), renderView(newView), DIFF_CONTEXT),
  };
}

function renderView(view: PinnedView): string[] {
  return revealHidden(JSON.stringify(canonical(view), null, 2)).split('\n');
}

const HIDDEN = /[\p{Cf}\p{Co}\p{Zl}\p{Zp}\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/gu;

function revealHidden(text: string): string {
  return text.replace(HIDDEN, (char) => {
    let escaped = '';
    for (let i = 0; i < char.length; i++) escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return escaped;
  });
}

function fieldChanges(oldView: PinnedView, newView: PinnedView): FieldChange[] {
  const known: readonly string[] = PINNED_FIELDS;
  const others = [...new Set([...Object.keys(oldView), ...Object.keys(newView)])]
    .filter((field) => !known.includes(field))
    .sort();
  const changes: FieldChange[] = [];
  for (const field of [...known, ...others]) {
    const before = getOwn(oldView, field);
    const after = getOwn(newView, field);
    if (before === undefined && after === undefined) continue;
    if (before === undefined) changes.push({ field, kind: 'added' });
    else if (after === undefined) changes.push({ field, kind: 'removed' });
    else if (JSON.stringify(canonical(before)) !== JSON.stringify(canonical(after))) {
      changes.push({ field, kind: 'changed' });
    }
  }
  return changes;
}

function summarize(fields: readonly FieldChange[], oldView: PinnedView, newView: PinnedView): string {
  if (fields.length === 0) return 'nothing changed';
  const clauses: string[] = [];
  for (const kind of ['changed', 'added', 'removed'] as const) {
    const named = fields.filter((change) => change.kind === kind).map((change) => change.field);
    if (named.length > 0) clauses.push(`${joinWords(named)} ${kind}`);
  }
  const hints = hintChanges(getOwn(oldView, 'annotations'), getOwn(newView, 'annotations'));
  return hints.length > 0 ? `${clauses.join(', ')} (${hints.join(', ')})` : clauses.join(', ');
}

/** Annotation hints that flipped, e.g. `readOnlyHint: true → false`: the ones a reviewer must not miss. */
function hintChanges(before: JsonValue | undefined, after: JsonValue | undefined): string[] {
  const oldHints = isObject(before) ? before : createObject();
  const newHints = isObject(after) ? after : createObject();
  const show = (value: JsonValue | undefined) => (value === undefined ? 'absent' : String(value));
  const flips: string[] = [];
  for (const hint of [...new Set([...Object.keys(oldHints), ...Object.keys(newHints)])].sort()) {
    const was = getOwn(oldHints, hint);
    const now = getOwn(newHints, hint);
    const flag = (value: JsonValue | undefined) => value === undefined || typeof value === 'boolean';
    if (was !== now && flag(was) && flag(now)) flips.push(`${hint}: ${show(was)} → ${show(now)}`);
  }
  return flips;
}

function joinWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

type EditKind = ' ' | '-' | '+';
interface Edit {
  kind: EditKind;
  text: string;
}

/** Unified-diff lines (hunk headers and ' ', '-', '+' lines) from an LCS line diff; none when equal. */
function unifiedDiff(before: readonly string[], after: readonly string[], context: number): string[] {
  const edits = lineEdits(before, after);
  const changed = edits.flatMap((edit, index) => (edit.kind === ' ' ? [] : [index]));
  if (changed.length === 0) return [];
  const lines: string[] = [];
  // Line numbers (1-based) of the next old and new line at each edit index.
  let oldLine = 1;
  let newLine = 1;
  let cursor = 0;
  const advance = (to: number) => {
    for (; cursor < to; cursor++) {
      if (edits[cursor]!.kind !== '+') oldLine++;
      if (edits[cursor]!.kind !== '-') newLine++;
    }
  };
  let i = 0;
  while (i < changed.length) {
    let last = changed[i]!;
    let j = i + 1;
    while (j < changed.length && changed[j]! - last <= 2 * context + 1) last = changed[j++]!;
    const start = Math.max(0, changed[i]! - context);
    const end = Math.min(edits.length, last + context + 1);
    advance(start);
    const hunk = edits.slice(start, end);
    const oldCount = hunk.filter((edit) => edit.kind !== '+').length;
    const newCount = hunk.filter((edit) => edit.kind !== '-').length;
    const oldStart = oldCount === 0 ? oldLine - 1 : oldLine;
    const newStart = newCount === 0 ? newLine - 1 : newLine;
    lines.push(`@@ -${oldStart},${oldCount} +${newStart},${newCount} @@`);
    for (const edit of hunk) lines.push(`${edit.kind}${edit.text}`);
    i = j;
  }
  return lines;
}

function lineEdits(before: readonly string[], after: readonly string[]): Edit[] {
  let prefix = 0;
  while (prefix < before.length && prefix < after.length && before[prefix] === after[prefix]) prefix++;
  let suffix = 0;
  while (
    suffix < before.length - prefix &&
    suffix < after.length - prefix &&
    before[before.length - 1 - suffix] === after[after.length - 1 - suffix]
  ) {
    suffix++;
  }
  const a = before.slice(prefix, before.length - suffix);
  const b = after.slice(prefix, after.length - suffix);
  const edits: Edit[] = before.slice(0, prefix).map((text) => ({ kind: ' ', text }));
  if ((a.length + 1) * (b.length + 1) > MAX_DIFF_CELLS) {
    // Too large to align line by line within reason: all of the old, then all of the new.
    for (const text of a) edits.push({ kind: '-', text });
    for (const text of b) edits.push({ kind: '+', text });
  } else {
    // lcs[i * width + j]: length of the longest common subsequence of a[i..] and b[j..].
    const width = b.length + 1;
    const lcs = new Uint32Array((a.length + 1) * width);
    for (let i = a.length - 1; i >= 0; i--) {
      for (let j = b.length - 1; j >= 0; j--) {
        lcs[i * width + j] =
          a[i] === b[j]
            ? lcs[(i + 1) * width + j + 1]! + 1
            : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      if (i < a.length && j < b.length && a[i] === b[j]) {
        edits.push({ kind: ' ', text: a[i++]! });
        j++;
      } else if (j >= b.length || (i < a.length && lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!)) {
        edits.push({ kind: '-', text: a[i++]! });
      } else {
        edits.push({ kind: '+', text: b[j++]! });
      }
    }
  }
  for (const text of before.slice(before.length - suffix)) edits.push({ kind: ' ', text });
  return edits;
}
