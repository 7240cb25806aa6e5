/**
 * `patchbay add <name> <url>` and `patchbay add <name> -- <command> [args...]`.
 * A URL without `-t` is always http: a remote server is never silently treated as a command.
 */

import { PatchbayError } from '../../errors.js';
import type { AddOptions } from '../../config/add-options.js';
import { entryToRaw } from '../../config/entry.js';
import type { JsonObject } from '../../core/json-source.js';
import { maskEntry } from '../../config/mask.js';
import { addServer, createContext, loadRegistry } from '../../config/registry.js';
import { isInteractive, note, warn, type Io } from '../io.js';
import { readHiddenLine } from '../prompt.js';
import { targetText } from '../server-view.js';

// The pure parse lives in config/ so that the console's form validates exactly as this command does.
export {
  literalSecretWarnings,
  parseAddOptions,
  parseScope,
  type AddOptions,
  type RawAddFlags,
} from '../../config/add-options.js';

/** `raw` lets add-json write the entry exactly as given, unknown keys included. */
export async function runAdd(
  options: AddOptions,
  io: Io,
  raw: JsonObject = entryToRaw(options.entry),
): Promise<number> {
  const context = createContext(io.env, io.cwd, io.paths);
  let clientSecret: string | undefined;
  if (options.wantsClientSecret) clientSecret = await obtainClientSecret(io, options.name);
  if (options.clientKeyFile !== undefined) {
    // Read and checked before anything is written: a bad key leaves the config as it was.
    const { readClientKeyFile, storedClientKey } = await import('../../auth/machine-grant.js');
    clientSecret = storedClientKey(await readClientKeyFile(options.clientKeyFile));
  }
  const idpIssuer = options.entry.oauth?.idpIssuer;
  const idpClientSecret =
    options.wantsIdpClientSecret && idpIssuer ? await obtainIdpClientSecret(io, options.name) : undefined;
  for (const warning of options.warnings) warn(io, warning);

  const result = await addServer(context, options.scope, options.name, raw, { force: options.force });
  if (clientSecret !== undefined) {
    const { storeClientSecret } = await import('../../auth/client-secrets.js');
    const where = await storeClientSecret(io, options.name, options.entry.url!, clientSecret);
    const what = options.clientKeyFile !== undefined ? 'client private key' : 'client secret';
    note(io, `Stored the ${what} in ${where}.`);
  }
  if (idpClientSecret !== undefined && idpIssuer) {
    const { storeClientSecret } = await import('../../auth/client-secrets.js');
    const where = await storeClientSecret(io, options.name, idpIssuer, idpClientSecret);
    note(io, `Stored the identity provider's client secret in ${where}.`);
  }
  const verb = result.replaced ? 'Replaced' : 'Added';
  const shown = maskEntry(options.entry);
  const target = targetText({
    transport: shown.transport,
    url: shown.url ?? null,
    command: shown.command ?? null,
    args: shown.args ?? null,
  });
  note(
    io,
    `${verb} ${options.entry.transport} server ${options.name} (${target}) in the ${options.scope} scope: ${result.path}`,
  );

  // Tell the user when another scope has the same name: which one wins is not obvious.
  const registry = await loadRegistry(context);
  const same = registry.entries.filter(
    (entry) => entry.name === options.name && entry.scope !== options.scope,
  );
  for (const other of same) {
    const wins =
      ['local', 'project', 'user'].indexOf(options.scope) < ['local', 'project', 'user'].indexOf(other.scope);
    note(
      io,
      wins
        ? `It shadows the ${other.scope} entry of the same name (${other.path}).`
        : `Note: the ${other.scope} entry of the same name takes precedence over it (${other.path}).`,
    );
  }
  if (options.scope === 'project')
    note(
      io,
      `Teammates who use this .mcp.json will be asked to approve it (patchbay approve ${options.name}).`,
    );
  note(io, `Check it with: patchbay get ${options.name}`);
  return 0;
}

async function obtainIdpClientSecret(io: Io, name: string): Promise<string> {
  const fromEnv = io.env.PATCHBAY_IDP_CLIENT_SECRET;
  if (fromEnv) return fromEnv;
  if (!isInteractive(io)) {
    throw new PatchbayError(
      'no-tty',
      '--idp-client-secret needs the secret, but there is no terminal to ask on.',
      {
        hint: `Pass it in the environment instead: PATCHBAY_IDP_CLIENT_SECRET=... patchbay add ${name} ... --idp-client-secret`,
      },
    );
  }
  const secret = await readHiddenLine(io, `Identity provider client secret for ${name}: `);
  if (!secret) throw new PatchbayError('usage', 'No client secret entered; nothing was changed.');
  return secret;
}

async function obtainClientSecret(io: Io, name: string): Promise<string> {
  const fromEnv = io.env.MCP_CLIENT_SECRET;
  if (fromEnv) return fromEnv;
  if (!isInteractive(io)) {
    throw new PatchbayError(
      'no-tty',
      '--client-secret needs the secret, but there is no terminal to ask on.',
      {
        hint: `Pass it in the environment instead: MCP_CLIENT_SECRET=... patchbay add ${name} ... --client-secret`,
      },
    );
  }
  const secret = await readHiddenLine(io, `Client secret for ${name}: `);
  if (!secret) throw new PatchbayError('usage', 'No client secret entered; nothing was changed.');
  return secret;
}
