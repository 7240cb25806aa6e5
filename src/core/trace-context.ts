/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` a host sent, and
 * its `tracestate`, passed on upstream as they came so that a trace spans host, gateway and
 * server. Only a valid traceparent is passed; a tracestate only with one (the spec's rule), and
 * only when it is a plain header value of sane length. The MCP spec carries the same two in a
 * request's `_meta` (keys `traceparent`, `tracestate`) for transports without headers (stdio).
 */

export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

/** version-traceid-parentid-flags, lowercase hex; version ff is invalid, all-zero ids are invalid. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
/** The spec's limit is 32 members of up to 256 characters; 512 is what it asks to keep at least. */
const MAX_TRACESTATE = 512;

/** The trace context of these values (headers or `_meta`), or undefined when there is no valid one. */
export function traceContext(traceparent: unknown, tracestate: unknown): TraceContext | undefined {
  if (typeof traceparent !== 'string') return undefined;
  const value = traceparent.trim();
  const match = TRACEPARENT.exec(value);
  if (!match) return undefined;
  const [, version, traceId, parentId, , rest] = match;
  if (version === 'ff' || /^0+$/.test(traceId!) || /^0+$/.test(parentId!)) return undefined;
  // Version 00 has exactly four fields; a later version may add some (passed on as sent).
  if (version === '00' && rest !== undefined) return undefined;
  if (rest !== undefined && !/^[\x21-\x7e-]*$/.test(rest)) return undefined;
  const state = typeof tracestate === 'string' ? tracestate.trim() : undefined;
  return state && state.length <= MAX_TRACESTATE && /^[\x20-\x7e]+$/.test(state)
    ? { traceparent: value, tracestate: state }
    : { traceparent: value };
}

/** A host's HTTP request's trace context (a header sent twice is no valid one). */
export function traceFromHeaders(
  headers: Record<string, string | string[] | undefined>,
): TraceContext | undefined {
  const state = headers.tracestate;
  // Several tracestate headers are one list (RFC 9110 field combination).
  return traceContext(headers.traceparent, Array.isArray(state) ? state.join(',') : state);
}

/** A request's `_meta` trace context (a stdio host's, or any host's that sends it so). */
export function traceFromMeta(meta: unknown): TraceContext | undefined {
  if (typeof meta !== 'object' || meta === null) return undefined;
  const { traceparent, tracestate } = meta as { traceparent?: unknown; tracestate?: unknown };
  return traceContext(traceparent, tracestate);
}

/** The headers to send upstream. */
export function traceHeaders(trace: TraceContext): Record<string, string> {
  return trace.tracestate
    ? { traceparent: trace.traceparent, tracestate: trace.tracestate }
    : { traceparent: trace.traceparent };
}
