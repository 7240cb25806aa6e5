/**
 * `patchbay install --host <host> [--servers a,b | --http [url]] [--dry-run] [--force]` and
 * `patchbay uninstall --host <host> [--dry-run]`: add the gateway to a host's own config as one
 * server named `patchbay` (a stdio entry running `patchbay serve`, or an HTTP entry for a running
 * `patchbay serve --http`), or remove exactly that entry.
 */

import { fileURLToPath } from 'node:url';

import { EXIT, PatchbayError } from '../../errors.js';
import {
  gatewayEntry,
  gatewayHttpEntry,
  gatewayServers,
  type GatewayServers,
  GATEWAY_TOKEN_VARIABLE,
  installGateway,
  uninstallGateway,
  GATEWAY_ENTRY_NAME,
} from '../../config/hosts/gateway-entry.js';
import { getHost, parseHost, type HostId } from '../../config/hosts/index.js';
import { createContext } from '../../config/registry.js';
import { validateName } from '../../config/validate.js';
import { note, printJson, writeLine, type Io } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';

export interface InstallOptions {
  host: HostId;
  servers: string[] | undefined;
  /** The URL of a `patchbay serve --http` to enter instead of the stdio command. */
  http: string | undefined;
  dryRun: boolean;
  force: boolean;
  /** Install even when the gateway would serve no servers (it picks up servers added later). */
  allowEmpty: boolean;
  json: boolean;
  platform?: NodeJS.Platform;
}

export function parseInstallOptions(raw: {
  host?: string;
  servers?: string;
  http?: string | boolean;
  dryRun?: boolean;
  force?: boolean;
  allowEmpty?: boolean;
  json?: boolean;
}): InstallOptions {
  const http = raw.http === undefined || raw.http === false ? undefined : gatewayUrl(raw.http);
  if (http && raw.servers)
    throw new PatchbayError('usage', '--servers goes with the stdio entry, not --http.', {
      hint: 'The running gateway chooses what it serves: patchbay serve --http --servers a,b',
    });
  const servers = raw.servers
    ?.split(',')
    .map((name) => name.trim())
    .filter(Boolean)
    .map(validateName);
  return {
    host: parseHost(raw.host, '--host'),
    servers: servers?.length ? servers : undefined,
    http,
    dryRun: Boolean(raw.dryRun),
    force: Boolean(raw.force),
    allowEmpty: Boolean(raw.allowEmpty),
    json: Boolean(raw.json),
  };
}

export const DEFAULT_GATEWAY_URL = 'http://127.0.0.1:7431/mcp';

/** `--http` alone: the default address of `patchbay serve --http`; else an http(s) URL. */
function gatewayUrl(value: string | true): string {
  if (value === true) return DEFAULT_GATEWAY_URL;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new PatchbayError('usage', `Invalid --http ${JSON.stringify(value)}: expected the gateway's URL.`, {
      hint: `For example: --http ${DEFAULT_GATEWAY_URL}`,
    });
  return url.href;
}

/** This patchbay's entry script, as hosts will run it. */
function mainScript(): string {
  return fileURLToPath(new URL('../main.js', import.meta.url));
}

/**
 * A host shows a gateway that serves nothing as connected, with no tools and no reason: refuse
 * it here, where the reason can be given, unless --allow-empty says it is meant.
 */
function refuseEmpty(host: string, hostId: string, seen: GatewayServers): never {
  const why =
    seen.notServed.length > 0
      ? seen.notServed.map((server) => `${server.name}: ${server.reason}`).join('; ')
      : `patchbay has no servers in ${seen.files.join(' or ')}`;
  throw new PatchbayError(
    'not-found',
    `${host} would start a gateway that serves no servers (${why}); nothing was written.`,
    {
      hint: `Add a server first (patchbay add <name> <url>) and install again, or install it now with: patchbay install --host ${hostId} --allow-empty (the gateway picks up servers added later)`,
    },
  );
}

export async function runInstall(options: InstallOptions, io: Io): Promise<number> {
  const host = getHost(options.host);
  const context = createContext(io.env, io.cwd, io.paths);
  const seen = options.http ? undefined : await gatewayServers(context, options.servers);
  if (seen && seen.serves.length === 0 && !options.allowEmpty) refuseEmpty(host.displayName, host.id, seen);
  const entry = options.http
    ? gatewayHttpEntry(options.http)
    : gatewayEntry(mainScript(), options.servers, seen?.env);
  const done = await installGateway(context, host, entry, {
    dryRun: options.dryRun,
    force: options.force,
    platform: options.platform ?? process.platform,
  });
  if (options.http)
    note(
      io,
      `${host.displayName} sends the token from its environment: set ${GATEWAY_TOKEN_VARIABLE} where it starts (its value: patchbay serve --print-token), and keep "patchbay serve --http" running.`,
    );
  if (options.json) {
    printJson(io, {
      host: host.id,
      file: done.location.path,
      action: done.action,
      dryRun: options.dryRun,
      entry: done.raw,
      tokenVariable: options.http ? GATEWAY_TOKEN_VARIABLE : null,
      serves: seen?.serves ?? null,
      notServed: seen?.notServed ?? null,
      project: seen?.project ?? null,
      backup: done.backup ?? null,
    });
    return EXIT.ok;
  }
  const file = terminalText(done.location.path);
  const verb = { add: 'Added', replace: 'Replaced', unchanged: 'Already there:' }[done.action];
  writeLine(
    io.stdout,
    `${options.dryRun && done.action !== 'unchanged' ? `Would be ${done.action === 'add' ? 'added' : 'replaced'}:` : verb} "${GATEWAY_ENTRY_NAME}" in ${file} (${host.displayName})`,
  );
  writeLine(io.stdout, `  ${JSON.stringify(done.raw)}`);
  if (seen) describeServed(io, host.displayName, seen);
  if (done.backup) note(io, `The previous file is kept as ${done.backup}`);
  if (!options.dryRun && done.action !== 'unchanged')
    note(
      io,
      `Restart ${host.displayName} (or reload its MCP servers) to pick it up. Undo: patchbay uninstall --host ${host.id}`,
    );
  return EXIT.ok;
}

/** What the host will get, said before it is restarted rather than discovered after. */
function describeServed(io: Io, hostName: string, seen: GatewayServers): void {
  note(
    io,
    seen.serves.length > 0
      ? `The gateway serves ${seen.serves.length} server${seen.serves.length === 1 ? '' : 's'}: ${seen.serves.join(', ')}.`
      : `The gateway serves no servers yet; it picks up servers added later (patchbay add <name> <url>).`,
  );
  for (const server of seen.notServed) note(io, `Not served: ${server.name}: ${server.reason}`);
  if (seen.project)
    note(
      io,
      `It serves this project's local and project servers (${seen.project}) wherever ${hostName} starts it; to serve another project's, install from there.`,
    );
  const pinned = Object.keys(seen.env).filter((name) => name !== 'PATCHBAY_PROJECT_DIR');
  if (pinned.length > 0)
    note(
      io,
      `Its env sets ${pinned.join(', ')}, so it reads the same files as this shell whatever ${hostName}'s environment.`,
    );
}

export async function runUninstall(options: InstallOptions, io: Io): Promise<number> {
  const host = getHost(options.host);
  const done = await uninstallGateway(createContext(io.env, io.cwd, io.paths), host, {
    dryRun: options.dryRun,
    platform: options.platform ?? process.platform,
  });
  if (options.json) {
    printJson(io, {
      host: host.id,
      file: done.location.path,
      removed: done.removed,
      dryRun: options.dryRun,
      backup: done.backup ?? null,
    });
    return EXIT.ok;
  }
  const file = terminalText(done.location.path);
  writeLine(
    io.stdout,
    done.removed
      ? `${options.dryRun ? 'Would remove' : 'Removed'} "${GATEWAY_ENTRY_NAME}" from ${file} (${host.displayName})`
      : `${file} has no "${GATEWAY_ENTRY_NAME}" entry; nothing to remove.`,
  );
  if (done.backup) note(io, `The previous file is kept as ${done.backup}`);
  return EXIT.ok;
}
