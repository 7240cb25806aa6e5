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
 * - A call to an upstream that cannot be reached is a tool error that says why and how to fix it;
 *   every other failure is mapped to JSON-RPC in protocol-errors.ts.
 */

import { AsyncLocalStorage } from 'node:async_hooks';

import type { Client, RequestOptions } from '@modelcontextprotocol/client';
import {
  MissingRequiredClientCapabilityError,
  type JSONRPCRequest,
  ProtocolError,
  ProtocolErrorCode,
  type Server,
  type ServerContext,
  type StandardSchemaV1,
} from '@modelcontextprotocol/server';

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
import {
  declaresTasks,
  detailedTask,
  legacyTask,
  MISSING_TASKS,
  modernTask,
  ownerOf,
  relatedTaskMeta,
  RELATED_TASK,
  requiresTask,
  TaskBook,
  TASKS_EXTENSION as TASKS_EXTENSION_NAME,
  TERMINAL,
  type TaskRecord,
  type UpstreamTask,
} from './tasks.js';
import type { Upstream } from './upstream.js';

/** Tool calls may run long; progress notifications reset the clock. */
export const CALL_TIMEOUT_MS = 300_000;
/** The longest the gateway waits on a 2026-07-28 host's task (its TTL, when shorter). */
const DRIVE_TIMEOUT_MS = 24 * 60 * 60_000;
/** A tasks/get that found the task ended waits this long for the driver to have its result. */
const SETTLE_WAIT_MS = 5_000;
/** tasks/list follows an upstream's pages this far. */
const MAX_LIST_PAGES = 10;

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
  /** Tasks hosts created through the gateway (tasks.ts). */
  private readonly tasks = new TaskBook();
  /** The host's log level, passed to every connected upstream that logs (and to later ones). */
  private logLevel: string | undefined;

  constructor(private readonly options: RelayOptions) {
    this.inputs = new InputRelay(PAUSE_MS, options.pauses);
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
    if (
      isModernRequest(ctx) &&
      !declaresTasks(
        hostCapabilities({ ctx, server }) as { extensions?: Record<string, unknown> } | undefined,
      ) &&
      requiresTask(upstream.kept('tools').find((tool) => tool.name === toolName))
    )
      throw new MissingRequiredClientCapabilityError(
        MISSING_TASKS.data as never,
        MISSING_TASKS.message(name),
      );
    try {
      return await this.withHost(ctx, server, `tool ${name}`, async (scope) => {
        const asTask = this.taskMode(upstream, toolName, scope, task);
        const forward = asTask
          ? () => this.createTask(upstream, toolName, name, args, scope, asTask)
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

  /** Whether a host's tools/call will be answered with a task (see taskMode). */
  async takesTask(request: JSONRPCRequest, ctx: ServerContext, server: Server): Promise<boolean> {
    const params = (request.params ?? {}) as { name?: unknown; task?: unknown };
    if (!isModernRequest(ctx)) return typeof params.task === 'object' && params.task !== null;
    if (typeof params.name !== 'string') return false;
    const capabilities = hostCapabilities({ ctx, server }) as
      { extensions?: Record<string, unknown> } | undefined;
    if (!declaresTasks(capabilities)) return false;
    const route = await this.options.listings.resolve('tool', params.name).catch(() => undefined);
    return (
      route !== undefined &&
      this.taskMode(route.upstream, route.name, { ctx, server }, undefined) !== undefined
    );
  }

  /**
   * Whether this call runs as a task upstream: a 2025-era host asked for one (`params.task`); a
   * 2026-07-28 host declared the tasks extension and the tool supports tasks (SEP-2663: the
   * server decides). Nothing else does: a call without a task is relayed as it came.
   */
  private taskMode(
    upstream: Upstream,
    toolName: string,
    scope: CallScope,
    task: Record<string, unknown> | undefined,
  ): { modern: boolean; params: Record<string, unknown> } | undefined {
    if (!isModernRequest(scope.ctx)) return task === undefined ? undefined : { modern: false, params: task };
    if (!declaresTasks(hostCapabilities(scope) as { extensions?: Record<string, unknown> } | undefined))
      return undefined;
    const listed = upstream.kept('tools').find((tool) => tool.name === toolName) as
      { execution?: { taskSupport?: unknown } } | undefined;
    const support = listed?.execution?.taskSupport;
    return support === 'required' || support === 'optional' ? { modern: true, params: {} } : undefined;
  }

  /**
   * `tools/call` with a task upstream: the upstream's task is booked under an id of the gateway's
   * and handed to the host in its era's shape. An upstream that ran the call at once (it took no
   * task) answers with its result, which goes to the host as it is.
   */
  private async createTask(
    upstream: Upstream,
    toolName: string,
    exposed: string,
    args: Record<string, unknown> | undefined,
    scope: CallScope,
    mode: { modern: boolean; params: Record<string, unknown> },
  ): Promise<Record<string, unknown>> {
    let used: Client | undefined;
    const created = await this.forward(upstream, scope, (client, options) => {
      used = client;
      return client.request(
        {
          method: 'tools/call',
          params: {
            name: toolName,
            ...(args ? { arguments: args } : {}),
            task: mode.params,
            ...traceMeta(scope.ctx),
          },
        },
        LOOSE,
        options,
      );
    });
    const task = upstreamTask(created.task);
    if (!task) return created;
    const record = this.tasks.add({
      upstream,
      task,
      owner: ownerOf(callerOf(scope)),
      tool: exposed,
      server: mode.modern ? undefined : scope.server,
      modern: mode.modern,
    });
    if (!mode.modern) {
      const { task: _task, ...rest } = created;
      return { ...relatedTaskMeta(rest, record.id), task: legacyTask(task, record) };
    }
    this.drive(record, used!, task);
    return { resultType: 'task', ...modernTask(task, record) };
  }

  /**
   * A 2026-07-28 host's task, driven by the gateway: it waits on the upstream's `tasks/result`
   * (where the upstream's questions of the task arrive, to be parked for the host) and keeps how
   * it ended for the host's `tasks/get`.
   */
  private drive(record: TaskRecord, client: Client, task: UpstreamTask): void {
    const ttl = typeof task.ttl === 'number' && task.ttl > 0 ? task.ttl : DRIVE_TIMEOUT_MS;
    client
      .request({ method: 'tasks/result', params: { taskId: record.upstreamId } }, LOOSE, {
        timeout: Math.min(ttl, DRIVE_TIMEOUT_MS),
      })
      .then(
        (result) => (record.outcome = { result }),
        (error: unknown) => (record.outcome = { error: rpcError(error) }),
      )
      .finally(() => {
        this.tasks.drop(record, 'the task ended');
        record.settle();
      });
  }

  /** A 2025-era host's tasks/get; a 2026-07-28 host's (the DetailedTask, result inlined). */
  async getTask(taskId: unknown, ctx: ServerContext, server: Server) {
    return this.withTask(taskId, ctx, server, 'tasks/get', async (record, scope) => {
      const task = await this.upstreamTaskRequest(record, scope, 'tasks/get');
      if (!record.modern) return legacyTask(task, record);
      if (TERMINAL.has(task.status) && !record.outcome) await settledWithin(record, SETTLE_WAIT_MS);
      return detailedTask(task, record);
    });
  }

  /** A 2025-era host's tasks/result: waits for the end; the task's questions go to this host meanwhile. */
  async taskResult(taskId: unknown, ctx: ServerContext, server: Server) {
    if (isModernRequest(ctx)) removedMethod('tasks/result');
    return this.withTask(taskId, ctx, server, 'tasks/result', async (record, scope) => {
      record.waiting = scope;
      try {
        const result = await this.forward(record.upstream, scope, (client, options) =>
          client.request({ method: 'tasks/result', params: { taskId: record.upstreamId } }, LOOSE, options),
        );
        return relatedTaskMeta(result, record.id);
      } finally {
        if (record.waiting === scope) record.waiting = undefined;
      }
    });
  }

  /** tasks/cancel: a 2025-era host gets the task back; a 2026-07-28 host an empty ack, also for an ended task. */
  async cancelTask(taskId: unknown, ctx: ServerContext, server: Server) {
    return this.withTask(taskId, ctx, server, 'tasks/cancel', async (record, scope) => {
      if (!record.modern)
        return legacyTask(await this.upstreamTaskRequest(record, scope, 'tasks/cancel'), record);
      await this.upstreamTaskRequest(record, scope, 'tasks/cancel').catch(() => undefined);
      this.tasks.drop(record, 'the task was cancelled');
      return {};
    });
  }

  /** A 2026-07-28 host's tasks/update: its answers to the task's input requests; an empty ack. */
  async updateTask(taskId: unknown, responses: unknown, ctx: ServerContext, server: Server) {
    return this.withTask(taskId, ctx, server, 'tasks/update', async (record) => {
      if (typeof responses !== 'object' || responses === null || Array.isArray(responses))
        throw new ProtocolError(
          ProtocolErrorCode.InvalidParams,
          'tasks/update needs inputResponses, an object',
        );
      this.tasks.answer(record, responses as Record<string, unknown>);
      return {};
    });
  }

  /**
   * A 2025-era host's tasks/list: its own tasks, as each upstream that holds one lists them now
   * (an upstream that cannot list leaves its tasks out). One page: the host's tasks are few.
   */
  async listTasks(ctx: ServerContext, server: Server) {
    if (isModernRequest(ctx)) removedMethod('tasks/list');
    const owned = this.tasks.owned(ownerOf(callerOf({ ctx, server })));
    const byUpstream = new Map<Upstream, Map<string, TaskRecord>>();
    for (const record of owned) {
      let ofUpstream = byUpstream.get(record.upstream);
      if (!ofUpstream) byUpstream.set(record.upstream, (ofUpstream = new Map()));
      ofUpstream.set(record.upstreamId, record);
    }
    return this.withHost(ctx, server, 'tasks/list', async (scope) => {
      const lists = await Promise.all(
        [...byUpstream].map(async ([upstream, records]) => {
          const tasks: UpstreamTask[] = [];
          let cursor: string | undefined;
          for (let page = 0; page < MAX_LIST_PAGES; page++) {
            const listed = await this.forward(upstream, scope, (client, options) =>
              client.request(
                { method: 'tasks/list', params: cursor === undefined ? {} : { cursor } },
                LOOSE,
                options,
              ),
            ).catch(() => undefined);
            if (!listed || !Array.isArray(listed.tasks)) break;
            for (const each of listed.tasks) {
              const task = upstreamTask(each);
              const record = task && records.get(task.taskId);
              if (task && record) tasks.push(legacyTask(task, record));
            }
            cursor = typeof listed.nextCursor === 'string' ? listed.nextCursor : undefined;
            if (cursor === undefined) break;
          }
          return tasks;
        }),
      );
      return { tasks: lists.flat() };
    }).catch(asProtocolError);
  }

  /** Run a request about one of the caller's tasks; anyone else's is unknown to them. */
  private withTask<T>(
    taskId: unknown,
    ctx: ServerContext,
    server: Server,
    method: string,
    run: (record: TaskRecord, scope: CallScope) => Promise<T>,
  ) {
    if (isModernRequest(ctx)) {
      const capabilities = hostCapabilities({ ctx, server }) as
        { extensions?: Record<string, unknown> } | undefined;
      if (!declaresTasks(capabilities))
        throw new MissingRequiredClientCapabilityError(
          { requiredCapabilities: { extensions: { [TASKS_EXTENSION_NAME]: {} } } as never },
          `${method} needs the ${TASKS_EXTENSION_NAME} extension, which this request does not declare`,
        );
    }
    const record = this.tasks.find(taskId, ownerOf(callerOf({ ctx, server })));
    if (!record) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown task: ${String(taskId)}`);
    return this.withHost(ctx, server, `${method} ${record.id}`, (scope) => run(record, scope)).catch(
      asProtocolError,
    );
  }

  private async upstreamTaskRequest(
    record: TaskRecord,
    scope: CallScope,
    method: 'tasks/get' | 'tasks/cancel',
  ) {
    const answer = await this.forward(record.upstream, scope, (client, options) =>
      client.request({ method, params: { taskId: record.upstreamId } }, LOOSE, options),
    );
    const task = upstreamTask(answer);
    if (!task)
      throw new ProtocolError(
        ProtocolErrorCode.InternalError,
        `${record.upstream.name} answered ${method} without a task`,
      );
    return task;
  }

  /**
   * An upstream's question that names its task (`_meta` related-task): a 2026-07-28 host's task
   * parks it for the host's next tasks/get; a 2025-era host's goes to the host waiting on the
   * task's tasks/result, under the id the host knows. Undefined: not a question of a task here.
   */
  private taskQuestion(
    upstream: Upstream,
    method: QuestionMethod,
    params: Record<string, unknown>,
  ): Promise<unknown> | undefined {
    const related = (params._meta as Record<string, { taskId?: unknown } | undefined> | undefined)?.[
      RELATED_TASK
    ];
    const record = this.tasks.ofUpstream(upstream.name, related?.taskId);
    if (!record) return undefined;
    if (record.modern) return this.tasks.park(record, method, params);
    const host = record.waiting;
    if (!host) return undefined;
    const capable =
      method === 'elicitation/create'
        ? hostCapabilities(host)?.elicitation
        : hostCapabilities(host)?.sampling;
    if (!capable)
      return method === 'elicitation/create'
        ? Promise.resolve({ action: 'decline' })
        : Promise.reject(
            new Error(
              `the host connected to patchbay offers no sampling; ${upstream.name}'s request was declined`,
            ),
          );
    return this.ask(host, method, relatedTaskMeta(params, record.id));
  }

  /** An upstream's notifications/tasks/status, to the 2025-era host whose task it is (under its id). */
  private taskStatus(upstream: Upstream, params: Record<string, unknown>): void {
    const record = this.tasks.ofUpstream(upstream.name, params.taskId);
    if (!record || record.modern) return;
    const notification = { method: 'notifications/tasks/status', params: { ...params, taskId: record.id } };
    // On the stream of the host's tasks/result when one waits; else the session's standing stream.
    const send = record.waiting
      ? record.waiting.ctx.mcpReq.notify(notification as never)
      : record.server?.notification(notification as never);
    void send?.catch(() => undefined);
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
      const ofTask = this.taskQuestion(
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
      const ofTask = this.taskQuestion(
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
        this.taskStatus(upstream, (notification.params ?? {}) as Record<string, unknown>),
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

  close(): Promise<void> {
    return this.inputs.close();
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

/** Any JSON object: task messages the client SDK has no schema for (read by the functions here). */
const LOOSE: StandardSchemaV1<unknown, Record<string, unknown>> = {
  '~standard': {
    version: 1,
    vendor: 'patchbay',
    validate: (value) =>
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? { value: value as Record<string, unknown> }
        : { issues: [{ message: 'expected an object' }] },
  },
};

/** An upstream's task, if `value` reads as one (an id and a status). */
function upstreamTask(value: unknown): UpstreamTask | undefined {
  const task = value as Partial<UpstreamTask> | null | undefined;
  return task &&
    typeof task === 'object' &&
    typeof task.taskId === 'string' &&
    typeof task.status === 'string'
    ? (task as UpstreamTask)
    : undefined;
}

/** A failure as a SEP-2663 task's `error` (JSON-RPC error shape). */
function rpcError(error: unknown): { code: number; message: string; data?: unknown } {
  const { code, message, data } = (error ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
  return {
    code: typeof code === 'number' ? code : ProtocolErrorCode.InternalError,
    message: typeof message === 'string' ? message : String(error),
    ...(data !== undefined ? { data } : {}),
  };
}

function settledWithin(record: TaskRecord, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    record.settled,
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]).finally(() => clearTimeout(timer));
}

/** What a 2026-07-28 host asks of methods SEP-2663 removed. */
function removedMethod(method: string): never {
  throw new ProtocolError(
    ProtocolErrorCode.MethodNotFound,
    `${method} is not part of the tasks extension of protocol revision 2026-07-28 (poll tasks/get)`,
  );
}
