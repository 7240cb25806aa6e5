/**
 * A round of a paused call that reached another replica than the one holding the call
 * (input-relay.ts): what goes over the bus (state/bus-rpc.ts) to the owner, and what comes back.
 * The owner continues the call as it would a round of its own; only the round's request is not
 * there, so it gets a context made of what the call reads of one: the host's answers and a
 * cancellation signal (the forwarding replica's host cancelling reaches it through the bus).
 *
 * What does not cross: progress notifications of the continued call (the context has no progress
 * token, so the owner sends none; the host still gets the result), and the host's trace headers
 * for that round (the call's first round carried them upstream already).
 */

import { ProtocolError, ProtocolErrorCode, type ServerContext } from '@modelcontextprotocol/server';

import { PatchbayError, type ErrorCode } from '../errors.js';
import { BusRpcError } from '../state/bus-rpc.js';

/** The bus service of forwarded rounds. */
export const ROUNDS_SERVICE = 'rounds';

/**
 * How long a forwarding replica waits without a word from the owner. The owner says it is still
 * at it while the call runs (bus-rpc), so this bounds noticing an owner killed mid-round, not
 * the call's own length (which its upstream request's timeout bounds).
 */
export const FORWARD_SILENCE_MS = 15_000;

/** Who holds a paused call, in the store under its requestState. */
export interface PausedRecord {
  /** The bus name of the replica whose memory holds the call. */
  replica: string;
  /** What the call was made for (method and target), which a retry must match. */
  purpose: string;
}

export interface ForwardedRound {
  state: string;
  purpose: string;
  /** The host's `inputResponses`, as it sent them. */
  responses: Record<string, unknown>;
}

type SentError =
  | { kind: 'protocol'; code: number; message: string; data?: unknown }
  | { kind: 'patchbay'; code: ErrorCode; message: string; hint?: string }
  | { kind: 'other'; message: string };

export type RoundReply = { ok: true; value: unknown } | { ok: false; error: SentError };

/** The request context a forwarded round continues a call with (the fields a RelayedCall reads). */
export function forwardedContext(responses: Record<string, unknown>, signal: AbortSignal): ServerContext {
  return {
    mcpReq: {
      inputResponses: responses,
      signal,
      _meta: {},
      requestState: () => undefined,
      notify: async () => undefined,
    },
  } as unknown as ServerContext;
}

/**
 * A round's failure as JSON: the gateway's own errors and protocol errors keep what the host's
 * answer is made of (code, message, hint or data), so the forwarding replica maps them as the
 * owner would have; anything else arrives as its message.
 */
export function sentError(error: unknown): SentError {
  if (error instanceof ProtocolError)
    return {
      kind: 'protocol',
      code: error.code,
      message: error.message,
      ...(error.data === undefined ? {} : { data: error.data }),
    };
  if (error instanceof PatchbayError)
    return {
      kind: 'patchbay',
      code: error.code,
      message: error.message,
      ...(error.hint ? { hint: error.hint } : {}),
    };
  return { kind: 'other', message: error instanceof Error ? error.message : String(error) };
}

export function receivedError(error: SentError): Error {
  if (error.kind === 'protocol') return ProtocolError.fromError(error.code, error.message, error.data);
  if (error.kind === 'patchbay')
    return new PatchbayError(error.code, error.message, error.hint ? { hint: error.hint } : {});
  return new Error(error.message);
}

/** The bus could not carry the round to the owner, or no answer came: say what it means for the host. */
export function lostRound(error: unknown): Error {
  return lostOnReplica(error, {
    gone: 'The paused call was lost with the patchbay replica that held it (that replica is gone); call again without requestState.',
    timeout: (why) =>
      `The patchbay replica that holds the paused call stopped answering (${why}); the call may be lost with it: call again without requestState.`,
    failed: (why) =>
      `patchbay could not pass the answers to the replica that holds the paused call (${why}); call again without requestState.`,
  });
}

/**
 * What a request forwarded to another replica over the bus (a paused call's round, a task's
 * request) failing means for the host, in the words of what was forwarded: its holder is gone, it
 * stopped answering, or the bus could not carry it. A cancellation is passed on as it is.
 */
export function lostOnReplica(
  error: unknown,
  words: { gone: string; timeout: (why: string) => string; failed: (why: string) => string },
): Error {
  if (error instanceof BusRpcError && error.reason === 'cancelled') return error;
  if (error instanceof BusRpcError && error.reason === 'gone')
    return new ProtocolError(ProtocolErrorCode.InvalidParams, words.gone);
  if (error instanceof BusRpcError && error.reason === 'timeout')
    return new ProtocolError(ProtocolErrorCode.InternalError, words.timeout(error.message));
  return new ProtocolError(
    ProtocolErrorCode.InternalError,
    words.failed(error instanceof Error ? error.message : String(error)),
  );
}
