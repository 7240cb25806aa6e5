/**
 * `patchbay call` for a tool that runs as a task (use/tasks.ts): on a 2025-11-25 server a tool
 * whose `execution.taskSupport` is "required" always, one that allows it ("optional") with
 * `--task`; on a 2026-07-28 server that offers the tasks extension, every call, declaring the
 * extension, since the server decides which calls run as tasks (a call it runs at once is
 * answered at once).
 *
 * On a terminal the task's status moves on one live line while its result is waited for; the
 * server's questions (elicitation) are asked by the same handlers as for a normal call. Ctrl-C
 * stops the waiting, not the task, and asks: cancel the task, or leave it running (its id and the
 * command to fetch its result are printed). Without a terminal nobody can be asked: Ctrl-C (or
 * SIGTERM) cancels the task, as it cancels a normal call, and says so with the task's id. A task
 * left behind unseen would keep using the server, and many servers keep a task only as long as
 * the session that made it, which patchbay ends on exit.
 */

import { PatchbayError } from '../../errors.js';
import type { Session } from '../../connect/session.js';
import type { CallResult } from '../../use/guarded-call.js';
import {
  cancelTask,
  runToolTask,
  serverDecidesTasks,
  serverTasks,
  taskSupportOf,
  TaskWaitAborted,
  type TaskInfo,
} from '../../use/tasks.js';
import { isInteractive, note, type Io } from '../io.js';
import { holdTerminal, liveView } from '../progress.js';
import { askOrCancel, ownTerminal, type QuestionSource } from '../questions.js';
import { holdOnSignal } from '../signals.js';
import { resultCommand, taskStatusText } from './task-text.js';
import { terminalText } from '../../core/terminal-text.js';

/** How long the process waits for the answer to "cancel or leave running?" after a Ctrl-C. */
const QUESTION_MS = 10 * 60_000;
/** Without a terminal: how long the process waits for the task's cancellation to be sent (SIGTERM too). */
const CANCEL_MS = 5_000;

/**
 * Whether this call runs as a task: required by the tool, or asked for with --task where the
 * tool allows it. Refused (usage) where it cannot be: before policy is asked, nothing was decided.
 */
export function runsAsTask(
  session: Session,
  tool: { name: string; execution?: { taskSupport?: unknown } },
  wanted: boolean,
  server: string,
): boolean {
  const support = taskSupportOf(tool);
  if (session.era === 'modern') {
    // A listing of this era says nothing of tasks (`execution` is gone): the server decides, if
    // it offers the extension. One that still says "required" cannot run without it.
    if (serverDecidesTasks(session)) return true;
    if (!wanted && support !== 'required') return false;
    throw new PatchbayError(
      'unsupported',
      `${tool.name} ${support === 'required' ? 'must run' : 'would run'} as a task, but ${server} does not offer the tasks extension (io.modelcontextprotocol/tasks).`,
      support === 'required'
        ? {}
        : { hint: `Call it without --task: patchbay call ${server} ${tool.name} …` },
    );
  }
  if (support === 'forbidden') {
    if (!wanted) return false;
    throw new PatchbayError(
      'usage',
      `${tool.name} does not run as a task (its execution.taskSupport is ${tool.execution?.taskSupport === undefined ? 'not declared' : 'forbidden'}).`,
      { hint: `Call it without --task: patchbay call ${server} ${tool.name} …` },
    );
  }
  if (support === 'optional' && !wanted) return false;
  if (!serverTasks(session).toolCalls)
    throw new PatchbayError(
      'unsupported',
      `${tool.name} ${support === 'required' ? 'must run' : 'would run'} as a task, but ${server} does not say it runs tool calls as tasks (no tasks.requests.tools.call capability).`,
      support === 'optional'
        ? { hint: `Call it without --task: patchbay call ${server} ${tool.name} …` }
        : {},
    );
  return true;
}

/** The call ended without a result: the task was cancelled or left running (after Ctrl-C). */
export class TaskStopped extends Error {
  constructor(
    readonly how: 'cancelled' | 'left',
    readonly task: TaskInfo,
  ) {
    super(`task ${task.taskId} ${how}`);
    this.name = 'TaskStopped';
  }
}

/** Run the call as a task and return its result; Ctrl-C ends in TaskStopped. */
export async function callAsTask(
  session: Session,
  request: { name: string; arguments: Record<string, unknown> },
  server: string,
  io: Io,
  how: {
    describeProgress: (report: { progress: number; total?: number; message?: string }) => string;
    /** Where "cancel or leave running?" is asked (the shell lends its line editor). */
    questions?: QuestionSource;
  },
): Promise<CallResult> {
  const live = liveView(io);
  const interactive = isInteractive(io);
  const release = holdOnSignal(interactive ? QUESTION_MS : CANCEL_MS);
  try {
    return await runToolTask(session, request, {
      ...(io.interrupt ? { signal: io.interrupt } : {}),
      onCreated: (task) => note(io, `${request.name} runs as task ${task.taskId} on ${server}.`),
      onStatus: (task) => live.status(`${request.name} ${taskStatusText(task)}`),
      onProgress: (report) => live.status(how.describeProgress(report)),
    });
  } catch (error) {
    if (!(error instanceof TaskWaitAborted)) throw error;
    live.finish();
    const choice = interactive
      ? await askCancelOrLeave(error.task, io, how.questions ?? ownTerminal)
      : 'cancel';
    if (choice === 'leave') {
      note(io, `Left task ${error.task.taskId} running on ${server}.`);
      note(io, `Fetch its result later: ${resultCommand(server, error.task.taskId)}`);
      if (session.transport === 'stdio')
        note(io, `(${server} is a stdio server: it stops when patchbay does, and its tasks with it.)`);
      throw new TaskStopped('left', error.task);
    }
    const cancelled = await cancelTask(session, error.task.taskId).catch((failure: unknown) => {
      note(
        io,
        `Could not cancel task ${error.task.taskId}: ${failure instanceof Error ? failure.message : String(failure)}`,
      );
      return undefined;
    });
    if (cancelled)
      note(io, `Cancelled task ${cancelled.taskId} of ${request.name} (${terminalText(cancelled.status)}).`);
    throw new TaskStopped('cancelled', cancelled ?? error.task);
  } finally {
    live.finish();
    release();
  }
}

async function askCancelOrLeave(
  task: TaskInfo,
  io: Io,
  questions: QuestionSource,
): Promise<'cancel' | 'leave'> {
  const release = holdTerminal();
  const { prompt, done } = questions(io);
  try {
    note(io, `\nTask ${task.taskId} is ${taskStatusText(task)}.`);
    for (;;) {
      // Ctrl-C again at the question (or the terminal closing): cancel, as a second Ctrl-C means "stop".
      const answer = await askOrCancel(
        prompt,
        (signal) => prompt.question('Cancel the task, or leave it running? [C]ancel / [l]eave: ', { signal }),
        'c',
      );
      const choice = answer.trim().toLowerCase();
      if (choice === '' || choice === 'c' || choice === 'cancel') return 'cancel';
      if (choice === 'l' || choice === 'leave') return 'leave';
      note(io, 'Type c to cancel the task or l to leave it running.');
    }
  } finally {
    done();
    release();
  }
}
