/**
 * Requests about a task that another replica holds (#20: any replica serves any request of any
 * session). A task lives in the book of the replica that created it (tasks.ts), beside the upstream
 * session it runs on; the state store keeps who that is, and a request that lands elsewhere goes
 * there over the bus (state/bus-rpc.ts), as a paused call's round does (forwarded-rounds.ts).
 *
 * - The record (namespace `tasks`, key: the gateway's task id) names the holding replica's bus name
 *   and the task's owner binding (tasks.ts `ownerOf`: transport, auth, member, client, a hashed
 *   session id), and lives as long as the book keeps the task. Nothing in it is a secret.
 * - The replica a request lands on checks ownership against the record exactly as the book does:
 *   anyone else hears the same "Unknown task" as for an id that never was. The holder checks again
 *   with its book, from the caller it is sent.
 * - The holder answers from its book as for a request of its own, with a context made of what the
 *   request's handling reads: the caller, a 2026-07-28 request's envelope, trace and progress
 *   `_meta`, requestState and inputResponses, and a cancellation signal (the forwarding replica's
 *   host cancelling reaches it through the bus). What the holder would say to the host while the
 *   request runs (a 2025-era `tasks/result`'s questions of the task, status and progress
 *   notifications) goes back to the forwarding replica, which says it on the host's request; the
 *   host's answer comes back the same way.
 * - `tasks/result` may wait long: bus-rpc's keep-alive lets it, and notices a holder killed meanwhile.
 * - A holder that is gone: the task was lost with it, said plainly.
 * - `tasks/list`: the caller's records say which other replicas hold tasks of theirs; each lists
 *   its own, as for a local request.
 */

import { randomUUID } from 'node:crypto';

import {
  ProtocolError,
  ProtocolErrorCode,
  type Server,
  type ServerContext,
} from '@modelcontextprotocol/server';

import type { AuditCaller } from '../policy/audit.js';
import { BusRpc } from '../state/bus-rpc.js';
import type { RecordStore, StateStore } from '../state/store.js';
import { CALLER_KEY } from './caller.js';
import {
  FORWARD_SILENCE_MS,
  lostOnReplica,
  receivedError,
  sentError,
  type RoundReply,
} from './forwarded-rounds.js';
import type { QuestionMethod } from './input-relay.js';

/** The bus service of forwarded task requests. */
export const TASKS_SERVICE = 'tasks';
/** The store's namespace of task records. */
export const TASKS_NAMESPACE = 'tasks';

/** Who holds a task, in the store under the gateway's task id. */
export interface HeldTask {
  /** The bus name of the replica whose book holds the task. */
  replica: string;
  /** Whose task it is (tasks.ts `ownerOf`). */
  owner: string;
}

export type TaskMethod = 'tasks/get' | 'tasks/result' | 'tasks/cancel' | 'tasks/update';

/** What the holder needs of the host's request to serve it as its own. */
export interface ForwardedHost {
  /** The caller as the forwarding replica established it (callerOf). */
  caller: AuditCaller;
  /** A 2026-07-28 request's envelope (its era, client info and capabilities); none for a 2025-era one. */
  envelope?: Record<string, unknown>;
  /** The host's progress token and trace context. */
  meta: Record<string, unknown>;
  requestState?: string;
  inputResponses?: Record<string, unknown>;
}

/** A host's request about one task, to the replica that holds it. */
export interface ForwardedTask extends ForwardedHost {
  kind: 'task';
  method: TaskMethod;
  taskId: string;
  /** tasks/update's inputResponses. */
  responses?: unknown;
  /** The forwarding replica's name for the host's request: what the holder says to the host goes there. */
  host: string;
}

/** A 2025-era host's tasks/list: the tasks of theirs the replica asked holds. */
export interface ForwardedList extends ForwardedHost {
  kind: 'list';
  host: string;
}

/** The holder to the forwarding replica: put a question to the host, or tell it a notification. */
type ToHost =
  | { kind: 'ask'; host: string; method: QuestionMethod; params: unknown }
  | { kind: 'notify'; host: string; notification: unknown };

/** What the forwarding replica does with what the holder says to its host. */
interface HostEnd {
  ask(method: QuestionMethod, params: unknown): Promise<unknown>;
  notify(notification: unknown): Promise<void>;
}

export type HolderHandler = (request: ForwardedTask | ForwardedList, ctx: ServerContext) => Promise<unknown>;

/** The task records of one store and the bus service of forwarded task requests. */
export class SharedTasks {
  readonly records: RecordStore<HeldTask>;
  readonly rpc: BusRpc;
  /** The host requests this replica forwarded, by the name the holder knows them by. */
  private readonly hosts = new Map<string, HostEnd>();

  constructor(store: StateStore) {
    this.records = store.records<HeldTask>(TASKS_NAMESPACE);
    this.rpc = new BusRpc(store.bus, TASKS_SERVICE);
  }

  get replica(): string {
    return this.rpc.replica;
  }

  /** Serve forwarded requests with `handler` (and the holder's words for this replica's hosts). */
  serve(handler: HolderHandler): Promise<void> {
    return this.rpc.serve(async (message, { from, signal }) => {
      const body = message as ForwardedTask | ForwardedList | ToHost;
      if (body.kind === 'ask' || body.kind === 'notify') return this.toHost(body);
      try {
        return { ok: true, value: await handler(body, this.holderContext(body, from, signal)) } as RoundReply;
      } catch (error) {
        return { ok: false, error: sentError(error) } as RoundReply;
      }
    });
  }

  /** Record that this replica holds task `id` of `owner`, for `ttlMs`; heard before recorded. */
  async hold(id: string, owner: string, ttlMs: number): Promise<void> {
    await this.rpc.ready();
    await this.records.put(id, { replica: this.replica, owner }, { ttlMs: Math.max(1, ttlMs) });
  }

  /** The record of a task id; the store not answering is said as such. */
  async holder(id: string): Promise<HeldTask | undefined> {
    return this.records.get(id).catch(unrecorded);
  }

  /** The other replicas that hold tasks of `owner` (a scan of the records: tasks/list is rare). */
  async holdersOf(owner: string): Promise<string[]> {
    const entries = await this.records.entries();
    const replicas = new Set<string>();
    for (const [, held] of entries)
      if (held.owner === owner && held.replica !== this.replica) replicas.add(held.replica);
    return [...replicas];
  }

  /**
   * Send a host's request to the replica that holds its task, and wait for its answer; what the
   * holder says to the host meanwhile goes to `host`.
   */
  async forward(
    replica: string,
    request: Omit<ForwardedTask, 'host'> | Omit<ForwardedList, 'host'>,
    host: HostEnd,
    signal: AbortSignal,
  ): Promise<unknown> {
    const name = randomUUID();
    this.hosts.set(name, host);
    let reply: RoundReply;
    try {
      reply = (await this.rpc.ask(
        replica,
        { ...request, host: name },
        { timeoutMs: FORWARD_SILENCE_MS, signal },
      )) as RoundReply;
    } catch (error) {
      throw lostTask(error);
    } finally {
      this.hosts.delete(name);
    }
    if (!reply.ok) throw receivedError(reply.error);
    return reply.value;
  }

  close(): Promise<void> {
    return this.rpc.close();
  }

  /** The forwarding side: the holder's question or notification, to the host whose request it is. */
  private async toHost(message: ToHost): Promise<RoundReply> {
    const host = this.hosts.get(message.host);
    if (!host) return { ok: false, error: { kind: 'other', message: 'the host request has ended' } };
    try {
      const value =
        message.kind === 'ask'
          ? await host.ask(message.method, message.params)
          : await host.notify(message.notification);
      return { ok: true, value: value ?? null };
    } catch (error) {
      return { ok: false, error: sentError(error) };
    }
  }

  /**
   * The holder's side: the request context a forwarded request is served with (the fields the
   * task relay, the relay and a member's sign-in read of one). What it says to the host goes back
   * to the forwarding replica `from`.
   */
  private holderContext(request: ForwardedTask | ForwardedList, from: string, signal: AbortSignal) {
    const toHost = async (
      message:
        { kind: 'ask'; method: QuestionMethod; params: unknown } | { kind: 'notify'; notification: unknown },
    ) => {
      const reply = (await this.rpc.ask(
        from,
        { ...message, host: request.host },
        { timeoutMs: FORWARD_SILENCE_MS, signal },
      )) as RoundReply;
      if (!reply.ok) throw receivedError(reply.error);
      return reply.value;
    };
    const ask = (method: QuestionMethod) => (params: unknown) => toHost({ kind: 'ask', method, params });
    return {
      mcpReq: {
        id: `${from}/${request.host}`,
        method: request.kind === 'task' ? request.method : 'tasks/list',
        signal,
        _meta: request.meta,
        envelope: request.envelope,
        inputResponses: request.inputResponses,
        requestState: () => request.requestState,
        notify: async (notification: unknown) => void (await toHost({ kind: 'notify', notification })),
        elicitInput: ask('elicitation/create'),
        requestSampling: ask('sampling/createMessage'),
      },
      http: { authInfo: { extra: { [CALLER_KEY]: request.caller } } },
    } as unknown as ServerContext;
  }
}

/** What the holder needs of a host's request (ForwardedHost), from the forwarding replica's context. */
export function forwardedHost(ctx: ServerContext, caller: AuditCaller): ForwardedHost {
  const meta: Record<string, unknown> = {};
  const sent = ctx.mcpReq._meta as Record<string, unknown> | undefined;
  for (const key of ['progressToken', 'traceparent', 'tracestate'])
    if (sent?.[key] !== undefined) meta[key] = sent[key];
  // A trace context sent as headers (HTTP) is the host's trace too: the holder has no headers.
  const headers = ctx.http?.req?.headers;
  const traceparent = headers?.get('traceparent');
  if (traceparent) {
    meta.traceparent = traceparent;
    const tracestate = headers!.get('tracestate');
    if (tracestate) meta.tracestate = tracestate;
    else delete meta.tracestate;
  }
  const state = ctx.mcpReq.requestState();
  return {
    caller,
    ...(ctx.mcpReq.envelope !== undefined
      ? { envelope: ctx.mcpReq.envelope as Record<string, unknown> }
      : {}),
    meta,
    ...(typeof state === 'string' ? { requestState: state } : {}),
    ...(ctx.mcpReq.inputResponses !== undefined ? { inputResponses: ctx.mcpReq.inputResponses } : {}),
  };
}

/** The bus could not carry the request to the holder, or no answer came: what it means for the host. */
export function lostTask(error: unknown): Error {
  return lostOnReplica(error, {
    gone: 'The task was lost with the patchbay replica that held it (that replica is gone, and the upstream session the task ran on with it); call the tool again to start a new task.',
    timeout: (why) =>
      `The patchbay replica that holds the task stopped answering (${why}); the task may be lost with it: ask again, or call the tool again to start a new task.`,
    failed: (why) =>
      `patchbay could not pass the request to the replica that holds the task (${why}); ask again.`,
  });
}

/** The store did not answer (Redis away): the task's holder cannot be looked up, and the host is told why. */
function unrecorded(error: unknown): never {
  throw new ProtocolError(
    ProtocolErrorCode.InternalError,
    `patchbay could not reach the shared state that says which replica holds the task (${error instanceof Error ? error.message : String(error)}); ask again once it answers (GET /readyz says).`,
  );
}

/**
 * The server a 2026-07-28 request is served with on the holder: such a request reads nothing of
 * its server (its envelope says who the host is and what it can do).
 */
export const NO_SERVER = {
  getClientCapabilities: () => undefined,
  getClientVersion: () => undefined,
} as unknown as Server;
