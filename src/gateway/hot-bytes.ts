/**
 * The hot path's byte handling of an upstream's answer over HTTP: SSE framing as chunks arrive
 * (`SseParser`), a small final response's id rewritten without rebuilding it (`Answer`), and a
 * large one passed through with bounded memory (`ResponseStream`).
 */

import { resultBytes, summarize, type Ending, type JsonRpcId } from './hot-wire.js';

/** An upstream message up to this size is parsed; a larger response is streamed through. */
export const PARSE_LIMIT = 16 * 1024;
/** Of a large response, this much of its head is kept: an error's first text (the whole, if it fits). */
const HEAD_LIMIT = 256 * 1024;

/** The final response's id rewritten, and what the audit reads of it (a message parsed whole). */
export class Answer {
  private readonly suffix: string;
  private readonly replacement: string;

  constructor(
    private readonly upstreamId: string,
    private readonly hostId: JsonRpcId,
  ) {
    this.suffix = `"id":${JSON.stringify(upstreamId)}}`;
    this.replacement = `"id":${JSON.stringify(hostId)}}`;
  }

  final(text: string, parsed?: Record<string, unknown>): { text: string; summary: Ending } {
    const bytes = resultBytes(Buffer.byteLength(text), this.upstreamId);
    let message = parsed;
    // A large result is parsed only when it may be an error (to read its first text).
    if (!message && (text.length <= PARSE_LIMIT || text.includes('"isError":true')))
      message = JSON.parse(text) as Record<string, unknown>;
    const summary = message ? summarize(message, bytes) : { isError: false, bytes };
    const trimmed = text.trimEnd();
    if (trimmed.endsWith(this.suffix))
      return { text: `${trimmed.slice(0, -this.suffix.length)}${this.replacement}`, summary };
    message ??= JSON.parse(text) as Record<string, unknown>;
    return { text: JSON.stringify({ ...message, id: this.hostId }), summary };
  }
}

/** Where an SSE parser (or a JSON body, as one message) delivers an upstream message's bytes. */
export interface MessageSink {
  /** Bytes of a message; `newLine` when they begin another `data:` line of the same event. */
  data(bytes: Buffer, newLine: boolean): void;
  /** The message is complete (an SSE event was dispatched; a JSON body ended). */
  end(): void;
}

/**
 * SSE framing over bytes: each event's data handed on as it arrives (a 10 MiB `data:` line is
 * never held whole), other fields skipped.
 */
export class SseParser {
  private state: 'name' | 'data' | 'skip' = 'name';
  private name = '';
  /** The first byte of a data value: one leading space is not part of it. */
  private valueStart = false;
  private lastWasCr = false;
  private hasData = false;

  constructor(private readonly sink: MessageSink) {}

  push(chunk: Buffer): void {
    let at = 0;
    if (this.lastWasCr && chunk.length > 0) {
      this.lastWasCr = false;
      if (chunk[0] === LF) at = 1;
    }
    while (at < chunk.length) {
      if (this.state === 'name') {
        const byte = chunk[at]!;
        if (byte === LF || byte === CR) {
          // A line without a colon: a blank one dispatches the event; `data` alone is an empty line.
          if (this.name === '') this.dispatch();
          else if (this.name === 'data') this.dataLine(Buffer.alloc(0));
          this.name = '';
          at = this.endOfLine(chunk, at);
          continue;
        }
        if (byte === COLON) {
          this.state = this.name === 'data' ? 'data' : 'skip';
          if (this.state === 'data') this.dataLine(undefined);
          this.name = '';
          this.valueStart = true;
          at++;
          continue;
        }
        // Field names are short; a long one is no field this parser reads.
        if (this.name.length < 16) this.name += String.fromCharCode(byte);
        at++;
        continue;
      }
      const eol = nextEol(chunk, at);
      const stop = eol < 0 ? chunk.length : eol;
      if (this.state === 'data') {
        let from = at;
        if (this.valueStart && from < stop) {
          if (chunk[from] === SPACE) from++;
          this.valueStart = false;
        }
        if (from < stop) this.sink.data(chunk.subarray(from, stop), false);
      }
      if (eol < 0) return;
      this.state = 'name';
      at = this.endOfLine(chunk, eol);
    }
  }

  private dataLine(bytes: Buffer | undefined): void {
    this.sink.data(bytes ?? Buffer.alloc(0), this.hasData);
    this.hasData = true;
  }

  private dispatch(): void {
    if (this.hasData) this.sink.end();
    this.hasData = false;
  }

  /** Past the line end at `at` (CR LF, LF or CR; a CR that ends the chunk may have its LF next). */
  private endOfLine(chunk: Buffer, at: number): number {
    if (chunk[at] === CR) {
      if (at + 1 >= chunk.length) {
        this.lastWasCr = true;
        return at + 1;
      }
      if (chunk[at + 1] === LF) return at + 2;
    }
    return at + 1;
  }
}

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;

export function nextEol(buffer: Buffer, from: number): number {
  const lf = buffer.indexOf(LF, from);
  const cr = buffer.indexOf(CR, from);
  return lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
}

/**
 * A large response passed through as it arrives, with bounded memory: its top-level id rewritten
 * in passing (the upstream id is the gateway's own, unique, so where it stands as `"id": "<it>"`
 * is the envelope's id — a JSON string cannot hold it unescaped), `"isError":true` found by a
 * search that slides over chunk boundaries, its size counted, its head kept for an error's first
 * text (and the whole message, when it fits in the head, parsed as a small one is).
 */
export class ResponseStream {
  private readonly token: Buffer;
  private readonly replacement: Buffer;
  /** Bytes held back so that the id and what precedes it are seen together. */
  private readonly hold: number;
  private pending: Buffer = Buffer.alloc(0);
  private replaced = false;
  private isError = false;
  private tail: Buffer = Buffer.alloc(0);
  private bytes = 0;
  private head: Buffer[] = [];
  private headBytes = 0;

  constructor(
    private readonly upstreamId: string,
    hostId: JsonRpcId,
    private readonly out: (bytes: Buffer) => void,
  ) {
    this.token = Buffer.from(JSON.stringify(upstreamId));
    this.replacement = Buffer.from(JSON.stringify(hostId));
    this.hold = this.token.length + 64;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.bytes += chunk.length;
    if (this.headBytes <= HEAD_LIMIT) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
    }
    this.sniff(chunk);
    if (this.replaced) return this.out(chunk);
    const buffer = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    for (let from = 0; ;) {
      const at = buffer.indexOf(this.token, from);
      if (at < 0) break;
      if (idKeyBefore(buffer, at)) {
        this.replaced = true;
        this.pending = Buffer.alloc(0);
        if (at > 0) this.out(buffer.subarray(0, at));
        this.out(this.replacement);
        const rest = buffer.subarray(at + this.token.length);
        if (rest.length > 0) this.out(rest);
        return;
      }
      from = at + 1;
    }
    const keep = Math.min(buffer.length, this.hold);
    if (buffer.length > keep) this.out(buffer.subarray(0, buffer.length - keep));
    this.pending = Buffer.from(buffer.subarray(buffer.length - keep));
  }

  /** The message ended: what the audit records, or undefined when its id was never found. */
  end(): Ending | undefined {
    if (this.pending.length > 0) this.out(this.pending);
    this.pending = Buffer.alloc(0);
    if (!this.replaced) return undefined;
    const bytes = resultBytes(this.bytes, this.upstreamId);
    if (this.headBytes === this.bytes) {
      // Whole in the head: read as a small message is (an error's text, a JSON-RPC error).
      try {
        return summarize(
          JSON.parse(Buffer.concat(this.head).toString('utf8')) as Record<string, unknown>,
          bytes,
        );
      } catch {
        return { isError: this.isError, bytes };
      }
    }
    const head = Buffer.concat(this.head).toString('utf8');
    if (/^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?(?:"id"\s*:\s*"[^"]*"\s*,\s*)?"error"\s*:/.test(head))
      return { error: new Error(firstString(head, 'message') ?? 'the upstream answered with an error') };
    return this.isError
      ? { isError: true, errorText: firstString(head, 'text')?.slice(0, 500), bytes }
      : { isError: false, bytes };
  }

  /** `"isError":true` (with or without spaces) anywhere, across chunk boundaries. */
  private sniff(chunk: Buffer): void {
    if (this.isError) return;
    const edge = this.tail.length > 0 ? Buffer.concat([this.tail, chunk.subarray(0, SNIFF_TAIL)]) : undefined;
    if ((edge && IS_ERROR.test(edge.toString('latin1'))) || hasIsError(chunk)) {
      this.isError = true;
      return;
    }
    const joined = chunk.length >= SNIFF_TAIL ? chunk : Buffer.concat([this.tail, chunk]);
    this.tail = Buffer.from(joined.subarray(Math.max(0, joined.length - SNIFF_TAIL)));
  }
}

const SNIFF_TAIL = 24;
const IS_ERROR = /"isError"\s*:\s*true/;
const IS_ERROR_KEY = Buffer.from('"isError"');

function hasIsError(chunk: Buffer): boolean {
  for (let from = 0; ;) {
    const at = chunk.indexOf(IS_ERROR_KEY, from);
    if (at < 0) return false;
    if (IS_ERROR.test(chunk.subarray(at, at + SNIFF_TAIL).toString('latin1'))) return true;
    from = at + 1;
  }
}

/** Whether `"id"` and a colon (spaces allowed) stand just before `at`. */
function idKeyBefore(buffer: Buffer, at: number): boolean {
  let index = at - 1;
  const skipSpace = () => {
    while (
      index >= 0 &&
      (buffer[index] === SPACE || buffer[index] === LF || buffer[index] === CR || buffer[index] === 0x09)
    )
      index--;
  };
  skipSpace();
  if (buffer[index] !== COLON) return false;
  index--;
  skipSpace();
  return index >= 3 && buffer.toString('latin1', index - 3, index + 1) === '"id"';
}

/** The first string value of `key` in a JSON text's head (decoded; cut where the head ends). */
function firstString(head: string, key: string): string | undefined {
  const match = new RegExp(`"${key}"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)`).exec(head);
  if (!match) return undefined;
  const raw = match[1]!.slice(0, 4096).replace(/\\(u[0-9a-fA-F]{0,3})?$/, '');
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return undefined;
  }
}
