/**
 * Changing one configured server in place: `patchbay set`, `patchbay edit` and the console's edit
 * form all run this. The change is made to the entry as it is on disk (under the file's lock), in
 * the scope that holds it, and keeps every key the change does not touch, patchbay's unknown ones
 * included. The new entry is checked as a file entry (`entryFromRaw`) and as `patchbay add` checks
 * a new one (`checkEditedEntry`), and written by the same writer; a check that fails leaves the
 * file untouched. The OAuth client secret, stored per name and URL outside the config, follows.
 */

import { PatchbayError } from '../errors.js';
import { checkEditedEntry } from '../config/add-options.js';
import { entryFromRaw, entryProblemsError, type Scope, type ServerEntry } from '../config/entry.js';
import {
  editServer,
  findServer,
  notFoundError,
  type Registry,
  type ScopedEntry,
} from '../config/registry.js';
import { isObject, toJsonValue, type JsonObject } from '../core/json-source.js';

/** The entry to edit, readable: in the scope asked for, else the one in effect. */
export function entryToEdit(
  registry: Registry,
  name: string,
  scope: Scope | undefined,
): { scoped: ScopedEntry; entry: ServerEntry } {
  const server = findServer(registry, name);
  if (!server) throw notFoundError(registry, name);
  const wanted = scope ?? server.winner.scope;
  const scoped = registry.entries.find((candidate) => candidate.name === name && candidate.scope === wanted);
  if (!scoped) {
    const scopes = registry.entries.filter((entry) => entry.name === name).map((entry) => entry.scope);
    throw new PatchbayError('not-found', `No server named ${JSON.stringify(name)} in the ${wanted} scope.`, {
      hint: `It is in the ${scopes.join(' and ')} scope${scopes.length > 1 ? 's' : ''}.`,
    });
  }
  if (!scoped.entry) throw unreadable(name, scoped.path, scoped.problems);
  return { scoped, entry: scoped.entry };
}

function unreadable(name: string, path: string, problems: string[]): PatchbayError {
  return new PatchbayError('config-shape', `${name} in ${path} cannot be read:\n${problems.join('\n')}`, {
    hint: `Fix it in ${path}; patchbay does not rewrite an entry it cannot fully read.`,
  });
}

export interface EntryEdit {
  /**
   * The new entry, from a copy of the stored one (change it, or build another) and its checked
   * view. Throw to change nothing.
   */
  change: (raw: JsonObject, before: ServerEntry) => JsonObject;
  env: NodeJS.ProcessEnv;
  /** A new OAuth client secret to store (for the entry's new URL). */
  newClientSecret?: string;
  /** Remove the stored client secret (it is removed anyway when the entry has no client ID left). */
  removeClientSecret?: boolean;
}

export interface EntryEditResult {
  name: string;
  scope: Scope;
  /** The file written. */
  path: string;
  before: ServerEntry;
  after: ServerEntry;
  /** What `add` says about the new entry (plain http, a literal secret in .mcp.json). */
  warnings: string[];
}

/** Change `scoped` (from `entryToEdit`) with `edit.change`, check it, write it into its scope. */
export async function editEntry(
  registry: Registry,
  scoped: ScopedEntry,
  edit: EntryEdit,
): Promise<EntryEditResult> {
  const { name, scope } = scoped;
  let outcome: Omit<EntryEditResult, 'path'> | undefined;
  const { path } = await editServer(registry.context, scope, name, (stored) => {
    const before = entryFromRaw(stored);
    if (!before.entry || !isObject(stored))
      throw unreadable(
        name,
        scoped.path,
        before.problems.map((problem) => `${problem.path.join('.') || name}: ${problem.message}`),
      );
    const raw = edit.change(toJsonValue(stored) as JsonObject, before.entry);
    const checked = entryFromRaw(raw);
    if (!checked.entry)
      throw entryProblemsError(
        checked.problems.map((problem) => `${problem.path.join('.') || name}: ${problem.message}`),
      );
    const warnings = checkEditedEntry(name, scope, checked.entry);
    outcome = { name, scope, before: before.entry, after: checked.entry, warnings };
    return raw;
  });
  const result = { ...outcome!, path };
  const oldUrl = result.before.url;
  const newUrl = result.after.url;
  if (oldUrl !== undefined && newUrl !== undefined)
    await keepClientSecret(edit.env, name, oldUrl, newUrl, {
      newSecret: edit.newClientSecret,
      remove: edit.removeClientSecret === true || result.after.oauth?.clientId === undefined,
    });
  return result;
}

/**
 * The client secret follows the edit: a new one is stored; a kept one moves with a new URL (it
 * is stored per name and URL, so that it is never sent to a server it was not given for);
 * without a client ID, or when asked, it is removed.
 */
async function keepClientSecret(
  env: NodeJS.ProcessEnv,
  name: string,
  oldUrl: string,
  newUrl: string,
  { newSecret, remove }: { newSecret: string | undefined; remove: boolean },
): Promise<void> {
  // Nothing to store, move or remove: the credential store is not opened at all.
  if (newSecret === undefined && !remove && oldUrl === newUrl) return;
  const { openCredentialStore } = await import('../auth/store.js');
  let stored = false;
  try {
    const listing = await (await openCredentialStore(env, { backend: 'file' })).list();
    stored = listing.clientSecrets.some((facts) => facts.name === name && facts.url === oldUrl);
  } catch {
    // No readable index: nothing is known to be stored.
  }
  if (!stored && newSecret === undefined) return;
  const store = await openCredentialStore(env);
  if (remove) {
    if (stored) await store.deleteClientSecret(name, oldUrl);
    return;
  }
  if (newSecret !== undefined) {
    if (stored && oldUrl !== newUrl) await store.deleteClientSecret(name, oldUrl);
    await store.saveClientSecret(name, newUrl, newSecret);
    return;
  }
  if (oldUrl === newUrl) return;
  const secret = await store.getClientSecret(name, oldUrl);
  if (secret !== undefined) await store.saveClientSecret(name, newUrl, secret);
  await store.deleteClientSecret(name, oldUrl);
}
