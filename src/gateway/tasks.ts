/**
 * Tasks through the gateway: the book of tasks hosts created through it, and the wire shapes of
 * both host eras.
 *
 * - Every upstream speaks 2025-11-25 tasks (SEP-1686: `tools/call` with `task`, `tasks/get`,
 *   `tasks/result`, `tasks/list`, `tasks/cancel`, `notifications/tasks/status`). A 2025-era host
 *   speaks the same; a 2026-07-28 host speaks the `io.modelcontextprotocol/tasks` extension
 *   (SEP-2663: a flat task handle with `resultType: "task"`, `tasks/get` inlining the result or the
 *   pending input requests, `tasks/update` answering them, `tasks/cancel`; no list, no result).
 * - A host never sees an upstream's task id: the gateway hands out an opaque id of its own (random,
 *   so it cannot be guessed or made up), and the book maps it to the upstream and its task id.
 *   The book lives in this process, beside the upstream session the task runs on; with replicas,
 *   the state store says which replica's book holds an id, and a request about it that lands on
 *   another replica is passed there (forwarded-tasks.ts).
 * - A task belongs to whoever created it: the member (the credential's subject and client) and,
 *   for a 2025-era HTTP host, its session. Anyone else asking for it hears that no such task
 *   exists, which is also all a guesser learns.
 * - A 2026-07-28 host cannot be asked anything while its task runs (it only polls), so the gateway
 *   drives the task itself: it waits on the upstream's `tasks/result`, where the upstream's input
 *   requests arrive, parks each as an input request the host's `tasks/get` shows, and answers it
 *   with what the host's `tasks/update` brings.
 */

import { randomBytes } from 'node:crypto';

import type { Server, ServerContext } from '@modelcontextprotocol/server';

import type { AuditCaller } from '../policy/audit.js';
import type { CallScope } from './caller.js';
import type { QuestionMethod } from './input-relay.js';
import type { Upstream } from './upstream.js';

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
export const RELATED_TASK = 'io.modelcontextprotocol/related-task';

/** The 2025-11-25 capability the gateway offers its 2025-era hosts (what it relays). */
export const LEGACY_TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

/** The book forgets a task this long after its TTL ran out (or after creation, without a TTL). */
const KEEP_AFTER_TTL_MS = 60_000;
const KEEP_WITHOUT_TTL_MS = 24 * 60 * 60_000;
/** At most this many tasks are remembered; the oldest go first. */
const MAX_TASKS = 10_000;

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';
export const TERMINAL: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

/** A 2025-11-25 task as an upstream sends it. */
export interface UpstreamTask {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt?: string;
  lastUpdatedAt?: string;
  ttl?: number | null;
  pollInterval?: number;
  [key: string]: unknown;
}

/** A question of an upstream's, waiting for a 2026-07-28 host's `tasks/update`. */
interface Parked {
  method: QuestionMethod;
  params: Record<string, unknown>;
  answer: (value: unknown) => void;
  fail: (error: Error) => void;
}

export interface TaskRecord {
  /** The id the host knows. */
  readonly id: string;
  readonly upstream: Upstream;
  readonly upstreamId: string;
  readonly owner: string;
  /** The tool (gateway name) that created it, for messages. */
  readonly tool: string;
  /** A 2025-era host's server, to send it the task's status notifications. */
  readonly server: Server | undefined;
  /** Created by a 2026-07-28 host: the gateway drives it (see the top of this file). */
  readonly modern: boolean;
  forgetAt: number;
  /** A 2025-era host's `tasks/result` waiting now: the task's questions go to that host. */
  waiting: CallScope | undefined;
  /** Modern: the questions the host has yet to answer, by key. */
  readonly parked: Map<string, Parked>;
  asked: number;
  /** Modern: how the upstream's `tasks/result` ended, once it did. */
  outcome:
    | { result: Record<string, unknown> }
    | { error: { code: number; message: string; data?: unknown } }
    | undefined;
  /** Modern: resolves when `outcome` is set. */
  readonly settled: Promise<void>;
  settle: () => void;
}

/** Whose a task is: the caller's member and client, and its 2025-era session (none for a 2026 host). */
export function ownerOf(caller: AuditCaller): string {
  return JSON.stringify([
    caller.transport,
    caller.auth,
    caller.subject,
    caller.client ?? null,
    caller.session ?? null,
  ]);
}

export class TaskBook {
  private readonly byId = new Map<string, TaskRecord>();
  private readonly byUpstream = new Map<string, TaskRecord>();

  add(init: {
    upstream: Upstream;
    task: UpstreamTask;
    owner: string;
    tool: string;
    server: Server | undefined;
    modern: boolean;
  }): TaskRecord {
    this.sweep();
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const ttl = typeof init.task.ttl === 'number' ? init.task.ttl : undefined;
    const record: TaskRecord = {
      id: `pbt_${randomBytes(18).toString('base64url')}`,
      upstream: init.upstream,
      upstreamId: init.task.taskId,
      owner: init.owner,
      tool: init.tool,
      server: init.server,
      modern: init.modern,
      forgetAt: Date.now() + (ttl !== undefined ? ttl + KEEP_AFTER_TTL_MS : KEEP_WITHOUT_TTL_MS),
      waiting: undefined,
      parked: new Map(),
      asked: 0,
      outcome: undefined,
      settled,
      settle,
    };
    this.byId.set(record.id, record);
    this.byUpstream.set(upstreamKey(init.upstream.name, record.upstreamId), record);
    return record;
  }

  /** The caller's task of that id; someone else's is as unknown as one that never was. */
  find(id: unknown, owner: string): TaskRecord | undefined {
    if (typeof id !== 'string') return undefined;
    const record = this.byId.get(id);
    if (!record || record.owner !== owner) return undefined;
    if (record.forgetAt < Date.now()) {
      this.forget(record);
      return undefined;
    }
    return record;
  }

  /** The task an upstream's message names (a status notification, a question of a task). */
  ofUpstream(server: string, upstreamId: unknown): TaskRecord | undefined {
    return typeof upstreamId === 'string' ? this.byUpstream.get(upstreamKey(server, upstreamId)) : undefined;
  }

  /** The caller's tasks, newest last. */
  owned(owner: string): TaskRecord[] {
    return [...this.byId.values()].filter(
      (record) => record.owner === owner && record.forgetAt >= Date.now(),
    );
  }

  /** A question of a modern task's, kept for the host's next `tasks/get`. */
  park(record: TaskRecord, method: QuestionMethod, params: Record<string, unknown>): Promise<unknown> {
    return new Promise((answer, fail) => {
      record.parked.set(`input-${++record.asked}`, { method, params, answer, fail });
    });
  }

  /** The host's answers (`tasks/update`): each goes to the question it names; unknown keys are ignored. */
  answer(record: TaskRecord, responses: Record<string, unknown>): void {
    for (const [key, response] of Object.entries(responses)) {
      const parked = record.parked.get(key);
      if (!parked) continue;
      record.parked.delete(key);
      parked.answer(response);
    }
  }

  /** The task ended or was cancelled: questions still open fail. */
  drop(record: TaskRecord, reason: string): void {
    for (const parked of record.parked.values()) parked.fail(new Error(reason));
    record.parked.clear();
  }

  private forget(record: TaskRecord): void {
    this.drop(record, 'the task is no longer known to the gateway');
    this.byId.delete(record.id);
    this.byUpstream.delete(upstreamKey(record.upstream.name, record.upstreamId));
  }

  private sweep(): void {
    const now = Date.now();
    for (const record of this.byId.values()) if (record.forgetAt < now) this.forget(record);
    // Map order is insertion order: the oldest first.
    for (const record of this.byId.values()) {
      if (this.byId.size < MAX_TASKS) break;
      this.forget(record);
    }
  }
}

function upstreamKey(server: string, upstreamId: string): string {
  return `${server}\u0000${upstreamId}`;
}

/** Whether a 2026-07-28 host's request declares the tasks extension (its `_meta` client capabilities). */
export function declaresTasks(capabilities: { extensions?: Record<string, unknown> } | undefined): boolean {
  return capabilities?.extensions?.[TASKS_EXTENSION] !== undefined;
}

/** Whether an upstream's listed tool runs only as a task (`execution.taskSupport: "required"`). */
export function requiresTask(tool: unknown): boolean {
  return (
    (tool as { execution?: { taskSupport?: unknown } } | undefined)?.execution?.taskSupport === 'required'
  );
}

/**
 * A 2026-07-28 host that did not declare the tasks extension calls a tool that runs only as a
 * task: SEP-2663 (and SEP-2575's missing required capabilities) say -32021, naming the extension.
 */
export const MISSING_TASKS = {
  code: -32021,
  message: (tool: string) =>
    `${tool} runs only as a task: declare the ${TASKS_EXTENSION} extension to call it`,
  data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } },
};

/** The task as a 2025-era host reads it: the upstream's, under the gateway's id. */
export function legacyTask(task: UpstreamTask, record: TaskRecord): UpstreamTask {
  return { ...task, taskId: record.id };
}

/** A result's `_meta` with the related-task id the host knows (or without it, for a 2026-07-28 host). */
export function relatedTaskMeta<T extends Record<string, unknown>>(value: T, id: string | undefined): T {
  const meta = value._meta as Record<string, unknown> | undefined;
  if (!meta || !(RELATED_TASK in meta)) return value;
  const { [RELATED_TASK]: _related, ...rest } = meta;
  const next = id === undefined ? rest : { ...rest, [RELATED_TASK]: { taskId: id } };
  if (Object.keys(next).length === 0) {
    const { _meta: _dropped, ...bare } = value;
    return bare as T;
  }
  return { ...value, _meta: next };
}

/**
 * The SEP-2663 task fields of an upstream's task: flat, `ttlMs` and `pollIntervalMs` in integer
 * milliseconds (no `ttl`/`pollInterval`), the gateway's id.
 */
export function modernTask(task: UpstreamTask, record: TaskRecord): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    taskId: record.id,
    status: task.status,
    ...(task.statusMessage !== undefined ? { statusMessage: task.statusMessage } : {}),
    createdAt: task.createdAt ?? now,
    lastUpdatedAt: task.lastUpdatedAt ?? task.createdAt ?? now,
    ttlMs: typeof task.ttl === 'number' ? Math.max(1, Math.round(task.ttl)) : null,
    ...(typeof task.pollInterval === 'number'
      ? { pollIntervalMs: Math.max(1, Math.round(task.pollInterval)) }
      : {}),
  };
}

/**
 * A 2026-07-28 host's `tasks/get` answer (DetailedTask): the upstream's status, overlaid with what
 * the gateway's driver knows — questions waiting for the host (`input_required` with
 * `inputRequests`), the result or error once the task ended.
 */
export function detailedTask(task: UpstreamTask, record: TaskRecord): Record<string, unknown> {
  const base = modernTask(task, record);
  if (record.parked.size > 0 && !TERMINAL.has(task.status)) {
    const inputRequests: Record<string, unknown> = {};
    for (const [key, parked] of record.parked)
      inputRequests[key] = { method: parked.method, params: relatedTaskMeta(parked.params, undefined) };
    return { ...base, status: 'input_required', inputRequests };
  }
  const { outcome } = record;
  if (task.status === 'completed' && outcome && 'result' in outcome)
    return { ...base, result: relatedTaskMeta(outcome.result, undefined) };
  if (task.status === 'completed' && outcome && 'error' in outcome)
    return { ...base, status: 'failed', error: outcome.error };
  if (task.status === 'failed')
    return {
      ...base,
      error:
        outcome && 'error' in outcome
          ? outcome.error
          : { code: -32603, message: task.statusMessage ?? `the task of ${record.tool} failed` },
    };
  // `input_required` upstream with nothing parked yet: the question is on its way to the gateway.
  if (task.status === 'input_required') return { ...base, status: 'working' };
  return base;
}

/** Whether a host's context is the 2025-era `tasks/result` scope a question of the task belongs to. */
export function hostOfQuestion(record: TaskRecord | undefined): CallScope | undefined {
  return record && !record.modern ? record.waiting : undefined;
}

export type { ServerContext };
