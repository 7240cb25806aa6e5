import { readFileSync } from 'node:fs';

/**
 * Whether a process is gone: not there at all, or a zombie waiting for init to reap it (which
 * takes up to ~2 s in some containers; a zombie runs nothing).
 */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return process.platform === 'linux';
  }
}
