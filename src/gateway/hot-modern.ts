/**
 * What the hot path does differently for a 2026-07-28 host (served per request, no session): the
 * request is read as the SDK's entry reads it (`classifyInboundRequest`, then the standard headers
 * checked against the body), the host's name and capabilities come from the request's `_meta`
 * envelope, and the answer is the one the SDK's per-request server would give — the result stamped
 * as its encoder stamps it (`resultType`, the cache fields of a read, the gateway's identity in
 * `_meta`), a JSON-RPC error's code mapped as its encoder maps it, and the HTTP status the
 * per-request transport gives it.
 *
 * Anything the hot path does not read exactly as the SDK would is left to the full path (it
 * answers the refusals): another revision, a missing or mismatched header, an envelope with more
 * than the version, client info, capabilities, a log level, a progress token and a trace context.
 */

import type { IncomingMessage } from 'node:http';

import {
  classifyInboundRequest,
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  isSpecType,
  LOG_LEVEL_META_KEY,
  PROTOCOL_VERSION_META_KEY,
  SERVER_INFO_META_KEY,
} from '@modelcontextprotocol/server';

import { LOG_LEVELS } from '../core/log-levels.js';
import type { HotMethod } from './hot-wire.js';

/** The revision whose answers this file produces; another one takes the full path. */
export const MODERN_REVISION = '2026-07-28';

/** The gateway's identity as its SDK server stamps it on 2026-07-28 results. */
export interface ServerIdentity {
  name: string;
  version: string;
  title?: string;
}

/** What a 2026-07-28 request's envelope says of its host. */
export interface Envelope {
  hostName: string | null;
  capabilities: Record<string, unknown>;
}

const ENVELOPE_KEYS: ReadonlySet<string> = new Set([
  PROTOCOL_VERSION_META_KEY,
  CLIENT_INFO_META_KEY,
  CLIENT_CAPABILITIES_META_KEY,
  LOG_LEVEL_META_KEY,
  'progressToken',
  // The host's trace context, passed upstream as for any host (hot-path.ts).
  'traceparent',
  'tracestate',
]);

const KNOWN_LOG_LEVELS: ReadonlySet<unknown> = new Set(LOG_LEVELS);

/**
 * The envelope of a 2026-07-28 request the hot path can serve, or undefined (the full path's: it
 * answers, or refuses, as the SDK does). The request's headers must say what its body says.
 */
export function modernEnvelope(req: IncomingMessage, body: unknown): Envelope | undefined {
  const header = (name: string) => {
    const value = req.headers[name];
    return typeof value === 'string' ? value.trim() : undefined;
  };
  const version = header('mcp-protocol-version');
  const method = header('mcp-method');
  const name = header('mcp-name');
  if (version !== MODERN_REVISION || method === undefined || name === undefined) return undefined;
  const outcome = classifyInboundRequest({
    httpMethod: 'POST',
    protocolVersionHeader: version,
    mcpMethodHeader: method,
    mcpNameHeader: name,
    body,
  });
  if (outcome.kind !== 'modern' || outcome.messageKind !== 'request') return undefined;
  if (outcome.classification.revision !== MODERN_REVISION) return undefined;
  const message = body as { method: string; params?: Record<string, unknown> };
  const params = message.params;
  if (!isPlain(params) || method !== message.method) return undefined;
  // Mcp-Name as it stands (a Base64-encoded one is the full path's to decode).
  const target = message.method === 'resources/read' ? params.uri : params.name;
  if (typeof target !== 'string' || target !== name) return undefined;
  const meta = params._meta;
  if (!isPlain(meta)) return undefined;
  for (const key of Object.keys(meta)) if (!ENVELOPE_KEYS.has(key)) return undefined;
  if (meta[PROTOCOL_VERSION_META_KEY] !== MODERN_REVISION) return undefined;
  // The SDK's own schemas (the full path refuses an envelope they reject).
  const capabilities = meta[CLIENT_CAPABILITIES_META_KEY];
  if (!isPlain(capabilities) || !isSpecType.ClientCapabilities(capabilities)) return undefined;
  const level = meta[LOG_LEVEL_META_KEY];
  if (level !== undefined && !KNOWN_LOG_LEVELS.has(level)) return undefined;
  const info = meta[CLIENT_INFO_META_KEY];
  if (info === undefined) return { hostName: null, capabilities };
  if (!isSpecType.Implementation(info)) return undefined;
  return { hostName: info.name, capabilities };
}

/** A whole response message made into the one the full path gives a 2026-07-28 host. */
export function modernAnswer(
  text: string,
  method: HotMethod,
  server: ServerIdentity,
): { text: string; status: number } {
  const message = JSON.parse(text) as Record<string, unknown>;
  const { id } = message;
  if (isPlain(message.result))
    return {
      text: JSON.stringify({ result: stampResult(method, message.result, server), jsonrpc: '2.0', id }),
      status: 200,
    };
  const error = (isPlain(message.error) ? message.error : {}) as {
    code?: unknown;
    message?: unknown;
    data?: unknown;
  };
  const thrown = Number.isSafeInteger(error.code) ? (error.code as number) : INTERNAL_ERROR;
  const code = thrown === RESOURCE_NOT_FOUND ? INVALID_PARAMS : thrown;
  return {
    text: JSON.stringify({
      jsonrpc: '2.0',
      id,
      error: {
        code,
        message: typeof error.message === 'string' ? error.message : 'Internal error',
        ...(error.data === undefined ? {} : { data: error.data }),
      },
    }),
    // The SDK's httpStatusForErrorCode for a handler's error: in band, but for this one.
    status: code === MISSING_CLIENT_CAPABILITY ? 400 : 200,
  };
}

/**
 * A progress notification as the full path's server writes it (the host's token first in its
 * params, as relay.ts puts it back); it is small, so made again rather than passed through.
 */
export function modernNotification(text: string): string {
  const message = JSON.parse(text) as { method?: unknown; params?: unknown };
  if (!isPlain(message.params)) return text;
  const { progressToken, ...rest } = message.params;
  return JSON.stringify({ jsonrpc: '2.0', method: message.method, params: { progressToken, ...rest } });
}

const INTERNAL_ERROR = -32603;
const INVALID_PARAMS = -32602;
const RESOURCE_NOT_FOUND = -32002;
const MISSING_CLIENT_CAPABILITY = -32021;

/**
 * A result as the full path's server sends it: the upstream's 2025-era result as its SDK client
 * decodes it (a `resultType` dropped), then the SDK server's encoder (`resultType`, the cache
 * fields of a read, the server's identity added to `_meta` unless there).
 */
export function stampResult(
  method: HotMethod,
  result: Record<string, unknown>,
  server: ServerIdentity,
): Record<string, unknown> {
  const { resultType: _dropped, ...decoded } = result;
  let stamped: Record<string, unknown> = { ...decoded, resultType: 'complete' };
  if (method === 'resources/read') {
    const { ttlMs, cacheScope } = stamped;
    stamped = {
      ...stamped,
      ttlMs: isTtl(ttlMs) ? ttlMs : 0,
      cacheScope: cacheScope === 'public' || cacheScope === 'private' ? cacheScope : 'private',
    };
  }
  const meta = stamped._meta;
  if (meta === undefined) return { ...stamped, _meta: { [SERVER_INFO_META_KEY]: server } };
  if (!isPlain(meta) || meta[SERVER_INFO_META_KEY] !== undefined) return stamped;
  return { ...stamped, _meta: { ...meta, [SERVER_INFO_META_KEY]: server } };
}

function isTtl(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function isPlain(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A large response streamed through with the stamps of `stampResult` spliced in as it passes:
 * the JSON's structure is followed byte by byte (strings, escapes, depth) to know the result's
 * top-level keys, to put the server's identity at the end of its `_meta` when it has one, and the
 * rest before the result's closing brace. A result that carries its own `resultType` (which the
 * full path would drop and stamp again) keeps it: a 2025-era upstream has no reason to send one.
 */
export class StampStream {
  private depth = 0;
  private inString = false;
  private escape = false;
  /** Where we are in the message: before/inside/after the `result` value. */
  private resultDepth = -1;
  /** The last significant byte outside strings (a key follows `{` or `,`). */
  private last = 0;
  private key: number[] | undefined;
  private keyDepth = 0;
  private lastKey = '';
  private readonly keys = new Set<string>();
  private metaDepth = -1;
  private metaKeys = 0;
  private metaHasInfo = false;
  private done = false;

  constructor(
    private readonly method: HotMethod,
    private readonly server: ServerIdentity,
    private readonly out: (bytes: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let from = 0;
    for (let at = 0; at < chunk.length; at++) {
      const byte = chunk[at]!;
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (byte === BACKSLASH) this.escape = true;
        else if (byte === QUOTE) {
          this.inString = false;
          if (this.key) {
            this.lastKey = Buffer.from(this.key).toString('utf8');
            this.key = undefined;
            this.onKey(this.keyDepth, this.lastKey);
          }
        } else if (this.key && this.key.length < 64) this.key.push(byte);
        continue;
      }
      if (byte === QUOTE) {
        this.inString = true;
        if (this.last === OPEN_BRACE || this.last === COMMA) {
          // A key only where an object's member begins.
          this.key = [];
          this.keyDepth = this.depth;
        }
        this.last = byte;
        continue;
      }
      if (byte === SPACE || byte === LF || byte === CR || byte === TAB) continue;
      if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
        if (
          byte === OPEN_BRACE &&
          this.resultDepth < 0 &&
          this.depth === 1 &&
          this.lastKey === 'result' &&
          this.last === COLON
        )
          this.resultDepth = 2;
        if (
          byte === OPEN_BRACE &&
          this.resultDepth === 2 &&
          this.depth === 2 &&
          this.lastKey === '_meta' &&
          this.last === COLON
        )
          this.metaDepth = 3;
        this.depth++;
        this.last = byte;
        continue;
      }
      if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        if (byte === CLOSE_BRACE && this.depth === 3 && this.metaDepth === 3 && !this.done) {
          // The end of the result's `_meta`: the server's identity goes last in it.
          if (!this.metaHasInfo) {
            this.out(chunk.subarray(from, at));
            from = at;
            this.out(Buffer.from(`${this.metaKeys > 0 ? ',' : ''}${infoMember(this.server)}`));
          }
          this.metaDepth = -2;
        } else if (byte === CLOSE_BRACE && this.depth === 2 && this.resultDepth === 2 && !this.done) {
          this.out(chunk.subarray(from, at));
          from = at;
          this.out(Buffer.from(this.tail()));
          this.done = true;
        }
        this.depth--;
        this.last = byte;
        continue;
      }
      this.last = byte;
    }
    if (from < chunk.length) this.out(from === 0 ? chunk : chunk.subarray(from));
  }

  /** Whether the result's end was found (and stamped). */
  get stamped(): boolean {
    return this.done;
  }

  private onKey(depth: number, key: string): void {
    if (this.resultDepth === 2 && depth === 2) this.keys.add(key);
    else if (this.metaDepth === 3 && depth === 3) {
      this.metaKeys++;
      if (key === SERVER_INFO_META_KEY) this.metaHasInfo = true;
    }
  }

  /** What goes before the result's closing brace (it had members unless it is `{}`). */
  private tail(): string {
    const members: string[] = [];
    if (!this.keys.has('resultType')) members.push('"resultType":"complete"');
    if (this.method === 'resources/read') {
      if (!this.keys.has('ttlMs')) members.push('"ttlMs":0');
      if (!this.keys.has('cacheScope')) members.push('"cacheScope":"private"');
    }
    if (!this.keys.has('_meta')) members.push(`"_meta":{${infoMember(this.server)}}`);
    if (members.length === 0) return '';
    return `${this.keys.size > 0 ? ',' : ''}${members.join(',')}`;
  }
}

function infoMember(server: ServerIdentity): string {
  return `${JSON.stringify(SERVER_INFO_META_KEY)}:${JSON.stringify(server)}`;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const SPACE = 0x20;
const LF = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
