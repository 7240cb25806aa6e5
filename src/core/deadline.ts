/**
 * The one deadline: a time budget, and optionally the caller's cancellation, as one AbortSignal.
 * Every wait under it takes at most what is left, so work that hangs at any step costs the budget
 * and no more. connect/ uses one per connect attempt or request; diagnose/ one per server.
 */

import { performance } from 'node:perf_hooks';

import { formatDuration, raceAbort } from './race.js';

export type DeadlineKind = 'timeout' | 'aborted';

/** The reason a deadline's signal aborts with: the budget ran out, or the caller cancelled. */
export class DeadlineExceeded extends Error {
  constructor(
    readonly budgetMs: number,
    readonly kind: DeadlineKind = 'timeout',
    message = kind === 'timeout' ? `no answer within ${formatDuration(budgetMs)}` : 'cancelled',
  ) {
    super(message);
    this.name = 'DeadlineExceeded';
  }
}

export interface DeadlineOptions {
  /** The caller's cancellation: aborts the deadline too (kind `aborted`). */
  signal?: AbortSignal;
  /** The message of the timeout error (default: `no answer within <budget>`). */
  timeoutMessage?: string;
  /** Let the process exit before the budget runs out (a finished diagnosis must not wait for it). */
  unref?: boolean;
}

export class Deadline {
  private readonly started = performance.now();
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly callerSignal: AbortSignal | undefined;
  private readonly onCallerAbort = () =>
    this.controller.abort(new DeadlineExceeded(this.budgetMs, 'aborted'));

  constructor(
    readonly budgetMs: number,
    options: DeadlineOptions = {},
  ) {
    this.timer = setTimeout(
      () => this.controller.abort(new DeadlineExceeded(budgetMs, 'timeout', options.timeoutMessage)),
      Math.max(1, budgetMs),
    );
    if (options.unref) this.timer.unref();
    this.callerSignal = options.signal;
    if (this.callerSignal?.aborted) this.onCallerAbort();
    else this.callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  /** Aborts when the budget is spent or the caller cancels. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  elapsedMs(): number {
    return Math.round(performance.now() - this.started);
  }

  /** What is left of the budget, at least 1 ms (a timeout of 0 means "none" to many APIs). */
  remainingMs(): number {
    return Math.max(1, Math.round(this.budgetMs - (performance.now() - this.started)));
  }

  expired(): boolean {
    return this.controller.signal.aborted;
  }

  /** Whether `error` is, or the signal was aborted by, this deadline: which kind, if so. */
  reached(error: unknown): DeadlineKind | undefined {
    if (error instanceof DeadlineExceeded) return error.kind;
    const reason: unknown = this.controller.signal.reason;
    if (this.controller.signal.aborted && reason instanceof DeadlineExceeded) return reason.kind;
    return undefined;
  }

  /** The promise, or DeadlineExceeded when the deadline passes first (the work itself is not stopped). */
  race<T>(promise: Promise<T>): Promise<T> {
    return raceAbort(promise, this.controller.signal);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }
}

export function isDeadline(error: unknown): error is DeadlineExceeded {
  return error instanceof DeadlineExceeded;
}

export { formatDuration };
