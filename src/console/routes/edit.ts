/**
 * Editing a remote connector from its page: its URL, transport, headers and OAuth settings.
 *
 * The form is parsed by `patchbay add`'s own parse (through `connectorOptions`); the edit itself
 * is the job `patchbay set` and `patchbay edit` run (use/edit-entry.ts): checked as a file entry
 * and as `add` checks, written by the same writer to the scope the entry lives in. Keys the form
 * does not show (headersHelper, tls, timeout, keys patchbay does not know) are kept as they are.
 *
 * No secret goes to the page and none is needed back: the form lists header names, and a header
 * sent without a value keeps the stored one; the client secret stays in the credential store
 * (moved to the new URL when the URL changes, since it is stored per name and URL).
 */

import { PatchbayError } from '../../errors.js';
import { parseScope } from '../../config/add-options.js';
import type { ServerEntry } from '../../config/entry.js';
import { createObject, getOwn, isObject, setOwn, type JsonObject } from '../../core/json-source.js';
import { maskUrl } from '../../config/mask.js';
import { findServer, notFoundError, type Registry, type ScopedEntry } from '../../config/registry.js';
import { editEntry, entryToEdit } from '../../use/edit-entry.js';
import { staticState } from '../../config/status.js';
import type { ConnectorConfig, EditOutcome, NewConnector } from '../api-types.js';
import { loadConfig, loadServer, type ConsoleContext } from '../context.js';
import {
  badField,
  json,
  objectBody,
  optionalObject,
  optionalString,
  stringField,
  type JsonBody,
} from '../http.js';
import type { Route } from '../router.js';
import { authView, credentialListing, summaryOf } from '../views.js';
import { connectorOptions } from './servers.js';

export const editRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/servers/:name/config',
    handler: async ({ ctx, params, url }) => {
      const { registry, server } = await loadServer(ctx, params.name!);
      const { scoped, entry } = editable(registry, server.name, url.searchParams.get('scope'));
      const listing = await credentialListing(ctx.paths);
      const config: ConnectorConfig = {
        name: server.name,
        scope: scoped.scope,
        file: scoped.path,
        transport: entry.transport as 'http' | 'sse',
        url: maskUrl(entry.url!),
        headers: Object.keys(entry.headers ?? {}),
        oauth: {
          clientId: entry.oauth?.clientId ?? null,
          callbackPort: entry.oauth?.callbackPort ?? null,
          scopes: entry.oauth?.scopes ?? null,
          authServerMetadataUrl: entry.oauth?.authServerMetadataUrl ?? null,
          hasClientSecret:
            listing?.clientSecrets.some((facts) => facts.name === server.name && facts.url === entry.url) ??
            false,
        },
      };
      return json(200, config);
    },
  },
  {
    method: 'PUT',
    path: '/api/servers/:name',
    handler: async ({ ctx, params, url, body }) =>
      json(200, await editConnector(ctx, params.name!, url, await body())),
  },
];

/** The entry to edit, as `patchbay set` finds it; the console edits remote connectors only. */
function editable(
  registry: Registry,
  name: string,
  scopeText: string | null,
): { scoped: ScopedEntry; entry: ServerEntry } {
  const found = entryToEdit(registry, name, scopeText === null ? undefined : parseScope(scopeText));
  if (found.entry.transport === 'stdio')
    throw new PatchbayError(
      'usage',
      `${name} runs a local command; the console edits remote (http and sse) connectors.`,
    );
  return found;
}

async function editConnector(
  ctx: ConsoleContext,
  name: string,
  url: URL,
  input: unknown,
): Promise<EditOutcome> {
  const request = objectBody(input);
  const { registry, server } = await loadServer(ctx, name);
  const { scoped } = editable(registry, server.name, url.searchParams.get('scope'));

  const transport = optionalString(request, 'transport');
  if (transport !== undefined && transport !== 'http' && transport !== 'sse')
    throw badField('transport', '"http" or "sse"');
  const oauth = optionalObject(request, 'oauth') ?? {};
  const clientId = optionalString(oauth, 'clientId')?.trim() || undefined;
  const newSecret = optionalString(oauth, 'clientSecret') || undefined;
  const removeSecret = Object.hasOwn(oauth, 'removeClientSecret') && oauth.removeClientSecret === true;
  const port = Object.hasOwn(oauth, 'callbackPort') ? oauth.callbackPort : undefined;
  if (port !== undefined && port !== null && typeof port !== 'number')
    throw badField('oauth.callbackPort', 'a port number (1-65535)');

  // The form, parsed by `patchbay add`'s own parse, over the entry as it is on disk now.
  const edited = await editEntry(registry, scoped, {
    env: ctx.env,
    ...(newSecret !== undefined ? { newClientSecret: newSecret } : {}),
    removeClientSecret: removeSecret,
    change: (stored, before) => {
      // The URL as the page showed it (masked) means the stored one.
      const shownUrl = stringField(request, 'url').trim();
      const connector: NewConnector = {
        name: server.name,
        url: shownUrl === maskUrl(before.url!) ? before.url! : shownUrl,
        transport: transport ?? (before.transport as 'http' | 'sse'),
        scope: scoped.scope,
        headers: editedHeaders(request, before),
        oauth: {
          ...(clientId !== undefined ? { clientId } : {}),
          ...(typeof port === 'number' ? { callbackPort: port } : {}),
          ...(newSecret !== undefined ? { clientSecret: newSecret } : {}),
        },
      };
      const { options } = connectorOptions(connector);
      return mergedRaw(stored, options.entry, {
        scopes: optionalString(oauth, 'scopes')?.trim() || undefined,
        authServerMetadataUrl: optionalString(oauth, 'authServerMetadataUrl')?.trim() || undefined,
      });
    },
  });
  ctx.log(`Edited ${server.name} in the ${scoped.scope} scope (${scoped.path}).`);

  const after = await loadConfig(ctx);
  const summary = findServer(after, server.name);
  if (!summary) throw notFoundError(after, server.name);
  return {
    connector: summaryOf(
      summary,
      staticState(summary, ctx.env),
      undefined,
      authView(summary, await credentialListing(ctx.paths), ctx.env),
      [],
    ),
    warnings: edited.warnings,
  };
}

/** The headers the entry will have: given values, or the stored value of a header kept unseen. */
function editedHeaders(request: JsonBody, before: ServerEntry): Record<string, string> {
  const value = Object.hasOwn(request, 'headers') ? request.headers : undefined;
  if (value === undefined || value === null) return { ...(before.headers ?? {}) };
  if (!Array.isArray(value)) throw badField('headers', 'an array of { name, value?, from? }');
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const row of value) {
    const header = objectBody(row);
    const name = stringField(header, 'name').trim();
    const given = optionalString(header, 'value');
    if (Object.hasOwn(headers, name))
      throw new PatchbayError('invalid-header', `The header ${name} is given twice.`);
    if (given !== undefined) {
      headers[name] = given;
      continue;
    }
    const from = optionalString(header, 'from') ?? name;
    const stored = before.headers && Object.hasOwn(before.headers, from) ? before.headers[from] : undefined;
    if (stored === undefined)
      throw new PatchbayError('invalid-header', `The header ${name} has no value: type one.`, {
        hint: 'A header keeps its stored value only if it had one; a new header needs a value.',
      });
    headers[name] = stored;
  }
  return headers;
}

/** The stored entry with the form's fields replaced and everything else it holds kept. */
function mergedRaw(
  stored: JsonObject,
  entry: ServerEntry,
  extra: { scopes: string | undefined; authServerMetadataUrl: string | undefined },
): JsonObject {
  const raw = stored;
  setOwn(raw, 'type', entry.transport);
  setOwn(raw, 'url', entry.url!);
  if (entry.headers && Object.keys(entry.headers).length > 0) {
    const headers = createObject();
    for (const [key, value] of Object.entries(entry.headers)) setOwn(headers, key, value);
    setOwn(raw, 'headers', headers);
  } else delete raw['headers'];
  const storedOauth = getOwn(raw, 'oauth');
  const oauth = createObject();
  if (isObject(storedOauth))
    for (const [key, value] of Object.entries(storedOauth)) setOwn(oauth, key, value);
  const fields: Record<string, string | number | undefined> = {
    clientId: entry.oauth?.clientId,
    callbackPort: entry.oauth?.callbackPort,
    scopes: extra.scopes,
    authServerMetadataUrl: extra.authServerMetadataUrl,
  };
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) delete oauth[key];
    else setOwn(oauth, key, value);
  }
  if (Object.keys(oauth).length > 0) setOwn(raw, 'oauth', oauth);
  else delete raw['oauth'];
  return raw;
}
