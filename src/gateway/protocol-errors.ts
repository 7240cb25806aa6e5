/**
 * The one place a failure becomes what a host reads (house style 5: local errors never cross the
 * wire as they are). A JSON-RPC error (the gateway's own, or an upstream's answer) passes as it
 * is; a PatchbayError says what failed and the fix; anything else is a fault of patchbay's — its
 * text (a TypeError's, say) goes to the gateway's stderr, and the host gets a plain internal error.
 * An upstream that cannot be reached during a tool call is not a protocol error but a tool result
 * that says why (`unavailable`), so the model reads it.
 */

import { ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/server';

import { PatchbayError } from '../errors.js';

/** What a handler's failure becomes for the host; `what` names the request (`tools/call`). */
export function sealed(
  what: string,
  error: unknown,
  onWarning: ((message: string) => void) | undefined,
): never {
  if (typeof (error as { code?: unknown } | null)?.code === 'number') throw error;
  if (error instanceof PatchbayError) asProtocolError(error);
  if (isAbort(error)) throw error;
  onWarning?.(
    `${what} failed inside patchbay: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  throw new ProtocolError(
    ProtocolErrorCode.InternalError,
    `patchbay could not serve ${what} (an internal fault, logged by the gateway).`,
  );
}

/** Local failures become a JSON-RPC error with the reason and the fix. */
export function asProtocolError(error: unknown): never {
  if (error instanceof PatchbayError) {
    throw new ProtocolError(
      ProtocolErrorCode.InternalError,
      `${error.message}${error.hint ? ` Fix: ${error.hint}` : ''}`,
    );
  }
  throw error;
}

/** A name or URI no upstream offers. */
export function unknownItem(what: 'tool' | 'prompt' | 'resource', name: string): never {
  throw new ProtocolError(
    ProtocolErrorCode.InvalidParams,
    what === 'resource' ? `No server behind patchbay offers ${name}` : `Unknown ${what}: ${name}`,
  );
}

/** An upstream that cannot be reached: the call's result says why and what to run. */
export function unavailable(server: string, error: PatchbayError) {
  const hint = error.hint ? ` Fix: ${error.hint}` : '';
  return {
    isError: true,
    content: [
      { type: 'text' as const, text: `patchbay could not reach ${server}: ${error.message}.${hint}` },
    ],
  };
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}
