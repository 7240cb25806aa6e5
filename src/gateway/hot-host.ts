/**
 * The hot path's host side: where one relayed request's answer goes — on the host's POST
 * (`HttpReply` for a 2025-era session, `ModernReply` for a 2026-07-28 request: JSON when the
 * response is the only message, SSE from the first notification on), or whole JSON-RPC lines on
 * stdout (`LineReply`, as the stdio transport writes them, between the SDK server's own lines).
 */

import type { ServerResponse } from 'node:http';

import { nextEol } from './hot-bytes.js';
import { modernAnswer, modernNotification, StampStream, type ServerIdentity } from './hot-modern.js';
import type { HostSide, HotMethod } from './hot-wire.js';

/** On every answer the hot path gave over HTTP (a diagnostic: which path served a request). */
export const RELAY_HEADER = 'x-patchbay-relay';

/** What an answer on an HTTP response does the same whatever its shape (HttpReply, ModernReply). */
abstract class ResponseReply {
  constructor(protected readonly res: ServerResponse) {}

  get ended(): boolean {
    return this.res.writableEnded;
  }

  abandon(): void {
    if (!this.res.headersSent) this.res.writeHead(202);
    this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }

  drained(): Promise<void> | undefined {
    return drained(this.res);
  }

  onGone(listener: () => void): () => void {
    return onGone(this.res, listener);
  }
}

/**
 * A 2025-era host's POST. A response that is the only message is answered as JSON, which the
 * host accepts (it must, and the hot path takes only hosts that say so): the smaller framing, and
 * for the host one JSON parse instead of an event-stream pipeline. From the first notification
 * (progress) or a streamed large response on, it is SSE, as the session transport answers. Either
 * way the head goes out with the first message (node:http sends it with the first write).
 */
export class HttpReply extends ResponseReply implements HostSide {
  constructor(
    res: ServerResponse,
    private readonly sessionId: string,
  ) {
    super(res);
  }

  get committed(): boolean {
    return this.streaming;
  }

  private streaming = false;

  open(): void {}

  send(text: string): void {
    if (this.res.writableEnded) return;
    this.sse();
    this.event(text);
  }

  finish(text: string): void {
    if (this.res.writableEnded) return;
    // One write either way: the head, the message and the last chunk leave in one system call.
    if (this.res.headersSent) return void this.res.end(sseEvent(text));
    this.res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'mcp-session-id': this.sessionId,
      [RELAY_HEADER]: 'hot',
    });
    this.res.end(text);
  }

  streamStart(): void {
    this.sse();
    this.streaming = true;
    this.res.write('event: message\ndata: ');
  }

  streamWrite(bytes: Buffer): void {
    writeData(this.res, bytes);
  }

  streamEnd(): void {
    this.res.end('\n\n');
  }

  private event(text: string): void {
    event(this.res, text);
  }

  /** A cancelled request's POST ends as the session transport's would: an SSE stream with no event. */
  override abandon(): void {
    this.sse();
    this.res.end();
  }

  /** The SSE head, unless it is written already. */
  private sse(): void {
    if (!this.res.headersSent) this.res.writeHead(200, sseHeaders(this.sessionId));
  }
}

/**
 * A 2026-07-28 host's POST (no session), answered as the SDK's per-request transport answers it:
 * JSON when the response is the first message, SSE from the first notification on (progress), the
 * response made the full path's (hot-modern.ts). The head waits for the first message.
 */
export class ModernReply extends ResponseReply implements HostSide {
  /** As the full path's round ends (input-relay.ts), the reason as its SDK client passes it on. */
  readonly goneReason = 'Error: the host cancelled the request';
  private mode: 'none' | 'json' | 'sse' = 'none';
  private streaming = false;
  private stamp: StampStream | undefined;

  constructor(
    res: ServerResponse,
    private readonly method: HotMethod,
    private readonly server: ServerIdentity,
  ) {
    super(res);
  }

  get committed(): boolean {
    return this.streaming;
  }

  open(): void {}

  send(text: string): void {
    if (this.res.writableEnded) return;
    this.sse();
    event(this.res, modernNotification(text));
  }

  finish(text: string): void {
    if (this.res.writableEnded) return;
    const answer = modernAnswer(text, this.method, this.server);
    if (this.mode === 'sse') {
      this.res.end(sseEvent(answer.text));
      return;
    }
    this.res.writeHead(answer.status, { 'content-type': 'application/json', [RELAY_HEADER]: 'hot' });
    this.res.end(answer.text);
  }

  streamStart(): void {
    this.streaming = true;
    const write =
      this.mode === 'sse'
        ? (bytes: Buffer) => writeData(this.res, bytes)
        : (bytes: Buffer) => void this.res.write(bytes);
    if (this.mode === 'sse') this.res.write('event: message\ndata: ');
    else {
      this.mode = 'json';
      this.res.writeHead(200, { 'content-type': 'application/json', [RELAY_HEADER]: 'hot' });
    }
    this.stamp = new StampStream(this.method, this.server, write);
  }

  streamWrite(bytes: Buffer): void {
    this.stamp!.push(bytes);
  }

  streamEnd(): void {
    // A result whose end was never found cannot be the full path's answer: the exchange breaks.
    if (!this.stamp?.stamped) return this.destroy();
    this.res.end(this.mode === 'sse' ? '\n\n' : undefined);
  }

  private sse(): void {
    if (this.mode !== 'none') return;
    this.mode = 'sse';
    this.res.writeHead(200, MODERN_SSE_HEADERS);
  }
}

/** The per-request transport's SSE head (no session). */
const MODERN_SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
  [RELAY_HEADER]: 'hot',
};

function event(res: ServerResponse, text: string): void {
  res.write(sseEvent(text));
}

/**
 * A message as one SSE event, written whole: each write is a chunk and, on a socket that can take
 * it, a system call of its own. A line break inside it (JSON whitespace) starts another `data:`
 * line, as writeData does for streamed bytes.
 */
function sseEvent(text: string): string {
  const data = text.includes('\n') || text.includes('\r') ? text.replace(/[\r\n]/g, '\ndata: ') : text;
  return `event: message\ndata: ${data}\n\n`;
}

/** Resolves when `out` can take more (or closed); undefined when it can now. */
function drained(out: NodeJS.WritableStream & { writableNeedDrain?: boolean }): Promise<void> | undefined {
  if (!out.writableNeedDrain) return undefined;
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.once('drain', done);
    out.once('close', done);
  });
}

function onGone(res: ServerResponse, listener: () => void): () => void {
  const onClose = () => {
    if (!res.writableFinished) listener();
  };
  res.once('close', onClose);
  return () => res.off('close', onClose);
}

/**
 * A stdio host's request, answered with whole lines on the stream the SDK server writes to. Each
 * message is one write of one line, so it never splits another's; a large response is collected
 * and written whole (a line cannot be interleaved), so its memory is its size. JSON whitespace
 * line breaks (a pretty-printed upstream answer, SSE data lines joined) become spaces: stdio
 * messages are one line each.
 */
export class LineReply implements HostSide {
  ended = false;
  readonly committed = false;
  private parts: Buffer[] = [];
  /** A message was written in this turn of the event loop. */
  private sentThisTurn = false;

  constructor(private readonly out: NodeJS.WritableStream & { writableNeedDrain?: boolean }) {}

  open(): void {}

  send(text: string): void {
    if (this.ended) return;
    this.line(text);
    if (this.sentThisTurn) return;
    this.sentThisTurn = true;
    setImmediate(() => (this.sentThisTurn = false));
  }

  finish(text: string): void {
    if (this.ended) return;
    this.ended = true;
    this.parts = [];
    // A host's SDK client handles a notification a microtask after reading it and a response at
    // once: a progress notification read in the same chunk as the response would be dropped. The
    // response written a turn later gives the host the chance to read them apart.
    if (this.sentThisTurn) setImmediate(() => this.line(text));
    else this.line(text);
  }

  streamStart(): void {
    this.parts = [];
  }

  streamWrite(bytes: Buffer): void {
    this.parts.push(Buffer.from(bytes));
  }

  streamEnd(): void {
    const text = Buffer.concat(this.parts).toString('utf8');
    this.finish(text);
  }

  abandon(): void {
    this.ended = true;
    this.parts = [];
  }

  destroy(): void {
    this.abandon();
  }

  drained(): Promise<void> | undefined {
    return drained(this.out);
  }

  onGone(): () => void {
    // The host going away ends the whole stdio gateway.
    return () => undefined;
  }

  private line(text: string): void {
    const flat = text.includes('\n') || text.includes('\r') ? text.replace(/[\r\n]/g, ' ') : text;
    this.out.write(`${flat}\n`);
  }
}

/** SSE data bytes: a line break inside them (JSON whitespace) starts another `data:` line. */
function writeData(res: ServerResponse, bytes: Buffer): void {
  for (let from = 0; ;) {
    const eol = nextEol(bytes, from);
    if (eol < 0) {
      if (from < bytes.length) res.write(from === 0 ? bytes : bytes.subarray(from));
      return;
    }
    if (eol > from) res.write(bytes.subarray(from, eol));
    res.write('\ndata: ');
    from = eol + 1;
  }
}

/** The headers of the full path's answer to a POST (the SDK's session transport, as SSE). */
function sseHeaders(sessionId: string): Record<string, string> {
  return {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'mcp-session-id': sessionId,
    [RELAY_HEADER]: 'hot',
  };
}
