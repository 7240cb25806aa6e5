/**
 * `patchbay install --host <host> [--servers a,b] [--dry-run] [--force]` and
 * `patchbay uninstall --host <host> [--dry-run]`: add the gateway (`patchbay serve`, over stdio) to
 * a host's own config as one server named `patchbay`, or remove exactly that entry.
 */

import { fileURLToPath } from 'node:url';

import { EXIT } from '../../errors.js';
import {
  gatewayEntry,
  installGateway,
  uninstallGateway,
  GATEWAY_ENTRY_NAME,
} from '../../config/hosts/gateway-entry.js';
import { getHost, parseHost, type HostId } from '../../config/hosts/index.js';
import { createContext } from '../../config/registry.js';
import { validateName } from '../../config/validate.js';
import { note, printJson, sanitizeForTerminal, writeLine, type Io } from '../io.js';

export interface InstallOptions {
  host: HostId;
  servers: string[] | undefined;
  dryRun: boolean;
  force: boolean;
  json: boolean;
  platform?: NodeJS.Platform;
}

export function parseInstallOptions(raw: {
  host?: string;
  servers?: string;
  dryRun?: boolean;
  force?: boolean;
  json?: boolean;
}): InstallOptions {
  const servers = raw.servers
    ?.split(',')
    .map((name) => name.trim())
    .filter(Boolean)
    .map(validateName);
  return {
    host: parseHost(raw.host, '--host'),
    servers: servers?.length ? servers : undefined,
    dryRun: Boolean(raw.dryRun),
    force: Boolean(raw.force),
    json: Boolean(raw.json),
  };
}

/** This patchbay's entry script, as hosts will run it. */
function mainScript(): string {
  return fileURLToPath(new URL('../main.js', import.meta.url));
}

export async function runInstall(options: InstallOptions, io: Io): Promise<number> {
  const host = getHost(options.host);
  const entry = gatewayEntry(mainScript(), options.servers);
  const done = await installGateway(createContext(io.env, io.cwd), host, entry, {
    dryRun: options.dryRun,
    force: options.force,
    platform: options.platform ?? process.platform,
  });
  if (options.json) {
    printJson(io, {
      host: host.id,
      file: done.location.path,
      action: done.action,
      dryRun: options.dryRun,
      entry: done.raw,
      backup: done.backup ?? null,
    });
    return EXIT.ok;
  }
  const file = sanitizeForTerminal(done.location.path);
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
  const file = sanitizeForTerminal(done.location.path);
  writeLine(
    io.stdout,
    done.removed
      ? `${options.dryRun ? 'Would remove' : 'Removed'} "${GATEWAY_ENTRY_NAME}" from ${file} (${host.displayName})`
      : `${file} has no "${GATEWAY_ENTRY_NAME}" entry; nothing to remove.`,
  );
  if (done.backup) note(io, `The previous file is kept as ${done.backup}`);
  return EXIT.ok;
}
