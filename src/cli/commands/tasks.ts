/**
 * `patchbay tasks <name>`: the tasks a server keeps, one line each; `patchbay task <name> <id>`:
 * one task, `--result` to wait for and print its result (as `call` prints a tool's), `--cancel`
 * to cancel it. Everything goes through the one tasks job (use/tasks.ts). Every string comes from
 * the server and is made printable before it reaches the terminal.
 */

import { EXIT, PatchbayError } from '../../errors.js';
import { terminalText } from '../../core/terminal-text.js';
import { paint, printJson, useColor, writeLine, note, type Io } from '../io.js';
import { liveView } from '../progress.js';
import type { ServerRequestOptions } from '../server-requests.js';
import {
  parseServerReadOptions,
  parseServerRequestOptions,
  useServer,
  type ServerReadOptions,
} from '../server-session.js';
import type { CallResult } from '../../use/guarded-call.js';
import type { TaskInfo } from '../../use/tasks.js';
import type { Session } from '../../connect/session.js';
import { resultCommand, taskStatusText } from './task-text.js';

export type TasksOptions = ServerReadOptions;

export const parseTasksOptions = parseServerReadOptions;

export interface TaskOptions extends ServerReadOptions {
  taskId: string;
  action: 'show' | 'result' | 'cancel';
  outputDir: string | undefined;
  requests: ServerRequestOptions;
}

export function parseTaskOptions(
  name: string,
  taskId: string,
  raw: {
    json?: boolean;
    timeout?: string;
    result?: boolean;
    cancel?: boolean;
    output?: string;
    roots?: boolean;
    acceptDefaults?: boolean;
  },
  env: NodeJS.ProcessEnv,
): TaskOptions {
  if (taskId.trim() === '') throw new PatchbayError('usage', 'The task id is empty.');
  if (raw.result && raw.cancel)
    throw new PatchbayError('usage', '--result and --cancel cannot be used together.', {
      hint: `Cancel it: patchbay task ${name} ${taskId} --cancel`,
    });
  return {
    ...parseServerReadOptions(name, raw, env),
    taskId,
    action: raw.result ? 'result' : raw.cancel ? 'cancel' : 'show',
    outputDir: raw.output,
    requests: parseServerRequestOptions(raw),
  };
}

export async function runTasks(options: TasksOptions, io: Io): Promise<number> {
  const tasks = await useServer(options.name, options.timeoutMs, io, tasksOnSession);
  return printTasks(tasks, options, io);
}

/** The tasks of a server on an open session (`patchbay tasks`, the shell's `tasks`). */
export async function tasksOnSession(session: Session): Promise<TaskInfo[]> {
  const { listTasks } = await import('../../use/tasks.js');
  return listTasks(session);
}

export function printTasks(tasks: TaskInfo[], options: { name: string; json: boolean }, io: Io): number {
  if (options.json) {
    printJson(io, tasks);
    return EXIT.ok;
  }
  if (tasks.length === 0) {
    writeLine(io.stderr, `${options.name} lists no tasks.`);
    return EXIT.ok;
  }
  const p = paint(useColor(io, 'stdout'));
  const ids = tasks.map((task) => terminalText(task.taskId, { max: 80 }));
  const width = Math.max(2, ...ids.map((id) => id.length));
  writeLine(
    io.stdout,
    p.dim(`${'ID'.padEnd(width)}  ${'STATUS'.padEnd(14)}  ${'UPDATED'.padEnd(24)}  MESSAGE`),
  );
  tasks.forEach((task, index) => {
    const status = terminalText(task.status, { max: 14 });
    const updated = terminalText(task.lastUpdatedAt ?? task.createdAt ?? '', { max: 24 });
    const message = task.statusMessage ? terminalText(task.statusMessage, { max: 100 }) : '';
    writeLine(
      io.stdout,
      `${ids[index]!.padEnd(width)}  ${colorStatus(p, status).padEnd(14 + (colorStatus(p, status).length - status.length))}  ${updated.padEnd(24)}  ${message}`,
    );
  });
  return EXIT.ok;
}

export async function runTask(options: TaskOptions, io: Io): Promise<number> {
  const outcome = await useServer(
    options.name,
    options.timeoutMs,
    io,
    (session) => taskOnSession(session, options, io),
    options.requests,
  );
  return printTaskOutcome(outcome, options, io);
}

/** What `task` found or did: the task (shown, or cancelled), its result, or a wait stopped. */
export type TaskOutcome =
  | { kind: 'task'; task: TaskInfo }
  | { kind: 'result'; result: CallResult }
  | { kind: 'stopped'; task: TaskInfo };

/** `patchbay task` on an open session (the shell's `task` too). */
export async function taskOnSession(
  session: Session,
  options: Pick<TaskOptions, 'taskId' | 'action'>,
  io: Io,
): Promise<TaskOutcome> {
  const jobs = await import('../../use/tasks.js');
  if (options.action === 'cancel')
    return { kind: 'task', task: await jobs.cancelTask(session, options.taskId) };
  // Known first: an unknown id is said as such, and a wait starts from the task's own state.
  const task = await jobs.getTask(session, options.taskId);
  if (options.action === 'show') return { kind: 'task', task };
  const live = liveView(io);
  try {
    const result = await jobs.waitForTaskResult(session, task, {
      ...(io.interrupt ? { signal: io.interrupt } : {}),
      onStatus: (moved) =>
        live.status(`task ${terminalText(moved.taskId, { max: 40 })} ${taskStatusText(moved)}`),
    });
    return { kind: 'result', result };
  } catch (error) {
    if (error instanceof jobs.TaskWaitAborted) return { kind: 'stopped', task: error.task };
    throw error;
  } finally {
    live.finish();
  }
}

export async function printTaskOutcome(
  outcome: TaskOutcome,
  options: Pick<TaskOptions, 'name' | 'taskId' | 'action' | 'json' | 'outputDir'>,
  io: Io,
): Promise<number> {
  if (outcome.kind === 'stopped') {
    note(io, `Stopped waiting; task ${outcome.task.taskId} runs on (${taskStatusText(outcome.task)}).`);
    note(io, `Cancel it: patchbay task ${options.name} ${options.taskId} --cancel`);
    return EXIT.interrupted;
  }
  if (outcome.kind === 'result') {
    if (options.json) {
      printJson(io, outcome.result);
      return outcome.result.isError ? EXIT.error : EXIT.ok;
    }
    const { printResult } = await import('./call.js');
    return printResult(
      outcome.result as Parameters<typeof printResult>[0],
      { tool: `task-${options.taskId}`, outputDir: options.outputDir },
      io,
    );
  }
  if (options.json) {
    printJson(io, outcome.task);
    return EXIT.ok;
  }
  if (options.action === 'cancel') {
    note(
      io,
      `Cancelled task ${outcome.task.taskId} on ${options.name} (now ${taskStatusText(outcome.task)}).`,
    );
    return EXIT.ok;
  }
  printTask(outcome.task, options.name, io);
  return EXIT.ok;
}

function printTask(task: TaskInfo, name: string, io: Io): void {
  const p = paint(useColor(io, 'stdout'));
  const line = (label: string, value: string | number | null | undefined) => {
    if (value === undefined) return;
    writeLine(
      io.stdout,
      `${p.dim(label.padEnd(10))}${terminalText(String(value ?? 'unlimited'), { max: 200 })}`,
    );
  };
  line('task', task.taskId);
  writeLine(
    io.stdout,
    `${p.dim('status'.padEnd(10))}${colorStatus(p, terminalText(task.status, { max: 20 }))}`,
  );
  line('message', task.statusMessage);
  line('created', task.createdAt);
  line('updated', task.lastUpdatedAt);
  line('ttl', task.ttl === undefined ? undefined : task.ttl === null ? null : `${task.ttl} ms`);
  line('poll', task.pollInterval === undefined ? undefined : `${task.pollInterval} ms`);
  if (task.status === 'working' || task.status === 'input_required' || task.status === 'completed')
    note(io, `Its result: ${resultCommand(name, task.taskId)}`);
}

function colorStatus(p: ReturnType<typeof paint>, status: string): string {
  if (status === 'completed') return p.green(status);
  if (status === 'failed' || status === 'cancelled') return p.red(status);
  if (status === 'input_required') return p.yellow(status);
  return status;
}
