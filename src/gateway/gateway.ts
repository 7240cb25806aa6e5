/**
 * The gateway: every configured upstream behind one MCP server. This is its core — the upstreams
 * (made from the config, remade when it changes), the MCP servers it hands each host connection,
 * and the list_changed announcements; what hosts see is in listings.ts, how their requests travel
 * in relay.ts, and how failures read in protocol-errors.ts.
 */

import {
  Server,
  type JSONRPCRequest,
  type Result,
  type ServerContext,
  type ServerOptions,
} from '@modelcontextprotocol/server';

import { callerOf } from './caller.js';
import { HotPath } from './hot-path.js';
import { SharedTasks } from './forwarded-tasks.js';
import { sharedPauses } from './input-relay.js';
import { Listings, LIST_BUDGET_MS, type Kind } from './listings.js';
import type { RefreshState } from '../auth/refresh.js';
import type { Paths } from '../core/paths.js';
import type { PolicyGate } from './policy-gate.js';
import type { CallObserver } from '../policy/audit.js';
import type { CallTracing } from './telemetry.js';
import { sealed } from './protocol-errors.js';
import { Relay, type CompleteParams } from './relay.js';
import { LEGACY_TASKS_CAPABILITY, TASKS_EXTENSION } from './tasks.js';
import { Upstream, type UpstreamOptions } from './upstream.js';
import type { MemberVault } from '../auth/member-vault.js';
import type { StateStore } from '../state/store.js';
import { MemberLogins } from './signin.js';
import { ANY_JSON_OBJECT } from '../core/checked-schema.js';

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
  /** Where stored logins are, resolved once for the gateway. */
  paths: Paths;
  /** Shared by every upstream's token source, for the gateway's lifetime. */
  refreshState: RefreshState;
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
  /**
   * Told of every tool call (and, through the gate, every refusal and relayed read) once it
   * ended, as the audit log records it: the gateway's metrics. Without a gate, tool calls only.
   */
  observe?: CallObserver;
  /** OpenTelemetry export (telemetry.ts), when configured: a span per relayed call. */
  tracing?: CallTracing;
  /** Something hosts cannot be told but the person running the gateway should (stderr). */
  onWarning?: (message: string) => void;
  /**
   * A team gateway's member vault: `perMember` upstreams are then called with each member's own
   * login (signin.ts). Without it, every upstream is called with its one shared login.
   */
  memberVault?: { vault: MemberVault; state: StateStore };
  /**
   * An HTTP gateway's state store: a 2026-07-28 host's paused calls and every host's tasks are
   * recorded there, so that its retry, or its next request about a task, may land on any replica
   * (input-relay.ts, forwarded-tasks.ts). Without it (stdio), in memory only.
   */
  state?: StateStore;
}

export class Gateway {
  upstreams: Upstream[];
  /** What each upstream was made from, to see which ones a config change touched. */
  private readonly madeFrom = new WeakMap<Upstream, string>();
  private readonly pinKeys = new WeakMap<Upstream, string>();
  private readonly servers = new Set<Server>();
  private readonly announcers: Array<(kind: Kind) => void> = [];
  private readonly loggers: Array<(params: Record<string, unknown>) => void> = [];
  private readonly levelListeners: Array<(level: string) => void> = [];
  private readonly listings: Listings;
  private readonly relay: Relay;
  /** Tool calls, prompts and resource reads relayed as bytes (hot-path.ts); undefined with PATCHBAY_HOT_PATH=0. */
  readonly hotPath: HotPath | undefined;
  /** Members' own logins and sessions (with a member vault). */
  readonly members: MemberLogins | undefined;
  private readonly configs = new WeakMap<Upstream, GatewayUpstream>();

  constructor(private readonly options: GatewayOptions) {
    if (options.observe) options.gate?.observe(options.observe);
    if (options.tracing) options.gate?.observe(options.tracing.observe);
    const ungated = options.gate ? undefined : bothObservers(options.observe, options.tracing?.observe);
    if (options.memberVault)
      this.members = new MemberLogins({
        ...options.memberVault,
        env: options.env,
        paths: options.paths,
        entryOf: (server) => this.upstreams.find((upstream) => upstream.name === server),
        openSession: (template, member) => this.makeMemberSession(template, member),
      });
    const upstreams = () => this.upstreams;
    const pinKey = (upstream: Upstream) => this.pinKeys.get(upstream)!;
    this.listings = new Listings({
      upstreams,
      pinKey,
      listBudgetMs: options.listBudgetMs ?? LIST_BUDGET_MS,
      bridge: Boolean(options.bridge),
      gate: options.gate,
      onWarning: options.onWarning,
    });
    this.relay = new Relay({
      upstreams,
      listings: this.listings,
      pinKey,
      gate: options.gate,
      ungated,
      servers: this.servers,
      members: this.members,
      pauses: options.state ? sharedPauses(options.state) : undefined,
      sharedTasks: options.state ? new SharedTasks(options.state) : undefined,
      tracing: options.tracing,
      onLog: (params) => {
        for (const logger of this.loggers) logger(params);
      },
    });
    this.upstreams = options.upstreams.map((upstream) => this.makeUpstream(upstream));
    this.hotPath =
      options.env.PATCHBAY_HOT_PATH === '0'
        ? undefined
        : new HotPath({
            resolveTool: (name) => this.listings.resolve('tool', name),
            resolvePrompt: (name) => this.listings.resolve('prompt', name),
            owner: (uri) => this.listings.owner(uri),
            pinKey,
            gate: options.gate,
            ungated,
            onLog: (upstream, params) => this.relay.passLog(upstream, params),
            onListChanged: (upstream, kind) => this.relay.listChanged(upstream, kind),
            during: (upstream) => this.relay.hotCall(upstream),
            onWarning: options.onWarning,
            serverInfo: this.identity(),
            tracing: options.tracing,
          });
  }

  /** Who the gateway says it is on 2026-07-28 results: createServer's server info, as its SDK server stamps it. */
  private identity(): { name: string; version: string; title: string } {
    return { name: GATEWAY_NAME, version: this.options.version, title: 'patchbay gateway' };
  }

  private makeUpstream(config: GatewayUpstream): Upstream {
    const { members } = this;
    const upstream: Upstream = new Upstream({
      ...config,
      env: this.options.env,
      paths: this.options.paths,
      refreshState: this.options.refreshState,
      cwd: this.options.cwd,
      configureClient: (client, owner) => this.relay.configureUpstreamClient(client, owner),
      onConnected: (client) => this.relay.passLogLevel(client),
      onListChanged: (_owner, kind) => this.announce(kind === 'templates' ? 'resources' : kind),
      // Listed through a member's session when one is open; calls never go through this one.
      ...(members && config.entry?.perMember ? { listVia: () => members.sessions.anyOpen(upstream) } : {}),
    });
    this.madeFrom.set(upstream, JSON.stringify(config));
    this.pinKeys.set(upstream, config.pinKey);
    this.configs.set(upstream, config);
    return upstream;
  }

  /** Member `member`'s own session of a perMember upstream: their login, from the vault. */
  private makeMemberSession(template: Upstream, member: string): Upstream {
    const config = this.configs.get(template)!;
    const vault = this.options.memberVault!.vault;
    const session = new Upstream({
      ...config,
      env: this.options.env,
      paths: this.options.paths,
      refreshState: this.options.refreshState,
      cwd: this.options.cwd,
      tokenStore: () => Promise.resolve(vault.forMember(member, template.name)),
      configureClient: (client, owner) => this.relay.configureUpstreamClient(client, owner),
      onConnected: (client) => this.relay.passLogLevel(client),
      onListChanged: (_owner, kind) => this.announce(kind === 'templates' ? 'resources' : kind),
    });
    this.pinKeys.set(session, config.pinKey);
    return session;
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
    this.listings.reconfigured();
    await Promise.all(dropped.map((upstream) => upstream.close()));
    await Promise.all(dropped.map((upstream) => this.members?.sessions.dropTemplate(upstream)));
    const made = next.filter((upstream) => before.get(upstream.name) !== upstream);
    if (dropped.length > 0 || made.length > 0) {
      for (const kind of ['tools', 'prompts', 'resources'] as const) this.announce(kind);
    }
  }

  /**
   * A low-level MCP server over this gateway, for one downstream connection (or one request).
   * `era`, when the serving entry knows it, picks how tasks are offered: the 2025-11-25 `tasks`
   * capability, or the 2026-07-28 tasks extension (tasks.ts). Not knowing it, both.
   */
  createServer(era?: 'legacy' | 'modern'): Server {
    const server: Server = new GatewayServer(
      { name: GATEWAY_NAME, version: this.options.version, title: 'patchbay gateway' },
      {
        capabilities: {
          tools: { listChanged: true },
          resources: { listChanged: true },
          prompts: { listChanged: true },
          completions: {},
          logging: {},
          ...(era !== 'modern' ? { tasks: LEGACY_TASKS_CAPABILITY } : {}),
          ...(era !== 'legacy' ? { extensions: { [TASKS_EXTENSION]: {} } } : {}),
        } as ServerOptions['capabilities'],
        instructions:
          'patchbay: every MCP server configured in patchbay, behind one endpoint. Tools and prompts are named <server>__<name>.',
      },
      (request, ctx) => this.relay.tasks.takes(request, ctx, server),
    );
    const { listings, relay } = this;
    // Every answer goes through `sealed`: a local fault is never sent to a host as it is.
    const seal = (what: string) => (error: unknown) => sealed(what, error, this.options.onWarning);
    server.setRequestHandler('tools/list', async (_request, ctx) => ({
      tools: (await listings.tools(callerOf({ ctx, server })).catch(seal('tools/list'))) as never,
    }));
    server.setRequestHandler(
      'tools/call',
      async (request, ctx) =>
        (await relay
          .callTool(
            request.params.name,
            request.params.arguments,
            ctx,
            server,
            (request.params as { task?: Record<string, unknown> }).task,
          )
          .catch(seal('tools/call'))) as never,
    );
    // Tasks (tasks.ts), both eras: registered with their own params schema, as the SDK's
    // 2026-07-28 codec has none for them (tasks/update is the extension's own method).
    const taskParams = { params: ANY_JSON_OBJECT };
    const taskId = (params: Record<string, unknown>) => params.taskId;
    server.setRequestHandler(
      'tasks/get',
      taskParams,
      async (params, ctx) =>
        (await relay.tasks.get(taskId(params), ctx, server).catch(seal('tasks/get'))) as Result,
    );
    server.setRequestHandler(
      'tasks/result',
      taskParams,
      async (params, ctx) =>
        (await relay.tasks.result(taskId(params), ctx, server).catch(seal('tasks/result'))) as Result,
    );
    server.setRequestHandler(
      'tasks/cancel',
      taskParams,
      async (params, ctx) =>
        (await relay.tasks.cancel(taskId(params), ctx, server).catch(seal('tasks/cancel'))) as Result,
    );
    server.setRequestHandler(
      'tasks/list',
      taskParams,
      async (_params, ctx) => (await relay.tasks.list(ctx, server).catch(seal('tasks/list'))) as Result,
    );
    server.setRequestHandler(
      'tasks/update',
      taskParams,
      async (params, ctx) =>
        // The SDK lifts a 2026-07-28 request's inputResponses out of its params into the context.
        (await relay.tasks
          .update(taskId(params), ctx.mcpReq.inputResponses ?? params.inputResponses, ctx, server)
          .catch(seal('tasks/update'))) as Result,
    );
    server.setRequestHandler('prompts/list', async (_request, ctx) => ({
      prompts: (await listings.prompts(callerOf({ ctx, server })).catch(seal('prompts/list'))) as never,
    }));
    server.setRequestHandler(
      'prompts/get',
      async (request, ctx) =>
        (await relay
          .getPrompt(request.params.name, request.params.arguments, ctx, server)
          .catch(seal('prompts/get'))) as never,
    );
    server.setRequestHandler('resources/list', async (_request, ctx) => ({
      resources: (await listings.resources(callerOf({ ctx, server })).catch(seal('resources/list'))) as never,
    }));
    server.setRequestHandler('resources/templates/list', async (_request, ctx) => ({
      resourceTemplates: (await listings
        .templates(callerOf({ ctx, server }))
        .catch(seal('resources/templates/list'))) as never,
    }));
    server.setRequestHandler(
      'resources/read',
      async (request, ctx) =>
        (await relay.readResource(request.params.uri, ctx, server).catch(seal('resources/read'))) as never,
    );
    server.setRequestHandler(
      'completion/complete',
      async (request, ctx) =>
        (await relay
          .complete(request.params as CompleteParams, ctx, server)
          .catch(seal('completion/complete'))) as never,
    );
    server.setRequestHandler('logging/setLevel', async (request) => {
      await relay.setLogLevel(request.params.level);
      for (const listener of this.levelListeners) listener(request.params.level);
      return {};
    });
    this.servers.add(server);
    server.onclose = () => this.servers.delete(server);
    return server;
  }

  /** Also tell `kind` changes to something other than the connected servers (HTTP subscriptions). */
  onAnnounce(announcer: (kind: Kind) => void): void {
    this.announcers.push(announcer);
  }

  /**
   * Also tell each upstream log message (its logger named after the upstream) to something other
   * than the connected servers, which have it already (the hosts of other replicas).
   */
  onUpstreamLog(listener: (params: Record<string, unknown>) => void): void {
    this.loggers.push(listener);
  }

  /** Also tell a host's `logging/setLevel` (gateway-wide: every upstream's level) to the other replicas. */
  onLogLevel(listener: (level: string) => void): void {
    this.levelListeners.push(listener);
  }

  /** The log level a host set on another replica: this replica's upstreams log at it too. */
  setLogLevel(level: string): Promise<void> {
    return this.relay.setLogLevel(level);
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
    await this.relay.close();
    await this.members?.close();
    await Promise.all(this.upstreams.map((upstream) => upstream.close()));
  }
}

/**
 * The SDK's server, except that a `tools/call` that creates a task answers with the task (the
 * SDK checks every tools/call answer as a CallToolResult, which a task is not); the decision is
 * made before the handler runs (`takesTask`), so every other call keeps the SDK's checks and its
 * multi round-trip handling.
 */
class GatewayServer extends Server {
  constructor(
    info: ConstructorParameters<typeof Server>[0],
    options: ServerOptions,
    private readonly takesTask: (request: JSONRPCRequest, ctx: ServerContext) => Promise<boolean>,
  ) {
    super(info, options);
  }

  protected override _wrapHandler(
    method: string,
    handler: (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>,
  ): (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result> {
    const wrapped = super._wrapHandler(method, handler);
    if (method !== 'tools/call') return wrapped;
    return async (request, ctx) =>
      (await this.takesTask(request, ctx)) ? handler(request, ctx) : wrapped(request, ctx);
  }
}

/** Without a gate, the metrics and the trace export are told of each call by one observer. */
function bothObservers(a: CallObserver | undefined, b: CallObserver | undefined): CallObserver | undefined {
  return a && b ? (entry) => (a(entry), b(entry)) : (a ?? b);
}
