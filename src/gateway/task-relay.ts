/**
 * The relay of tasks (tasks.ts says what the gateway does with them): a host's task-creating
 * `tools/call` and its `tasks/*` requests, in its era, to the upstream the task lives on, and
 * what the upstream sends about a task (status notifications, its questions) to the host whose
 * task it is. Requests travel as the relay's calls do (relay.ts lends its `forward`, `withHost`
 * and `ask`); the client SDK has no runtime for tasks, so they go as requests with a loose schema.
 * With replicas, a request about a task another replica holds goes there (forwarded-tasks.ts).
 */

import type { Client, RequestOptions } from '@modelcontextprotocol/client';
import {
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  type JSONRPCRequest,
  type Server,
  type ServerContext,
} from '@modelcontextprotocol/server';

import type { AuditCaller } from '../policy/audit.js';
import { callerOf, hostCapabilities, type CallScope } from './caller.js';
import {
  forwardedHost,
  NO_SERVER,
  type ForwardedList,
  type ForwardedTask,
  type SharedTasks,
  type TaskMethod,
} from './forwarded-tasks.js';
import { isModernRequest, type QuestionMethod } from './input-relay.js';
import type { Listings } from './listings.js';
import { asProtocolError } from './protocol-errors.js';
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
  TASKS_EXTENSION,
  TERMINAL,
  type TaskRecord,
  type UpstreamTask,
} from './tasks.js';
import type { Upstream } from './upstream.js';
import { ANY_JSON_OBJECT } from '../core/checked-schema.js';

/** The longest the gateway waits on a 2026-07-28 host's task (its TTL, when shorter). */
const DRIVE_TIMEOUT_MS = 24 * 60 * 60_000;
/** A tasks/get that found the task ended waits this long for the driver to have its result. */
const SETTLE_WAIT_MS = 5_000;
/** tasks/list follows an upstream's pages this far. */
const MAX_LIST_PAGES = 10;

/** What the relay lends: how its calls travel. */
export interface TaskRelayParts {
  listings: Listings;
  forward<T>(
    upstream: Upstream,
    scope: CallScope,
    send: (client: Client, options: RequestOptions) => Promise<T>,
  ): Promise<T>;
  withHost<T>(
    ctx: ServerContext,
    server: Server,
    purpose: string,
    run: (scope: CallScope) => Promise<T>,
  ): Promise<unknown>;
  ask(scope: CallScope, method: QuestionMethod, params: unknown): Promise<unknown>;
  traceMeta(ctx: ServerContext): { _meta?: Record<string, string> };
  /** An HTTP gateway's task records and forwarded task requests, shared with its other replicas. */
  shared?: SharedTasks | undefined;
}

export class TaskRelay {
  private readonly book = new TaskBook();

  constructor(private readonly parts: TaskRelayParts) {
    // A replica that cannot hear yet (the store away) is not reached by forwarded requests; its
    // start goes on, and its task records are written once it hears (hold()).
    void parts.shared?.serve((request, ctx) => this.held(request, ctx)).catch(() => undefined);
  }

  /**
   * A 2026-07-28 host that did not declare the extension calls a tool that runs only as a task:
   * refused (-32021, naming the extension) before anything else, as the hot path refuses it.
   */
  refuseUntasked(
    upstream: Upstream,
    toolName: string,
    exposed: string,
    ctx: ServerContext,
    server: Server,
  ): void {
    if (
      isModernRequest(ctx) &&
      !declaresTasks(
        hostCapabilities({ ctx, server }) as { extensions?: Record<string, unknown> } | undefined,
      ) &&
      requiresTask(upstream.kept('tools').find((tool) => tool.name === toolName))
    )
      throw new MissingRequiredClientCapabilityError(
        MISSING_TASKS.data as never,
        MISSING_TASKS.message(exposed),
      );
  }

  /** Whether a host's tools/call will be answered with a task (see mode). */
  async takes(request: JSONRPCRequest, ctx: ServerContext, server: Server): Promise<boolean> {
    const params = (request.params ?? {}) as { name?: unknown; task?: unknown };
    if (!isModernRequest(ctx)) return typeof params.task === 'object' && params.task !== null;
    if (typeof params.name !== 'string') return false;
    const capabilities = hostCapabilities({ ctx, server }) as
      { extensions?: Record<string, unknown> } | undefined;
    if (!declaresTasks(capabilities)) return false;
    const route = await this.parts.listings.resolve('tool', params.name).catch(() => undefined);
    return (
      route !== undefined && this.mode(route.upstream, route.name, { ctx, server }, undefined) !== undefined
    );
  }

  /**
   * Whether this call runs as a task upstream: a 2025-era host asked for one (`params.task`); a
   * 2026-07-28 host declared the tasks extension and the tool supports tasks (SEP-2663: the
   * server decides). Nothing else does: a call without a task is relayed as it came.
   */
  mode(
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
  async create(
    upstream: Upstream,
    toolName: string,
    exposed: string,
    args: Record<string, unknown> | undefined,
    scope: CallScope,
    mode: { modern: boolean; params: Record<string, unknown> },
  ): Promise<Record<string, unknown>> {
    let used: Client | undefined;
    const created = await this.parts.forward(upstream, scope, (client, options) => {
      used = client;
      return client.request(
        {
          method: 'tools/call',
          params: {
            name: toolName,
            ...(args ? { arguments: args } : {}),
            task: mode.params,
            ...this.parts.traceMeta(scope.ctx),
          },
        },
        ANY_JSON_OBJECT,
        options,
      );
    });
    const task = upstreamTask(created.task);
    if (!task) return created;
    const record = this.book.add({
      upstream,
      task,
      owner: ownerOf(callerOf(scope)),
      tool: exposed,
      server: mode.modern ? undefined : scope.server,
      modern: mode.modern,
    });
    // Recorded before the host hears of it, so that its next request finds the task from any
    // replica. A record that could not be written (the store away) leaves the task to this
    // replica: served here, unknown elsewhere; the upstream's work is not thrown away for it.
    await this.parts.shared
      ?.hold(record.id, record.owner, record.forgetAt - Date.now())
      .catch(() => undefined);
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
      .request({ method: 'tasks/result', params: { taskId: record.upstreamId } }, ANY_JSON_OBJECT, {
        timeout: Math.min(ttl, DRIVE_TIMEOUT_MS),
      })
      .then(
        (result) => (record.outcome = { result }),
        (error: unknown) => (record.outcome = { error: rpcError(error) }),
      )
      .finally(() => {
        this.book.drop(record, 'the task ended');
        record.settle();
      });
  }

  /** A 2025-era host's tasks/get; a 2026-07-28 host's (the DetailedTask, result inlined). */
  async get(taskId: unknown, ctx: ServerContext, server: Server) {
    return this.withTask('tasks/get', taskId, ctx, server);
  }

  /** A 2025-era host's tasks/result: waits for the end; the task's questions go to this host meanwhile. */
  async result(taskId: unknown, ctx: ServerContext, server: Server) {
    if (isModernRequest(ctx)) removedMethod('tasks/result');
    return this.withTask('tasks/result', taskId, ctx, server);
  }

  /** tasks/cancel: a 2025-era host gets the task back; a 2026-07-28 host an empty ack, also for an ended task. */
  async cancel(taskId: unknown, ctx: ServerContext, server: Server) {
    return this.withTask('tasks/cancel', taskId, ctx, server);
  }

  /** A 2026-07-28 host's tasks/update: its answers to the task's input requests; an empty ack. */
  async update(taskId: unknown, responses: unknown, ctx: ServerContext, server: Server) {
    return this.withTask('tasks/update', taskId, ctx, server, responses);
  }

  /** What each task request does with the caller's task, held here. */
  private run(
    method: TaskMethod,
    record: TaskRecord,
    scope: CallScope,
    responses: unknown,
  ): Promise<unknown> {
    switch (method) {
      case 'tasks/get':
        return this.getHere(record, scope);
      case 'tasks/result':
        return this.resultHere(record, scope);
      case 'tasks/cancel':
        return this.cancelHere(record, scope);
      case 'tasks/update':
        return this.updateHere(record, responses);
    }
  }

  private async getHere(record: TaskRecord, scope: CallScope) {
    const task = await this.upstreamTaskRequest(record, scope, 'tasks/get');
    if (!record.modern) return legacyTask(task, record);
    if (TERMINAL.has(task.status) && !record.outcome) await settledWithin(record, SETTLE_WAIT_MS);
    return detailedTask(task, record);
  }

  private async resultHere(record: TaskRecord, scope: CallScope) {
    record.waiting = scope;
    try {
      const result = await this.parts.forward(record.upstream, scope, (client, options) =>
        client.request(
          { method: 'tasks/result', params: { taskId: record.upstreamId } },
          ANY_JSON_OBJECT,
          options,
        ),
      );
      return relatedTaskMeta(result, record.id);
    } finally {
      if (record.waiting === scope) record.waiting = undefined;
    }
  }

  private async cancelHere(record: TaskRecord, scope: CallScope) {
    if (!record.modern)
      return legacyTask(await this.upstreamTaskRequest(record, scope, 'tasks/cancel'), record);
    await this.upstreamTaskRequest(record, scope, 'tasks/cancel').catch(() => undefined);
    this.book.drop(record, 'the task was cancelled');
    return {};
  }

  private async updateHere(record: TaskRecord, responses: unknown) {
    if (typeof responses !== 'object' || responses === null || Array.isArray(responses))
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        'tasks/update needs inputResponses, an object',
      );
    this.book.answer(record, responses as Record<string, unknown>);
    return {};
  }

  /**
   * A 2025-era host's tasks/list: its own tasks, as each upstream that holds one lists them now
   * (an upstream that cannot list leaves its tasks out), here and on every other replica that
   * holds one of them (a replica that cannot be reached leaves its tasks out). One page: the
   * host's tasks are few.
   */
  async list(ctx: ServerContext, server: Server) {
    if (isModernRequest(ctx)) removedMethod('tasks/list');
    const caller = callerOf({ ctx, server });
    const owner = ownerOf(caller);
    const elsewhere = this.listElsewhere(owner, caller, ctx, server);
    const here = this.parts
      .withHost(ctx, server, 'tasks/list', (scope) => this.listed(this.book.owned(owner), scope))
      .catch(asProtocolError) as Promise<UpstreamTask[]>;
    const [mine, theirs] = await Promise.all([here, elsewhere]);
    return { tasks: [...mine, ...theirs] };
  }

  /** The caller's tasks other replicas hold, each replica asked for its own. */
  private async listElsewhere(
    owner: string,
    caller: AuditCaller,
    ctx: ServerContext,
    server: Server,
  ): Promise<UpstreamTask[]> {
    const { shared } = this.parts;
    if (!shared) return [];
    const replicas = await shared.holdersOf(owner).catch(() => []);
    const lists = await Promise.all(
      replicas.map((replica) =>
        shared
          .forward(
            replica,
            { kind: 'list', ...forwardedHost(ctx, caller) },
            this.hostEnd(ctx, server),
            ctx.mcpReq.signal,
          )
          .then((tasks) => (Array.isArray(tasks) ? (tasks as UpstreamTask[]) : []))
          .catch(() => []),
      ),
    );
    return lists.flat();
  }

  /** Records' tasks as their upstreams list them now, under the gateway's ids. */
  private async listed(owned: TaskRecord[], scope: CallScope): Promise<UpstreamTask[]> {
    const byUpstream = new Map<Upstream, Map<string, TaskRecord>>();
    for (const record of owned) {
      let ofUpstream = byUpstream.get(record.upstream);
      if (!ofUpstream) byUpstream.set(record.upstream, (ofUpstream = new Map()));
      ofUpstream.set(record.upstreamId, record);
    }
    const lists = await Promise.all(
      [...byUpstream].map(async ([upstream, records]) => {
        const tasks: UpstreamTask[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < MAX_LIST_PAGES; page++) {
          const listed = await this.parts
            .forward(upstream, scope, (client, options) =>
              client.request(
                { method: 'tasks/list', params: cursor === undefined ? {} : { cursor } },
                ANY_JSON_OBJECT,
                options,
              ),
            )
            .catch(() => undefined);
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
    return lists.flat();
  }

  /**
   * Run a request about one of the caller's tasks: here when this replica holds it, else on the
   * replica the store says holds it. Anyone else's is unknown to them, here and there.
   */
  private async withTask(
    method: TaskMethod,
    taskId: unknown,
    ctx: ServerContext,
    server: Server,
    responses?: unknown,
  ): Promise<unknown> {
    if (isModernRequest(ctx)) {
      const capabilities = hostCapabilities({ ctx, server }) as
        { extensions?: Record<string, unknown> } | undefined;
      if (!declaresTasks(capabilities))
        throw new MissingRequiredClientCapabilityError(
          { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } as never },
          `${method} needs the ${TASKS_EXTENSION} extension, which this request does not declare`,
        );
    }
    const caller = callerOf({ ctx, server });
    const owner = ownerOf(caller);
    const record = this.book.find(taskId, owner);
    if (record) return this.here(method, record, ctx, server, responses);
    const { shared } = this.parts;
    if (!shared || typeof taskId !== 'string') throw unknownTask(taskId);
    const held = await shared.holder(taskId);
    // Held here yet not in the book: forgotten (expired, or pushed out by newer tasks).
    if (!held || held.owner !== owner || held.replica === shared.replica) throw unknownTask(taskId);
    return shared.forward(
      held.replica,
      {
        kind: 'task',
        method,
        taskId,
        ...(responses !== undefined ? { responses } : {}),
        ...forwardedHost(ctx, caller),
      },
      this.hostEnd(ctx, server),
      ctx.mcpReq.signal,
    );
  }

  /** A request about a task this replica holds, from its host or forwarded by another replica. */
  private here(
    method: TaskMethod,
    record: TaskRecord,
    ctx: ServerContext,
    server: Server,
    responses: unknown,
  ) {
    return this.parts
      .withHost(ctx, server, `${method} ${record.id}`, (scope) => this.run(method, record, scope, responses))
      .catch(asProtocolError);
  }

  /**
   * The holder's side of a forwarded request (forwarded-tasks.ts): served as a request of its
   * own, with the context it came with; the caller is checked against the book again.
   */
  private async held(request: ForwardedTask | ForwardedList, ctx: ServerContext): Promise<unknown> {
    const owner = ownerOf(callerOf({ ctx, server: NO_SERVER }));
    if (request.kind === 'list') {
      const owned = this.book.owned(owner);
      if (owned.length === 0) return [];
      return this.parts
        .withHost(ctx, owned[0]!.server ?? NO_SERVER, 'tasks/list', (scope) => this.listed(owned, scope))
        .catch(asProtocolError);
    }
    const record = this.book.find(request.taskId, owner);
    if (!record) throw unknownTask(request.taskId);
    // A 2025-era task's host is asked through this replica's copy of its session (the owner binding
    // names the session): its capabilities are the host's.
    return this.here(request.method, record, ctx, record.server ?? NO_SERVER, request.responses);
  }

  /** What a holder says to this replica's host while it serves the host's forwarded request. */
  private hostEnd(ctx: ServerContext, server: Server) {
    return {
      ask: (method: QuestionMethod, params: unknown) =>
        isModernRequest(ctx)
          ? Promise.reject(new Error('a 2026-07-28 host is asked with input_required, not requests'))
          : this.parts.ask({ ctx, server }, method, params),
      notify: (notification: unknown) => ctx.mcpReq.notify(notification as never),
    };
  }

  close(): Promise<void> {
    return this.parts.shared?.close() ?? Promise.resolve();
  }

  private async upstreamTaskRequest(
    record: TaskRecord,
    scope: CallScope,
    method: 'tasks/get' | 'tasks/cancel',
  ) {
    const answer = await this.parts.forward(record.upstream, scope, (client, options) =>
      client.request({ method, params: { taskId: record.upstreamId } }, ANY_JSON_OBJECT, options),
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
  question(
    upstream: Upstream,
    method: QuestionMethod,
    params: Record<string, unknown>,
  ): Promise<unknown> | undefined {
    const related = (params._meta as Record<string, { taskId?: unknown } | undefined> | undefined)?.[
      RELATED_TASK
    ];
    const record = this.book.ofUpstream(upstream.name, related?.taskId);
    if (!record) return undefined;
    if (record.modern) return this.book.park(record, method, params);
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
    return this.parts.ask(host, method, relatedTaskMeta(params, record.id));
  }

  /** An upstream's notifications/tasks/status, to the 2025-era host whose task it is (under its id). */
  status(upstream: Upstream, params: Record<string, unknown>): void {
    const record = this.book.ofUpstream(upstream.name, params.taskId);
    if (!record || record.modern) return;
    const notification = { method: 'notifications/tasks/status', params: { ...params, taskId: record.id } };
    // On the stream of the host's tasks/result when one waits; else the session's standing stream.
    const send = record.waiting
      ? record.waiting.ctx.mcpReq.notify(notification as never)
      : record.server?.notification(notification as never);
    void send?.catch(() => undefined);
  }
}

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

function unknownTask(taskId: unknown): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown task: ${String(taskId)}`);
}

/** What a 2026-07-28 host asks of methods SEP-2663 removed. */
function removedMethod(method: string): never {
  throw new ProtocolError(
    ProtocolErrorCode.MethodNotFound,
    `${method} is not part of the tasks extension of protocol revision 2026-07-28 (poll tasks/get)`,
  );
}
