/**
 * The Connectors page: every configured server with its live status; add a custom connector
 * (validated exactly as `patchbay add`); remove one; approve a project server; enable or disable.
 */

import { PatchbayError } from '../../errors.js';
import { literalSecretWarnings, parseAddOptions, parseScope } from '../../config/add-options.js';
import { entryToRaw } from '../../config/entry.js';
import { setServerEnabled } from '../../config/policy-files.js';
import {
  scopeToRemove,
  addServer,
  findServer,
  notFoundError,
  recordProjectChoices,
  removeFromScope,
} from '../../config/registry.js';
import { staticState } from '../../config/status.js';
import { validateHeader, validateName } from '../../config/validate.js';
import type { ConnectorSummary, NewConnector, SessionInfo } from '../api-types.js';
import { loadConfig, loadServer } from '../context.js';
import {
  badField,
  json,
  noContent,
  objectBody,
  optionalObject,
  optionalString,
  stringField,
  type JsonBody,
} from '../http.js';
import type { Route } from '../router.js';
import { checkMany } from '../../use/check-many.js';
import { authView, changedToolNames, credentialListing, summaryOf } from '../views.js';

export const serverRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/session',
    handler: async ({ ctx }) => {
      const registry = await loadConfig(ctx);
      const info: SessionInfo = {
        version: ctx.version,
        projectRoot: registry.context.projectRoot,
        userConfigPath: registry.context.userConfigPath,
      };
      return json(200, info);
    },
  },
  {
    method: 'GET',
    path: '/api/servers',
    handler: async ({ ctx, url }) => {
      const check = url.searchParams.get('check');
      if (check !== null && check !== '0' && check !== '1') throw badField('check', '0 or 1');
      const registry = await loadConfig(ctx);
      const targets = registry.servers.map((server) => ({ server, state: staticState(server, ctx.env) }));
      const [probes, listing] = await Promise.all([
        check === '1'
          ? checkMany(targets, {
              timeoutMs: ctx.timeoutMs,
              env: ctx.env,
              cwd: ctx.cwd,
              paths: ctx.paths,
              refreshState: ctx.refreshState,
              eraHintCache: ctx.eraHints,
            })
          : Promise.resolve([]),
        credentialListing(ctx.paths),
      ]);
      const summaries: ConnectorSummary[] = await Promise.all(
        targets.map(async ({ server, state }, index) =>
          summaryOf(
            server,
            state,
            probes[index],
            authView(server, listing, ctx.env),
            await changedToolNames(server, ctx.paths),
          ),
        ),
      );
      return json(200, summaries);
    },
  },
  {
    method: 'POST',
    path: '/api/servers',
    handler: async ({ ctx, body }) => {
      const connector = newConnector(objectBody(await body()));
      const { options, clientSecret } = connectorOptions(connector);
      const registry = await loadConfig(ctx);
      await addServer(registry.context, options.scope, options.name, entryToRaw(options.entry));
      if (clientSecret !== undefined) {
        const { storeClientSecret } = await import('../../auth/client-secrets.js');
        await storeClientSecret(ctx, options.name, options.entry.url!, clientSecret);
      }
      ctx.log(`Added ${options.entry.transport} server ${options.name} in the ${options.scope} scope.`);
      const after = await loadConfig(ctx);
      const server = findServer(after, options.name);
      if (!server) throw notFoundError(after, options.name);
      // Not contacted here: the page checks it with the others (GET /api/servers?check=1).
      const summary = summaryOf(
        server,
        staticState(server, ctx.env),
        undefined,
        authView(server, await credentialListing(ctx.paths), ctx.env),
        [],
      );
      return json(201, summary);
    },
  },
  {
    method: 'DELETE',
    path: '/api/servers/:name',
    handler: async ({ ctx, params, url }) => {
      const name = validateName(params.name!);
      const scopeParam = url.searchParams.get('scope');
      const registry = await loadConfig(ctx);
      const found = registry.entries.filter((entry) => entry.name === name);
      const scope = scopeToRemove(
        registry,
        name,
        scopeParam === null ? undefined : parseScope(scopeParam),
        (scope) => `?scope=${scope}`,
      );
      if (!(await removeFromScope(registry.context, scope, name)))
        throw new PatchbayError(
          'not-found',
          `No server named ${JSON.stringify(name)} in the ${scope} scope.`,
          {
            hint: found.length
              ? `It is in the ${found.map((entry) => entry.scope).join(' and ')} scope.`
              : 'See all servers with: patchbay list --no-check',
          },
        );
      ctx.log(`Removed ${name} from the ${scope} scope.`);
      return noContent();
    },
  },
  {
    method: 'POST',
    path: '/api/servers/:name/approve',
    handler: async ({ ctx, params }) => {
      const { registry, server } = await loadServer(ctx, params.name!);
      const entry = registry.entries.find(
        (candidate) => candidate.scope === 'project' && candidate.name === server.name,
      );
      if (!entry)
        throw new PatchbayError(
          'not-found',
          `${server.name} is a ${server.winner.scope}-scope server, not a project one; only servers from .mcp.json need approval.`,
        );
      await recordProjectChoices(registry.context, [
        { name: entry.name, decision: 'approved', raw: entry.raw },
      ]);
      ctx.log(`Approved ${entry.name} for ${registry.context.projectRoot}.`);
      return noContent();
    },
  },
  {
    method: 'POST',
    path: '/api/servers/:name/enabled',
    handler: async ({ ctx, params, body }) => {
      const request = objectBody(await body());
      const enabled = Object.hasOwn(request, 'enabled') ? request.enabled : undefined;
      if (typeof enabled !== 'boolean') throw badField('enabled', 'true or false');
      const { registry, server } = await loadServer(ctx, params.name!);
      const scopeText = optionalString(request, 'scope');
      // Enabling without a scope clears the switch where it was turned off; disabling is local.
      const scope =
        scopeText !== undefined
          ? parseScope(scopeText)
          : enabled && server.disabledBy
            ? server.disabledBy.scope
            : 'local';
      const paths = {
        userConfigPath: registry.context.userConfigPath,
        projectRoot: registry.context.projectRoot,
      };
      await setServerEnabled(scope, paths, server.name, enabled);
      ctx.log(`${enabled ? 'Enabled' : 'Disabled'} ${server.name} (${scope}).`);
      return noContent();
    },
  },
];

/** The body of POST /api/servers, its shape checked (its values are checked as `patchbay add` checks flags). */
function newConnector(body: JsonBody): NewConnector {
  const connector: NewConnector = { name: stringField(body, 'name'), url: stringField(body, 'url') };
  const transport = optionalString(body, 'transport');
  if (transport !== undefined) {
    if (transport !== 'http' && transport !== 'sse') throw badField('transport', '"http" or "sse"');
    connector.transport = transport;
  }
  const headers = optionalObject(body, 'headers');
  if (headers) {
    const map: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value !== 'string') throw badField(`header ${JSON.stringify(name)}`, 'a string value');
      map[name] = value;
    }
    connector.headers = map;
  }
  const oauth = optionalObject(body, 'oauth');
  if (oauth) {
    connector.oauth = {};
    const clientId = optionalString(oauth, 'clientId');
    const clientSecret = optionalString(oauth, 'clientSecret');
    const port = Object.hasOwn(oauth, 'callbackPort') ? oauth.callbackPort : undefined;
    if (clientId !== undefined) connector.oauth.clientId = clientId;
    if (clientSecret !== undefined && clientSecret !== '') connector.oauth.clientSecret = clientSecret;
    if (port !== undefined && port !== null) {
      if (typeof port !== 'number') throw badField('oauth.callbackPort', 'a port number (1-65535)');
      connector.oauth.callbackPort = port;
    }
  }
  const scope = optionalString(body, 'scope');
  if (scope !== undefined) connector.scope = parseScope(scope);
  return connector;
}

/**
 * The form as `patchbay add <name> <url> -t … -s … --client-id … --callback-port … --client-secret`
 * would give it, through the same parse (so the same errors, in the same order), then the headers,
 * each checked as `-H` checks one. The edit form goes through it too.
 */
export function connectorOptions(connector: NewConnector) {
  const options = parseAddOptions(
    connector.name,
    [connector.url],
    {
      ...(connector.transport ? { transport: connector.transport } : {}),
      ...(connector.scope ? { scope: connector.scope } : {}),
      ...(connector.oauth?.clientId !== undefined ? { clientId: connector.oauth.clientId } : {}),
      ...(connector.oauth?.callbackPort !== undefined
        ? { callbackPort: String(connector.oauth.callbackPort) }
        : {}),
      clientSecret: connector.oauth?.clientSecret !== undefined,
    },
    false,
  );
  const headers = Object.entries(connector.headers ?? {});
  if (headers.length > 0) {
    const map: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [name, value] of headers) {
      validateHeader(name, value);
      map[name] = value;
    }
    // `add` warns about a literal secret in .mcp.json's headers too: checked again with them.
    const without = options.scope === 'project' ? literalSecretWarnings(options.entry) : [];
    options.entry.headers = map;
    if (options.scope === 'project')
      options.warnings = [
        ...options.warnings.filter((warning) => !without.includes(warning)),
        ...literalSecretWarnings(options.entry),
      ];
  }
  return { options, clientSecret: connector.oauth?.clientSecret };
}
