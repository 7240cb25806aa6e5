/**
 * Import: read a host's files, convert every entry, and decide per server what happens in the
 * chosen patchbay scope. Planning writes nothing (it is the whole of `--dry-run`); applying
 * writes each server through `addServer`, under patchbay's file lock.
 */

import { PatchbayError } from '../../errors.js';
import { entryFromRaw, entryToRaw, type Scope, type ServerEntry } from '../entry.js';
import { readJsonFile, type LoadedFile } from '../../core/file-store.js';
import type { JsonObject, JsonValue } from '../../core/json-source.js';
import { addServer, entryDigest, loadRegistry, scopeFilePath, type ConfigContext } from '../registry.js';
import { serversAt } from './shared.js';
import {
  isRefusal,
  type HostAdapter,
  type HostEnvironment,
  type HostLocation,
  type HostScope,
} from './types.js';

export interface SourceFile {
  path: string;
  scope: HostScope;
  exists: boolean;
  /** How many servers the location holds. */
  servers: number;
}

export type ImportAction = 'add' | 'replace' | 'unchanged';

export interface ImportItem {
  /** The name in patchbay. */
  name: string;
  /** The name in the host's file (differs when it is not a valid patchbay name). */
  sourceName: string;
  /** The host file it came from. */
  from: string;
  hostScope: HostScope;
  /** patchbay's file it goes to. */
  to: string;
  raw: JsonObject;
  entry: ServerEntry;
  notes: string[];
  action: ImportAction;
}

export interface SkippedServer {
  name: string;
  from?: string;
  reason: string;
}

export interface ImportPlan {
  host: HostAdapter;
  scope: Scope;
  targetPath: string;
  files: SourceFile[];
  items: ImportItem[];
  skipped: SkippedServer[];
}

export interface ImportPlanOptions {
  scope: Scope;
  force: boolean;
  platform: NodeJS.Platform;
}

// The rule of validateName (validate.ts), which throws; here a name is cleaned up instead.
const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A valid patchbay name for a host's name ("GitHub MCP" → "GitHub-MCP"), or undefined. */
export function patchbayName(name: string): string | undefined {
  if (NAME_PATTERN.test(name)) return name;
  const cleaned = name
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
  return cleaned === '' ? undefined : cleaned;
}

/** Two patchbay entries that mean the same (`args: []` and no args are the same thing). */
export function sameEntry(a: JsonValue, b: JsonValue): boolean {
  const left = entryFromRaw(a).entry;
  const right = entryFromRaw(b).entry;
  return (
    left !== undefined &&
    right !== undefined &&
    entryDigest(entryToRaw(left)) === entryDigest(entryToRaw(right))
  );
}

export function hostEnvironment(context: ConfigContext, platform: NodeJS.Platform): HostEnvironment {
  return { env: context.env, platform, projectRoot: context.projectRoot, cwd: context.cwd };
}

function uniqueLocations(locations: HostLocation[]): HostLocation[] {
  const seen = new Set<string>();
  return locations.filter((location) => {
    const key = JSON.stringify([location.path, location.serversPath]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

async function readHostFile(
  path: string,
  host: HostAdapter,
  cache: Map<string, LoadedFile>,
): Promise<LoadedFile> {
  let file = cache.get(path);
  if (!file) {
    file = await readJsonFile(path, { jsonc: host.jsonc });
    cache.set(path, file);
  }
  return file;
}

export async function planImport(
  context: ConfigContext,
  host: HostAdapter,
  options: ImportPlanOptions,
): Promise<ImportPlan> {
  const hostEnv = hostEnvironment(context, options.platform);
  const targetPath = scopeFilePath(context, options.scope);
  const plan: ImportPlan = { host, scope: options.scope, targetPath, files: [], items: [], skipped: [] };
  const cache = new Map<string, LoadedFile>();
  const taken = new Map<string, { location: HostLocation }>();
  const usedNames = new Set<string>();

  for (const location of uniqueLocations(host.importLocations(hostEnv))) {
    const file = await readHostFile(location.path, host, cache);
    if (file.error) {
      // A file patchbay reads itself (.mcp.json) is reported by `patchbay list`; it is not ours to fail on.
      if (location.skipReason) continue;
      throw new PatchbayError(
        file.error.code,
        `Cannot import from ${host.displayName}: ${file.error.message}`,
        {
          hint: `Fix ${location.path} (${host.displayName} cannot read it either), then run the import again.`,
        },
      );
    }
    let servers: JsonObject | undefined;
    try {
      servers = file.parsed
        ? serversAt(
            file.parsed.value,
            location.serversPath,
            { path: location.path, positionOf: file.parsed.positionOf },
            false,
          )
        : undefined;
    } catch (error) {
      if (location.skipReason) continue;
      throw error;
    }
    const names = servers ? Object.keys(servers) : [];
    plan.files.push({
      path: location.path,
      scope: location.scope,
      exists: file.exists,
      servers: names.length,
    });
    if (!servers) continue;

    for (const [sourceName, raw] of Object.entries(servers)) {
      const winner = taken.get(sourceName);
      if (winner) {
        plan.skipped.push({
          name: sourceName,
          from: location.path,
          reason: `${host.displayName} uses the ${winner.location.scope} entry of the same name (${winner.location.path}) instead`,
        });
        continue;
      }
      taken.set(sourceName, { location });
      if (location.skipReason) {
        plan.skipped.push({ name: sourceName, from: location.path, reason: location.skipReason });
        continue;
      }
      const conversion = host.toPatchbay(raw, sourceName, {
        ...hostEnv,
        targetScope: options.scope,
        location,
        root: file.parsed!.value,
        positionOf: file.parsed!.positionOf,
      });
      if (isRefusal(conversion)) {
        plan.skipped.push({ name: sourceName, from: location.path, reason: conversion.reason });
        continue;
      }
      const name = patchbayName(sourceName);
      if (name === undefined || usedNames.has(name)) {
        plan.skipped.push({
          name: sourceName,
          from: location.path,
          reason:
            name === undefined
              ? 'the name has no letters or digits patchbay can use; add it by hand with `patchbay add-json <name> <json>`'
              : `as a patchbay name it becomes ${JSON.stringify(name)}, which another imported server already has`,
        });
        continue;
      }
      usedNames.add(name);
      const notes = [...conversion.notes];
      if (name !== sourceName)
        notes.unshift(`imported as ${JSON.stringify(name)}: patchbay names are letters, digits, "_" and "-"`);
      plan.items.push({
        name,
        sourceName,
        from: location.path,
        hostScope: location.scope,
        to: targetPath,
        raw: conversion.raw,
        entry: entryFromRaw(conversion.raw).entry!,
        notes,
        action: 'add',
      });
    }
  }

  await decideActions(context, plan, options);
  return plan;
}

/** Compare with what the target scope already holds: new, identical, or different (needs --force). */
async function decideActions(
  context: ConfigContext,
  plan: ImportPlan,
  options: ImportPlanOptions,
): Promise<void> {
  if (plan.items.length === 0) return;
  const registry = await loadRegistry(context);
  const target = registry.files.find((file) => file.scopes.includes(options.scope));
  if (target?.error) {
    throw new PatchbayError(
      target.error.code,
      `Cannot import into the ${options.scope} scope: ${target.error.message}`,
      { hint: target.error.hint },
    );
  }
  const kept: ImportItem[] = [];
  for (const item of plan.items) {
    const existing = registry.entries.find(
      (entry) => entry.scope === options.scope && entry.name === item.name,
    );
    if (!existing) kept.push(item);
    else if (sameEntry(existing.raw, item.raw)) kept.push({ ...item, action: 'unchanged' });
    else if (options.force) kept.push({ ...item, action: 'replace' });
    else {
      plan.skipped.push({
        name: item.name,
        from: item.from,
        reason: `patchbay's ${options.scope} scope already has a different server named ${JSON.stringify(item.name)} (${existing.path}); pass --force to replace it`,
      });
    }
  }
  plan.items = kept;
}

export interface ImportResult {
  taken: ImportItem[];
  skipped: SkippedServer[];
  /** Servers that could not be written (a failed write, not a decision). */
  failed: SkippedServer[];
}

export async function applyImport(context: ConfigContext, plan: ImportPlan): Promise<ImportResult> {
  const result: ImportResult = { taken: [], skipped: [...plan.skipped], failed: [] };
  for (const item of plan.items) {
    if (item.action === 'unchanged') {
      result.taken.push(item);
      continue;
    }
    try {
      const { replaced } = await addServer(context, plan.scope, item.name, item.raw, {
        force: item.action === 'replace',
      });
      result.taken.push({ ...item, action: replaced ? 'replace' : 'add' });
    } catch (error) {
      if (error instanceof PatchbayError && error.code === 'duplicate') {
        // Another process added the name since the plan was made.
        result.skipped.push({
          name: item.name,
          from: item.from,
          reason: `${error.message} Pass --force to replace it.`,
        });
      } else if (error instanceof PatchbayError) {
        result.failed.push({ name: item.name, from: item.from, reason: `not written: ${error.message}` });
      } else {
        throw error;
      }
    }
  }
  return result;
}
