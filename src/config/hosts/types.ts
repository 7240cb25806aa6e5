/**
 * What every host module provides: where the host keeps its MCP servers, and how one of its
 * entries becomes a patchbay entry (Claude Code's `.mcp.json` shape) and back.
 *
 * A conversion never guesses. It either produces an entry that means the same thing to
 * patchbay as it did to the host (with a note for anything the user should know), or it
 * refuses with a reason the user can act on.
 */

import type { Scope, ServerEntry } from '../entry.js';
import type { JsonObject, JsonValue, Position } from '../../core/json-source.js';

export type HostId = 'claude-code' | 'claude-desktop' | 'cursor' | 'vscode';

/** A host's own scopes: its per-user file, a per-project section of it, or a file in the project. */
export type HostScope = 'user' | 'local' | 'project';

export interface HostEnvironment {
  env: NodeJS.ProcessEnv;
  /** `process.platform` unless a test says otherwise: file locations and path separators follow it. */
  platform: NodeJS.Platform;
  /** patchbay's project root (see paths.ts); the host's project files are looked up here. */
  projectRoot: string;
  cwd: string;
}

/** One place a host keeps servers: a file and the JSON path of the servers object in it. */
export interface HostLocation {
  scope: HostScope;
  path: string;
  serversPath: string[];
  /** Set when patchbay does not transfer servers here, with the reason (e.g. `.mcp.json`, read by patchbay itself). */
  skipReason?: string;
  /** For an export: what the user should know about this destination (a note on each entry sent there). */
  note?: string;
}

export interface ImportContext extends HostEnvironment {
  /** The patchbay scope the entry is going to; decides whether a workspace path may be pinned. */
  targetScope: Scope;
  location: HostLocation;
  /** The whole host file, for lookups outside the entry (VS Code's `inputs`). */
  root: JsonValue;
  /** Positions in the host file, for `file:line:col` in problems. */
  positionOf?: (path: ReadonlyArray<string | number>) => Position | undefined;
}

export interface ExportContext {
  platform: NodeJS.Platform;
}

/** The outcome of converting one entry: `raw` and notes, or a reason it cannot be converted. */
export type Conversion = { raw: JsonObject; notes: string[] } | { reason: string };

export interface HostAdapter {
  id: HostId;
  /** The product's name, as its users know it. */
  displayName: string;
  /** The host's files are JSONC (comments and trailing commas allowed). */
  jsonc: boolean;
  /** Where to read servers from, highest precedence first (the host's own rule for a name clash). */
  importLocations(host: HostEnvironment): HostLocation[];
  /**
   * Where a patchbay entry of `scope` goes, or why it does not go anywhere: an entry for this
   * project only (local, project) to the host's file for this project where it has one, a user
   * entry to its per-user file.
   */
  exportLocation(scope: Scope, host: HostEnvironment): HostLocation | { reason: string };
  /** A host entry as a patchbay (Claude Code format) entry. */
  toPatchbay(raw: JsonValue, name: string, context: ImportContext): Conversion;
  /** A valid patchbay entry (and its raw form) as a host entry. */
  fromPatchbay(entry: ServerEntry, raw: JsonValue, context: ExportContext): Conversion;
}

export function isRefusal(conversion: Conversion): conversion is { reason: string } {
  return 'reason' in conversion;
}
