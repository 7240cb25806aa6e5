/**
 * The names of each server's tools, as last listed, for shell completion (`patchbay __complete`),
 * which must answer at once and never from the network. Whatever lists a server's tools (tools,
 * tool, call, checks) remembers them here, without waiting on it; completion only reads.
 *
 * A cache: in the cache directory, written without a lock (the last lister wins), never fsynced,
 * and a file that cannot be read is taken as empty. Names are kept only when they are safe to
 * put on a command line (MCP's recommended tool-name characters): a server's strings are hostile,
 * and a completion is typed into the user's shell.
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import type { Paths } from './paths.js';

const SAFE_NAME = /^[A-Za-z0-9_.\-/]{1,128}$/;
/** Enough for any real server; a server listing more is not completed past these. */
const MAX_NAMES = 1000;

type CacheFile = { servers: Record<string, { tools: string[]; at: string }> };

function readCache(path: string): CacheFile {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (typeof value === 'object' && value !== null && 'servers' in value) {
      const servers = (value as { servers: unknown }).servers;
      if (typeof servers === 'object' && servers !== null && !Array.isArray(servers))
        return { servers: Object.assign(Object.create(null), servers) as CacheFile['servers'] };
    }
  } catch {
    // Missing or unreadable: nothing cached.
  }
  return { servers: Object.create(null) as CacheFile['servers'] };
}

/** The tool names last listed for `server`, safe ones only; none when never listed. */
export function cachedToolNames(paths: Paths, server: string): string[] {
  const entry = readCache(paths.toolNames).servers[server];
  if (!entry || !Array.isArray(entry.tools)) return [];
  return entry.tools.filter((name): name is string => typeof name === 'string' && SAFE_NAME.test(name));
}

/**
 * Remember what `server` lists, in the background: returns at once and never throws. The names
 * of one process are gathered and written together, once, when they changed: `list` of fifty
 * servers reads and writes the file once, and no server's names overwrite another's.
 */
export function rememberToolNames(paths: Paths, server: string, names: readonly unknown[]): void {
  const path = paths.toolNames;
  let batch = pending.get(path);
  if (!batch) {
    batch = new Map();
    pending.set(path, batch);
    // After the caller's own work: a macrotask, so every check finishing now joins this write;
    // one write at a time, so a later batch reads what an earlier one wrote.
    setImmediate(() => {
      pending.delete(path);
      const previous = writing.get(path) ?? Promise.resolve();
      const next = previous.then(() => writeBatch(path, batch!)).catch(() => undefined);
      writing.set(path, next);
      void next.then(() => {
        if (writing.get(path) === next) writing.delete(path);
      });
    });
  }
  batch.set(server, safeNames(names));
}

/** Names waiting to be written, and the write under way, by cache file. */
const pending = new Map<string, Map<string, string[]>>();
const writing = new Map<string, Promise<void>>();

/** The write `rememberToolNames` starts, awaitable (tests). */
export async function writeToolNames(paths: Paths, server: string, names: readonly unknown[]): Promise<void> {
  await writeBatch(paths.toolNames, new Map([[server, safeNames(names)]]));
}

function safeNames(names: readonly unknown[]): string[] {
  return [
    ...new Set(names.filter((name): name is string => typeof name === 'string' && SAFE_NAME.test(name))),
  ]
    .slice(0, MAX_NAMES)
    .sort();
}

async function writeBatch(path: string, batch: Map<string, string[]>): Promise<void> {
  const cache = readCache(path);
  let changed = false;
  for (const [server, tools] of batch) {
    const before = cache.servers[server];
    if (before && JSON.stringify(before.tools) === JSON.stringify(tools)) continue;
    cache.servers[server] = { tools, at: new Date().toISOString() };
    changed = true;
  }
  if (!changed) return;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(cache)}\n`, { mode: 0o600 });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
