/** Helpers the host modules share: checking a converted entry and describing what was left out. */

import { win32, posix } from 'node:path';
import { PatchbayError } from '../../errors.js';
import { entryFromRaw, formatProblem, type ServerEntry } from '../entry.js';
import {
  createObject,
  getOwn,
  isObject,
  mapOwnValues,
  setOwn,
  type JsonObject,
  type JsonValue,
  type Position,
} from '../../core/json-source.js';
import { homeDirectory } from '../../core/paths.js';
import type { HostEnvironment, ImportContext } from './types.js';
import { refuse } from './variables.js';

/** The path module of the platform the host files are for (tests compute Windows paths on Linux). */
export function pathFor(platform: NodeJS.Platform): typeof posix {
  return platform === 'win32' ? win32 : posix;
}

export function hostHome(host: HostEnvironment): string {
  // On Windows `HOME` is usually unset and the profile directory is USERPROFILE.
  if (host.platform === 'win32') return host.env.USERPROFILE || host.env.HOME || homeDirectory(host.env);
  return homeDirectory(host.env);
}

/** Where Electron apps keep their data: %APPDATA%, ~/Library/Application Support, or $XDG_CONFIG_HOME. */
export function appDataDirectory(host: HostEnvironment): string {
  const path = pathFor(host.platform);
  const home = hostHome(host);
  if (host.platform === 'win32') return host.env.APPDATA || path.join(home, 'AppData', 'Roaming');
  if (host.platform === 'darwin') return path.join(home, 'Library', 'Application Support');
  const xdg = host.env.XDG_CONFIG_HOME;
  return xdg && xdg.startsWith('/') ? xdg : path.join(home, '.config');
}

export function requireObject(raw: JsonValue): JsonObject {
  // The type only: a misplaced value may be a secret.
  if (!isObject(raw)) {
    refuse(
      `expected an object but found ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : `a ${typeof raw}`}`,
    );
  }
  return raw;
}

/** Validate a converted entry the way patchbay will read it; problems carry the host file's line:col. */
export function checkConverted(raw: JsonObject, name: string, context: ImportContext): ServerEntry {
  const { entry, problems } = entryFromRaw(raw);
  if (!entry) {
    const positionOf = context.positionOf ?? (() => undefined);
    refuse(
      problems
        .map((problem) =>
          formatProblem(context.location.path, [...context.location.serversPath, name], problem, positionOf),
        )
        .join('; '),
    );
  }
  return entry;
}

/** Keys the converter does not understand are named, so nothing disappears silently. */
export function ignoredKeyNotes(raw: JsonObject, known: readonly string[], hostName: string): string[] {
  return Object.keys(raw)
    .filter((key) => !known.includes(key))
    .map((key) => `ignored "${key}": ${hostName} setting with no patchbay equivalent`);
}

function stringMapToJson(map: Record<string, string>): JsonObject {
  const out = createObject();
  for (const [key, value] of Object.entries(map)) setOwn(out, key, value);
  return out;
}

/**
 * A host entry in the common `command/args/env` or `url/headers` shape, strings converted by
 * `convert`. Empty `args`/`env`/`headers` are left out, as the editors' own examples do.
 */
export function commonHostEntry(
  entry: ServerEntry,
  convert: (text: string) => string,
  options: { type?: string } = {},
): JsonObject {
  const raw = createObject();
  if (options.type !== undefined) setOwn(raw, 'type', options.type);
  if (entry.transport === 'stdio') {
    setOwn(raw, 'command', convert(entry.command ?? ''));
    if (entry.args && entry.args.length > 0) setOwn(raw, 'args', entry.args.map(convert));
    if (entry.env && Object.keys(entry.env).length > 0)
      setOwn(raw, 'env', stringMapToJson(mapOwnValues(entry.env, (value) => convert(value))));
  } else {
    setOwn(raw, 'url', convert(entry.url ?? ''));
    if (entry.headers && Object.keys(entry.headers).length > 0)
      setOwn(raw, 'headers', stringMapToJson(mapOwnValues(entry.headers, (value) => convert(value))));
  }
  return raw;
}

/** Notes for patchbay settings an editor host has no place for; `headersHelper` refuses instead. */
export function patchbayOnlySettings(entry: ServerEntry, hostName: string): string[] {
  if (entry.headersHelper !== undefined) {
    refuse(
      `uses headersHelper (a command that produces its headers), which ${hostName} has no equivalent for; without it the server would get no credentials`,
    );
  }
  const notes: string[] = [];
  if (entry.oauth)
    notes.push(`the oauth settings were not exported: ${hostName} runs its own OAuth sign-in for the server`);
  if (entry.timeout !== undefined)
    notes.push(`timeout ${entry.timeout} ms was not exported: ${hostName}'s file has no per-server timeout`);
  return notes;
}

/**
 * The servers object at `path` in a host file: undefined when absent (created when `create`),
 * a config-shape error when something other than an object is in the way.
 */
export function serversAt(
  root: JsonValue,
  path: readonly string[],
  file: { path: string; positionOf?: (path: ReadonlyArray<string | number>) => Position | undefined },
  create: boolean,
): JsonObject | undefined {
  const fail = (depth: number): never => {
    const position = file.positionOf?.(path.slice(0, depth));
    const where = position ? `${file.path}:${position.line}:${position.column}` : file.path;
    const what = depth === 0 ? 'the file' : path.slice(0, depth).join('.');
    throw new PatchbayError(
      'config-shape',
      `${where}: ${what}: expected a JSON object; the file was left unchanged.`,
      {
        hint: `Fix ${file.path} by hand first; patchbay does not rewrite a file it cannot fully read.`,
      },
    );
  };
  if (!isObject(root)) return fail(0);
  let current: JsonObject = root;
  for (let depth = 1; depth <= path.length; depth++) {
    const key = path[depth - 1]!;
    let next = getOwn(current, key);
    if (next === undefined) {
      if (!create) return undefined;
      next = createObject();
      setOwn(current, key, next);
    }
    if (!isObject(next)) return fail(depth);
    current = next;
  }
  return current;
}
