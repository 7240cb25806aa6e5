/**
 * What every child patchbay starts (stdio servers, headersHelper commands) needs at its end:
 * signalling its whole process group, waiting for its pipes to close, and letting go of them.
 * No SDK import: the CLI's entry point loads this through live-children.ts on every run.
 */

import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/**
 * Signal a child's process group (signal 0 only asks whether it exists). False when the group is
 * gone (ESRCH). Windows has no process groups: the process itself.
 */
export function signalProcessGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(process.platform === 'win32' ? pid : -pid, signal);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export function streamClosed(stream: Readable | null): Promise<void> {
  if (!stream || stream.closed || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

export function destroyPipes(child: ChildProcess): void {
  child.stdin?.destroy();
  child.stdout?.destroy();
  child.stderr?.destroy();
}
