/**
 * The relay: a host's request forwarded to the upstream its route leads to, and the answer back.
 *
 * - Tool calls go through the policy gate (when there is one); prompts and resource reads are
 *   audited; completions are routed like the prompt or template they complete.
 * - Progress and cancellation travel with each request, and an upstream whose connection breaks
 *   fails the request at once.
 * - Elicitation and sampling requests an upstream makes during a call are relayed to the host that
 *   made it: as requests to a 2025-era host, as `input_required` rounds to a 2026-07-28 host
 *   (input-relay.ts). Upstream log messages reach every connected host.
 * - Tasks (a task-creating call, tasks/*, their status notifications and questions) travel the
 *   same way, in task-relay.ts; a task-creating call is a tool call to the policy gate.
 * - A call to an upstream that cannot be reached is a tool error that says why and how to fix it;
 *   every other failure is mapped to JSON-RPC in protocol-errors.ts.
 */

import { AsyncLocalStorage } from 'node:async_hooks';

import type { Client, RequestOptions } from '@modelcontextprotocol/client';
import type { Server, ServerContext } from '@modelcontextprotocol/server';

import { PatchbayError } from '../errors.js';
import { traceContext, traceFromMeta, traceHeaders, type TraceContext } from '../core/trace-context.js';
import { callerOf, hostCapabilities, hostName, type CallScope } from './caller.js';
import {
  InputRelay,
  isModernRequest,
  PAUSE_MS,
  type QuestionMethod,
  type SharedPauses,
} from './input-relay.js';
import type { Listings } from './listings.js';
import type { CallObserver } from '../policy/audit.js';
import type { CallTracing } from './telemetry.js';
import { ungatedCall, type CallResult, type PolicyGate } from './policy-gate.js';
import { asProtocolError, unavailable, unknownItem } from './protocol-errors.js';
import type { MemberLogins } from './signin.js';
import type { SharedTasks } from './forwarded-tasks.js';
import { TaskRelay } from './task-relay.js';
import type { Upstream } from './upstream.js';

/** Tool calls may run long; progress notifications reset the clock. */
export const CALL_TIMEOUT_MS = 300_000;

export interface CompleteParams {
  ref: { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string };
  argument: { name: string; value: string };
  context?: { arguments?: Record<string, string> };
}

export interface RelayOptions {
  /** The upstreams now, in config order. */
  upstreams: () => readonly Upstream[];
  listings: Listings;
  pinKey: (upstream: Upstream) => string;
  gate: PolicyGate | undefined;
  /** Without a gate: told of each tool call once it ended (the metrics; the gate tells its own). */
  ungated?: CallObserver | undefined;
  /** The hosts connected now (stdio, 2025-era HTTP sessions): upstream log messages go to each. */
  servers: ReadonlySet<Server>;
  /** Told of each upstream log message once it went to `servers` (for the hosts of other replicas). */
  onLog?: (params: Record<string, unknown>) => void;
  /** A team gateway's members' own logins: `perMember` upstreams are called through them. */
  members?: MemberLogins | undefined;
  /** An HTTP gateway's paused input_required calls, shared with its other replicas (input-relay.ts). */
  pauses?: SharedPauses | undefined;
  /** An HTTP gateway's task records, shared with its other replicas (forwarded-tasks.ts). */
  sharedTasks?: SharedTasks | undefined;
  /** OpenTelemetry export, when configured: each call runs within the host's trace context. */
  tracing?: CallTracing | undefined;
}

export class Relay {
  private readonly scope = new AsyncLocalStorage<CallScope>();
  /** Calls in flight per upstream: an upstream request that arrives outside any call's async scope (stdio) goes to the only one. */
  private readonly inFlight = new Map<Upstream, Set<CallScope>>();
  /** Hot-path requests in flight per stdio upstream (hot-path.ts): calls whose host cannot be asked. */
  private readonly hotCalls = new Map<Upstream, number>();
  private readonly inputs: InputRelay;
  /** Tasks hosts create through the gateway (task-relay.ts). */
  readonly tasks: TaskRelay;
  /** The host's log level, passed to every connected upstream that logs (and to later ones). */
  private logLevel: string | undefined;

  constructor(private readonly options: RelayOptions) {
    this.inputs = new InputRelay(PAUSE_MS, options.pauses);
    this.tasks = new TaskRelay({
      listings: options.listings,
      forward: (upstream, scope, send) => this.forward(upstream, scope, send),
      withHost: (ctx, server, purpose, run) => this.withHost(ctx, server, purpose, run),
      ask: (scope, method, params) => this.ask(scope, method, params),
      traceMeta,
      shared: options.sharedTasks,
    });
  }

  async callTool(
    name: string,
    args: Record<string, unknown> | undefined,
    ctx: ServerContext,
    server: Server,
    /** A 2025-era host's `params.task` (it asks for the call to run as a task). */
    task?: Record<string, unknown>,
  ) {
    const route = (await this.options.listings.resolve('tool', name)) ?? this.unlistedPerMemberTool(name);
    if (!route) {
      // A tool of an upstream never listed (down since the gateway started): say why, not "unknown".
      const down = this.options
        .upstreams()
        .find((upstream) => name.startsWith(`${upstream.name}__`) && upstream.problem());
      if (down) return unavailable(down.name, down.problem()!);
      return unknownItem('tool', name);
    }
    const { upstream, name: toolName } = route;
    this.tasks.refuseUntasked(upstream, toolName, name, ctx, server);
    try {
      return await this.withHost(ctx, server, `tool ${name}`, async (scope) => {
        const asTask = this.tasks.mode(upstream, toolName, scope, task);
        const forward = asTask
          ? () => this.tasks.create(upstream, toolName, name, args, scope, asTask)
          : () =>
              this.forward(upstream, scope, (client, options) =>
                client.callTool(
                  { name: toolName, ...(args ? { arguments: args } : {}), ...traceMeta(scope.ctx) },
                  options,
                ),
              );
        const { gate, ungated } = this.options;
        if (!gate && ungated) {
          const end = ungatedCall(ungated, { server: upstream.name, tool: toolName, host: hostName(scope) });
          try {
            const result = await forward();
            end({ isError: (result as CallResult).isError === true });
            return result;
          } catch (error) {
            end({ error });
            throw error;
          }
        }
        if (!gate) return forward();
        const listed = upstream.kept('tools').find((tool) => tool.name === toolName);
        return gate.call({
          server: upstream.name,
          pinKey: this.options.pinKey(upstream),
          tool: { ...(listed ?? {}), name: toolName },
          args,
          host: hostName(scope),
          caller: callerOf(scope),
          upstreamCredential: this.credentialOf(upstream),
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

  /** The upstream is hidden from this request's member by policy (policy/rules serverHidden). */
  private hidden(upstream: Upstream, ctx: ServerContext, server: Server): boolean {
    return this.options.gate?.hidden(upstream.name, callerOf({ ctx, server })) ?? false;
  }

  async getPrompt(
    name: string,
    args: Record<string, string> | undefined,
    ctx: ServerContext,
    server: Server,
  ) {
    const route = await this.options.listings.resolve('prompt', name);
    // A server hidden from the member (a rule for them denies all of it) is unknown to them.
    const { upstream, name: promptName } =
      route && !this.hidden(route.upstream, ctx, server) ? route : unknownItem('prompt', name);
    return this.withHost(ctx, server, `prompt ${name}`, (scope) =>
      this.audited({ kind: 'prompt', server: upstream.name, name: promptName, args }, scope, () =>
        this.forward(upstream, scope, (client, options) =>
          client.getPrompt(
            { name: promptName, ...(args ? { arguments: args } : {}), ...traceMeta(scope.ctx) },
            options,
          ),
        ),
      ),
    ).catch(asProtocolError);
  }

  async readResource(uri: string, ctx: ServerContext, server: Server) {
    const owner = await this.options.listings.owner(uri);
    const upstream = owner && !this.hidden(owner, ctx, server) ? owner : unknownItem('resource', uri);
    return this.withHost(ctx, server, `resource ${uri}`, (scope) =>
      this.audited({ kind: 'resource', server: upstream.name, name: uri, args: undefined }, scope, () =>
        this.forward(upstream, scope, (client, options) =>
          client.readResource({ uri, ...traceMeta(scope.ctx) }, options),
        ),
      ),
    ).catch(asProtocolError);
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
      const route = await this.options.listings.resolve('prompt', String(ref.name));
      if (!route) return none;
      upstream = route.upstream;
      ref = { ...ref, name: route.name };
    } else {
      upstream = await this.options.listings.templateOwner(ref.uri);
    }
    if (!upstream || this.hidden(upstream, ctx, server)) return none;
    return this.withHost(ctx, server, `complete ${JSON.stringify(ref)}`, (scope) =>
      this.forward(upstream, scope, async (client, options) =>
        client.getServerCapabilities()?.completions
          ? client.complete({ ...params, ref } as never, options)
          : none,
      ),
    ).catch(asProtocolError);
  }

  async setLogLevel(level: string): Promise<void> {
    this.logLevel = level;
    await Promise.all(
      this.options
        .upstreams()
        .map((upstream) => upstream.request((client) => this.passLogLevel(client)).catch(() => undefined)),
    );
  }

  /** Bring an upstream's (new) session to the host's log level. */
  async passLogLevel(client: Client): Promise<void> {
    if (this.logLevel && client.getServerCapabilities()?.logging)
      await client.setLoggingLevel(this.logLevel as never);
  }

  /**
   * An upstream client's side of the relay: its questions (elicitation, sampling) go to the host
   * of the call they belong to, its log messages to every host, and its list_changed makes it
   * list again (a change is announced downstream when the listing differs).
   */
  configureUpstreamClient(client: Client, upstream: Upstream): void {
    client.registerCapabilities({ elicitation: { form: {}, url: {} }, sampling: {} });
    client.setRequestHandler('elicitation/create', async (request) => {
      const ofTask = this.tasks.question(
        upstream,
        'elicitation/create',
        request.params as Record<string, unknown>,
      );
      if (ofTask) return (await ofTask.catch(() => ({ action: 'decline' as const }))) as never;
      const call = this.callOf(upstream);
      if (!call || !hostCapabilities(call)?.elicitation) return { action: 'decline' as const };
      try {
        return (await this.ask(call, 'elicitation/create', request.params)) as never;
      } catch {
        return { action: 'decline' as const };
      }
    });
    client.setRequestHandler('sampling/createMessage', async (request) => {
      const ofTask = this.tasks.question(
        upstream,
        'sampling/createMessage',
        request.params as Record<string, unknown>,
      );
      if (ofTask) return (await ofTask) as never;
      const call = this.callOf(upstream);
      if (!call || !hostCapabilities(call)?.sampling)
        throw new Error(
          `the host connected to patchbay offers no sampling; ${upstream.name}'s request was declined`,
        );
      return (await this.ask(call, 'sampling/createMessage', request.params)) as never;
    });
    // A 2025-11-25 notification (the client SDK types the newest era's methods only).
    client.setNotificationHandler(
      'notifications/tasks/status' as never,
      (notification: { params?: unknown }) =>
        this.tasks.status(upstream, (notification.params ?? {}) as Record<string, unknown>),
    );
    // An upstream's log messages reach every host with a session (stdio, 2025-era HTTP).
    client.setNotificationHandler('notifications/message', (notification) =>
      this.passLog(upstream, notification.params as Record<string, unknown>),
    );
    for (const [method, kind] of [
      ['notifications/tools/list_changed', 'tools'],
      ['notifications/prompts/list_changed', 'prompts'],
      ['notifications/resources/list_changed', 'resources'],
    ] as const) {
      client.setNotificationHandler(method, () => this.listChanged(upstream, kind));
    }
  }

  /**
   * An upstream said a listing changed (to its client, or on a hot-path call's stream): read it
   * again; a change is announced downstream when the listing differs.
   */
  listChanged(upstream: Upstream, kind: 'tools' | 'prompts' | 'resources'): void {
    void upstream.list(kind).catch(() => undefined);
    if (kind === 'resources') void upstream.list('templates').catch(() => undefined);
  }

  /** An upstream's log message, to every host with a session, its logger named after the upstream. */
  passLog(upstream: Upstream, params: Record<string, unknown>): void {
    const logger = typeof params.logger === 'string' ? params.logger : undefined;
    const named = { ...params, logger: `${upstream.name}${logger ? `/${logger}` : ''}` };
    for (const server of this.options.servers) {
      void server.sendLoggingMessage(named as never).catch(() => undefined);
    }
    this.options.onLog?.(named);
  }

  async close(): Promise<void> {
    await Promise.all([this.inputs.close(), this.tasks.close()]);
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
    const upstream = this.options.upstreams().find((candidate) => candidate.name === read.server);
    return gate.relayed(
      {
        ...read,
        host: hostName(scope),
        caller: callerOf(scope),
        upstreamCredential: upstream ? this.credentialOf(upstream) : 'shared',
      },
      run,
    );
  }

  /**
   * Serve a host's request in its era: directly for a 2025-era host (questions go to it as
   * requests), or as input_required rounds for a 2026-07-28 host, `purpose` naming what a round's
   * retry must be for. With trace export on, within the host's trace context (the span of the
   * call's audit entry is its child).
   */
  private withHost<T>(
    ctx: ServerContext,
    server: Server,
    purpose: string,
    run: (scope: CallScope) => Promise<T>,
  ) {
    const { tracing } = this.options;
    const serve = () =>
      isModernRequest(ctx)
        ? this.inputs.round(ctx, purpose, (call) => run({ ctx, server, call }))
        : run({ ctx, server });
    return tracing ? tracing.within(hostTrace(ctx), serve) : serve();
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
    const { members } = this.options;
    if (!upstream.perMember || !members)
      return this.within(upstream, scope, () =>
        upstream.request((client, _session, lost) =>
          whileEither(cancelled, lost, (signal) => send(client, relayOptions(host, signal))),
        ),
      );
    // The calling member's own session (after a sign-in if they have no login yet), never the shared one.
    const questions = {
      ask: (params: Record<string, unknown>) => this.ask(scope, 'elicitation/create', params),
    };
    const run = (own: Upstream) =>
      this.within(own, scope, () =>
        own.request((client, _session, lost) =>
          whileEither(cancelled, lost, (signal) => send(client, relayOptions(host, signal))),
        ),
      );
    return members.sessionFor(upstream, scope, upstream.name, questions).then((own) =>
      run(own).catch(async (error: unknown) => {
        if (!(error instanceof PatchbayError) || error.code !== 'needs-auth') throw error;
        // The member's login no longer works upstream (refresh refused, access revoked): once, sign in again.
        await members.loginFailed(upstream, scope);
        return run(await members.sessionFor(upstream, scope, upstream.name, questions));
      }),
    );
  }

  /** Whose login a request of this upstream goes with (the audit log's `upstreamCredential`). */
  private credentialOf(upstream: Upstream): 'shared' | 'member' {
    return upstream.perMember && this.options.members ? 'member' : 'shared';
  }

  /**
   * A tool of a perMember upstream that no one could list yet (no member has signed in, and there
   * is no shared login to list with): routed by its `<server>__` prefix, so that calling it starts
   * the caller's sign-in.
   */
  private unlistedPerMemberTool(name: string): { upstream: Upstream; name: string } | undefined {
    if (!this.options.members) return undefined;
    const upstream = this.options
      .upstreams()
      .find((candidate) => candidate.perMember && name.startsWith(`${candidate.name}__`));
    return upstream ? { upstream, name: name.slice(upstream.name.length + 2) } : undefined;
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

  /**
   * A hot-path request to a stdio upstream is in flight until the returned function is called: it
   * counts among the calls an upstream's question may belong to, as it would on the full path
   * (its host cannot be asked, so a question that may be its is declined).
   */
  hotCall(upstream: Upstream): () => void {
    this.hotCalls.set(upstream, (this.hotCalls.get(upstream) ?? 0) + 1);
    return () => {
      const left = (this.hotCalls.get(upstream) ?? 1) - 1;
      if (left === 0) this.hotCalls.delete(upstream);
      else this.hotCalls.set(upstream, left);
    };
  }

  /** The call an upstream's request belongs to: the async scope it came in, or the upstream's only call in flight. */
  private callOf(upstream: Upstream): CallScope | undefined {
    const current = this.scope.getStore();
    if (current) return current;
    const calls = this.inFlight.get(upstream);
    return calls?.size === 1 && !this.hotCalls.has(upstream) ? [...calls][0] : undefined;
  }

  /** Put an upstream's question to the host of the call it belongs to, in that host's era. */
  private ask(scope: CallScope, method: QuestionMethod, params: unknown): Promise<unknown> {
    if (scope.call) {
      if (this.inputs.full) throw new Error('too many calls are waiting for their hosts');
      return scope.call.ask(method, params as Record<string, unknown>);
    }
    // On the call's own response stream (the SDK would send it on the host's standing GET stream):
    // the question travels with the call, on the replica running it, and reaches a host that
    // opened no GET stream.
    const options = { relatedRequestId: scope.ctx.mcpReq.id };
    return method === 'elicitation/create'
      ? scope.ctx.mcpReq.elicitInput(params as never, options)
      : scope.ctx.mcpReq.requestSampling(params as never, options);
  }
}

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

/**
 * Request options relaying progress to the host's current request, under that request's own token
 * (asked for upstream only when the host asked for progress).
 */
/**
 * The host's W3C trace context: its request's `traceparent`/`tracestate` headers (HTTP), else the
 * same keys of its `_meta` (the spec's way, and the only one on stdio).
 */
function hostTrace(ctx: ServerContext): TraceContext | undefined {
  const headers = ctx.http?.req?.headers;
  const sent = headers?.get('traceparent');
  return (
    (sent ? traceContext(sent, headers!.get('tracestate') ?? undefined) : undefined) ??
    traceFromMeta(ctx.mcpReq._meta)
  );
}

/** The host's trace context as upstream `_meta` (any transport), or nothing. */
function traceMeta(ctx: ServerContext): { _meta?: Record<string, string> } {
  const trace = hostTrace(ctx);
  return trace ? { _meta: { ...trace } } : {};
}

function relayOptions(host: () => ServerContext, signal: AbortSignal): RequestOptions {
  const trace = hostTrace(host());
  const options: RequestOptions = {
    signal,
    timeout: CALL_TIMEOUT_MS,
    resetTimeoutOnProgress: true,
    // Sent as headers too where the transport has them (Streamable HTTP); stdio ignores these.
    ...(trace ? { headers: traceHeaders(trace) } : {}),
  };
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
