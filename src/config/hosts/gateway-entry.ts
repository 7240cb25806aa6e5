/**
 * `patchbay install --host X` / `patchbay uninstall --host X`: the gateway as one entry, named
 * `patchbay`, in a host's own config file, in the format each host reads: a stdio entry that runs
 * `patchbay serve`, or (`--http`) an HTTP entry for a running `patchbay serve --http` whose bearer
 * header names the variable GATEWAY_TOKEN_VARIABLE, so the host's file holds no secret. The file is backed up before it is first changed, a file that does not
 * parse is never touched, and uninstall removes that entry only if it is still patchbay's.
 */

import { copyFile } from 'node:fs/promises';

import { PatchbayError } from '../../errors.js';
import { entryToRaw, type ServerEntry } from '../entry.js';
import { updateJsonFile } from '../file-store.js';
import { getOwn, isObject, setOwn, type JsonObject } from '../json-source.js';
import type { ConfigContext } from '../registry.js';
import { hostEnvironment } from './import-plan.js';
import { serversAt } from './shared.js';
import { isRefusal, type HostAdapter, type HostLocation } from './types.js';

export const GATEWAY_ENTRY_NAME = 'patchbay';

export interface GatewayInstall {
  host: HostAdapter;
  location: HostLocation;
  /** The entry as the host's file will hold it. */
  raw: JsonObject;
  action: 'add' | 'replace' | 'unchanged';
  /** Where the file was copied before it was changed (none for a new file or a dry run). */
  backup?: string;
}

/** The variable an HTTP entry's Authorization header names; the host must have it set. */
export const GATEWAY_TOKEN_VARIABLE = 'PATCHBAY_GATEWAY_TOKEN';

/** The HTTP entry of a gateway at `url`: the token comes from the host's environment. */
export function gatewayHttpEntry(url: string): ServerEntry {
  return {
    transport: 'http',
    url,
    headers: { Authorization: `Bearer \${${GATEWAY_TOKEN_VARIABLE}}` },
  };
}

/** The command hosts run: this Node and this patchbay, by absolute path (a host's PATH is its own). */
export function gatewayEntry(mainScript: string, servers: string[] | undefined): ServerEntry {
  return {
    transport: 'stdio',
    command: process.execPath,
    args: [mainScript, 'serve', ...(servers?.length ? ['--servers', servers.join(',')] : [])],
  };
}

/**
 * Edit the servers object of a host's file under its lock (created when `create`). The file is
 * copied aside to `<file>.patchbay-backup-<time>` just before it is replaced; a file that does not
 * parse is never touched (updateJsonFile refuses it).
 */
async function editServers<T>(
  host: HostAdapter,
  location: HostLocation,
  create: boolean,
  edit: (servers: JsonObject | undefined) => { write: boolean; result: T },
): Promise<{ result: T; backup?: string }> {
  let backup: string | undefined;
  const result = await updateJsonFile(
    location.path,
    (root, file) =>
      edit(
        serversAt(
          root,
          location.serversPath,
          { path: location.path, positionOf: file.parsed?.positionOf },
          create,
        ),
      ),
    {
      jsonc: host.jsonc,
      secret: true,
      beforeWrite: async (path, existed) => {
        if (!existed) return;
        backup = `${path}.patchbay-backup-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        await copyFile(path, backup);
      },
    },
  );
  return { result, ...(backup ? { backup } : {}) };
}

function locate(host: HostAdapter, context: ConfigContext, platform: NodeJS.Platform): HostLocation {
  const location = host.exportLocation('user', hostEnvironment(context, platform));
  if ('reason' in location) throw new PatchbayError('usage', `${host.displayName}: ${location.reason}`);
  return location;
}

/**
 * Is this host entry one patchbay wrote? It runs `… serve` (or `patchbay serve`), or it is an HTTP
 * entry whose bearer header names GATEWAY_TOKEN_VARIABLE (in any host's variable syntax).
 */
export function isGatewayEntry(raw: unknown): boolean {
  if (!isObject(raw)) return false;
  const headers = getOwn(raw, 'headers');
  if (isObject(headers)) {
    const authorization = Object.entries(headers).find(([name]) => name.toLowerCase() === 'authorization');
    if (
      authorization &&
      new RegExp(`\\$\\{(env:)?${GATEWAY_TOKEN_VARIABLE}\\}`).test(String(authorization[1]))
    )
      return true;
  }
  const args = getOwn(raw, 'args');
  const command = String(getOwn(raw, 'command') ?? '');
  const list = Array.isArray(args) ? args.map(String) : [];
  return (
    list.includes('serve') &&
    (/(^|[\\/])patchbay(\.cmd|\.exe)?$/.test(command) ||
      list.some((arg) => /patchbay|cli[\\/]main\.js$/.test(arg)))
  );
}

export async function installGateway(
  context: ConfigContext,
  host: HostAdapter,
  entry: ServerEntry,
  options: { dryRun: boolean; force: boolean; platform: NodeJS.Platform },
): Promise<GatewayInstall> {
  const location = locate(host, context, options.platform);
  const conversion = host.fromPatchbay(entry, entryToRaw(entry), { platform: options.platform });
  if (isRefusal(conversion)) throw new PatchbayError('usage', `${host.displayName}: ${conversion.reason}`);
  const raw = conversion.raw;
  const decide = (servers: JsonObject | undefined): GatewayInstall['action'] => {
    const existing = servers ? getOwn(servers, GATEWAY_ENTRY_NAME) : undefined;
    if (existing === undefined) return 'add';
    if (JSON.stringify(existing) === JSON.stringify(raw)) return 'unchanged';
    if (!isGatewayEntry(existing) && !options.force)
      throw new PatchbayError(
        'duplicate',
        `${location.path} already has a server named "${GATEWAY_ENTRY_NAME}" that is not patchbay's gateway; it was left unchanged.`,
        { hint: `Rename it there, or replace it with: patchbay install --host ${host.id} --force` },
      );
    return 'replace';
  };
  const { result: action, backup } = await editServers(host, location, !options.dryRun, (servers) => {
    const action = decide(servers);
    if (options.dryRun || action === 'unchanged') return { write: false, result: action };
    setOwn(servers!, GATEWAY_ENTRY_NAME, raw);
    return { write: true, result: action };
  });
  return { host, location, raw, action, ...(backup ? { backup } : {}) };
}

export async function uninstallGateway(
  context: ConfigContext,
  host: HostAdapter,
  options: { dryRun: boolean; platform: NodeJS.Platform },
): Promise<{ location: HostLocation; removed: boolean; backup?: string }> {
  const location = locate(host, context, options.platform);
  const { result: removed, backup } = await editServers(host, location, false, (servers) => {
    const existing = servers ? getOwn(servers, GATEWAY_ENTRY_NAME) : undefined;
    if (existing === undefined) return { write: false, result: false };
    if (!isGatewayEntry(existing))
      throw new PatchbayError(
        'usage',
        `The server named "${GATEWAY_ENTRY_NAME}" in ${location.path} is not patchbay's gateway; it was left unchanged.`,
      );
    if (options.dryRun) return { write: false, result: true };
    delete (servers as Record<string, unknown>)[GATEWAY_ENTRY_NAME];
    return { write: true, result: true };
  });
  return { location, removed, ...(backup ? { backup } : {}) };
}
