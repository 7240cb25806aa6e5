/**
 * The process groups of the stdio servers this process has running. A stdio server runs in its
 * own process group (so that closing it reaches its children), which also means the terminal's
 * Ctrl-C no longer reaches it: on SIGINT/SIGTERM the CLI ends them here before exiting.
 *
 * No SDK import: the CLI's entry point loads this module on every run.
 */

import { signalProcessGroup } from './child-process.js';

const groups = new Set<number>();

export function trackProcessGroup(pid: number): void {
  groups.add(pid);
}

export function untrackProcessGroup(pid: number): void {
  groups.delete(pid);
}

/** SIGTERM to every group still running, SIGKILL to those left after `graceMs`. */
export async function terminateProcessGroups(graceMs = 500): Promise<void> {
  if (groups.size === 0) return;
  signalAll('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groups.size > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    for (const pid of groups) if (!signalProcessGroup(pid, 0)) groups.delete(pid);
  }
  signalAll('SIGKILL');
}

function signalAll(signal: NodeJS.Signals): void {
  for (const pid of groups) if (!signalProcessGroup(pid, signal)) groups.delete(pid);
}
