/**
 * Questions an upstream asks during a call (elicitation, sampling) for a 2026-07-28 host, which
 * takes no server→client requests: the gateway answers the host's request with `input_required`
 * (the questions, and a `requestState` naming the paused call) while the upstream call waits. When
 * the host retries with its answers, they go to the upstream, and the gateway waits for what comes
 * next: the result, or more questions. The upstream can be of either era; it is asked as usual.
 *
 * - `requestState` is a random 128-bit name of state kept here, never data the host could forge,
 *   and it is bound to the method and target it was issued for.
 * - A paused call the host does not come back to within PAUSE_MS is cancelled upstream.
 * - At most MAX_PAUSED calls wait at once; past that, a new question is declined.
 */

import { randomBytes } from 'node:crypto';

import {
  inputRequired,
  ProtocolError,
  ProtocolErrorCode,
  type InputRequest,
  type ServerContext,
} from '@modelcontextprotocol/server';

export const PAUSE_MS = 10 * 60_000;
export const MAX_PAUSED = 256;

export type QuestionMethod = 'elicitation/create' | 'sampling/createMessage';

interface Question {
  key: string;
  method: QuestionMethod;
  params: Record<string, unknown>;
  answer: (result: unknown) => void;
  fail: (error: Error) => void;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Whether the host's request is of the 2026-07-28 era (it carries the per-request envelope). */
export function isModernRequest(ctx: ServerContext): boolean {
  return ctx.mcpReq.envelope !== undefined;
}

/**
 * One upstream call that may pause for the host's answers, spanning several host requests
 * ("rounds"). Progress goes to the current round; the current round's cancellation ends it.
 */
export class RelayedCall {
  private readonly aborter = new AbortController();
  private readonly questions: Question[] = [];
  private asked = 0;
  private wake: (() => void) | undefined;
  private settled: Settled<unknown> | undefined;
  private unlinkRound: (() => void) | undefined;

  constructor(
    public ctx: ServerContext,
    /** What the call was made for (method and target), which a retry must match. */
    readonly purpose: string,
  ) {
    this.linkRound(ctx);
  }

  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  /** The upstream asks: the question waits for the host's next round. */
  ask(method: QuestionMethod, params: Record<string, unknown>): Promise<unknown> {
    return new Promise((answer, fail) => {
      this.questions.push({ key: `q${++this.asked}`, method, params, answer, fail });
      // Questions asked together (in the same turn) go to the host together.
      setImmediate(() => this.wakeUp());
    });
  }

  /** Run the upstream call; its end wakes whoever waits. */
  start(run: () => Promise<unknown>): void {
    run().then(
      (value) => this.finish({ ok: true, value }),
      (error: unknown) => this.finish({ ok: false, error }),
    );
  }

  /** A new round from the host: its answers go to the questions they name. */
  resume(ctx: ServerContext): void {
    this.ctx = ctx;
    this.linkRound(ctx);
    const responses = ctx.mcpReq.inputResponses ?? {};
    for (const question of [...this.questions]) {
      if (!(question.key in responses)) continue;
      this.questions.splice(this.questions.indexOf(question), 1);
      question.answer(responses[question.key]);
    }
  }

  /** Wait for the call to end, or for questions the host has to answer first. */
  async next(): Promise<Settled<unknown> | { questions: Question[] }> {
    for (;;) {
      if (this.settled) return this.settled;
      if (this.questions.length > 0) {
        this.unlinkRound?.();
        return { questions: [...this.questions] };
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The host is gone (or never came back): the upstream's questions fail and its call is cancelled. */
  cancel(reason: string): void {
    for (const question of this.questions.splice(0)) question.fail(new Error(reason));
    this.aborter.abort(new Error(reason));
  }

  private finish(settled: Settled<unknown>): void {
    this.settled = settled;
    this.unlinkRound?.();
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private linkRound(ctx: ServerContext): void {
    this.unlinkRound?.();
    const signal = ctx.mcpReq.signal;
    const onAbort = () => this.cancel('the host cancelled the request');
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.unlinkRound = () => {
      signal.removeEventListener('abort', onAbort);
      this.unlinkRound = undefined;
    };
  }
}

export class InputRelay {
  private readonly paused = new Map<string, { call: RelayedCall; timer: NodeJS.Timeout }>();

  constructor(private readonly pauseMs = PAUSE_MS) {}

  /** Whether another call may pause (else its questions are declined). */
  get full(): boolean {
    return this.paused.size >= MAX_PAUSED;
  }

  /**
   * Serve one round of a host's request: a new call (`start` makes the upstream request with the
   * RelayedCall it is given), or the continuation of a paused one named by its requestState.
   */
  async round<T>(
    ctx: ServerContext,
    purpose: string,
    start: (call: RelayedCall) => Promise<T>,
  ): Promise<T | ReturnType<typeof inputRequired>> {
    const state = ctx.mcpReq.requestState();
    let call: RelayedCall;
    if (typeof state === 'string') {
      const paused = this.paused.get(state);
      if (!paused || paused.call.purpose !== purpose)
        throw new ProtocolError(
          ProtocolErrorCode.InvalidParams,
          'Invalid or expired requestState: patchbay holds no paused call by that name for this request; call again without it.',
        );
      this.paused.delete(state);
      clearTimeout(paused.timer);
      call = paused.call;
      call.resume(ctx);
    } else {
      call = new RelayedCall(ctx, purpose);
      const made = call;
      call.start(() => start(made));
    }
    const outcome = await call.next();
    if ('questions' in outcome) return this.pause(call, outcome.questions);
    if (!outcome.ok) throw outcome.error;
    return outcome.value as T;
  }

  private pause(call: RelayedCall, questions: Question[]) {
    const state = randomBytes(16).toString('base64url');
    const timer = setTimeout(() => {
      this.paused.delete(state);
      call.cancel('the host did not answer in time');
    }, this.pauseMs);
    timer.unref();
    this.paused.set(state, { call, timer });
    const inputRequests: Record<string, InputRequest> = {};
    for (const question of questions) inputRequests[question.key] = asInputRequest(question);
    return inputRequired({ inputRequests, requestState: state });
  }

  close(): void {
    for (const [, { call, timer }] of this.paused) {
      clearTimeout(timer);
      call.cancel('the gateway is closing');
    }
    this.paused.clear();
  }
}

/** An upstream's request as a 2026-07-28 embedded request (URL mode loses the 2025 elicitationId). */
function asInputRequest(question: Question): InputRequest {
  const params = question.params;
  if (question.method === 'sampling/createMessage') return inputRequired.createMessage(params as never);
  if (params.mode === 'url') {
    const { message, url } = params as { message: string; url: string };
    return inputRequired.elicitUrl({ message, url });
  }
  const { mode: _mode, ...form } = params;
  return inputRequired.elicit(form as never);
}
