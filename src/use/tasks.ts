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
 * (SEP-2663). A request declares it in its own client capabilities (tasksExtensionMeta: only the
 * requests of a call run as a task, and the tasks/* requests after it, so that no plain call
 * turns into a task); the server then decides whether the call runs as a task and, if so, answers
 * with a flat handle (`resultType: "task"`, `taskId`, `status`, `ttlMs`, `pollIntervalMs`), which
 * reaches this file as the error connect/result-type.ts makes of it (the SDK refuses that result
 * type). The task is then polled with `tasks/get`, whose answer (a DetailedTask) inlines the
 * result or the error once it ended, and, while it is `input_required`, the server's questions
 * (`inputRequests`, keyed), which are answered by the same handlers as a normal call's and sent
 * back with `tasks/update`; `tasks/cancel` is acknowledged empty. There is no `tasks/list`, no
 * `tasks/result` and no status notification in that era.
 */

import type { Client } from '@modelcontextprotocol/client';

import { TASKS_EXTENSION, tasksExtensionMeta } from '../connect/client-capabilities.js';
import { TASK_HANDLE_KEY } from '../connect/result-type.js';
import type { Session } from '../connect/session.js';
import { PatchbayError } from '../errors.js';
import type { CallResult } from './guarded-call.js';
import { checkedSchema, isJsonObject } from '../core/checked-schema.js';

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

/** What the server said it does with tasks (2025-11-25 `capabilities.tasks`; 2026-07-28 the extension). */
export interface ServerTasks {
  /** It runs tools/call as tasks. */
  toolCalls: boolean;
  /** It answers tasks/list. */
  list: boolean;
  /** It answers tasks/cancel. */
  cancel: boolean;
}

export function serverTasks(session: Session): ServerTasks {
  const capabilities = session.client.getServerCapabilities() as
    { tasks?: Record<string, unknown>; extensions?: Record<string, unknown> } | undefined;
  if (session.era === 'modern') {
    // The extension has tasks/get, tasks/update and tasks/cancel, and no tasks/list.
    const offered = capabilities?.extensions?.[TASKS_EXTENSION] !== undefined;
    return { toolCalls: offered, list: false, cancel: offered };
  }
  const tasks = capabilities?.tasks;
  const requests = tasks?.requests as { tools?: { call?: unknown } } | undefined;
  return {
    toolCalls: session.era === 'legacy' && requests?.tools?.call !== undefined,
    list: session.era === 'legacy' && tasks?.list !== undefined,
    cancel: session.era === 'legacy' && tasks?.cancel !== undefined,
  };
}

/**
 * Whether the server decides which calls run as tasks, so that every call should go the task way
 * (startToolTask takes a result as well as a task): on 2026-07-28 a tool's listing no longer says
 * whether it supports tasks (`execution` is gone from the Tool), and a server that offers the
 * extension runs a call as a task when the tool needs or allows it, if the call declares the
 * extension. On 2025-11-25 the client decides, from the tool's `execution.taskSupport`.
 */
export function serverDecidesTasks(session: Session): boolean {
  return session.era === 'modern' && serverTasks(session).toolCalls;
}

export interface ToolTaskCall {
  name: string;
  arguments: Record<string, unknown>;
  /**
   * How long the server should keep the task and its result (ms); the server may choose otherwise.
   * 2025-11-25 only: a 2026-07-28 client asks nothing of the task (the server decides).
   */
  ttlMs?: number;
}

/**
 * What `tools/call` gave: the task it created, or — a 2026-07-28 server decides whether a call
 * runs as a task — the result of a call it ran at once.
 */
export type Started = { task: TaskInfo } | { result: CallResult };

/**
 * Start a tool as a task: `tools/call` with `params.task` (2025-11-25), or declaring the tasks
 * extension (2026-07-28); the task as created, or the result if the server ran the call at once.
 */
export async function startToolTask(
  session: Session,
  call: ToolTaskCall,
  watch: Pick<TaskWatch, 'onProgress' | 'signal'> = {},
): Promise<Started> {
  const options = {
    ...session.requestOptions(),
    ...(watch.signal ? { signal: watch.signal } : {}),
    ...(watch.onProgress ? { onprogress: watch.onProgress, resetTimeoutOnProgress: true } : {}),
  };
  if (session.era === 'modern') {
    try {
      // callTool, as a plain call: a call the server runs at once is read exactly as one.
      const result = await session.request((client) =>
        client.callTool(
          { name: call.name, arguments: call.arguments, _meta: tasksExtensionMeta(client) },
          options,
        ),
      );
      return { result: result as CallResult };
    } catch (error) {
      const task = taskHandleOf(error);
      if (!task) throw error;
      return { task };
    }
  }
  const params: Record<string, unknown> = {
    name: call.name,
    arguments: call.arguments,
    task: call.ttlMs === undefined ? {} : { ttl: call.ttlMs },
  };
  const created = await session.request((client) =>
    client.request({ method: 'tools/call', params }, CREATE_TASK_RESULT, options),
  );
  return { task: created.task };
}

/** The task handle a 2026-07-28 `tools/call` answered with (connect/result-type.ts carries it). */
function taskHandleOf(error: unknown): TaskInfo | undefined {
  const data = (error as { data?: unknown } | null)?.data;
  return isJsonObject(data) ? checkTask(data[TASK_HANDLE_KEY]) : undefined;
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
  const started = await startToolTask(session, call, watch);
  if ('result' in started) return started.result;
  watch.onCreated?.(started.task);
  return waitForTaskResult(session, started.task, watch);
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
  if (session.era === 'modern') return pollForTaskResult(session, taskOrId, watch);
  const follow = new StatusFollower(taskOrId, watch);
  const taskId = follow.latest.taskId;
  if (watch.signal?.aborted) throw new TaskWaitAborted(follow.latest);
  // Status notifications of the session's other tasks come here too.
  const seen = (task: TaskInfo) => {
    if (task.taskId === taskId) follow.seen(task);
  };
  if (typeof taskOrId !== 'string') seen(taskOrId);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  watch.signal?.addEventListener('abort', onAbort, { once: true });
  const unsubscribe = onTaskStatus(session.client, seen);
  const polling = pollStatus(session, taskId, () => follow.latest.pollInterval, seen, stop.signal);
  try {
    const result = await session.request((client) =>
      client.request({ method: 'tasks/result', params: { taskId } }, CALL_TOOL_RESULT, {
        // The server holds the answer until the task ends: bounded by the task's lifetime, not by
        // the per-request timeout (a research task may take longer than any request should).
        timeout: waitBound(follow.latest, session.requestOptions().timeout),
        signal: stop.signal,
      }),
    );
    return stripRelatedTask(result);
  } catch (error) {
    if (watch.signal?.aborted) throw new TaskWaitAborted(follow.latest);
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
  if (session.era === 'modern')
    throw new PatchbayError(
      'unsupported',
      `The server speaks protocol ${session.protocolVersion ?? '2026-07-28'}, whose tasks extension (${TASKS_EXTENSION}) has no tasks/list: a server does not list its tasks, the client that started one keeps its id (patchbay call prints it).`,
      { hint: 'Ask for one task by its id: patchbay task <name> <id>' },
    );
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
  return (await getDetailedTask(session, taskId, signal)).task;
}

/** tasks/get, in either era; on 2026-07-28 with what the DetailedTask inlines. */
async function getDetailedTask(
  session: Session,
  taskId: string,
  signal?: AbortSignal,
): Promise<DetailedTask> {
  return unknownTaskAsNotFound(session, taskId, () =>
    session.request((client) =>
      client.request({ method: 'tasks/get', params: taskParams(session, client, taskId) }, DETAILED_TASK, {
        ...session.requestOptions(),
        ...(signal ? { signal } : {}),
      }),
    ),
  );
}

/** A tasks/* request's params: on 2026-07-28 they declare the extension (servers refuse them otherwise). */
function taskParams(
  session: Session,
  client: Client,
  taskId: string,
  more: Record<string, unknown> = {},
): Record<string, unknown> {
  return session.era === 'modern'
    ? { taskId, ...more, _meta: tasksExtensionMeta(client) }
    : { taskId, ...more };
}

/** Stop a task (`tasks/cancel`); the task as the server left it. */
export async function cancelTask(session: Session, taskId: string): Promise<TaskInfo> {
  if (!serverTasks(session).cancel)
    throw new PatchbayError(
      'unsupported',
      session.era === 'modern'
        ? `The server does not offer the tasks extension (${TASKS_EXTENSION}), so it has no task to cancel.`
        : 'The server does not let clients cancel its tasks (no tasks.cancel capability).',
    );
  if (session.era === 'modern') return cancelModernTask(session, taskId);
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

/**
 * 2026-07-28: wait for a task by polling `tasks/get` at the interval it suggests, answering its
 * questions on the way, until it ended; its result (or why it has none) is inlined there.
 */
async function pollForTaskResult(
  session: Session,
  taskOrId: TaskInfo | string,
  watch: TaskWatch,
): Promise<CallResult> {
  const follow = new StatusFollower(taskOrId, watch);
  const taskId = follow.latest.taskId;
  const seen = follow.seen;
  if (typeof taskOrId !== 'string') seen(taskOrId);
  const aborted = () => new TaskWaitAborted(follow.latest);
  const boundMs = waitBound(follow.latest, session.requestOptions().timeout);
  const until = Date.now() + boundMs;
  /** Questions answered already: a server may show one again until it has taken the answer. */
  const answered = new Set<string>();
  let now = typeof taskOrId === 'string';
  for (;;) {
    if (watch.signal?.aborted) throw aborted();
    if (
      !now &&
      !(await pause(Math.max(MIN_POLL_MS, follow.latest.pollInterval ?? DEFAULT_POLL_MS), watch.signal))
    )
      throw aborted();
    now = false;
    let detailed: DetailedTask;
    try {
      detailed = await getDetailedTask(session, taskId, watch.signal);
    } catch (error) {
      if (watch.signal?.aborted) throw aborted();
      throw error;
    }
    seen(detailed.task);
    const { status, statusMessage } = detailed.task;
    if (status === 'completed') {
      if (detailed.result) return stripRelatedTask(detailed.result);
      throw new PatchbayError(
        'task-failed',
        `Task ${taskId} completed, but the server sent no result with it.`,
      );
    }
    if (status === 'failed' || status === 'cancelled') {
      const message = typeof detailed.error?.message === 'string' ? detailed.error.message : statusMessage;
      throw new PatchbayError(
        'task-failed',
        `Task ${taskId} ${status === 'failed' ? 'failed' : 'was cancelled'}${message ? `: ${message}` : ''}`,
      );
    }
    const questions = Object.entries(detailed.inputRequests ?? {}).filter(([key]) => !answered.has(key));
    if (status === 'input_required' && questions.length > 0) {
      await answerQuestions(session, taskId, questions, watch.signal).catch((error: unknown) => {
        throw watch.signal?.aborted ? aborted() : error;
      });
      for (const [key] of questions) answered.add(key);
      now = true;
      continue;
    }
    if (Date.now() > until)
      throw new PatchbayError(
        'task-failed',
        `Task ${taskId} did not end within ${Math.round(boundMs / 60_000)} minutes; patchbay stopped waiting for it.`,
        { hint: `Ask for it later: patchbay task <name> ${taskId} --result` },
      );
  }
}

/**
 * A 2026-07-28 task's questions (its `inputRequests`), answered by the handlers the front end
 * registered on the client — those that answer a normal call's questions — and sent back with
 * `tasks/update`, keyed as the server keyed them. A question that cannot be answered (a sampling
 * request, which patchbay declines) leaves the task unable to go on: it is cancelled, and the
 * failure is the call's.
 */
async function answerQuestions(
  session: Session,
  taskId: string,
  questions: Array<[string, unknown]>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const inputResponses: Record<string, unknown> = {};
  try {
    for (const [key, question] of questions)
      inputResponses[key] = await answerQuestion(session.client, key, question, signal);
  } catch (error) {
    if (!signal?.aborted) await cancelTask(session, taskId).catch(() => undefined);
    throw error;
  }
  if (signal?.aborted) return;
  await session.request((client) =>
    client.request(
      { method: 'tasks/update', params: taskParams(session, client, taskId, { inputResponses }) },
      ACK,
      session.requestOptions(),
    ),
  );
}

type Handler = (request: unknown, ctx: unknown) => Promise<unknown>;

/**
 * One question, through the client's own handler for its method: the SDK keeps them where its
 * own answering of 2026-07-28 `input_required` results finds them (`_getRequestHandler`, which it
 * does not publish), and calls them with a context of the same shape, built here.
 */
async function answerQuestion(
  client: Client,
  key: string,
  question: unknown,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  const method = isJsonObject(question) && typeof question.method === 'string' ? question.method : undefined;
  if (!method || !INPUT_METHODS.has(method))
    throw new PatchbayError(
      'unsupported',
      `The task asked something patchbay cannot answer (${method === undefined ? 'a malformed input request' : JSON.stringify(method)}).`,
    );
  const handler = (
    client as unknown as { _getRequestHandler?: (method: string) => Handler | undefined }
  )._getRequestHandler?.(method);
  if (!handler)
    throw new PatchbayError('unsupported', `The task asked ${method}, which this client does not answer.`);
  const params = isJsonObject((question as { params?: unknown }).params)
    ? (question as { params: Record<string, unknown> }).params
    : undefined;
  const unavailable = () => {
    throw new Error("an answer to a task's question sends nothing of its own");
  };
  return handler(
    { jsonrpc: '2.0', id: key, method, ...(params ? { params } : {}) },
    {
      mcpReq: {
        id: key,
        method,
        _meta: params?._meta,
        signal: signal ?? new AbortController().signal,
        send: unavailable,
        notify: unavailable,
      },
    },
  );
}

/** The questions a 2026-07-28 server may embed (SEP-2322's input requests). */
const INPUT_METHODS: ReadonlySet<string> = new Set([
  'elicitation/create',
  'sampling/createMessage',
  'roots/list',
]);

/**
 * 2026-07-28 `tasks/cancel`: acknowledged empty whether or not the task was still running, so the
 * task is read first (an ended one has nothing to cancel, as the 2025-11-25 answer says) and after
 * (how the server left it). Not the caller's signal: a cancel is what Ctrl-C asked for.
 */
async function cancelModernTask(session: Session, taskId: string): Promise<TaskInfo> {
  const options = { timeout: session.requestOptions().timeout };
  const read = () =>
    unknownTaskAsNotFound(session, taskId, () =>
      session.request((client) =>
        client.request(
          { method: 'tasks/get', params: taskParams(session, client, taskId) },
          DETAILED_TASK,
          options,
        ),
      ),
    );
  const before = (await read()).task;
  if (isTerminal(before))
    throw new PatchbayError(
      'conflict',
      `Task ${taskId} already ended (${before.status}); there is nothing to cancel.`,
    );
  await unknownTaskAsNotFound(session, taskId, () =>
    session.request((client) =>
      client.request({ method: 'tasks/cancel', params: taskParams(session, client, taskId) }, ACK, options),
    ),
  );
  return (await read().catch(() => undefined))?.task ?? { ...before, status: 'cancelled' };
}

/** Waits `ms`; false if `signal` was aborted first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(true), ms);
    const onAbort = () => done(false);
    function done(elapsed: boolean) {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(elapsed);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
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

async function unknownTaskAsNotFound<T>(session: Session, taskId: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if ((error as { code?: unknown }).code !== INVALID_PARAMS) throw error;
    throw new PatchbayError('not-found', `The server knows no task ${JSON.stringify(taskId)}.`, {
      hint:
        session.era === 'modern'
          ? 'A server keeps a task for its ttlMs only; check the id patchbay call printed.'
          : 'patchbay tasks <name> lists the tasks it keeps (a server may keep tasks only as long as the session that made them).',
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

/**
 * A task followed while its result is awaited: its latest known state, and `onStatus` told of each
 * change of its status or message (not of every poll or notification repeating them).
 */
class StatusFollower {
  latest: TaskInfo;
  private lastSeen = '';

  constructor(
    taskOrId: TaskInfo | string,
    private readonly watch: TaskWatch,
  ) {
    this.latest = typeof taskOrId === 'string' ? { taskId: taskOrId, status: 'working' } : taskOrId;
  }

  readonly seen = (task: TaskInfo): void => {
    this.latest = task;
    const key = `${task.status}\u0000${task.statusMessage ?? ''}`;
    if (key === this.lastSeen) return;
    this.lastSeen = key;
    this.watch.onStatus?.(task);
  };
}

// ---------------------------------------------------------------------------------------------
// The answers, checked before use (Standard Schema objects, for the SDK's generic request).

/** A task of either era: 2026-07-28's `ttlMs` and `pollIntervalMs` read as `ttl` and `pollInterval`. */
function checkTask(value: unknown): TaskInfo | undefined {
  if (!isJsonObject(value) || typeof value.taskId !== 'string' || typeof value.status !== 'string')
    return undefined;
  const task: TaskInfo = { taskId: value.taskId, status: value.status };
  if (typeof value.statusMessage === 'string') task.statusMessage = value.statusMessage;
  if (typeof value.createdAt === 'string') task.createdAt = value.createdAt;
  if (typeof value.lastUpdatedAt === 'string') task.lastUpdatedAt = value.lastUpdatedAt;
  const ttl = 'ttlMs' in value ? value.ttlMs : value.ttl;
  if (typeof ttl === 'number' || ttl === null) task.ttl = ttl;
  const pollInterval = 'pollIntervalMs' in value ? value.pollIntervalMs : value.pollInterval;
  if (typeof pollInterval === 'number') task.pollInterval = pollInterval;
  return task;
}

const TASK = checkedSchema('task', checkTask);

/**
 * A 2026-07-28 DetailedTask: the task, and what it inlines — the result (completed), the error
 * (failed), the server's questions (input_required). A 2025-11-25 task has none of these.
 */
interface DetailedTask {
  task: TaskInfo;
  result?: CallResult;
  error?: { code?: unknown; message?: unknown; data?: unknown };
  inputRequests?: Record<string, unknown>;
}

const DETAILED_TASK = checkedSchema('task', (value): DetailedTask | undefined => {
  const task = checkTask(value);
  if (!task || !isJsonObject(value)) return undefined;
  const detailed: DetailedTask = { task };
  if (isJsonObject(value.result)) {
    const result = CALL_TOOL_RESULT['~standard'].validate(value.result);
    if (!('value' in result)) return undefined;
    detailed.result = result.value;
  }
  if (isJsonObject(value.error)) detailed.error = value.error;
  if (isJsonObject(value.inputRequests)) detailed.inputRequests = value.inputRequests;
  return detailed;
});

const CREATE_TASK_RESULT = checkedSchema('CreateTaskResult', (value) => {
  if (!isJsonObject(value)) return undefined;
  const task = checkTask(value.task);
  return task ? { task } : undefined;
});

const LIST_TASKS_RESULT = checkedSchema('ListTasksResult', (value) => {
  if (!isJsonObject(value) || !Array.isArray(value.tasks)) return undefined;
  const tasks = value.tasks.map(checkTask);
  if (tasks.some((task) => task === undefined)) return undefined;
  const listed: { tasks: TaskInfo[]; nextCursor?: string } = { tasks: tasks as TaskInfo[] };
  if (typeof value.nextCursor === 'string') listed.nextCursor = value.nextCursor;
  return listed;
});

/** An acknowledgement (2026-07-28 `tasks/update`, `tasks/cancel`): an empty result. */
const ACK = checkedSchema('acknowledgement', (value) => (isJsonObject(value) ? value : undefined));

const CALL_TOOL_RESULT = checkedSchema('CallToolResult', (value) => {
  if (!isJsonObject(value)) return undefined;
  if (value.content !== undefined && !Array.isArray(value.content)) return undefined;
  return value as CallResult;
});
