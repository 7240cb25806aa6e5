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
  json: boolean;
  platform?: NodeJS.Platform;
}

export function parseInstallOptions(raw: {
  host?: string;
  servers?: string;
  http?: string | boolean;
  dryRun?: boolean;
  force?: boolean;
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

export async function runInstall(options: InstallOptions, io: Io): Promise<number> {
  const host = getHost(options.host);
  const entry = options.http ? gatewayHttpEntry(options.http) : gatewayEntry(mainScript(), options.servers);
  const done = await installGateway(createContext(io.env, io.cwd), host, entry, {
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
  if (done.backup) note(io, `The previous file is kept as ${done.backup}`);
  if (!options.dryRun && done.action !== 'unchanged')
    note(
      io,
      `Restart ${host.displayName} (or reload its MCP servers) to pick it up. Undo: patchbay uninstall --host ${host.id}`,
    );
  return EXIT.ok;
}

export async function runUninstall(options: InstallOptions, io: Io): Promise<number> {
  const host = getHost(options.host);
  const done = await uninstallGateway(createContext(io.env, io.cwd), host, {
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
