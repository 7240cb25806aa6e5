/**
 * What the hot path's parts share (hot-path.ts is the core): the host side of one relayed request
 * (hot-host.ts: SSE on an HTTP response, or whole lines on stdio), the upstream side (an open
 * 2025-era session's raw side: hot-http-upstream.ts over Streamable HTTP, hot-stdio-upstream.ts
 * over stdio), and how an answer is summed up for its audit line.
 */

import type { TraceContext } from '../core/trace-context.js';
import type { PatchbayError } from '../errors.js';
import { firstText, type CallResult } from '../use/guarded-call.js';

export type JsonRpcId = string | number;

export type HotMethod = 'tools/call' | 'prompts/get' | 'resources/read';

export interface Summary {
  isError: boolean;
  errorText?: string | undefined;
  bytes: number;
}

/** How an admitted request ended, for its audit line. */
export type Ending = Summary | { error: unknown };

/** Where the answer of one relayed request goes: the host that asked. */
export interface HostSide {
  /** The host's answer is complete, or abandoned. */
  readonly ended: boolean;
  /** Part of the answer went out in a way that cannot be taken back (a streamed response began). */
  readonly committed: boolean;
  /** The upstream accepted the request: the answer will follow (HTTP: the response head goes out). */
  open(): void;
  /** One whole JSON-RPC message to the host (a progress notification). */
  send(text: string): void;
  /** The last message, the response: the exchange ends with it. */
  finish(text: string): void;
  /** A large response passed through as it arrives: the bytes of its JSON text, then its end. */
  streamStart(): void;
  streamWrite(bytes: Buffer): void;
  streamEnd(): void;
  /** The request was cancelled: the exchange ends without an answer. */
  abandon(): void;
  /** A streamed answer broke off after part of it went out: the host's exchange breaks. */
  destroy(): void;
  /** Resolves once the host took what was written (undefined: it has room). */
  drained(): Promise<void> | undefined;
  /** `listener` when the host goes away before its answer ended; returns the unsubscribe. */
  onGone(listener: () => void): () => void;
  /** The cancellation's reason when the host goes away, as the full path gives it (its audit line, upstream). */
  readonly goneReason?: string;
}

/** How one relayed request ended upstream. */
export type Outcome =
  /** The response reached the host (and `answered` was called). */
  | { kind: 'answered' }
  /** The host cancelled; the cancellation is the core's to finish. */
  | { kind: 'cancelled' }
  /** The upstream refused it, or it never left: nothing ran, the SDK session may try. */
  | { kind: 'refused' }
  /** The connection broke (or the request timed out) before the whole response was relayed. */
  | { kind: 'broke'; reason?: PatchbayError };

/** One request for an upstream link to send and relay. */
export interface LinkCall {
  /** The gateway's own id for it upstream (a string no SDK client uses). */
  upstreamId: string;
  /** The host's id, which its response must carry. */
  hostId: JsonRpcId;
  method: HotMethod;
  /** The params upstream, `_meta.progressToken` the host's (a link may put its own in its place). */
  params: Record<string, unknown>;
  progressToken: string | number | undefined;
  /** The host's W3C trace context: also sent as headers where the link has them (HTTP). */
  trace?: TraceContext;
  host: HostSide;
  /** Aborted when the host cancelled. */
  signal: AbortSignal;
  /** The response is on its way to the host: what its audit line records. */
  answered(ending: Ending): void;
}

/** An open upstream session's raw side. */
export interface UpstreamLink {
  exchange(call: LinkCall): Promise<Outcome>;
  /** Tell the upstream a relayed request was cancelled. */
  cancel(upstreamId: string, reason: string | undefined): void;
  /** A relayed request's answer broke off: the session is lost, as when one of its own breaks. */
  broken(method: string): void;
}

/** A response's size less its envelope: the result's serialized size, as the full path counts it. */
export function resultBytes(messageBytes: number, id: JsonRpcId): number {
  const envelope = Buffer.byteLength(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":}`);
  return Math.max(0, messageBytes - envelope);
}

/** What the audit reads of a whole response message. */
export function summarize(message: Record<string, unknown>, bytes: number): Ending {
  const result = message.result as CallResult | undefined;
  if (!result) {
    // A JSON-RPC error: recorded as the full path records the SDK's thrown ProtocolError.
    const error = message.error as { message?: unknown } | undefined;
    return { error: new Error(String(error?.message ?? 'the upstream answered with an error')) };
  }
  return result.isError ? { isError: true, errorText: firstText(result), bytes } : { isError: false, bytes };
}
