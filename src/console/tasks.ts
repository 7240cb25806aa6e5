/**
 * Tasks the console started ("Try" on a tool whose execution requires a task): each runs through
 * the one tasks job (use/tasks.ts) inside the guarded call that admitted it, on a session that
 * stays open until the task ends, while the page follows it by id. The page's own request returns
 * as soon as the task exists, so no request waits for a long task.
 *
 * Kept in this process only, each forgotten a while after it ended (and the oldest ended one
 * when many are kept).
 */

import { PatchbayError } from '../errors.js';
import { maskSecretsInText } from '../policy/audit.js';
import type { TaskInfo } from '../use/tasks.js';
import type { ApiError, CallOutcome, TaskRun, TaskView } from './api-types.js';

/** How long an ended task's outcome stays for the page to fetch. */
const KEEP_ENDED_MS = 10 * 60_000;
/** At most this many tasks are followed at once; the oldest ended one makes room. */
const MAX_RUNS = 100;

interface Run {
  server: string;
  run: TaskRun;
  cancel: (() => Promise<TaskInfo>) | undefined;
  endedAt: number | undefined;
}

export class ConsoleTasks {
  private readonly runs = new Map<string, Run>();

  /** A task just created by `tool` on `server`; `cancel` asks the server to stop it. */
  started(server: string, tool: string, task: TaskInfo, cancel: () => Promise<TaskInfo>): void {
    this.prune();
    this.runs.set(key(server, task.taskId), {
      server,
      run: { tool, task: view(task), done: false },
      cancel,
      endedAt: undefined,
    });
  }

  moved(server: string, task: TaskInfo): void {
    const found = this.runs.get(key(server, task.taskId));
    if (found && !found.run.done) found.run.task = view(task);
  }

  ended(server: string, taskId: string, how: { outcome: CallOutcome } | { error: ApiError }): void {
    const found = this.runs.get(key(server, taskId));
    if (!found) return;
    found.run = { ...found.run, done: true, ...how };
    found.cancel = undefined;
    found.endedAt = Date.now();
  }

  get(server: string, taskId: string): TaskRun | undefined {
    return this.runs.get(key(server, taskId))?.run;
  }

  /** Cancel a task still running; the run as it is then (an ended one unchanged). */
  async cancel(server: string, taskId: string): Promise<TaskRun | undefined> {
    const found = this.runs.get(key(server, taskId));
    if (!found) return undefined;
    if (found.cancel) found.run.task = view(await found.cancel());
    return found.run;
  }

  private prune(): void {
    const now = Date.now();
    for (const [id, run] of this.runs)
      if (run.endedAt !== undefined && now - run.endedAt > KEEP_ENDED_MS) this.runs.delete(id);
    if (this.runs.size < MAX_RUNS) return;
    const oldestEnded = [...this.runs].find(([, run]) => run.endedAt !== undefined);
    if (oldestEnded) this.runs.delete(oldestEnded[0]);
  }
}

function key(server: string, taskId: string): string {
  return `${server}\u0000${taskId}`;
}

/** How a task's run failed, as the API says errors (errorResponse's words, without the status). */
export function taskError(error: unknown): ApiError {
  if (error instanceof PatchbayError) {
    const body: ApiError = { code: error.code, message: error.message };
    if (error.hint) body.hint = error.hint;
    return body;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'internal', message: `internal error: ${maskSecretsInText(message.slice(0, 500))}` };
}

export function view(task: TaskInfo): TaskView {
  const shown: TaskView = { taskId: task.taskId, status: task.status };
  if (task.statusMessage !== undefined) shown.statusMessage = task.statusMessage;
  if (task.createdAt !== undefined) shown.createdAt = task.createdAt;
  if (task.lastUpdatedAt !== undefined) shown.lastUpdatedAt = task.lastUpdatedAt;
  if (task.pollInterval !== undefined) shown.pollInterval = task.pollInterval;
  return shown;
}

/** The console's tasks, one set per process (the console is one per process). */
export const consoleTasks = new ConsoleTasks();
