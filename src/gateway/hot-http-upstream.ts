/**
 * The hot path's upstream side over Streamable HTTP: a relayed request POSTed to an open 2025-era
 * session (connect/'s `PassThrough`: its URL, pooled dispatcher, and the headers its SDK transport
 * would send, from the same credential source), and the answer handed to the host as it arrives —
 * JSON or SSE, event by event. A small upstream message is parsed; a large response is streamed
 * through (hot-bytes.ts). Upstream log messages and list_changed go where the full path sends
 * them; a question of the upstream (elicitation, sampling) is answered as the full path answers
 * it for a host that cannot be asked.
 */

import type { Dispatcher } from 'undici';

import type { PassThrough } from '../connect/session-types.js';
import { Answer, PARSE_LIMIT, ResponseStream, SseParser, type MessageSink } from './hot-bytes.js';
import { traceHeaders } from '../core/trace-context.js';
import type { Ending, HostSide, JsonRpcId, LinkCall, Outcome, UpstreamLink } from './hot-wire.js';
import { CALL_TIMEOUT_MS } from './relay.js';

/** A large upstream message that is not the response (a log message, a question) is read up to this. */
const OTHER_LIMIT = 1024 * 1024;

export interface HttpLinkHandlers {
  /** An upstream's log message, sent to every host as the full path sends it. */
  onLog(params: Record<string, unknown>): void;
  /** An upstream's list_changed, handled as the full path's upstream client handles it. */
  onListChanged(kind: 'tools' | 'prompts' | 'resources'): void;
  /** The upstream's name, for the answer to a question the host cannot be asked. */
  server: string;
}

export class HttpLink implements UpstreamLink {
  constructor(
    private readonly pass: PassThrough,
    private readonly handlers: HttpLinkHandlers,
  ) {}

  async exchange(call: LinkCall): Promise<Outcome> {
    const { host, signal } = call;
    const payload = JSON.stringify({
      jsonrpc: '2.0',
      id: call.upstreamId,
      method: call.method,
      params: call.params,
    });
    let response: Dispatcher.ResponseData;
    try {
      response = await postUpstream(
        this.pass,
        payload,
        { signal, headersTimeout: CALL_TIMEOUT_MS, bodyTimeout: CALL_TIMEOUT_MS },
        call.trace ? traceHeaders(call.trace) : undefined,
      );
    } catch {
      // Nothing came back: the SDK session explains, reconnects or renews, as on the full path.
      return signal.aborted ? { kind: 'cancelled' } : { kind: 'refused' };
    }
    if (signal.aborted) return { kind: 'cancelled' };
    const type = String(response.headers['content-type'] ?? '');
    const sse = type.startsWith('text/event-stream');
    if (response.statusCode !== 200 || !(sse || type.startsWith('application/json'))) {
      response.body.resume();
      return { kind: 'refused' };
    }
    host.open();
    const relay = new UpstreamMessages(call.upstreamId, call.hostId, host, {
      response: (ending) => call.answered(ending),
      small: (message) => this.small(message),
    });
    const events = sse ? new SseParser(relay) : undefined;
    const read = await readBody(response.body, host, signal, (chunk) => {
      if (events) events.push(chunk);
      else relay.data(chunk, false);
    });
    if (read === 'cancelled') return { kind: 'cancelled' };
    if (read === 'ended' && !events && !relay.done) {
      try {
        relay.end();
      } catch {
        return { kind: 'broke' };
      }
    }
    if (read === 'failed') {
      if (signal.aborted) return { kind: 'cancelled' };
      if (relay.done && !relay.failed) return { kind: 'answered' };
      return { kind: 'broke' };
    }
    if (relay.done) return relay.failed ? { kind: 'broke' } : { kind: 'answered' };
    if (signal.aborted) return { kind: 'cancelled' };
    return { kind: 'broke' };
  }

  cancel(upstreamId: string, reason: string | undefined): void {
    void this.post({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: upstreamId, ...(reason ? { reason } : {}) },
    });
  }

  broken(method: string): void {
    this.pass.broken(method);
  }

  /** A small upstream message that is neither the response nor progress: as the full path takes it. */
  private small(message: Classified): void {
    if (message.kind === 'log') this.handlers.onLog(message.params);
    else if (message.kind === 'list-changed') this.handlers.onListChanged(message.list);
    else if (message.kind === 'request')
      void this.post(answerQuestion(message.message, this.handlers.server));
  }

  /** A message to the upstream session (a notification, an answer to its question); 202 expected. */
  private async post(message: unknown): Promise<void> {
    try {
      const response = await postUpstream(this.pass, JSON.stringify(message));
      response.body.resume();
    } catch {
      // The call's own exchange reports a broken connection.
    }
  }
}

/**
 * The upstream's answer, chunk by chunk, to `take`: read on only once the host took what was
 * written (bounded memory). Events, not `for await`: its async iterator is a measurable share of a
 * relayed call. 'failed': the body broke or `take` threw.
 */
function readBody(
  body: Dispatcher.ResponseData['body'],
  host: HostSide,
  signal: AbortSignal,
  take: (chunk: Buffer) => void,
): Promise<'ended' | 'cancelled' | 'failed'> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (how: 'ended' | 'cancelled' | 'failed') => {
      if (settled) return;
      settled = true;
      body.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (how !== 'ended') body.destroy();
      resolve(how);
    };
    const onData = (chunk: Buffer) => {
      try {
        take(chunk);
      } catch {
        return settle('failed');
      }
      if (signal.aborted) return settle('cancelled');
      const wait = host.drained();
      if (!wait) return;
      body.pause();
      void wait.then(() => {
        if (settled) return;
        if (signal.aborted) return settle('cancelled');
        body.resume();
      });
    };
    const onEnd = () => settle('ended');
    const onError = () => settle('failed');
    // Closed without its end (destroyed by the abort, or the connection gone).
    const onClose = () => settle('failed');
    body.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** A POST of JSON-RPC to the upstream session, with the headers its SDK transport would send. */
async function postUpstream(
  pass: PassThrough,
  body: string,
  options: Pick<Dispatcher.RequestOptions, 'signal' | 'headersTimeout' | 'bodyTimeout'> = {},
  /** The host's trace context (traceparent, tracestate), when it sent a valid one. */
  trace?: Record<string, string>,
): Promise<Dispatcher.ResponseData> {
  return pass.dispatcher.request({
    origin: pass.url.origin,
    path: `${pass.url.pathname}${pass.url.search}`,
    method: 'POST',
    headers: {
      ...(await pass.headers()),
      ...trace,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body,
    ...options,
  });
}

type Classified =
  | { kind: 'response'; message?: Record<string, unknown> }
  | { kind: 'progress' }
  | { kind: 'log'; params: Record<string, unknown> }
  | { kind: 'list-changed'; list: 'tools' | 'prompts' | 'resources' }
  | { kind: 'request'; message: { id: JsonRpcId; method: string } }
  | { kind: 'other' };

const LIST_CHANGED: Record<string, 'tools' | 'prompts' | 'resources'> = {
  'notifications/tools/list_changed': 'tools',
  'notifications/prompts/list_changed': 'prompts',
  'notifications/resources/list_changed': 'resources',
};

/** What one (small) message of the upstream is. */
function classify(data: string, upstreamId: string): Classified {
  let message: Record<string, unknown>;
  try {
    message = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return { kind: 'other' };
  }
  const method = message.method;
  if (typeof method !== 'string')
    return message.id === upstreamId ? { kind: 'response', message } : { kind: 'other' };
  if ('id' in message) return { kind: 'request', message: message as { id: JsonRpcId; method: string } };
  if (method === 'notifications/progress') return { kind: 'progress' };
  if (method === 'notifications/message')
    return { kind: 'log', params: (message.params ?? {}) as Record<string, unknown> };
  const list = LIST_CHANGED[method];
  if (list) return { kind: 'list-changed', list };
  return { kind: 'other' };
}

/**
 * The full path's answers to an upstream's question when the host cannot be asked (relay.ts's
 * handlers): elicitation declined, sampling refused, ping answered.
 */
function answerQuestion(message: { id: JsonRpcId; method: string }, server: string): unknown {
  const reply = (body: object) => ({ jsonrpc: '2.0', id: message.id, ...body });
  if (message.method === 'elicitation/create') return reply({ result: { action: 'decline' } });
  if (message.method === 'ping') return reply({ result: {} });
  if (message.method === 'sampling/createMessage')
    return reply({
      error: {
        code: -32603,
        message: `the host connected to patchbay offers no sampling; ${server}'s request was declined`,
      },
    });
  return reply({ error: { code: -32601, message: 'Method not found' } });
}

/**
 * The messages of one upstream answer: small ones parsed and handed to `small`, the response
 * sent to the host — parsed when small, streamed through `ResponseStream` when large.
 */
class UpstreamMessages implements MessageSink {
  /** The response was sent (or failed past recall). */
  done = false;
  /** A streamed response could not be completed (its id not found): the host's stream must break. */
  failed = false;
  private parts: Buffer[] = [];
  private size = 0;
  private mode: 'collect' | 'other' | 'drop' | 'stream' = 'collect';
  private stream: ResponseStream | undefined;

  constructor(
    private readonly upstreamId: string,
    private readonly hostId: JsonRpcId,
    private readonly host: HostSide,
    private readonly handlers: {
      response: (ending: Ending) => void;
      small: (message: Classified) => void;
    },
  ) {}

  get streaming(): boolean {
    return this.mode === 'stream';
  }

  data(bytes: Buffer, newLine: boolean): void {
    if (this.done || this.mode === 'drop') return;
    const piece = newLine ? Buffer.concat([NEWLINE, bytes]) : bytes;
    if (this.mode === 'stream') return this.stream!.push(piece);
    this.parts.push(piece);
    this.size += piece.length;
    if (this.mode === 'collect' && this.size > PARSE_LIMIT) {
      const head = Buffer.concat(this.parts);
      this.parts = [head];
      if (looksLikeResponse(head.toString('utf8'), this.upstreamId)) {
        this.mode = 'stream';
        this.parts = [];
        this.host.streamStart();
        this.stream = new ResponseStream(this.upstreamId, this.hostId, (out) => this.host.streamWrite(out));
        this.stream.push(head);
      } else this.mode = 'other';
    }
    if (this.mode === 'other' && this.size > OTHER_LIMIT) {
      // Larger than any notification the full path would relay is worth holding: dropped.
      this.mode = 'drop';
      this.parts = [];
    }
  }

  end(): void {
    const { mode } = this;
    const parts = this.parts;
    this.mode = 'collect';
    this.parts = [];
    this.size = 0;
    if (this.done) return;
    if (mode === 'drop') return;
    if (mode === 'stream') {
      const ending = this.stream!.end();
      this.done = true;
      if (!ending) {
        this.failed = true;
        return;
      }
      this.handlers.response(ending);
      this.host.streamEnd();
      return;
    }
    const data = Buffer.concat(parts).toString('utf8');
    if (data.length === 0) return;
    const kind = classify(data, this.upstreamId);
    if (kind.kind === 'response') {
      const answer = new Answer(this.upstreamId, this.hostId).final(data, kind.message);
      this.done = true;
      this.handlers.response(answer.summary);
      this.host.finish(answer.text);
      return;
    }
    // Progress carries the host's own token: passed through as it came.
    if (kind.kind === 'progress') this.host.send(data);
    else this.handlers.small(kind);
  }
}

const NEWLINE = Buffer.from('\n');

/** Whether a large message's head is a response (not a notification or a request of the upstream). */
function looksLikeResponse(head: string, upstreamId: string): boolean {
  return (
    /^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"(?:result|error)"\s*:/.test(head) ||
    head.includes(`"id":${JSON.stringify(upstreamId)}`)
  );
}
