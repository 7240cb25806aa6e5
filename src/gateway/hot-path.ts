/**
 * The hot path: a 2025-era host's `tools/call` relayed as bytes, not as SDK messages. Decided per
 * request; anything it does not take falls back to the full path (the SDK server and client,
 * which stays the reference implementation), before a byte is written:
 *
 * - eligible: one JSON-RPC `tools/call` request on a known 2025-era session, from a host that
 *   declared neither elicitation nor sampling (it is never asked anything during the call), for a
 *   tool of an upstream whose 2025-era Streamable HTTP session is open (connect/'s `passThrough`:
 *   its URL, pooled dispatcher, and POST headers from the same credential source), and not a tool
 *   set to ask;
 * - the policy decision is the gate's, the same admission the full path makes (policy-gate.ts);
 * - the request goes upstream with only what must change rewritten: the tool's upstream name, an
 *   id of the gateway's own (ids of many hosts share one upstream session), `_meta` reduced to the
 *   host's progress token (which progress notifications then carry back unchanged);
 * - the answer comes back as it arrives: JSON, or SSE event by event; only the final response's id
 *   is rewritten (by its serialized suffix where the upstream wrote it last, as the SDKs do, else
 *   by a parse). Upstream log messages go to every host, as the full path sends them; a question
 *   of the upstream (elicitation, sampling) is answered as the full path answers it for a host
 *   that cannot be asked;
 * - the audit line is written after the answer ended, off the path, with isError and the first
 *   error text learned without parsing a large result (only a small one, or one that says
 *   `"isError":true`, is parsed);
 * - a refused POST upstream (401, an expired session, any non-200) or a connection that fails
 *   before an answer runs the admitted call through the upstream's SDK session instead, which
 *   refreshes, renews and explains as the full path does (the call is admitted once either way).
 *
 * `PATCHBAY_HOT_PATH=0` turns it off (a diagnostic switch: every request takes the full path).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

import type { Dispatcher } from 'undici';

import type { PassThrough } from '../connect/session-types.js';
import { PatchbayError } from '../errors.js';
import type { AuditCaller } from '../policy/audit.js';
import { firstText, recordFailure, recordSummary, type CallResult } from '../use/guarded-call.js';
import type { GateDecision, PolicyGate } from './policy-gate.js';
import { sealed, unavailable } from './protocol-errors.js';
import { CALL_TIMEOUT_MS } from './relay.js';
import type { Upstream } from './upstream.js';

export interface HotPathOptions {
  resolveTool(name: string): Promise<{ upstream: Upstream; name: string } | undefined>;
  pinKey(upstream: Upstream): string;
  gate: PolicyGate | undefined;
  /** An upstream's log message, sent to every host as the full path sends it. */
  onLog(upstream: Upstream, params: Record<string, unknown>): void;
  onWarning: ((message: string) => void) | undefined;
}

/** One host POST the HTTP front hands over. */
export interface HotExchange {
  req: IncomingMessage;
  res: ServerResponse;
  body: unknown;
  sessionId: string;
  /** What the host said at `initialize`. */
  hostName: string | null;
  hostCapabilities: { elicitation?: unknown; sampling?: unknown } | undefined;
  caller: AuditCaller;
}

type JsonRpcId = string | number;

interface ToolCall {
  id: JsonRpcId;
  name: string;
  args: Record<string, unknown> | undefined;
  progressToken: string | number | undefined;
}

/** A call in flight, for the host's cancellation. */
interface InFlight {
  cancel(reason: string | undefined): void;
}

/** On every answer the hot path gave (a diagnostic: which path served a request). */
export const RELAY_HEADER = 'x-patchbay-relay';

/** A parsed message larger than this is not parsed again to learn what it is. */
const PARSE_LIMIT = 16 * 1024;

const ENVELOPE_BYTES = Buffer.byteLength('{"jsonrpc":"2.0","id":0,"result":}');

export class HotPath {
  /** Ids of this gateway's own upstream requests: never those of an SDK client (numbers). */
  private readonly idPrefix = `pb-hot-${randomBytes(6).toString('hex')}-`;
  private nextId = 0;
  private readonly inFlight = new Map<string, InFlight>();

  constructor(private readonly options: HotPathOptions) {}

  /** Whether a body could be the hot path's at all (cheap; before any session lookup). */
  static candidate(body: unknown): boolean {
    return (
      typeof body === 'object' &&
      body !== null &&
      (body as { method?: unknown }).method === 'tools/call' &&
      !Array.isArray(body)
    );
  }

  /**
   * Serve the exchange, or return false having written nothing (the full path serves it then).
   */
  async serve(exchange: HotExchange): Promise<boolean> {
    const call = toolCall(exchange.body);
    if (!call) return false;
    const { req } = exchange;
    if (!acceptsBoth(req.headers.accept) || !isJson(req.headers['content-type'])) return false;
    const caps = exchange.hostCapabilities;
    if (!caps || caps.elicitation !== undefined || caps.sampling !== undefined) return false;
    const route = await this.options.resolveTool(call.name);
    if (!route) return false;
    const { upstream } = route;
    // Called with each member's own login: the full path picks the member's session.
    if (upstream.perMember) return false;
    const pass = upstream.current()?.passThrough();
    if (!pass) return false;
    const listed = upstream.kept('tools').find((tool) => tool.name === route.name);
    const tool = { ...(listed ?? {}), name: route.name };
    const { gate } = this.options;
    const pinKey = this.options.pinKey(upstream);
    // A tool set to ask needs the full path (its question, its answer).
    if (gate && gate.policy.verdict(upstream.name, pinKey, tool).decision === 'ask') return false;

    let decision: GateDecision | undefined;
    if (gate) {
      decision = await gate.admit({
        server: upstream.name,
        pinKey,
        tool,
        args: call.args,
        host: exchange.hostName,
        caller: exchange.caller,
        ask: undefined,
      });
      if (decision.kind === 'refused') {
        answerJson(exchange, call.id, { result: decision.result });
        return true;
      }
    }
    const admission = decision?.kind === 'admitted' ? decision.admission : undefined;
    const record = (summary: Summary | { error: unknown }) => {
      if (!admission) return;
      // Off the path: the host has its answer.
      setImmediate(() => {
        const written =
          'error' in summary ? recordFailure(admission, summary.error) : recordSummary(admission, summary);
        written.catch(() => undefined);
      });
    };
    await this.forward(exchange, call, upstream, route.name, pass, record);
    return true;
  }

  /** A host's `notifications/cancelled` for a call of its session on the hot path. */
  cancel(sessionId: string, body: unknown): void {
    if (this.inFlight.size === 0 || typeof body !== 'object' || body === null) return;
    const params = (body as { method?: unknown; params?: { requestId?: unknown; reason?: unknown } }).params;
    if ((body as { method?: unknown }).method !== 'notifications/cancelled' || !params) return;
    const { requestId, reason } = params;
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return;
    this.inFlight.get(callKey(sessionId, requestId))?.cancel(typeof reason === 'string' ? reason : undefined);
  }

  private async forward(
    exchange: HotExchange,
    call: ToolCall,
    upstream: Upstream,
    upstreamName: string,
    pass: PassThrough,
    record: (summary: Summary | { error: unknown }) => void,
  ): Promise<void> {
    const { res } = exchange;
    const upstreamId = `${this.idPrefix}${this.nextId++}`;
    const params: Record<string, unknown> = { name: upstreamName };
    if (call.args) params.arguments = call.args;
    if (call.progressToken !== undefined) params._meta = { progressToken: call.progressToken };
    const payload = JSON.stringify({ jsonrpc: '2.0', id: upstreamId, method: 'tools/call', params });
    const aborter = new AbortController();
    const key = callKey(exchange.sessionId, call.id);
    let cancelled = false;
    const cancel = (reason: string | undefined) => {
      if (cancelled || res.writableEnded) return;
      cancelled = true;
      aborter.abort();
      void this.post(pass, {
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: upstreamId, ...(reason ? { reason } : {}) },
      });
      record({ error: new Error(reason ?? 'This operation was aborted') });
      if (!res.headersSent) res.writeHead(202);
      res.end();
    };
    this.inFlight.set(key, { cancel });
    const onClose = () => {
      if (!res.writableFinished) cancel('the host closed the connection');
    };
    res.once('close', onClose);
    try {
      let response: Dispatcher.ResponseData;
      try {
        response = await postUpstream(pass, payload, {
          signal: aborter.signal,
          headersTimeout: CALL_TIMEOUT_MS,
          bodyTimeout: CALL_TIMEOUT_MS,
        });
      } catch {
        if (cancelled) return;
        // Nothing came back: the SDK session explains, reconnects or renews, as on the full path.
        return await this.throughSession(exchange, call, upstream, upstreamName, record);
      }
      if (cancelled) return;
      const type = String(response.headers['content-type'] ?? '');
      if (response.statusCode !== 200 || !(type.startsWith('application/json') || isSse(type))) {
        response.body.resume();
        return await this.throughSession(exchange, call, upstream, upstreamName, record);
      }
      const rewriter = new Answer(upstreamId, call.id);
      if (!isSse(type)) {
        const text = await response.body.text();
        if (cancelled) return;
        const answer = rewriter.final(text);
        record(answer.summary);
        answerRaw(exchange, 'application/json', answer.text);
        return;
      }
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'mcp-session-id': exchange.sessionId,
        [RELAY_HEADER]: 'hot',
      });
      let done = false;
      const events = new SseEvents();
      try {
        for await (const chunk of response.body) {
          for (const data of events.push(chunk as Buffer)) {
            if (done) continue;
            const kind = classify(data, upstreamId);
            if (kind.kind === 'response') {
              const answer = rewriter.final(data, kind.message);
              done = true;
              record(answer.summary);
              res.end(`event: message\ndata: ${answer.text}\n\n`);
            } else if (kind.kind === 'progress') {
              res.write(`event: message\ndata: ${data}\n\n`);
            } else if (kind.kind === 'log') {
              this.options.onLog(upstream, kind.params);
            } else if (kind.kind === 'request') {
              void this.post(pass, answerQuestion(kind.message, upstream.name));
            }
          }
        }
      } catch {
        if (cancelled || done) return;
        return this.broke(exchange, call, upstream, pass, record);
      }
      if (!done && !cancelled) return this.broke(exchange, call, upstream, pass, record);
    } finally {
      this.inFlight.delete(key);
      res.off('close', onClose);
    }
  }

  /**
   * The answer broke off: the session is lost (its reason, the next calls' within the backoff,
   * as the full path's), and the call's answer is the one the full path gives a call in flight.
   */
  private broke(
    exchange: HotExchange,
    call: ToolCall,
    upstream: Upstream,
    pass: PassThrough,
    record: (summary: Summary | { error: unknown }) => void,
  ): void {
    pass.broken('tools/call');
    const reason =
      upstream.problem() ??
      new PatchbayError('connect-failed', `the connection to ${upstream.name} broke during the call`);
    record({ error: reason });
    answerJson(exchange, call.id, { result: unavailable(upstream.name, reason) });
  }

  /**
   * The admitted call through the upstream's SDK session (as relay.ts sends it), answered as the
   * full path answers: a result, an upstream that cannot be reached as a tool error, a JSON-RPC
   * error as it is, anything else sealed.
   */
  private async throughSession(
    exchange: HotExchange,
    call: ToolCall,
    upstream: Upstream,
    upstreamName: string,
    record: (summary: Summary | { error: unknown }) => void,
  ): Promise<void> {
    const { res } = exchange;
    const token = call.progressToken;
    let result: CallResult;
    try {
      result = (await upstream.request((client, _session, lost) =>
        client.callTool(
          { name: upstreamName, ...(call.args ? { arguments: call.args } : {}) },
          {
            signal: lost,
            timeout: CALL_TIMEOUT_MS,
            resetTimeoutOnProgress: true,
            ...(token === undefined
              ? {}
              : {
                  onprogress: (progress) => {
                    if (!res.headersSent)
                      res.writeHead(200, {
                        'content-type': 'text/event-stream',
                        'cache-control': 'no-cache',
                        'mcp-session-id': exchange.sessionId,
                        [RELAY_HEADER]: 'hot',
                      });
                    const note = {
                      method: 'notifications/progress',
                      params: { progressToken: token, ...progress },
                    };
                    res.write(`event: message\ndata: ${JSON.stringify({ ...note, jsonrpc: '2.0' })}\n\n`);
                  },
                }),
          },
        ),
      )) as CallResult;
    } catch (error) {
      record({ error });
      if (error instanceof PatchbayError) {
        return answerJson(exchange, call.id, { result: unavailable(upstream.name, error) });
      }
      try {
        sealed('tools/call', error, this.options.onWarning);
      } catch (sealedError) {
        const { code, message, data } = sealedError as { code?: unknown; message: string; data?: unknown };
        return answerJson(exchange, call.id, {
          error: {
            code: typeof code === 'number' ? code : -32603,
            message,
            ...(data === undefined ? {} : { data }),
          },
        });
      }
      return;
    }
    const text = JSON.stringify(result);
    record({
      isError: Boolean(result.isError),
      errorText: result.isError ? firstText(result) : undefined,
      bytes: Buffer.byteLength(text),
    });
    answerJson(exchange, call.id, { result });
  }

  /** A message to the upstream session (a notification, an answer to its question); 202 expected. */
  private async post(pass: PassThrough, message: unknown): Promise<void> {
    try {
      const response = await postUpstream(pass, JSON.stringify(message));
      response.body.resume();
    } catch {
      // The call's own exchange reports a broken connection.
    }
  }
}

/** A POST of JSON-RPC to the upstream session, with the headers its SDK transport would send. */
async function postUpstream(
  pass: PassThrough,
  body: string,
  options: Pick<Dispatcher.RequestOptions, 'signal' | 'headersTimeout' | 'bodyTimeout'> = {},
): Promise<Dispatcher.ResponseData> {
  return pass.dispatcher.request({
    origin: pass.url.origin,
    path: `${pass.url.pathname}${pass.url.search}`,
    method: 'POST',
    headers: {
      ...(await pass.headers()),
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body,
    ...options,
  });
}

interface Summary {
  isError: boolean;
  errorText?: string | undefined;
  bytes: number;
}

/** The final response's id rewritten, and what the audit reads of it. */
export class Answer {
  private readonly suffix: string;
  private readonly replacement: string;

  constructor(
    upstreamId: string,
    private readonly hostId: JsonRpcId,
  ) {
    this.suffix = `"id":${JSON.stringify(upstreamId)}}`;
    this.replacement = `"id":${JSON.stringify(hostId)}}`;
  }

  final(
    text: string,
    parsed?: Record<string, unknown>,
  ): { text: string; summary: Summary | { error: unknown } } {
    const bytes = Math.max(0, Buffer.byteLength(text) - ENVELOPE_BYTES);
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

function summarize(message: Record<string, unknown>, bytes: number): Summary | { error: unknown } {
  const result = message.result as CallResult | undefined;
  if (!result) {
    // A JSON-RPC error: recorded as the full path records the SDK's thrown ProtocolError.
    const error = message.error as { message?: unknown } | undefined;
    return { error: new Error(String(error?.message ?? 'the upstream answered with an error')) };
  }
  return result.isError ? { isError: true, errorText: firstText(result), bytes } : { isError: false, bytes };
}

type Classified =
  | { kind: 'response'; message?: Record<string, unknown> }
  | { kind: 'progress' }
  | { kind: 'log'; params: Record<string, unknown> }
  | { kind: 'request'; message: { id: JsonRpcId; method: string } }
  | { kind: 'other' };

/** What one SSE message of the upstream is; only a small one is parsed. */
function classify(data: string, upstreamId: string): Classified {
  if (data.length > PARSE_LIMIT)
    return data.trimEnd().endsWith(`"id":${JSON.stringify(upstreamId)}}`)
      ? { kind: 'response' }
      : { kind: 'other' };
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

/** SSE framing: the data of each event, as events complete. */
export class SseEvents {
  private buffer = '';
  private readonly decoder = new TextDecoder();

  push(chunk: Buffer): string[] {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    const out: string[] = [];
    for (;;) {
      const match = /\r?\n\r?\n/.exec(this.buffer);
      if (!match) break;
      const block = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
      }
      if (data.length > 0) {
        const joined = data.join('\n');
        if (joined.length > 0) out.push(joined);
      }
    }
    return out;
  }
}

function toolCall(body: unknown): ToolCall | undefined {
  const message = body as { jsonrpc?: unknown; id?: unknown; params?: unknown };
  if (message.jsonrpc !== '2.0') return undefined;
  const { id } = message;
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  const params = message.params as
    { name?: unknown; arguments?: unknown; _meta?: { progressToken?: unknown } } | undefined;
  if (typeof params !== 'object' || params === null || typeof params.name !== 'string') return undefined;
  const args = params.arguments;
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args)))
    return undefined;
  const token = params._meta?.progressToken;
  if (token !== undefined && typeof token !== 'string' && typeof token !== 'number') return undefined;
  // Anything else in the params (a task, other _meta) is the full path's to handle.
  for (const key of Object.keys(params))
    if (key !== 'name' && key !== 'arguments' && key !== '_meta') return undefined;
  if (params._meta && Object.keys(params._meta).some((key) => key !== 'progressToken')) return undefined;
  return { id, name: params.name, args: args as Record<string, unknown> | undefined, progressToken: token };
}

function acceptsBoth(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/json') && accept.includes('text/event-stream');
}

function isJson(type: string | undefined): boolean {
  return type !== undefined && type.includes('application/json');
}

function isSse(type: string): boolean {
  return type.startsWith('text/event-stream');
}

function callKey(sessionId: string, id: JsonRpcId): string {
  return `${sessionId}\0${typeof id}:${id}`;
}

function answerJson(
  exchange: HotExchange,
  id: JsonRpcId,
  body: { result: unknown } | { error: unknown },
): void {
  answerRaw(exchange, 'application/json', JSON.stringify({ jsonrpc: '2.0', id, ...body }));
}

function answerRaw(exchange: HotExchange, type: string, text: string): void {
  const { res } = exchange;
  if (res.writableEnded) return;
  if (!res.headersSent) {
    res.writeHead(200, { 'content-type': type, 'mcp-session-id': exchange.sessionId, [RELAY_HEADER]: 'hot' });
    res.end(text);
    return;
  }
  // Progress went first (the session lane): the answer is one more event.
  res.end(`event: message\ndata: ${text}\n\n`);
}
