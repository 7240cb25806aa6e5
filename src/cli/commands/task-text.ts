/**
 * How a task reads on a terminal, for `call` (its live status line), `task` and `tasks`. Every
 * string of the task is the server's: printed through the one terminal sanitizer.
 */

import { terminalText } from '../../core/terminal-text.js';
import type { TaskInfo } from '../../use/tasks.js';

/** `working: Gathering sources...` (status, then the server's message, bounded). */
export function taskStatusText(task: Pick<TaskInfo, 'status' | 'statusMessage'>): string {
  const status = terminalText(task.status, { max: 20 });
  const message = task.statusMessage ? terminalText(task.statusMessage, { max: 120 }) : '';
  return message ? `${status}: ${message}` : status;
}

/** The command that fetches a task's result later. */
export function resultCommand(server: string, taskId: string): string {
  return `patchbay task ${server} ${shellWord(taskId)} --result`;
}

export function shellWord(word: string): string {
  return /^[\w.:@%+=,/-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
