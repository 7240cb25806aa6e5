/**
 * One time budget per server: every layer waits at most for what is left of it, so a server
 * that hangs at any layer costs `--timeout` and no more.
 */

import { performance } from 'node:perf_hooks';

import { formatDuration, raceAbort } from '../connect/race.js';

export class DeadlineExceeded extends Error {
  constructor(readonly budgetMs: number) {
    super(`no answer within ${formatDuration(budgetMs)}`);
    this.name = 'DeadlineExceeded';
  }
}

export class Deadline {
  private readonly started = performance.now();
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly budgetMs: number) {
    this.timer = setTimeout(
      () => this.controller.abort(new DeadlineExceeded(budgetMs)),
      Math.max(1, budgetMs),
    );
    // A finished diagnosis must not keep the process alive until its budget runs out.
    this.timer.unref();
  }

  /** Aborts when the budget is spent. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  elapsedMs(): number {
    return Math.round(performance.now() - this.started);
  }

  remainingMs(): number {
    return Math.max(1, this.budgetMs - this.elapsedMs());
  }

  expired(): boolean {
    return this.controller.signal.aborted;
  }

  /** The promise, or DeadlineExceeded when the budget runs out first (the work itself is not stopped). */
  race<T>(promise: Promise<T>): Promise<T> {
    return raceAbort(promise, this.controller.signal);
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

export function isDeadline(error: unknown): error is DeadlineExceeded {
  return error instanceof DeadlineExceeded;
}

export { formatDuration };
