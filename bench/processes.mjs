// What the benchmarks share: timed runs of a command in its own process group, and killing every
// one still running on the way out (a run that times out, Ctrl-C on the bench).

import { spawn } from 'node:child_process';

/** The children still running, so that the bench can kill them on the way out. */
export const live = new Set();

/** Kill a child and, when it was started detached, its whole process group. */
export function killTree(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    // Tools run detached in their own process group, so their own children go too.
    if (child.detachedGroup) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGTERM');
  } catch {
    // already gone
  }
}

/**
 * One timed run: wall time to the process's exit (not to the close of its pipes, which a child it
 * left behind may hold open), its exit code or signal, and its output. A run longer than
 * `timeoutMs` is killed with its process group and marked `timedOut`.
 */
export function timedRun(command, args, { env, cwd, timeoutMs }) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.detachedGroup = true;
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child);
    }, timeoutMs);
    let ms = null;
    let code = null;
    child.once('exit', (exitCode, signal) => {
      ms = Number(process.hrtime.bigint() - start) / 1e6;
      code = exitCode ?? signal;
    });
    const finish = (error) => {
      clearTimeout(timer);
      live.delete(child);
      ms ??= Number(process.hrtime.bigint() - start) / 1e6;
      resolve({ ms, code, stdout, stderr: error ? String(error) : stderr, timedOut });
    };
    child.once('error', (error) => finish(error));
    child.once('close', () => finish());
  });
}
