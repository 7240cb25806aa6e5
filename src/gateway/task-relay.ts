/**
 * The relay of tasks (tasks.ts says what the gateway does with them): a host's task-creating
 * `tools/call` and its `tasks/*` requests, in its era, to the upstream the task lives on, and
 * what the upstream sends about a task (status notifications, its questions) to the host whose
 * task it is. Requests travel as the relay's calls do (relay.ts lends its `forward`, `withHost`
 * and `ask`); the client SDK has no runtime for tasks, so they go as requests with a loose schema.
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

import { callerOf, hostCapabilities, type CallScope } from './caller.js';
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
}

export class TaskRelay {
  private readonly book = new TaskBook();

  constructor(private readonly parts: TaskRelayParts) {}

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
    return this.withTask(taskId, ctx, server, 'tasks/get', async (record, scope) => {
      const task = await this.upstreamTaskRequest(record, scope, 'tasks/get');
      if (!record.modern) return legacyTask(task, record);
      if (TERMINAL.has(task.status) && !record.outcome) await settledWithin(record, SETTLE_WAIT_MS);
      return detailedTask(task, record);
    });
  }

  /** A 2025-era host's tasks/result: waits for the end; the task's questions go to this host meanwhile. */
  async result(taskId: unknown, ctx: ServerContext, server: Server) {
    if (isModernRequest(ctx)) removedMethod('tasks/result');
    return this.withTask(taskId, ctx, server, 'tasks/result', async (record, scope) => {
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
    });
  }

  /** tasks/cancel: a 2025-era host gets the task back; a 2026-07-28 host an empty ack, also for an ended task. */
  async cancel(taskId: unknown, ctx: ServerContext, server: Server) {
    return this.withTask(taskId, ctx, server, 'tasks/cancel', async (record, scope) => {
      if (!record.modern)
        return legacyTask(await this.upstreamTaskRequest(record, scope, 'tasks/cancel'), record);
      await this.upstreamTaskRequest(record, scope, 'tasks/cancel').catch(() => undefined);
      this.book.drop(record, 'the task was cancelled');
      return {};
    });
  }

  /** A 2026-07-28 host's tasks/update: its answers to the task's input requests; an empty ack. */
  async update(taskId: unknown, responses: unknown, ctx: ServerContext, server: Server) {
    return this.withTask(taskId, ctx, server, 'tasks/update', async (record) => {
      if (typeof responses !== 'object' || responses === null || Array.isArray(responses))
        throw new ProtocolError(
          ProtocolErrorCode.InvalidParams,
          'tasks/update needs inputResponses, an object',
        );
      this.book.answer(record, responses as Record<string, unknown>);
      return {};
    });
  }

  /**
   * A 2025-era host's tasks/list: its own tasks, as each upstream that holds one lists them now
   * (an upstream that cannot list leaves its tasks out). One page: the host's tasks are few.
   */
  async list(ctx: ServerContext, server: Server) {
    if (isModernRequest(ctx)) removedMethod('tasks/list');
    const owned = this.book.owned(ownerOf(callerOf({ ctx, server })));
    const byUpstream = new Map<Upstream, Map<string, TaskRecord>>();
    for (const record of owned) {
      let ofUpstream = byUpstream.get(record.upstream);
      if (!ofUpstream) byUpstream.set(record.upstream, (ofUpstream = new Map()));
      ofUpstream.set(record.upstreamId, record);
    }
    return this.parts
      .withHost(ctx, server, 'tasks/list', async (scope) => {
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
        return { tasks: lists.flat() };
      })
      .catch(asProtocolError);
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
          { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } as never },
          `${method} needs the ${TASKS_EXTENSION} extension, which this request does not declare`,
        );
    }
    const record = this.book.find(taskId, ownerOf(callerOf({ ctx, server })));
    if (!record) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown task: ${String(taskId)}`);
    return this.parts
      .withHost(ctx, server, `${method} ${record.id}`, (scope) => run(record, scope))
      .catch(asProtocolError);
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

/** What a 2026-07-28 host asks of methods SEP-2663 removed. */
function removedMethod(method: string): never {
  throw new ProtocolError(
    ProtocolErrorCode.MethodNotFound,
    `${method} is not part of the tasks extension of protocol revision 2026-07-28 (poll tasks/get)`,
  );
}
