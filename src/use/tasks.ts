/**
 * Tasks, as a client uses them: the one job `patchbay call`, `patchbay tasks`, `patchbay task`,
 * the console and the shell share.
 *
 * Protocol revision 2025-11-25 makes tasks part of the core (SEP-1686): a `tools/call` carrying
 * `params.task` is answered at once with a CreateTaskResult `{ task }`; the task is then read with
 * `tasks/get`, its result waited for with `tasks/result` (which blocks until the task ends, and on
 * whose answer the server delivers the task's own requests, such as an elicitation carrying the
 * related-task `_meta`), listed with `tasks/list` and stopped with `tasks/cancel`. The server says
 * what moved with `notifications/tasks/status`; a tool says whether it may or must run as a task
 * in `execution.taskSupport`.
 *
 * The SDK client (2.4) has the wire types of these methods but no runtime for them, so they are
 * sent here through its generic `request(request, resultSchema)`, each answer checked by a schema
 * of this file before use. That keeps everything else of the session as it is: the server's
 * requests are answered by the handlers the front end registered on the client (a terminal asks,
 * the console declines), exactly as for a normal call, and a 2025-era HTTP session that expired is
 * renewed by `session.request`.
 *
 * The 2026-07-28 revision moves tasks into the extension `io.modelcontextprotocol/tasks`
 * (`resultType: "task"`, `tasks/update`, no `tasks/list` nor `tasks/result`). The SDK refuses a
 * `resultType` it does not know, and no server on hand speaks the extension yet, so a session of
 * that era is refused here with a clear error rather than half supported.
 */

import type { Client } from '@modelcontextprotocol/client';

import type { Session } from '../connect/session.js';
import { PatchbayError } from '../errors.js';
import type { CallResult } from './guarded-call.js';

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

/** A task as the server describes it (2025-11-25 `Task`). */
export interface TaskInfo {
  taskId: string;
  status: TaskStatus | (string & {});
  statusMessage?: string;
  createdAt?: string;
  lastUpdatedAt?: string;
  /** How long the server keeps the task after it was created (ms); null: without limit. */
  ttl?: number | null;
  /** How often the server suggests asking for its status (ms). */
  pollInterval?: number;
}

/** What a tool declares of tasks; a tool that says nothing runs only without one. */
export type TaskSupport = 'required' | 'optional' | 'forbidden';

export interface ProgressReport {
  progress: number;
  total?: number;
  message?: string;
}

/** What a front end watches while a task runs. */
export interface TaskWatch {
  /** The task as it moves: its first state, then each new status or status message. */
  onStatus?: (task: TaskInfo) => void;
  /** Progress notifications the server sends while the task is created. */
  onProgress?: (progress: ProgressReport) => void;
  /**
   * Stops waiting (never the task itself): the wait rejects with TaskWaitAborted, which carries
   * the task, so the front end decides whether to cancel it or leave it running.
   */
  signal?: AbortSignal;
}

/** The statuses after which a task never changes again. */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

export function isTerminal(task: Pick<TaskInfo, 'status'>): boolean {
  return TERMINAL_STATUSES.has(task.status);
}

/** The waiting for a task stopped because the caller's signal was aborted; the task runs on. */
export class TaskWaitAborted extends Error {
  constructor(readonly task: TaskInfo) {
    super(`Stopped waiting for task ${task.taskId}`);
    this.name = 'TaskWaitAborted';
  }
}

/** `execution.taskSupport` of a listed tool ('forbidden' when absent, as the spec says). */
export function taskSupportOf(tool: { execution?: { taskSupport?: unknown } } | undefined): TaskSupport {
  const support = tool?.execution?.taskSupport;
  return support === 'required' || support === 'optional' ? support : 'forbidden';
}

/** What the server said it does with tasks (2025-11-25 `capabilities.tasks`). */
export interface ServerTasks {
  /** It runs tools/call as tasks. */
  toolCalls: boolean;
  /** It answers tasks/list. */
  list: boolean;
  /** It answers tasks/cancel. */
  cancel: boolean;
}

export function serverTasks(session: Session): ServerTasks {
  const tasks = (session.client.getServerCapabilities() as { tasks?: Record<string, unknown> } | undefined)
    ?.tasks;
  const requests = tasks?.requests as { tools?: { call?: unknown } } | undefined;
  return {
    toolCalls: session.era === 'legacy' && requests?.tools?.call !== undefined,
    list: session.era === 'legacy' && tasks?.list !== undefined,
    cancel: session.era === 'legacy' && tasks?.cancel !== undefined,
  };
}

export interface ToolTaskCall {
  name: string;
  arguments: Record<string, unknown>;
  /** How long the server should keep the task and its result (ms); the server may choose otherwise. */
  ttlMs?: number;
}

/** Start a tool as a task: `tools/call` with `params.task`; the task as created. */
export async function startToolTask(
  session: Session,
  call: ToolTaskCall,
  watch: Pick<TaskWatch, 'onProgress' | 'signal'> = {},
): Promise<TaskInfo> {
  refuseModern(session, 'run a tool as a task');
  const params: Record<string, unknown> = {
    name: call.name,
    arguments: call.arguments,
    task: call.ttlMs === undefined ? {} : { ttl: call.ttlMs },
  };
  const created = await session.request((client) =>
    client.request({ method: 'tools/call', params }, CREATE_TASK_RESULT, {
      ...session.requestOptions(),
      ...(watch.signal ? { signal: watch.signal } : {}),
      ...(watch.onProgress ? { onprogress: watch.onProgress, resetTimeoutOnProgress: true } : {}),
    }),
  );
  return created.task;
}

/**
 * Run a tool as a task from start to result: create it, report it, wait for its result. Aborting
 * `watch.signal` after the task was created rejects with TaskWaitAborted (the task runs on).
 */
export async function runToolTask(
  session: Session,
  call: ToolTaskCall,
  watch: TaskWatch & { onCreated?: (task: TaskInfo) => void } = {},
): Promise<CallResult> {
  const task = await startToolTask(session, call, watch);
  watch.onCreated?.(task);
  return waitForTaskResult(session, task, watch);
}

/**
 * The task's result, once it ended: `tasks/result` (which the server holds until then, and on
 * which it asks its questions), while the task's status is followed from its notifications and,
 * for servers that send none, from `tasks/get` at the interval the server suggests.
 */
export async function waitForTaskResult(
  session: Session,
  taskOrId: TaskInfo | string,
  watch: TaskWatch = {},
): Promise<CallResult> {
  refuseModern(session, 'wait for a task');
  let latest: TaskInfo = typeof taskOrId === 'string' ? { taskId: taskOrId, status: 'working' } : taskOrId;
  const taskId = latest.taskId;
  if (watch.signal?.aborted) throw new TaskWaitAborted(latest);
  let lastSeen = '';
  const seen = (task: TaskInfo) => {
    if (task.taskId !== taskId) return;
    latest = task;
    const key = `${task.status}\u0000${task.statusMessage ?? ''}`;
    if (key === lastSeen) return;
    lastSeen = key;
    watch.onStatus?.(task);
  };
  if (typeof taskOrId !== 'string') seen(taskOrId);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  watch.signal?.addEventListener('abort', onAbort, { once: true });
  const unsubscribe = onTaskStatus(session.client, seen);
  const polling = pollStatus(session, taskId, () => latest.pollInterval, seen, stop.signal);
  try {
    const result = await session.request((client) =>
      client.request({ method: 'tasks/result', params: { taskId } }, CALL_TOOL_RESULT, {
        // The server holds the answer until the task ends: bounded by the task's lifetime, not by
        // the per-request timeout (a research task may take longer than any request should).
        timeout: waitBound(latest, session.requestOptions().timeout),
        signal: stop.signal,
      }),
    );
    return stripRelatedTask(result);
  } catch (error) {
    if (watch.signal?.aborted) throw new TaskWaitAborted(latest);
    throw (await endedWithoutResult(session, taskId, error)) ?? error;
  } finally {
    stop.abort();
    watch.signal?.removeEventListener('abort', onAbort);
    unsubscribe();
    await polling;
  }
}

/**
 * A task that failed or was cancelled has no result, and servers say so each their own way (an
 * internal error, "no result stored"): the task's own status says it plainly.
 */
async function endedWithoutResult(
  session: Session,
  taskId: string,
  error: unknown,
): Promise<PatchbayError | undefined> {
  if (error instanceof PatchbayError || session.lost.aborted) return undefined;
  const task = await session
    .request((client) =>
      client.request({ method: 'tasks/get', params: { taskId } }, TASK, session.requestOptions()),
    )
    .catch(() => undefined);
  if (!task || (task.status !== 'failed' && task.status !== 'cancelled')) return undefined;
  const why = task.statusMessage ? `: ${task.statusMessage}` : '';
  return new PatchbayError(
    'task-failed',
    `Task ${taskId} ${task.status === 'failed' ? 'failed' : 'was cancelled'}${why}`,
    {
      cause: error,
    },
  );
}

/** Every task the server lists (`tasks/list`, all pages, bounded). */
export async function listTasks(session: Session, signal?: AbortSignal): Promise<TaskInfo[]> {
  refuseModern(session, 'list tasks');
  if (!serverTasks(session).list)
    throw new PatchbayError('unsupported', 'The server does not list its tasks (no tasks.list capability).', {
      hint: 'Ask for one task by its id: patchbay task <name> <id>',
    });
  const tasks: TaskInfo[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const listed = await session.request((client) =>
      client.request(
        { method: 'tasks/list', params: cursor === undefined ? {} : { cursor } },
        LIST_TASKS_RESULT,
        { ...session.requestOptions(), ...(signal ? { signal } : {}) },
      ),
    );
    tasks.push(...listed.tasks);
    cursor = listed.nextCursor;
    if (cursor === undefined) break;
  }
  return tasks;
}

/** One task as it is now (`tasks/get`). An id the server does not know is not-found. */
export async function getTask(session: Session, taskId: string, signal?: AbortSignal): Promise<TaskInfo> {
  refuseModern(session, 'read a task');
  return unknownTaskAsNotFound(taskId, () =>
    session.request((client) =>
      client.request({ method: 'tasks/get', params: { taskId } }, TASK, {
        ...session.requestOptions(),
        ...(signal ? { signal } : {}),
      }),
    ),
  );
}

/** Stop a task (`tasks/cancel`); the task as the server left it. */
export async function cancelTask(session: Session, taskId: string): Promise<TaskInfo> {
  refuseModern(session, 'cancel a task');
  if (!serverTasks(session).cancel)
    throw new PatchbayError(
      'unsupported',
      'The server does not let clients cancel its tasks (no tasks.cancel capability).',
    );
  try {
    return await session.request((client) =>
      // Not the caller's signal: a cancel is what Ctrl-C asked for, it must not be cut short by it.
      client.request({ method: 'tasks/cancel', params: { taskId } }, TASK, {
        timeout: session.requestOptions().timeout,
      }),
    );
  } catch (error) {
    if ((error as { code?: unknown }).code !== INVALID_PARAMS) throw error;
    // -32602 is the answer both to an unknown task and to one that already ended: asked which.
    const task = await getTask(session, taskId);
    if (!isTerminal(task)) throw error;
    throw new PatchbayError(
      'conflict',
      `Task ${taskId} already ended (${task.status}); there is nothing to cancel.`,
      {
        cause: error,
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------

const MAX_LIST_PAGES = 100;
const DEFAULT_POLL_MS = 1_000;
/** Asking more often than this gains nothing and loads the server. */
const MIN_POLL_MS = 250;
/** A task that names no lifetime is waited for at most this long. */
const UNBOUNDED_WAIT_MS = 24 * 60 * 60_000;

function waitBound(task: TaskInfo, requestTimeoutMs: number): number {
  const ttl = typeof task.ttl === 'number' && task.ttl > 0 ? task.ttl : UNBOUNDED_WAIT_MS;
  return Math.max(requestTimeoutMs, Math.min(ttl, UNBOUNDED_WAIT_MS));
}

function refuseModern(session: Session, what: string): void {
  if (session.era !== 'modern') return;
  throw new PatchbayError(
    'unsupported',
    `patchbay cannot ${what} on this server yet: it speaks protocol ${session.protocolVersion ?? '2026-07-28'}, where tasks are the io.modelcontextprotocol/tasks extension, which patchbay does not run.`,
  );
}

async function pollStatus(
  session: Session,
  taskId: string,
  interval: () => number | undefined,
  seen: (task: TaskInfo) => void,
  stop: AbortSignal,
): Promise<void> {
  while (!stop.aborted) {
    const ms = Math.max(MIN_POLL_MS, interval() ?? DEFAULT_POLL_MS);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        stop.removeEventListener('abort', done);
        resolve();
      }
      stop.addEventListener('abort', done, { once: true });
    });
    if (stop.aborted) return;
    try {
      seen(
        await session.request((client) =>
          client.request({ method: 'tasks/get', params: { taskId } }, TASK, {
            ...session.requestOptions(),
            signal: stop,
          }),
        ),
      );
    } catch {
      // A status is a nicety: tasks/result, still waiting, says how the task really ended.
      if (stop.aborted) return;
    }
  }
}

type StatusListener = (task: TaskInfo) => void;
const STATUS_LISTENERS = new WeakMap<Client, Set<StatusListener>>();

/**
 * Follow `notifications/tasks/status` on a client (one handler per client, many listeners). A
 * front end that shows these notifications listens here rather than setting its own handler for
 * the method, which the first wait for a result would replace.
 */
export function onTaskStatus(client: Client, listener: StatusListener): () => void {
  let listeners = STATUS_LISTENERS.get(client);
  if (!listeners) {
    const created = new Set<StatusListener>();
    listeners = created;
    STATUS_LISTENERS.set(client, created);
    (
      client as unknown as {
        setNotificationHandler(method: string, handler: (notification: { params?: unknown }) => void): void;
      }
    ).setNotificationHandler('notifications/tasks/status', (notification) => {
      const task = checkTask(notification.params);
      if (task) for (const each of created) each(task);
    });
  }
  listeners.add(listener);
  const own = listeners;
  return () => own.delete(listener);
}

/** JSON-RPC -32602: the server does not know the task (the spec's answer to an unknown id). */
const INVALID_PARAMS = -32602;

async function unknownTaskAsNotFound<T>(taskId: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if ((error as { code?: unknown }).code !== INVALID_PARAMS) throw error;
    throw new PatchbayError('not-found', `The server knows no task ${JSON.stringify(taskId)}.`, {
      hint: 'patchbay tasks <name> lists the tasks it keeps (a server may keep tasks only as long as the session that made them).',
      cause: error,
    });
  }
}

function stripRelatedTask(result: CallResult): CallResult {
  const meta = result._meta as Record<string, unknown> | undefined;
  if (!meta || !('io.modelcontextprotocol/related-task' in meta)) return result;
  const { 'io.modelcontextprotocol/related-task': _related, ...rest } = meta;
  const stripped: CallResult = { ...result };
  if (Object.keys(rest).length > 0) stripped._meta = rest;
  else delete stripped._meta;
  return stripped;
}

// ---------------------------------------------------------------------------------------------
// The answers, checked before use (Standard Schema objects, for the SDK's generic request).

interface Checker<T> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => { value: T } | { issues: ReadonlyArray<{ message: string }> };
    /** For the SDK's type inference of the request's result (never read at run time). */
    readonly types?: { readonly input: unknown; readonly output: T };
  };
}

function checker<T>(what: string, check: (value: unknown) => T | undefined): Checker<T> {
  return {
    '~standard': {
      version: 1,
      vendor: 'patchbay',
      validate: (value) => {
        const checked = check(value);
        return checked === undefined ? { issues: [{ message: `not a valid ${what}` }] } : { value: checked };
      },
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkTask(value: unknown): TaskInfo | undefined {
  if (!isObject(value) || typeof value.taskId !== 'string' || typeof value.status !== 'string')
    return undefined;
  const task: TaskInfo = { taskId: value.taskId, status: value.status };
  if (typeof value.statusMessage === 'string') task.statusMessage = value.statusMessage;
  if (typeof value.createdAt === 'string') task.createdAt = value.createdAt;
  if (typeof value.lastUpdatedAt === 'string') task.lastUpdatedAt = value.lastUpdatedAt;
  if (typeof value.ttl === 'number' || value.ttl === null) task.ttl = value.ttl;
  if (typeof value.pollInterval === 'number') task.pollInterval = value.pollInterval;
  return task;
}

const TASK = checker('task', checkTask);

const CREATE_TASK_RESULT = checker('CreateTaskResult', (value) => {
  if (!isObject(value)) return undefined;
  const task = checkTask(value.task);
  return task ? { task } : undefined;
});

const LIST_TASKS_RESULT = checker('ListTasksResult', (value) => {
  if (!isObject(value) || !Array.isArray(value.tasks)) return undefined;
  const tasks = value.tasks.map(checkTask);
  if (tasks.some((task) => task === undefined)) return undefined;
  const listed: { tasks: TaskInfo[]; nextCursor?: string } = { tasks: tasks as TaskInfo[] };
  if (typeof value.nextCursor === 'string') listed.nextCursor = value.nextCursor;
  return listed;
});

const CALL_TOOL_RESULT = checker('CallToolResult', (value) => {
  if (!isObject(value)) return undefined;
  if (value.content !== undefined && !Array.isArray(value.content)) return undefined;
  return value as CallResult;
});
