/**
 * The administrator's policy: which servers may be used at all, in the format of Claude Code's
 * managed lists, so an organisation's existing file works as it is:
 *
 *   { "allowedMcpServers": [ { "serverName": "github" }, { "serverUrl": "https://*.corp.example/*" } ],
 *     "deniedMcpServers":  [ { "serverCommand": ["npx", "-y", "some-server"] } ] }
 *
 * - `deniedMcpServers`: a server matching any entry is blocked; this wins over the allow list.
 * - `allowedMcpServers`: when present, only matching servers may be used (an empty list: none).
 * - An entry matches by `serverName` (exactly), `serverUrl` (`*` matches any run of characters,
 *   anywhere), or `serverCommand` (the command and its arguments, exactly).
 *
 * The file is `/etc/patchbay/managed.json`, or PATCHBAY_MANAGED_POLICY. A blocked server is
 * neither contacted nor spawned, by any command. A file that cannot be read or does not have
 * this shape blocks every server (it fails closed: an administrator's rule is never ignored).
 */

import { PatchbayError } from '../errors.js';
import type { ServerEntry } from './entry.js';
import { readJsonFile } from '../core/file-store.js';
import { getOwn, isObject, type JsonValue } from '../core/json-source.js';

export const DEFAULT_MANAGED_POLICY = '/etc/patchbay/managed.json';

export type ManagedMatcher = { serverName: string } | { serverUrl: string } | { serverCommand: string[] };

export interface ManagedPolicy {
  path: string;
  allowed?: ManagedMatcher[];
  denied: ManagedMatcher[];
  /** The file exists but cannot be used: every server is blocked, with this reason. */
  error?: PatchbayError;
}

export function managedPolicyPath(env: NodeJS.ProcessEnv): string {
  return env.PATCHBAY_MANAGED_POLICY || DEFAULT_MANAGED_POLICY;
}

/** The administrator's policy, or undefined when there is no such file. */
export async function readManagedPolicy(env: NodeJS.ProcessEnv): Promise<ManagedPolicy | undefined> {
  const path = managedPolicyPath(env);
  const file = await readJsonFile(path).catch((error: unknown) => ({
    path,
    exists: true,
    parsed: undefined,
    error: new PatchbayError('config-parse', `cannot read ${path}: ${String(error)}`),
  }));
  if (!file.exists) return undefined;
  if (file.error || !file.parsed) return { path, denied: [], error: file.error };
  const root = file.parsed.value;
  const problems: string[] = [];
  const list = (key: string): ManagedMatcher[] | undefined => {
    const value = isObject(root) ? getOwn(root, key) : undefined;
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) {
      problems.push(`${key}: expected an array`);
      return [];
    }
    return value.flatMap((item, index) => {
      const matcher = toMatcher(item);
      if (!matcher)
        problems.push(
          `${key}[${index}]: expected { "serverName" }, { "serverUrl" } or { "serverCommand": [ … ] }`,
        );
      return matcher ? [matcher] : [];
    });
  };
  if (!isObject(root)) problems.push('expected a JSON object');
  const allowed = list('allowedMcpServers');
  const denied = list('deniedMcpServers') ?? [];
  if (problems.length > 0) {
    return {
      path,
      denied,
      error: new PatchbayError('config-shape', `${path}: ${problems.join('; ')}`),
    };
  }
  return { path, denied, ...(allowed ? { allowed } : {}) };
}

function toMatcher(item: JsonValue): ManagedMatcher | undefined {
  if (!isObject(item)) return undefined;
  const name = getOwn(item, 'serverName');
  if (typeof name === 'string') return { serverName: name };
  const url = getOwn(item, 'serverUrl');
  if (typeof url === 'string') return { serverUrl: url };
  const command = getOwn(item, 'serverCommand');
  if (Array.isArray(command) && command.length > 0 && command.every((part) => typeof part === 'string'))
    return { serverCommand: command as string[] };
  return undefined;
}

/** Why the administrator's policy blocks this server, or undefined when it may be used. */
export function managedBlock(
  managed: ManagedPolicy | undefined,
  name: string,
  entry: ServerEntry | undefined,
): string | undefined {
  if (!managed) return undefined;
  if (managed.error)
    return `the administrator's policy ${managed.path} cannot be used (${managed.error.message})`;
  const denied = managed.denied.find((matcher) => matches(matcher, name, entry));
  if (denied)
    return `denied by the administrator's policy (${managed.path}: deniedMcpServers ${describe(denied)})`;
  if (managed.allowed && !managed.allowed.some((matcher) => matches(matcher, name, entry)))
    return `not in the allowed servers of the administrator's policy (${managed.path}: allowedMcpServers)`;
  return undefined;
}

export function matches(matcher: ManagedMatcher, name: string, entry: ServerEntry | undefined): boolean {
  if ('serverName' in matcher) return matcher.serverName === name;
  if ('serverUrl' in matcher) return entry?.url !== undefined && wildcard(matcher.serverUrl).test(entry.url);
  const line = entry?.command !== undefined ? [entry.command, ...(entry.args ?? [])] : undefined;
  return (
    line !== undefined &&
    line.length === matcher.serverCommand.length &&
    line.every((part, index) => part === matcher.serverCommand[index])
  );
}

/** `*` as any run of characters, everything else literal, the whole string. */
function wildcard(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

function describe(matcher: ManagedMatcher): string {
  if ('serverName' in matcher) return `serverName "${matcher.serverName}"`;
  if ('serverUrl' in matcher) return `serverUrl "${matcher.serverUrl}"`;
  return `serverCommand ${JSON.stringify(matcher.serverCommand)}`;
}
