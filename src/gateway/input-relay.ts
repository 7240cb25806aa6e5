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
 * - At most MAX_PAUSED calls wait at once (per replica); past that, a new question is declined.
 * - Replicas (an HTTP gateway's store, `--state redis://…`): the call stays in the memory of the
 *   replica that paused it, and the store records who that is under the requestState, for
 *   PAUSE_MS. A retry takes the record (single use across replicas) and, when another replica
 *   holds the call, forwards its round there over the bus (forwarded-rounds.ts, which also says
 *   what a forwarded round does not carry); the owner continues the call as it continues its own.
 *   An owner that is gone is said plainly: the call was lost with it. Without a store (stdio),
 *   paused calls live in memory only.
 */

import { randomBytes } from 'node:crypto';

import {
  inputRequired,
  ProtocolError,
  ProtocolErrorCode,
  type InputRequest,
  type InputRequiredResult,
  type ServerContext,
} from '@modelcontextprotocol/server';

import { BusRpc } from '../state/bus-rpc.js';
import type { RecordStore, StateStore } from '../state/store.js';
import {
  FORWARD_SILENCE_MS,
  forwardedContext,
  lostRound,
  receivedError,
  ROUNDS_SERVICE,
  sentError,
  type ForwardedRound,
  type PausedRecord,
  type RoundReply,
} from './forwarded-rounds.js';

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

/** Paused calls shared by the replicas of one store (an HTTP gateway's); without it, in memory only. */
export interface SharedPauses {
  /** `records('paused-calls')`: requestState → the replica holding the call, and its purpose. */
  records: RecordStore<PausedRecord>;
  /** The bus service of forwarded rounds (ROUNDS_SERVICE), this replica's name on the bus. */
  rpc: BusRpc;
}

/** The store's paused-call records and a bus-rpc service for forwarded rounds. */
export function sharedPauses(store: StateStore): SharedPauses {
  // Secret: a requestState is all a host needs to continue the call (0600 files).
  return {
    records: store.records<PausedRecord>('paused-calls', { secret: true }),
    rpc: new BusRpc(store.bus, ROUNDS_SERVICE),
  };
}

export class InputRelay {
  /** The calls paused in this process's memory, by requestState. */
  private readonly paused = new Map<string, { call: RelayedCall; timer: NodeJS.Timeout }>();
  constructor(
    private readonly pauseMs = PAUSE_MS,
    private readonly shared?: SharedPauses,
  ) {
    // A replica that cannot hear yet (the store away) fails its pauses (below), not its start.
    void shared?.rpc
      .serve((message, { signal }) => this.forwarded(message as ForwardedRound, signal))
      .catch(() => undefined);
  }

  /** Whether another call may pause (else its questions are declined). */
  get full(): boolean {
    return this.paused.size >= MAX_PAUSED;
  }

  /**
   * Serve one round of a host's request: a new call (`start` makes the upstream request with the
   * RelayedCall it is given), or the continuation of a paused one named by its requestState —
   * here, or on the replica that holds it.
   */
  async round<T>(
    ctx: ServerContext,
    purpose: string,
    start: (call: RelayedCall) => Promise<T>,
  ): Promise<T | InputRequiredResult> {
    const state = ctx.mcpReq.requestState();
    if (typeof state !== 'string') {
      const call = new RelayedCall(ctx, purpose);
      call.start(() => start(call));
      return this.outcome<T>(call);
    }
    const owner = await this.claim(state, purpose);
    if (owner !== undefined && owner !== this.shared!.rpc.replica)
      return this.forward(owner, { state, purpose, responses: ctx.mcpReq.inputResponses ?? {} }, ctx);
    return this.outcome<T>(this.resume(state, purpose, ctx));
  }

  /**
   * With shared pauses, make the retry's requestState used up across replicas, and say who holds
   * its call: of two retries with one state on two replicas, exactly one gets past `take`. The
   * record is read first so that a retry for another request leaves it usable (as in memory).
   */
  private async claim(state: string, purpose: string): Promise<string | undefined> {
    if (!this.shared) return undefined;
    const { records } = this.shared;
    const record = await records.get(state).catch(unrecorded);
    if (!record || record.purpose !== purpose) throw invalidState();
    const taken = await records.take(state).catch(unrecorded);
    if (!taken) throw invalidState();
    return taken.replica;
  }

  /** The paused call held here, given the host's next round (its own, or one forwarded to us). */
  private resume(state: string, purpose: string, ctx: ServerContext): RelayedCall {
    const paused = this.paused.get(state);
    if (!paused || paused.call.purpose !== purpose) throw invalidState();
    this.paused.delete(state);
    clearTimeout(paused.timer);
    paused.call.resume(ctx);
    return paused.call;
  }

  /** Wait for the call's result, or pause it on the upstream's next questions. */
  private async outcome<T>(call: RelayedCall): Promise<T | InputRequiredResult> {
    const outcome = await call.next();
    if ('questions' in outcome) return this.pause(call, outcome.questions);
    if (!outcome.ok) throw outcome.error;
    return outcome.value as T;
  }

  private async pause(call: RelayedCall, questions: Question[]): Promise<InputRequiredResult> {
    const state = randomBytes(16).toString('base64url');
    const timer = setTimeout(() => {
      this.paused.delete(state);
      call.cancel('the host did not answer in time');
      void this.shared?.records.delete(state).catch(() => undefined);
    }, this.pauseMs);
    timer.unref();
    this.paused.set(state, { call, timer });
    if (this.shared) {
      try {
        // Heard before recorded: a retry elsewhere must find this replica listening.
        await this.shared.rpc.ready();
        await this.shared.records.put(
          state,
          { replica: this.shared.rpc.replica, purpose: call.purpose },
          { ttlMs: this.pauseMs },
        );
      } catch (error) {
        this.paused.delete(state);
        clearTimeout(timer);
        call.cancel('the paused call could not be recorded');
        unrecorded(error);
      }
    }
    const inputRequests: Record<string, InputRequest> = {};
    for (const question of questions) inputRequests[question.key] = asInputRequest(question);
    return inputRequired({ inputRequests, requestState: state });
  }

  /** A retry that reached another replica: the round goes to the owner, and its outcome comes back. */
  private async forward(owner: string, round: ForwardedRound, ctx: ServerContext) {
    let reply: RoundReply;
    try {
      reply = (await this.shared!.rpc.ask(owner, round, {
        timeoutMs: FORWARD_SILENCE_MS,
        signal: ctx.mcpReq.signal,
      })) as RoundReply;
    } catch (error) {
      throw lostRound(error);
    }
    if (!reply.ok) throw receivedError(reply.error);
    return reply.value as never;
  }

  /** The owner's side of a forwarded round: the same continuation as a round of its own. */
  private async forwarded(round: ForwardedRound, signal: AbortSignal): Promise<RoundReply> {
    try {
      const call = this.resume(round.state, round.purpose, forwardedContext(round.responses, signal));
      return { ok: true, value: await this.outcome(call) };
    } catch (error) {
      return { ok: false, error: sentError(error) };
    }
  }

  async close(): Promise<void> {
    for (const [, { call, timer }] of this.paused) {
      clearTimeout(timer);
      call.cancel('the gateway is closing');
    }
    this.paused.clear();
    // Their records stay until they expire: a retry is forwarded here, heard by nobody, and told
    // the call was lost with this replica (clearer than a requestState said to be unknown).
    await this.shared?.rpc.close();
  }
}

/** The store did not answer (Redis away): the paused call cannot be found or kept, and the host is told why. */
function unrecorded(error: unknown): never {
  throw new ProtocolError(
    ProtocolErrorCode.InternalError,
    `patchbay could not reach the shared state that keeps paused calls (${error instanceof Error ? error.message : String(error)}); call again without requestState once it answers (GET /readyz says).`,
  );
}

function invalidState(): ProtocolError {
  return new ProtocolError(
    ProtocolErrorCode.InvalidParams,
    'Invalid or expired requestState: patchbay holds no paused call by that name for this request; call again without it.',
  );
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
