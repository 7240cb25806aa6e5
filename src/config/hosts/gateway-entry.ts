/**
 * `patchbay install --host X` / `patchbay uninstall --host X`: the gateway as one entry, named
 * `patchbay`, in a host's own config file, in the format each host reads: a stdio entry that runs
 * `patchbay serve`, or (`--http`) an HTTP entry for a running `patchbay serve --http` whose bearer
 * header names the variable GATEWAY_TOKEN_VARIABLE, so the host's file holds no secret. The file is backed up before it is first changed, a file that does not
 * parse is never touched, and uninstall removes that entry only if it is still patchbay's.
 */

import { userInfo } from 'node:os';
import { resolve } from 'node:path';

import { PatchbayError } from '../../errors.js';
import { entryToRaw, type ServerEntry } from '../entry.js';
import type { LoadedFile } from '../../core/file-store.js';
import { getOwn, isObject, type JsonObject, type JsonValue } from '../../core/json-source.js';
import { configDirectory, dataDirectory, stateDirectory } from '../../core/paths.js';
import { createContext, loadRegistry, type ConfigContext, type EffectiveServer } from '../registry.js';
import { staticState } from '../status.js';
import { editHostFile } from './host-file.js';
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

/**
 * The command hosts run: this Node and this patchbay, by absolute path (a host's PATH is its own),
 * with `env` (see gatewayServers) so that it reads the files this run reads.
 */
export function gatewayEntry(
  mainScript: string,
  servers: string[] | undefined,
  env: Record<string, string> = {},
): ServerEntry {
  return {
    transport: 'stdio',
    command: process.execPath,
    args: [mainScript, 'serve', ...(servers?.length ? ['--servers', servers.join(',')] : [])],
    ...(Object.keys(env).length > 0 ? { env } : {}),
  };
}

/** The home directory of the account (not $HOME): where a host started without HOME looks. */
function accountHome(): string | undefined {
  try {
    return userInfo().homedir || undefined;
  } catch {
    return undefined;
  }
}

/**
 * What decides which files a patchbay process uses, pinned for a host that starts the gateway with
 * an environment of its own (Claude Desktop passes a few variables; editors their own session's):
 * the config, data (credentials) and state directories, wherever they differ from what a process
 * of this account gets with no PATCHBAY_* or XDG_* variable set; the credential backend and the
 * administrator's policy file when chosen by a variable; and the project when the gateway is to
 * serve local- or project-scope servers (a host starts it anywhere, e.g. in /).
 */
export function pinnedEnvironment(
  env: NodeJS.ProcessEnv,
  projectRoot: string,
  pinProject: boolean,
  home: string | undefined = accountHome(),
): Record<string, string> {
  const hostDefault: NodeJS.ProcessEnv = home ? { HOME: home } : {};
  const out: Record<string, string> = {};
  const directories = [
    ['PATCHBAY_CONFIG_DIR', configDirectory],
    ['PATCHBAY_DATA_DIR', dataDirectory],
    ['PATCHBAY_STATE_DIR', stateDirectory],
  ] as const;
  for (const [variable, directory] of directories) {
    const here = directory(env);
    if (!home || here !== directory(hostDefault)) out[variable] = here;
  }
  if (env.PATCHBAY_CREDENTIAL_STORE) out.PATCHBAY_CREDENTIAL_STORE = env.PATCHBAY_CREDENTIAL_STORE;
  if (env.PATCHBAY_MANAGED_POLICY) out.PATCHBAY_MANAGED_POLICY = resolve(env.PATCHBAY_MANAGED_POLICY);
  if (pinProject) out.PATCHBAY_PROJECT_DIR = projectRoot;
  return out;
}

export interface GatewayServers {
  /** The variables the entry sets. */
  env: Record<string, string>;
  /** The servers the gateway will serve, as it would load them with that environment. */
  serves: string[];
  /** Servers it will not serve, each with the reason (disabled, not approved, invalid). */
  notServed: Array<{ name: string; reason: string }>;
  /** The project whose local and project servers it serves, when pinned. */
  project?: string;
  /** The files it reads servers from. */
  files: string[];
}

function refusal(server: EffectiveServer, env: NodeJS.ProcessEnv): string | undefined {
  if (!server.winner.entry) return `invalid entry in ${server.winner.path}`;
  const state = staticState(server, env);
  // An unset ${VAR} may well be set where the host starts the gateway: served, it says so there.
  return state.status === 'disabled' || state.status === 'pending-approval' ? state.reason! : undefined;
}

/**
 * The environment the stdio gateway entry needs, and what the gateway will then serve: loaded the
 * way the host will start it (that environment over the account's defaults, started in /), not
 * the way this shell sees things, so a difference shows here instead of as an empty gateway.
 */
export async function gatewayServers(
  context: ConfigContext,
  only: string[] | undefined,
): Promise<GatewayServers> {
  const here = await loadRegistry(context);
  const chosen = here.servers.filter((server) => !only || only.includes(server.name));
  const pinProject = chosen.some((server) => server.winner.scope !== 'user');
  const env = pinnedEnvironment(context.env, context.projectRoot, pinProject);
  const home = accountHome();
  const hostEnv: NodeJS.ProcessEnv = { ...(home ? { HOME: home } : {}), ...env };
  const seen = await loadRegistry(createContext(hostEnv, pinProject ? context.projectRoot : resolve('/')));
  const serves: string[] = [];
  const notServed: GatewayServers['notServed'] = [];
  for (const server of seen.servers) {
    if (only && !only.includes(server.name)) continue;
    const reason = refusal(server, context.env);
    if (reason) notServed.push({ name: server.name, reason });
    else serves.push(server.name);
  }
  // A name in --servers that is not there (yet, or misspelt): the gateway would skip it silently.
  for (const name of only ?? [])
    if (!seen.servers.some((server) => server.name === name))
      notServed.push({
        name,
        reason: "no server of that name in patchbay's configuration (patchbay list shows them)",
      });
  const files = [seen.context.userConfigPath, ...(pinProject ? [seen.context.projectConfigPath] : [])];
  return { env, serves, notServed, files, ...(pinProject ? { project: context.projectRoot } : {}) };
}

/** The servers object of a host's file, read-only (a shape problem is an error pointing at it). */
function serversIn(value: JsonValue, location: HostLocation, file: LoadedFile): JsonObject | undefined {
  return serversAt(
    value,
    location.serversPath,
    { path: location.path, positionOf: file.parsed?.positionOf },
    false,
  );
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
  const done = await editHostFile(
    location.path,
    { jsonc: host.jsonc, dryRun: options.dryRun },
    (value, file) => {
      const action = decide(serversIn(value, location, file));
      const edits =
        action === 'unchanged' ? [] : [{ path: [...location.serversPath, GATEWAY_ENTRY_NAME], value: raw }];
      return { edits, result: action };
    },
  );
  const backup = done.backup;
  const action = done.result;
  return { host, location, raw, action, ...(backup ? { backup } : {}) };
}

export async function uninstallGateway(
  context: ConfigContext,
  host: HostAdapter,
  options: { dryRun: boolean; platform: NodeJS.Platform },
): Promise<{ location: HostLocation; removed: boolean; backup?: string }> {
  const location = locate(host, context, options.platform);
  const done = await editHostFile(
    location.path,
    { jsonc: host.jsonc, dryRun: options.dryRun },
    (value, file) => {
      const servers = serversIn(value, location, file);
      const existing = servers ? getOwn(servers, GATEWAY_ENTRY_NAME) : undefined;
      if (existing === undefined) return { edits: [], result: false };
      if (!isGatewayEntry(existing))
        throw new PatchbayError(
          'usage',
          `The server named "${GATEWAY_ENTRY_NAME}" in ${location.path} is not patchbay's gateway; it was left unchanged.`,
        );
      return {
        edits: [{ path: [...location.serversPath, GATEWAY_ENTRY_NAME], value: undefined }],
        result: true,
      };
    },
  );
  const { backup, result: removed } = done;
  return { location, removed, ...(backup ? { backup } : {}) };
}
