/**
 * What a pin is made of: the identity a server's pins are kept under, and the canonical view of
 * a tool (its fields that instruct the model) with its digest. Pure: no files, no clock.
 */

import { createHash } from 'node:crypto';

import type { ServerEntry } from '../config/entry.js';
import { createObject, setOwn, type JsonObject, type JsonValue } from '../core/json-source.js';

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

export function viewDigest(view: PinnedView): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(view)))
    .digest('hex');
}

/**
 * A JSON value with object keys sorted at every depth, in prototype-less objects (a schema may
 * have a property called `__proto__`). Values JSON cannot hold go as JSON.stringify would have it.
 */
export function canonical(value: unknown): JsonValue {
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
