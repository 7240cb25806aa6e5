/**
 * Export: convert patchbay's servers into a host's format and merge them into the host's files.
 * Planning reads everything and writes nothing (`--dry-run`), and finds every warning the write
 * would give, so a dry run shows the same ones; applying edits each target file once, under its
 * lock, deciding again against what is on disk at that moment. Everything else in a host file
 * (other servers, settings patchbay does not know, comments, formatting, its mode) is kept, and
 * the file is backed up first (host-file.ts).
 */

import { stat } from 'node:fs/promises';

import { PatchbayError } from '../../errors.js';
import type { Scope, ServerEntry } from '../entry.js';
import { readJsonFile, type LoadedFile } from '../../core/file-store.js';
import { getOwn, type JsonObject, type JsonValue } from '../../core/json-source.js';
import { managedBlock } from '../managed.js';
import { maskEntry } from '../mask.js';
import { entryDigest, loadRegistry, type ConfigContext } from '../registry.js';
import { hostEnvironment, sameEntry, type SkippedServer } from './import-plan.js';
import { editHostFile, type HostEdit } from './host-file.js';
import { serversAt } from './shared.js';
import { isRefusal, type HostAdapter, type HostEnvironment, type HostScope } from './types.js';

export interface TargetFile {
  path: string;
  scope: HostScope;
  exists: boolean;
  /** The file has comments (kept by the edit). */
  hadComments: boolean;
  /** The file's permission bits, kept by the edit; null for a new file. */
  mode: number | null;
}

export type ExportAction = 'add' | 'replace' | 'unchanged';

export interface ExportItem {
  name: string;
  /** patchbay's file the entry comes from, and its scope. */
  from: string;
  scope: Scope;
  /** The host file it goes to, and the host's scope for it. */
  to: string;
  hostScope: HostScope;
  serversPath: string[];
  /** The entry in the host's format. */
  raw: JsonObject;
  entry: ServerEntry;
  notes: string[];
  action: ExportAction;
}

export interface ExportPlan {
  host: HostAdapter;
  /** Only this patchbay scope, or every effective server. */
  scope?: Scope;
  files: TargetFile[];
  items: ExportItem[];
  skipped: SkippedServer[];
  /** What the user should know about the write as a whole; the same for a dry run. */
  warnings: string[];
}

export interface ExportPlanOptions {
  scope?: Scope;
  force: boolean;
  platform: NodeJS.Platform;
}

/** Whether two host entries mean the same, judged by what patchbay would import from each. */
function sameHostEntry(
  host: HostAdapter,
  name: string,
  a: JsonValue,
  b: JsonValue,
  hostEnv: HostEnvironment,
  location: ExportItem,
): boolean {
  if (entryDigest(a) === entryDigest(b)) return true;
  const context = {
    ...hostEnv,
    targetScope: 'local' as const,
    location: { scope: location.hostScope, path: location.to, serversPath: location.serversPath },
    root: null,
  };
  const left = host.toPatchbay(a, name, context);
  const right = host.toPatchbay(b, name, context);
  return !isRefusal(left) && !isRefusal(right) && sameEntry(left.raw, right.raw);
}

type Decision = { action: ExportAction } | { reason: string };

function decide(
  host: HostAdapter,
  item: ExportItem,
  servers: JsonObject | undefined,
  force: boolean,
  hostEnv: HostEnvironment,
): Decision {
  const existing = servers ? getOwn(servers, item.name) : undefined;
  if (existing === undefined) return { action: 'add' };
  if (sameHostEntry(host, item.name, existing, item.raw, hostEnv, item)) return { action: 'unchanged' };
  if (force) return { action: 'replace' };
  return {
    reason: `${host.displayName}'s ${item.to} already has a different server named ${JSON.stringify(item.name)}; pass --force to replace it`,
  };
}

export async function planExport(
  context: ConfigContext,
  host: HostAdapter,
  options: ExportPlanOptions,
): Promise<ExportPlan> {
  const hostEnv = hostEnvironment(context, options.platform);
  const registry = await loadRegistry(context);
  for (const file of registry.files) {
    if (file.error && (options.scope === undefined || file.scopes.includes(options.scope))) {
      throw new PatchbayError(file.error.code, `Cannot export: ${file.error.message}`, {
        hint: file.error.hint,
      });
    }
  }
  const plan: ExportPlan = { host, scope: options.scope, files: [], items: [], skipped: [], warnings: [] };
  const effective = new Map(registry.servers.map((server) => [server.name, server]));
  const candidates =
    options.scope === undefined
      ? registry.servers.map((server) => server.winner)
      : registry.entries.filter((scoped) => scoped.scope === options.scope);

  for (const scoped of candidates) {
    const skip = (reason: string) => plan.skipped.push({ name: scoped.name, from: scoped.path, reason });
    if (!scoped.entry) {
      skip(`invalid entry: ${scoped.problems.join('; ')}`);
      continue;
    }
    if (scoped.scope === 'project') {
      const decision = scoped.projectChoice ?? 'pending';
      if (decision === 'pending') {
        skip(
          `a project entry not yet approved (or changed since it was); review it with \`patchbay get ${scoped.name}\`, approve it with \`patchbay approve ${scoped.name}\`, then export again`,
        );
        continue;
      }
      if (decision === 'rejected') {
        skip('a project entry rejected for this project');
        continue;
      }
    }
    // A host has no "off" for an entry in these files: written, it would be started.
    const server = effective.get(scoped.name);
    const blocked = managedBlock(server?.managed, scoped.name, scoped.entry);
    if (blocked) {
      skip(`not exported: ${blocked}`);
      continue;
    }
    if (server?.disabledBy) {
      const { scope, path } = server.disabledBy;
      skip(
        `disabled in patchbay (${scope} policy in ${path}), and ${host.displayName} would start it: not exported. To export it, first run: patchbay enable ${scoped.name} -s ${scope}`,
      );
      continue;
    }
    const location = host.exportLocation(scoped.scope, hostEnv);
    if ('reason' in location) {
      skip(location.reason);
      continue;
    }
    const conversion = host.fromPatchbay(scoped.entry, scoped.raw, { platform: options.platform });
    if (isRefusal(conversion)) {
      skip(conversion.reason);
      continue;
    }
    plan.items.push({
      name: scoped.name,
      from: scoped.path,
      scope: scoped.scope,
      to: location.path,
      hostScope: location.scope,
      serversPath: location.serversPath,
      raw: conversion.raw,
      entry: scoped.entry,
      notes: location.note ? [...conversion.notes, location.note] : conversion.notes,
      action: 'add',
    });
  }

  const files = new Map<string, LoadedFile>();
  for (const item of plan.items) {
    if (files.has(item.to)) continue;
    const file = await readJsonFile(item.to, { jsonc: host.jsonc });
    if (file.error) {
      throw new PatchbayError(
        file.error.code,
        `Cannot export to ${host.displayName}: ${file.error.message}\nNothing was written.`,
        {
          hint: file.error.hint,
        },
      );
    }
    files.set(item.to, file);
    plan.files.push({
      path: item.to,
      scope: item.hostScope,
      exists: file.exists,
      hadComments: file.parsed?.hadComments ?? false,
      mode: file.exists ? (await stat(item.to)).mode & 0o777 : null,
    });
  }

  const kept: ExportItem[] = [];
  for (const item of plan.items) {
    const file = files.get(item.to)!;
    const servers = file.parsed
      ? serversAt(
          file.parsed.value,
          item.serversPath,
          { path: item.to, positionOf: file.parsed.positionOf },
          false,
        )
      : undefined;
    const decision = decide(host, item, servers, options.force, hostEnv);
    if ('reason' in decision)
      plan.skipped.push({ name: item.name, from: item.from, reason: decision.reason });
    else kept.push({ ...item, action: decision.action });
  }
  plan.items = kept;
  plan.warnings = modeWarnings(plan);
  return plan;
}

/** What patchbay masks when it shows the entry (a literal token, a password in a URL) is a secret. */
function holdsSecret(entry: ServerEntry): boolean {
  return JSON.stringify(maskEntry(entry)) !== JSON.stringify(entry);
}

/**
 * The file's mode is the user's and is kept; when others may read it and it is about to hold a
 * credential, the user is told, rather than the file silently tightened.
 */
function modeWarnings(plan: ExportPlan): string[] {
  const warnings: string[] = [];
  for (const file of plan.files) {
    if (file.mode === null || (file.mode & 0o077) === 0) continue;
    const names = plan.items
      .filter((item) => item.to === file.path && item.action !== 'unchanged' && holdsSecret(item.entry))
      .map((item) => item.name);
    if (names.length === 0) continue;
    warnings.push(
      `${file.path} can be read by other users (mode ${file.mode.toString(8).padStart(4, '0')}) and will hold the credentials written in the entries of ${names.join(', ')}; its mode is kept: chmod 600 ${file.path} if they are secrets.`,
    );
  }
  return warnings;
}

export interface ExportResult {
  taken: ExportItem[];
  skipped: SkippedServer[];
  failed: SkippedServer[];
  /** Each changed file and where its previous content was copied. */
  backups: Array<{ path: string; backup: string }>;
}

export async function applyExport(
  context: ConfigContext,
  plan: ExportPlan,
  options: ExportPlanOptions,
): Promise<ExportResult> {
  const hostEnv = hostEnvironment(context, options.platform);
  const result: ExportResult = { taken: [], skipped: [...plan.skipped], failed: [], backups: [] };
  const byFile = new Map<string, ExportItem[]>();
  for (const item of plan.items) byFile.set(item.to, [...(byFile.get(item.to) ?? []), item]);

  for (const [path, items] of byFile) {
    if (items.every((item) => item.action === 'unchanged')) {
      result.taken.push(...items);
      continue;
    }
    try {
      const outcome = await editHostFile(path, { jsonc: plan.host.jsonc, dryRun: false }, (root, file) => {
        const taken: ExportItem[] = [];
        const skipped: SkippedServer[] = [];
        const edits: HostEdit[] = [];
        for (const item of items) {
          const servers = serversAt(
            root,
            item.serversPath,
            { path, positionOf: file.parsed?.positionOf },
            false,
          );
          // Decide again: the file may have changed since the plan was made.
          const decision = decide(plan.host, item, servers, options.force, hostEnv);
          if ('reason' in decision) {
            skipped.push({ name: item.name, from: item.from, reason: decision.reason });
            continue;
          }
          if (decision.action !== 'unchanged')
            edits.push({ path: [...item.serversPath, item.name], value: item.raw });
          taken.push({ ...item, action: decision.action });
        }
        return { edits, result: { taken, skipped } };
      });
      result.taken.push(...outcome.result.taken);
      result.skipped.push(...outcome.result.skipped);
      if (outcome.backup) result.backups.push({ path: outcome.path, backup: outcome.backup });
    } catch (error) {
      if (!(error instanceof PatchbayError)) throw error;
      for (const item of items)
        result.failed.push({ name: item.name, from: item.from, reason: `not written: ${error.message}` });
    }
  }
  return result;
}
