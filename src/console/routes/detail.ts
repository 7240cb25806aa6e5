/**
 * A connector's page: its server, instructions, tools with the decision in force for each (and
 * where it was set), limits with their counts, resources, templates and prompts; and the writes
 * the page makes to policy (a tool's permission, a limit), which `patchbay permit` and `patchbay
 * limit` make the same way.
 *
 * Looking is not allowing: the tools are compared with their pins and a changed definition is
 * recorded for `patchbay review`, but nothing is pinned here (as `patchbay policy`).
 */

import type { Paths } from '../../core/paths.js';
import { limitStates } from '../../policy/limit-usage.js';
import { PatchbayError } from '../../errors.js';
import { parseScope } from '../../config/add-options.js';
import {
  DECISIONS,
  isDecision,
  isToolGroup,
  setGroupRule,
  setLimit,
  setToolRule,
  TOOL_GROUPS,
  validToolPattern,
  type PolicySource,
} from '../../config/policy-files.js';
import { staticState } from '../../config/status.js';
import { ConnectError } from '../../connect/connect-error.js';
import type { Session } from '../../connect/session.js';
import { parseLimit } from '../../policy/limits.js';
import { configuredServerKey, type ListedTool } from '../../policy/pins.js';
import { projectPolicyStatus } from '../../policy/project-file.js';
import { stricter } from '../../policy/rules.js';
import { toolPermissionViews } from '../../use/tool-views.js';
import type { ConnectorDetail, GroupView, LimitView, ToolView } from '../api-types.js';
import { loadServer, type ConsoleContext } from '../context.js';
import { badField, noContent, json, objectBody, optionalString, stringField } from '../http.js';
import type { Route } from '../router.js';
import { authView, changedToolNames, credentialListing, probeHint, summaryOf } from '../views.js';

export const detailRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/servers/:name',
    handler: async ({ ctx, params }) => json(200, await connectorDetail(ctx, params.name!)),
  },
  {
    method: 'PUT',
    path: '/api/servers/:name/permissions',
    handler: async ({ ctx, params, body }) => {
      const request = objectBody(await body());
      const pattern = toolPattern(stringField(request, 'pattern'));
      const decision = stringField(request, 'decision');
      if (!isDecision(decision) && decision !== 'default')
        throw badField('decision', `${DECISIONS.join(', ')} or default`);
      const scope = parseScope(optionalString(request, 'scope'));
      const { registry, server } = await loadServer(ctx, params.name!);
      const { path } = await setToolRule(scope, pathsOf(registry), server.name, pattern, decision);
      ctx.log(`${server.name} ${pattern}: ${decision} (${scope}, ${path}).`);
      return noContent();
    },
  },
  {
    method: 'PUT',
    path: '/api/servers/:name/groups',
    handler: async ({ ctx, params, body }) => {
      const request = objectBody(await body());
      const group = stringField(request, 'group');
      if (!isToolGroup(group)) throw badField('group', '"read-only" or "other"');
      const decision = stringField(request, 'decision');
      if (!isDecision(decision) && decision !== 'default')
        throw badField('decision', `${DECISIONS.join(', ')} or default`);
      const scope = parseScope(optionalString(request, 'scope'));
      const { registry, server } = await loadServer(ctx, params.name!);
      const { path } = await setGroupRule(scope, pathsOf(registry), server.name, group, decision);
      ctx.log(`${server.name} ${group} tools: ${decision} (${scope}, ${path}).`);
      return noContent();
    },
  },
  {
    method: 'PUT',
    path: '/api/servers/:name/limits',
    handler: async ({ ctx, params, body }) => {
      const request = objectBody(await body());
      const pattern = toolPattern(stringField(request, 'pattern'));
      const limit = stringField(request, 'limit').replace(/\s+/g, '');
      if (limit !== 'none') parseLimit(limit);
      const scope = parseScope(optionalString(request, 'scope'));
      const { registry, server } = await loadServer(ctx, params.name!);
      const { path } = await setLimit(scope, pathsOf(registry), server.name, pattern, limit);
      ctx.log(`Limit of ${server.name} ${pattern}: ${limit} (${scope}, ${path}).`);
      return noContent();
    },
  },
];

function pathsOf(registry: { context: { userConfigPath: string; projectRoot: string } }) {
  return { userConfigPath: registry.context.userConfigPath, projectRoot: registry.context.projectRoot };
}

/** A tool's name or a glob, as `patchbay permit` and `patchbay limit` accept it. */
function toolPattern(pattern: string): string {
  if (!validToolPattern(pattern))
    throw new PatchbayError('usage', `Invalid tool or glob ${JSON.stringify(pattern)}.`, {
      hint: "A tool's name, or a glob such as 'delete_*'.",
    });
  return pattern;
}

interface Listings {
  tools: ListedTool[];
  resources: ConnectorDetail['resources'];
  templates: ConnectorDetail['templates'];
  prompts: ConnectorDetail['prompts'];
}

export async function connectorDetail(ctx: ConsoleContext, name: string): Promise<ConnectorDetail> {
  const { registry, server } = await loadServer(ctx, name);
  const state = staticState(server, ctx.env);
  const sources = registry.policy.sources;
  const [listing, limits] = await Promise.all([
    credentialListing(ctx.paths),
    limitStates(server.name, sources, { paths: ctx.paths, onWarning: ctx.log }).then((states) =>
      states.map(({ pattern, limit, scope, used, reopensAt }): LimitView => ({
        pattern,
        limit,
        scope,
        used,
        reopensAt,
      })),
    ),
  ]);
  const detail: ConnectorDetail = {
    ...summaryOf(server, state, undefined, authView(server, listing, ctx.env), []),
    instructions: null,
    tools: [],
    limits,
    groups: groupViews(server.name, sources),
    projectPolicy: projectPolicyStatus(registry.policy, server.name),
    resources: [],
    templates: [],
    prompts: [],
  };
  const failed = (error: ConnectError) => {
    detail.status = error.status;
    detail.reason = error.reason;
    detail.hint = probeHint(server.name, { status: error.status, hint: error.hint ?? null });
  };
  if (state.resolved) {
    const { connect } = await import('../../connect/session.js');
    let session: Session | undefined;
    try {
      session = await connect(state.resolved, {
        name: server.name,
        timeoutMs: state.resolved.timeout ?? ctx.timeoutMs,
        credentials: 'refresh',
        cwd: ctx.cwd,
        env: ctx.env,
        paths: ctx.paths,
        refreshState: ctx.refreshState,
        eraHintCache: ctx.eraHints,
      });
    } catch (error) {
      if (!(error instanceof ConnectError)) throw error;
      failed(error);
    }
    if (session) {
      try {
        const offered = await listEverything(session);
        detail.status = 'connected';
        detail.reason = null;
        detail.hint = null;
        detail.instructions = session.instructions ?? null;
        if (session.server)
          detail.server = {
            name: session.server.name,
            version: session.server.version,
            ...(session.protocolVersion ? { protocolVersion: session.protocolVersion } : {}),
          };
        detail.toolCount = offered.tools.length;
        detail.tools = await toolViews(
          server.name,
          configuredServerKey(server),
          offered.tools,
          sources,
          limits,
          ctx.paths,
        );
        detail.resources = offered.resources;
        detail.templates = offered.templates;
        detail.prompts = offered.prompts;
      } catch (error) {
        failed(session.explain(error));
      } finally {
        await session.close();
      }
    }
  }
  // Read after the listing: a change this look just noticed is among them.
  detail.changedTools = await changedToolNames(server, ctx.paths);
  return detail;
}

/** Each group's settings in every scope, and the strictest of them (what applies). */
function groupViews(server: string, sources: PolicySource[]): GroupView[] {
  return TOOL_GROUPS.map((group) => {
    const settings = sources.flatMap((source) => {
      const decision = source.doc.servers?.[server]?.groups?.[group];
      return decision ? [{ scope: source.scope, path: source.path, decision }] : [];
    });
    const strictest = settings.reduce<GroupView['decision']>(
      (best, { decision }) => (best === null ? decision : stricter(best, decision)),
      null,
    );
    return { group, decision: strictest, settings };
  });
}

async function listEverything(session: Session): Promise<Listings> {
  const capabilities = session.client.getServerCapabilities() ?? {};
  const options = session.requestOptions();
  const [tools, resources, templates, prompts] = await Promise.all([
    capabilities.tools
      ? session.request((client) => client.listTools(undefined, options)).then((result) => result.tools)
      : [],
    capabilities.resources
      ? session
          .request((client) => client.listResources(undefined, options))
          .then((result) => result.resources)
      : [],
    capabilities.resources
      ? session
          .request((client) => client.listResourceTemplates(undefined, options))
          .then((result) => result.resourceTemplates)
          // A server with resources but no templates may not answer the method at all.
          .catch(() => [])
      : [],
    capabilities.prompts
      ? session.request((client) => client.listPrompts(undefined, options)).then((result) => result.prompts)
      : [],
  ]);
  return {
    tools: tools as ListedTool[],
    resources: resources.map((resource) => ({
      uri: resource.uri,
      name: resource.name,
      title: resource.title ?? null,
      description: resource.description ?? null,
      mimeType: resource.mimeType ?? null,
    })),
    templates: templates.map((template) => ({
      uriTemplate: template.uriTemplate,
      name: template.name,
      title: template.title ?? null,
      description: template.description ?? null,
      mimeType: template.mimeType ?? null,
    })),
    prompts: prompts.map((prompt) => ({
      name: prompt.name,
      title: prompt.title ?? null,
      description: prompt.description ?? null,
      arguments: (prompt.arguments ?? []).map((argument) => ({
        name: argument.name,
        description: argument.description ?? null,
        required: argument.required === true,
      })),
    })),
  };
}

async function toolViews(
  server: string,
  key: string,
  tools: ListedTool[],
  sources: PolicySource[],
  limits: LimitView[],
  paths: Paths,
): Promise<ToolView[]> {
  const views = await toolPermissionViews(server, key, tools, sources, limits, paths);
  return views.map(({ tool, ...view }) => ({
    name: view.name,
    title: typeof tool.title === 'string' ? tool.title : null,
    description: typeof tool.description === 'string' ? tool.description : null,
    annotations: view.annotations,
    inputSchema: (tool.inputSchema as Record<string, unknown> | undefined) ?? { type: 'object' },
    decision: view.decision,
    because: view.because,
    source: view.source,
    group: view.group,
    ownRules: view.ownRules,
    changed: view.changed,
    limits: view.limits,
  }));
}
