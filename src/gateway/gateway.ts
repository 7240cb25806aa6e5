/**
 * The gateway: every configured upstream behind one MCP server.
 *
 * - Tools and prompts are named `<server>__<name>` (names.ts has the rule for long or colliding
 *   names); resources and templates keep their URIs.
 * - A resource is read from the upstream that listed its URI; a URI no upstream listed goes to the
 *   first upstream (in config order) with a template that matches it.
 * - A listing waits for each upstream at most LIST_BUDGET_MS; an upstream that is slower, dead or
 *   needs a login is listed as last seen, and a listing that arrives later becomes `list_changed`.
 * - A call to an upstream that cannot be reached is a tool error that says why and how to fix it.
 * - Progress and cancellation travel with each call; elicitation and sampling requests an upstream
 *   makes during a call are relayed to the host that made it: as requests to a 2025-era host, as
 *   `input_required` rounds to a 2026-07-28 host (input-relay.ts).
 */

import { AsyncLocalStorage } from 'node:async_hooks';

import type { Client, RequestOptions } from '@modelcontextprotocol/client';
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  ProtocolError,
  ProtocolErrorCode,
  Server,
  UriTemplate,
  type ClientCapabilities,
  type ServerContext,
} from '@modelcontextprotocol/server';

import { PatchbayError } from '../errors.js';
import type { AuditCaller } from '../policy/audit.js';
import { InputRelay, isModernRequest, type QuestionMethod, type RelayedCall } from './input-relay.js';
import { exposedNames, type Original } from './names.js';
import { isDenied, type CallResult, type PolicyGate } from './policy-gate.js';
import { Upstream, type Listed, type ListKind, type UpstreamOptions } from './upstream.js';

export const LIST_BUDGET_MS = 3_000;
/** Tool calls may run long; progress notifications reset the clock. */
export const CALL_TIMEOUT_MS = 300_000;

export const GATEWAY_NAME = 'patchbay';

export interface GatewayUpstream {
  name: string;
  entry: UpstreamOptions['entry'];
  unusable?: UpstreamOptions['unusable'];
  timeoutMs: number;
  /** The server's identity for pinned tool definitions (its name and target as written). */
  pinKey: string;
}

export interface GatewayOptions {
  upstreams: GatewayUpstream[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  version: string;
  /** How long a listing waits for each upstream (default LIST_BUDGET_MS). */
  listBudgetMs?: number;
  /**
   * `patchbay connect <name>`: one upstream, passed through under its own names (a bridge, as
   * mcp-remote is), not `<server>__<name>`.
   */
  bridge?: boolean;
  /** Permissions, limits, pins and the audit log; without it every tool is served as listed. */
  gate?: PolicyGate;
  /** Something hosts cannot be told but the person running the gateway should (stderr). */
  onWarning?: (message: string) => void;
}

/** The downstream request an upstream's own request (elicitation, sampling) belongs to. */
interface CallScope {
  ctx: ServerContext;
  server: Server;
  /** A 2026-07-28 host's call: questions wait for its next round. */
  call?: RelayedCall;
}

export type Kind = 'tools' | 'resources' | 'prompts';

/** Where an exposed tool or prompt name leads: the upstream (the object, not its name) and the item's own name. */
interface Route {
  upstream: Upstream;
  name: string;
}

interface CompleteParams {
  ref: { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string };
  argument: { name: string; value: string };
  context?: { arguments?: Record<string, string> };
}

export class Gateway {
  upstreams: Upstream[];
  /** What each upstream was made from, to see which ones a config change touched. */
  private readonly madeFrom = new WeakMap<Upstream, string>();
  private readonly pinKeys = new WeakMap<Upstream, string>();
  private readonly listBudgetMs: number;
  /**
   * Exposed name → the upstream object and its own name for the item. A request reads one route
   * once and uses that upstream object to the end (never looks it up by server name again), and
   * a route whose upstream a reload dropped is not served: `resolve` checks it is still current.
   */
  private toolRoutes = new Map<string, Route>();
  private promptRoutes = new Map<string, Route>();
  /** Bumped by every reconfigure: a listing that straddles one does not store its routes. */
  private generation = 0;
  private readonly servers = new Set<Server>();
  private readonly announcers: Array<(kind: Kind) => void> = [];
  private readonly scope = new AsyncLocalStorage<CallScope>();
  /** Calls in flight per upstream: an upstream request that arrives outside any call's async scope (stdio) goes to the only one. */
  private readonly inFlight = new Map<Upstream, Set<CallScope>>();
  private readonly inputs = new InputRelay();

  constructor(private readonly options: GatewayOptions) {
    this.listBudgetMs = options.listBudgetMs ?? LIST_BUDGET_MS;
    this.upstreams = options.upstreams.map((upstream) => this.makeUpstream(upstream));
  }

  private makeUpstream(config: GatewayUpstream): Upstream {
    const upstream = new Upstream({
      ...config,
      env: this.options.env,
      cwd: this.options.cwd,
      configureClient: (client, owner) => this.configureUpstreamClient(client, owner),
      onConnected: (client) => this.passLogLevel(client),
      onListChanged: (_owner, kind) => this.announce(kind === 'templates' ? 'resources' : kind),
    });
    this.madeFrom.set(upstream, JSON.stringify(config));
    this.pinKeys.set(upstream, config.pinKey);
    return upstream;
  }

  /**
   * The configuration changed: servers added, removed or edited. Unchanged upstreams keep their
   * connection; the others are closed and made again, and hosts hear that every list changed.
   */
  async reconfigure(configs: GatewayUpstream[]): Promise<void> {
    const before = new Map(this.upstreams.map((upstream) => [upstream.name, upstream]));
    const next = configs.map((config) => {
      const kept = before.get(config.name);
      return kept && this.madeFrom.get(kept) === JSON.stringify(config) ? kept : this.makeUpstream(config);
    });
    const dropped = this.upstreams.filter((upstream) => !next.includes(upstream));
    this.upstreams = next;
    this.generation++;
    // Routes to dropped upstreams go at once, not at the next listing.
    this.toolRoutes = this.currentRoutes(this.toolRoutes);
    this.promptRoutes = this.currentRoutes(this.promptRoutes);
    await Promise.all(dropped.map((upstream) => upstream.close()));
    const made = next.filter((upstream) => before.get(upstream.name) !== upstream);
    if (dropped.length > 0 || made.length > 0) {
      for (const kind of ['tools', 'prompts', 'resources'] as const) this.announce(kind);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Listings

  /** Every upstream's items of a kind: read now where that takes less than the budget, else as last seen. */
  private async gather(kind: ListKind): Promise<Array<{ upstream: Upstream; items: Listed[] }>> {
    return Promise.all(
      this.upstreams.map(async (upstream) => {
        const reading = upstream.list(kind).catch(() => upstream.kept(kind));
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<Listed[]>((resolve) => {
          timer = setTimeout(() => resolve(upstream.kept(kind)), this.listBudgetMs);
          timer.unref?.();
        });
        const items = await Promise.race([reading, late]).finally(() => clearTimeout(timer));
        return { upstream, items };
      }),
    );
  }

  listTools(): Promise<Listed[]> {
    return this.listNamed('tools');
  }

  listPrompts(): Promise<Listed[]> {
    return this.listNamed('prompts');
  }

  /**
   * Tools or prompts of every upstream under their exposed names, with the original server and
   * name in the title and `_meta`; the name map is kept for routing calls.
   */
  private async listNamed(kind: 'tools' | 'prompts'): Promise<Listed[]> {
    const generation = this.generation;
    const gathered = await this.gather(kind);
    const { gate } = this.options;
    if (kind === 'tools' && gate) {
      // Each tool carries its permission (one pass over the pin store for every upstream); a
      // policy that cannot be applied lists nothing, and says why on stderr.
      const marked = await gate
        .mark(
          gathered.map(({ upstream, items }) => ({
            server: upstream.name,
            pinKey: this.pinKeys.get(upstream)!,
            tools: items,
          })),
        )
        .catch((error: unknown) => {
          this.options.onWarning?.(
            `tools are not listed: the policy cannot be applied (${error instanceof Error ? error.message : String(error)})`,
          );
          return gathered.map(() => [] as Listed[]);
        });
      gathered.forEach((listing, index) => (listing.items = marked[index]!));
    }
    const names = this.naming(
      gathered.flatMap(({ upstream, items }) =>
        items.map((item) => ({ server: upstream.name, name: String(item.name) })),
      ),
    );
    // Routes made over upstreams a reload has since replaced would be stale from the start.
    if (generation === this.generation) {
      const byName = new Map(gathered.map(({ upstream }) => [upstream.name, upstream]));
      const routes = new Map<string, Route>();
      for (const [exposed, original] of names)
        routes.set(exposed, { upstream: byName.get(original.server)!, name: original.name });
      if (kind === 'tools') this.toolRoutes = routes;
      else this.promptRoutes = routes;
    }
    const byOriginal = invert(names);
    return gathered.flatMap(({ upstream, items }) =>
      items
        .filter((item) => !isDenied(item))
        .map((item) => ({
          ...item,
          name: byOriginal.get(key(upstream.name, String(item.name)))!,
          title: this.titled(
            String(item.title ?? (item.annotations as { title?: string } | undefined)?.title ?? item.name),
            upstream.name,
          ),
          _meta: {
            ...(item._meta as object | undefined),
            'io.patchbay/server': upstream.name,
            'io.patchbay/name': item.name,
          },
        })),
    );
  }

  /** Resources in config order; a URI two upstreams list is the first one's. */
  async listResources(): Promise<Listed[]> {
    const gathered = await this.gather('resources');
    const seen = new Set<string>();
    return gathered.flatMap(({ upstream, items }) =>
      items
        .filter((resource) => !seen.has(String(resource.uri)) && seen.add(String(resource.uri)))
        .map((resource) => ({
          ...resource,
          _meta: { ...(resource._meta as object | undefined), 'io.patchbay/server': upstream.name },
        })),
    );
  }

  async listTemplates(): Promise<Listed[]> {
    const gathered = await this.gather('templates');
    return gathered.flatMap(({ upstream, items }) =>
      items.map((template) => ({
        ...template,
        _meta: { ...(template._meta as object | undefined), 'io.patchbay/server': upstream.name },
      })),
    );
  }

  /** The `<server>__<name>` rule; a bridge keeps the names as they are. */
  private naming(originals: Original[]): Map<string, Original> {
    if (!this.options.bridge) return exposedNames(originals);
    return new Map(originals.map((original) => [original.name, original]));
  }

  /** A bridge shows titles as the server wrote them; the gateway says whose each item is. */
  private titled(title: string, server: string): string {
    return this.options.bridge ? title : `${title} (${server})`;
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  async callTool(
    name: string,
    args: Record<string, unknown> | undefined,
    ctx: ServerContext,
    server: Server,
  ) {
    const route = await this.resolve('tool', name);
    if (!route) {
      // A tool of an upstream never listed (down since the gateway started): say why, not "unknown".
      const down = this.upstreams.find(
        (upstream) => name.startsWith(`${upstream.name}__`) && upstream.problem(),
      );
      if (down) return unavailable(down.name, down.problem()!);
      return unknown('tool', name);
    }
    const { upstream, name: toolName } = route;
    try {
      return await this.withHost(ctx, server, `tool ${name}`, async (scope) => {
        const forward = () =>
          this.forward(upstream, scope, (client, options) =>
            client.callTool({ name: toolName, ...(args ? { arguments: args } : {}) }, options),
          );
        const { gate } = this.options;
        if (!gate) return forward();
        const listed = upstream.kept('tools').find((tool) => tool.name === toolName);
        return gate.call({
          server: upstream.name,
          pinKey: this.pinKeys.get(upstream)!,
          tool: { ...(listed ?? {}), name: toolName },
          args,
          host: hostName(scope),
          caller: callerOf(scope),
          ask: hostCapabilities(scope)?.elicitation
            ? (params) => this.ask(scope, 'elicitation/create', params)
            : undefined,
          // The SDK's result type is wider than what the gate reads of it.
          run: () => forward() as Promise<CallResult>,
        });
      });
    } catch (error) {
      if (error instanceof PatchbayError) return unavailable(upstream.name, error);
      throw error;
    }
  }

  async getPrompt(
    name: string,
    args: Record<string, string> | undefined,
    ctx: ServerContext,
    server: Server,
  ) {
    const { upstream, name: promptName } = (await this.resolve('prompt', name)) ?? unknown('prompt', name);
    return this.withHost(ctx, server, `prompt ${name}`, (scope) =>
      this.audited({ kind: 'prompt', server: upstream.name, name: promptName, args }, scope, () =>
        this.forward(upstream, scope, (client, options) =>
          client.getPrompt({ name: promptName, ...(args ? { arguments: args } : {}) }, options),
        ),
      ),
    ).catch(asProtocolError);
  }

  async readResource(uri: string, ctx: ServerContext, server: Server) {
    const upstream = (await this.owner(uri)) ?? unknown('resource', uri);
    return this.withHost(ctx, server, `resource ${uri}`, (scope) =>
      this.audited({ kind: 'resource', server: upstream.name, name: uri, args: undefined }, scope, () =>
        this.forward(upstream, scope, (client, options) => client.readResource({ uri }, options)),
      ),
    ).catch(asProtocolError);
  }

  /** Resource reads and prompts are not governed by rules, but are in the audit log. */
  private audited<T>(
    read: {
      kind: 'resource' | 'prompt';
      server: string;
      name: string;
      args: Record<string, string> | undefined;
    },
    scope: CallScope,
    run: () => Promise<T>,
  ): Promise<T> {
    const { gate } = this.options;
    if (!gate) return run();
    return gate.relayed({ ...read, host: hostName(scope), caller: callerOf(scope) }, run);
  }

  /**
   * Completion of a prompt argument (routed like the prompt) or of a template variable (routed to
   * the upstream that lists the template). Nothing to route to, or an upstream without completion:
   * no suggestions, which the spec allows.
   */
  async complete(params: CompleteParams, ctx: ServerContext, server: Server) {
    const none = { completion: { values: [] as string[] } };
    let upstream: Upstream | undefined;
    let ref = params.ref;
    if (ref.type === 'ref/prompt') {
      const route = await this.resolve('prompt', String(ref.name));
      if (!route) return none;
      upstream = route.upstream;
      ref = { ...ref, name: route.name };
    } else {
      const { uri } = ref;
      await this.listTemplates();
      upstream = this.upstreams.find((candidate) =>
        candidate.kept('templates').some((template) => template.uriTemplate === uri),
      );
    }
    if (!upstream) return none;
    return this.relay(upstream, ctx, server, `complete ${JSON.stringify(ref)}`, async (client, options) =>
      client.getServerCapabilities()?.completions
        ? client.complete({ ...params, ref } as never, options)
        : none,
    ).catch(asProtocolError);
  }

  /** The host's log level, passed to every connected upstream that logs (and to later ones). */
  private logLevel: string | undefined;

  async setLogLevel(level: string): Promise<void> {
    this.logLevel = level;
    await Promise.all(
      this.upstreams.map((upstream) =>
        upstream.request((client) => this.passLogLevel(client)).catch(() => undefined),
      ),
    );
  }

  private async passLogLevel(client: Client): Promise<void> {
    if (this.logLevel && client.getServerCapabilities()?.logging)
      await client.setLoggingLevel(this.logLevel as never);
  }

  /** The upstream that listed a URI, else the first whose template matches it. */
  private async owner(uri: string): Promise<Upstream | undefined> {
    const find = () =>
      this.upstreams.find((upstream) =>
        upstream.kept('resources').some((resource) => resource.uri === uri),
      ) ??
      this.upstreams.find((upstream) =>
        upstream.kept('templates').some((template) => matches(String(template.uriTemplate), uri)),
      );
    const found = find();
    if (found) return found;
    await Promise.all([this.listResources(), this.listTemplates()]);
    return find();
  }

  /**
   * The route behind an exposed name, listing again first when the name is new (or its upstream
   * was dropped by a reload). One read of one map: what it returns stays usable whatever reloads
   * happen next — at worst its upstream is closed, and the request says so.
   */
  private async resolve(kind: 'tool' | 'prompt', name: string): Promise<Route | undefined> {
    const lookup = () => {
      const route = (kind === 'tool' ? this.toolRoutes : this.promptRoutes).get(name);
      return route && this.upstreams.includes(route.upstream) ? route : undefined;
    };
    const found = lookup();
    if (found) return found;
    await (kind === 'tool' ? this.listTools() : this.listPrompts());
    return lookup();
  }

  private currentRoutes(routes: Map<string, Route>): Map<string, Route> {
    return new Map([...routes].filter(([, route]) => this.upstreams.includes(route.upstream)));
  }

  /**
   * Make a request of an upstream for a host's request: `withHost` then `forward`.
   */
  private relay<T>(
    upstream: Upstream,
    ctx: ServerContext,
    server: Server,
    purpose: string,
    send: (client: Client, options: RequestOptions) => Promise<T>,
  ) {
    return this.withHost(ctx, server, purpose, (scope) => this.forward(upstream, scope, send));
  }

  /**
   * Serve a host's request in its era: directly for a 2025-era host (questions go to it as
   * requests), or as input_required rounds for a 2026-07-28 host, `purpose` naming what a round's
   * retry must be for.
   */
  private withHost<T>(
    ctx: ServerContext,
    server: Server,
    purpose: string,
    run: (scope: CallScope) => Promise<T>,
  ) {
    if (!isModernRequest(ctx)) return run({ ctx, server });
    return this.inputs.round(ctx, purpose, (call) => run({ ctx, server, call }));
  }

  /**
   * Send a request upstream within a host's call: progress goes to the host under the host's
   * token, the host's cancellation reaches the upstream, and the upstream's questions reach the
   * host.
   */
  private forward<T>(
    upstream: Upstream,
    scope: CallScope,
    send: (client: Client, options: RequestOptions) => Promise<T>,
  ): Promise<T> {
    const { call, ctx } = scope;
    const cancelled = call ? call.signal : ctx.mcpReq.signal;
    const host = call ? () => call.ctx : () => ctx;
    return this.within(upstream, scope, () =>
      upstream.request((client, _session, lost) =>
        whileEither(cancelled, lost, (signal) => send(client, relayOptions(host, signal))),
      ),
    );
  }

  private async within<T>(upstream: Upstream, scope: CallScope, run: () => Promise<T>): Promise<T> {
    let calls = this.inFlight.get(upstream);
    if (!calls) this.inFlight.set(upstream, (calls = new Set()));
    calls.add(scope);
    try {
      return await this.scope.run(scope, run);
    } finally {
      calls.delete(scope);
    }
  }

  /** The call an upstream's request belongs to: the async scope it came in, or the upstream's only call in flight. */
  private callOf(upstream: Upstream): CallScope | undefined {
    const current = this.scope.getStore();
    if (current) return current;
    const calls = this.inFlight.get(upstream);
    return calls?.size === 1 ? [...calls][0] : undefined;
  }

  private configureUpstreamClient(client: Client, upstream: Upstream): void {
    client.registerCapabilities({ elicitation: { form: {}, url: {} }, sampling: {} });
    client.setRequestHandler('elicitation/create', async (request) => {
      const call = this.callOf(upstream);
      if (!call || !hostCapabilities(call)?.elicitation) return { action: 'decline' as const };
      try {
        return (await this.ask(call, 'elicitation/create', request.params)) as never;
      } catch {
        return { action: 'decline' as const };
      }
    });
    client.setRequestHandler('sampling/createMessage', async (request) => {
      const call = this.callOf(upstream);
      if (!call || !hostCapabilities(call)?.sampling)
        throw new Error(
          `the host connected to patchbay offers no sampling; ${upstream.name}'s request was declined`,
        );
      return (await this.ask(call, 'sampling/createMessage', request.params)) as never;
    });
    // An upstream's log messages reach every host with a session (stdio, 2025-era HTTP).
    client.setNotificationHandler('notifications/message', (notification) => {
      const params = notification.params as { level: string; logger?: string; data: unknown };
      for (const server of this.servers) {
        void server
          .sendLoggingMessage({
            ...params,
            logger: `${upstream.name}${params.logger ? `/${params.logger}` : ''}`,
          } as never)
          .catch(() => undefined);
      }
    });
    for (const [method, kind] of [
      ['notifications/tools/list_changed', 'tools'],
      ['notifications/prompts/list_changed', 'prompts'],
      ['notifications/resources/list_changed', 'resources'],
    ] as const) {
      client.setNotificationHandler(method, () => {
        // Read it again: a change is announced downstream when the listing differs.
        void upstream.list(kind).catch(() => undefined);
        if (kind === 'resources') void upstream.list('templates').catch(() => undefined);
      });
    }
  }

  /** Put an upstream's question to the host of the call it belongs to, in that host's era. */
  private ask(scope: CallScope, method: QuestionMethod, params: unknown): Promise<unknown> {
    if (scope.call) {
      if (this.inputs.full) throw new Error('too many calls are waiting for their hosts');
      return scope.call.ask(method, params as Record<string, unknown>);
    }
    return method === 'elicitation/create'
      ? scope.ctx.mcpReq.elicitInput(params as never)
      : scope.ctx.mcpReq.requestSampling(params as never);
  }

  // -------------------------------------------------------------------------------------------
  // Downstream servers

  /** A low-level MCP server over this gateway, for one downstream connection (or one request). */
  createServer(): Server {
    const server = new Server(
      { name: GATEWAY_NAME, version: this.options.version, title: 'patchbay gateway' },
      {
        capabilities: {
          tools: { listChanged: true },
          resources: { listChanged: true },
          prompts: { listChanged: true },
          completions: {},
          logging: {},
        },
        instructions:
          'patchbay: every MCP server configured in patchbay, behind one endpoint. Tools and prompts are named <server>__<name>.',
      },
    );
    // Every answer goes through `sealed`: a local fault is never sent to a host as it is.
    const sealed = (what: string) => (error: unknown) => this.sealed(what, error);
    server.setRequestHandler('tools/list', async () => ({
      tools: (await this.listTools().catch(sealed('tools/list'))) as never,
    }));
    server.setRequestHandler(
      'tools/call',
      async (request, ctx) =>
        (await this.callTool(request.params.name, request.params.arguments, ctx, server).catch(
          sealed('tools/call'),
        )) as never,
    );
    server.setRequestHandler('prompts/list', async () => ({
      prompts: (await this.listPrompts().catch(sealed('prompts/list'))) as never,
    }));
    server.setRequestHandler(
      'prompts/get',
      async (request, ctx) =>
        (await this.getPrompt(request.params.name, request.params.arguments, ctx, server).catch(
          sealed('prompts/get'),
        )) as never,
    );
    server.setRequestHandler('resources/list', async () => ({
      resources: (await this.listResources().catch(sealed('resources/list'))) as never,
    }));
    server.setRequestHandler('resources/templates/list', async () => ({
      resourceTemplates: (await this.listTemplates().catch(sealed('resources/templates/list'))) as never,
    }));
    server.setRequestHandler(
      'resources/read',
      async (request, ctx) =>
        (await this.readResource(request.params.uri, ctx, server).catch(sealed('resources/read'))) as never,
    );
    server.setRequestHandler(
      'completion/complete',
      async (request, ctx) =>
        (await this.complete(request.params as CompleteParams, ctx, server).catch(
          sealed('completion/complete'),
        )) as never,
    );
    server.setRequestHandler('logging/setLevel', async (request) => {
      await this.setLogLevel(request.params.level);
      return {};
    });
    this.servers.add(server);
    server.onclose = () => this.servers.delete(server);
    return server;
  }

  /**
   * The one place a failure becomes what a host reads. A JSON-RPC error (the gateway's own, or an
   * upstream's answer) passes as it is; a PatchbayError says what failed and the fix; anything
   * else is a fault of patchbay's — its text (a TypeError's, say) goes to the gateway's stderr,
   * and the host gets a plain internal error.
   */
  private sealed(what: string, error: unknown): never {
    if (typeof (error as { code?: unknown } | null)?.code === 'number') throw error;
    if (error instanceof PatchbayError) asProtocolError(error);
    if (isAbort(error)) throw error;
    this.options.onWarning?.(
      `${what} failed inside patchbay: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    throw new ProtocolError(
      ProtocolErrorCode.InternalError,
      `patchbay could not serve ${what} (an internal fault, logged by the gateway).`,
    );
  }

  /** Also tell `kind` changes to something other than the connected servers (HTTP subscriptions). */
  onAnnounce(announcer: (kind: Kind) => void): void {
    this.announcers.push(announcer);
  }

  /** A listing changed upstream (or the config did): every connected host hears it. */
  announce(kind: Kind): void {
    for (const announcer of this.announcers) announcer(kind);
    for (const server of this.servers) {
      const send =
        kind === 'tools'
          ? server.sendToolListChanged()
          : kind === 'prompts'
            ? server.sendPromptListChanged()
            : server.sendResourceListChanged();
      void send.catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.inputs.close();
    await Promise.all(this.upstreams.map((upstream) => upstream.close()));
  }
}

const key = (server: string, name: string) => `${server}\0${name}`;

/**
 * Run with a signal that aborts when either does. Unlike AbortSignal.any, nothing stays attached
 * to `b` (an upstream's connection-lost signal, which lives as long as its session) afterwards.
 */
async function whileEither<T>(a: AbortSignal, b: AbortSignal, run: (signal: AbortSignal) => Promise<T>) {
  const both = new AbortController();
  const abort = (event: Event) => both.abort((event.target as AbortSignal).reason);
  for (const signal of [a, b]) {
    if (signal.aborted) both.abort(signal.reason);
    else signal.addEventListener('abort', abort, { once: true });
  }
  try {
    return await run(both.signal);
  } finally {
    a.removeEventListener('abort', abort);
    b.removeEventListener('abort', abort);
  }
}

/** The host's name as it introduced itself (for the audit log). */
function hostName({ ctx, server }: CallScope): string | null {
  if (isModernRequest(ctx)) {
    const info = ctx.mcpReq.envelope?.[CLIENT_INFO_META_KEY as never] as { name?: string } | undefined;
    return info?.name ?? null;
  }
  return server.getClientVersion()?.name ?? null;
}

/**
 * What patchbay itself knows of a request's caller: over HTTP, what serveHttp established and
 * passed in as the request's authInfo (CALLER_KEY); otherwise the stdio host that started
 * `patchbay serve`.
 */
function callerOf({ ctx }: CallScope): AuditCaller {
  const known = ctx.http?.authInfo?.extra?.[CALLER_KEY] as AuditCaller | undefined;
  return known ?? { transport: 'stdio', auth: 'parent-process', subject: null };
}

/** Where serveHttp puts the caller in a request's authInfo.extra. */
export const CALLER_KEY = 'io.patchbay/caller';

/** What the host of a call can do: from its request's envelope (2026-07-28) or its `initialize`. */
function hostCapabilities({ ctx, server }: CallScope): ClientCapabilities | undefined {
  if (isModernRequest(ctx))
    return ctx.mcpReq.envelope?.[CLIENT_CAPABILITIES_META_KEY as never] as ClientCapabilities | undefined;
  return server.getClientCapabilities();
}

/**
 * Request options relaying progress to the host's current request, under that request's own token
 * (asked for upstream only when the host asked for progress).
 */
function relayOptions(host: () => ServerContext, signal: AbortSignal): RequestOptions {
  const options: RequestOptions = { signal, timeout: CALL_TIMEOUT_MS, resetTimeoutOnProgress: true };
  if (host().mcpReq._meta?.progressToken === undefined) return options;
  return {
    ...options,
    onprogress: (progress) => {
      const ctx = host();
      const token = ctx.mcpReq._meta?.progressToken;
      if (token === undefined) return;
      void ctx.mcpReq
        .notify({ method: 'notifications/progress', params: { progressToken: token, ...progress } })
        .catch(() => undefined);
    },
  };
}

function invert(names: Map<string, Original>): Map<string, string> {
  return new Map([...names].map(([exposed, original]) => [key(original.server, original.name), exposed]));
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

function matches(template: string, uri: string): boolean {
  try {
    return new UriTemplate(template).match(uri) !== null;
  } catch {
    return false;
  }
}

function unknown(what: 'tool' | 'prompt' | 'resource', name: string): never {
  throw new ProtocolError(
    ProtocolErrorCode.InvalidParams,
    what === 'resource' ? `No server behind patchbay offers ${name}` : `Unknown ${what}: ${name}`,
  );
}

/** An upstream that cannot be reached: the call's result says why and what to run. */
function unavailable(server: string, error: PatchbayError) {
  const hint = error.hint ? ` Fix: ${error.hint}` : '';
  return {
    isError: true,
    content: [
      { type: 'text' as const, text: `patchbay could not reach ${server}: ${error.message}.${hint}` },
    ],
  };
}

/** Local failures become a JSON-RPC error with the reason and the fix, in one place. */
function asProtocolError(error: unknown): never {
  if (error instanceof PatchbayError) {
    throw new ProtocolError(
      ProtocolErrorCode.InternalError,
      `${error.message}${error.hint ? ` Fix: ${error.hint}` : ''}`,
    );
  }
  throw error;
}
