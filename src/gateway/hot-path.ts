/**
 * The hot path: a 2025-era host's `tools/call`, `prompts/get` and `resources/read` relayed as
 * bytes, not as SDK messages. Decided per request; anything it does not take falls back to the
 * full path (the SDK server and client, which stays the reference implementation), before a byte
 * is written:
 *
 * - eligible: one JSON-RPC request of those methods on a known 2025-era session, carrying an
 *   `MCP-Protocol-Version` the session transport accepts (absent or unknown: the full path, which
 *   checks it as the SDK does), from a host that declared neither elicitation nor sampling (it is
 *   never asked anything during the call), for a tool, prompt or resource of an upstream whose
 *   2025-era Streamable HTTP session is open (connect/'s `passThrough`: its URL, pooled
 *   dispatcher, and POST headers from the same credential source), and not a tool set to ask;
 * - a tool call's policy decision is the gate's, the same admission the full path makes
 *   (policy-gate.ts); a prompt or a resource read is audited as the full path audits it
 *   (`beginRelayed`: decision `not-governed`);
 * - the request goes upstream with only what must change rewritten: the tool's or prompt's
 *   upstream name (a URI is the upstream's own), an id of the gateway's own (ids of many hosts
 *   share one upstream session), `_meta` reduced to the host's progress token (which progress
 *   notifications then carry back unchanged);
 * - the answer goes back as SSE, as the full path's session transport answers a POST, as it
 *   arrives. A small upstream message is parsed; a large response (JSON or one SSE event) is
 *   passed through with bounded memory (`ResponseStream`): its id rewritten in passing, `isError`
 *   learned by a sliding search, its size counted, only its head kept (an error's first text).
 *   Upstream log messages go to every host and a list_changed makes the upstream list again, as on
 *   the full path; a question of the upstream (elicitation, sampling) is answered as the full path
 *   answers it for a host that cannot be asked;
 * - the audit line is written after the answer ended, off the path;
 * - a refused POST upstream (401, an expired session, any non-200) or a connection that fails
 *   before an answer runs the admitted request through the upstream's SDK session instead, which
 *   refreshes, renews and explains as the full path does (the call is admitted once either way).
 *
 * `PATCHBAY_HOT_PATH=0` turns it off (a diagnostic switch: every request takes the full path).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/server';
import type { Dispatcher } from 'undici';

import type { PassThrough } from '../connect/session-types.js';
import { PatchbayError } from '../errors.js';
import type { AuditCaller } from '../policy/audit.js';
import { firstText, recordFailure, recordSummary, type CallResult } from '../use/guarded-call.js';
import type { PolicyGate } from './policy-gate.js';
import { sealed, unavailable } from './protocol-errors.js';
import { CALL_TIMEOUT_MS } from './relay.js';
import type { Upstream } from './upstream.js';

export interface HotPathOptions {
  resolveTool(name: string): Promise<Route | undefined>;
  resolvePrompt(name: string): Promise<Route | undefined>;
  /** The upstream that offers a URI (listed, or matching a template). */
  owner(uri: string): Promise<Upstream | undefined>;
  pinKey(upstream: Upstream): string;
  gate: PolicyGate | undefined;
  /** An upstream's log message, sent to every host as the full path sends it. */
  onLog(upstream: Upstream, params: Record<string, unknown>): void;
  /** An upstream's list_changed, handled as the full path's upstream client handles it. */
  onListChanged(upstream: Upstream, kind: 'tools' | 'prompts' | 'resources'): void;
  onWarning: ((message: string) => void) | undefined;
}

interface Route {
  upstream: Upstream;
  /** The tool's or prompt's upstream name, or the URI. */
  name: string;
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

type HotMethod = 'tools/call' | 'prompts/get' | 'resources/read';
const HOT_METHODS: ReadonlySet<unknown> = new Set<HotMethod>(['tools/call', 'prompts/get', 'resources/read']);

/** A host request the hot path can take, as far as it reads it. */
interface HotRequest {
  method: HotMethod;
  id: JsonRpcId;
  /** The tool's or prompt's exposed name, or the resource's URI. */
  name: string;
  args: Record<string, unknown> | undefined;
  progressToken: string | number | undefined;
}

interface Summary {
  isError: boolean;
  errorText?: string | undefined;
  bytes: number;
}

/** How an admitted request ended, for its audit line. */
type Ending = Summary | { error: unknown };

/** A call in flight, for the host's cancellation. */
interface InFlight {
  cancel(reason: string | undefined): void;
}

/** On every answer the hot path gave (a diagnostic: which path served a request). */
export const RELAY_HEADER = 'x-patchbay-relay';

/** An upstream message up to this size is parsed; a larger response is streamed through. */
const PARSE_LIMIT = 16 * 1024;
/** Of a large response, this much of its head is kept: an error's first text (the whole, if it fits). */
const HEAD_LIMIT = 256 * 1024;
/** A large upstream message that is not the response (a log message, a question) is read up to this. */
const OTHER_LIMIT = 1024 * 1024;

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
      HOT_METHODS.has((body as { method?: unknown }).method) &&
      !Array.isArray(body)
    );
  }

  /**
   * Serve the exchange, or return false having written nothing (the full path serves it then).
   */
  async serve(exchange: HotExchange): Promise<boolean> {
    const request = hotRequest(exchange.body);
    if (!request) return false;
    const { req } = exchange;
    if (!acceptsBoth(req.headers.accept) || !isJson(req.headers['content-type'])) return false;
    // The session transport refuses a version it does not support; without one it assumes the
    // negotiated version. Either way the full path decides.
    const version = req.headers['mcp-protocol-version'];
    if (typeof version !== 'string' || !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return false;
    const caps = exchange.hostCapabilities;
    if (!caps || caps.elicitation !== undefined || caps.sampling !== undefined) return false;
    const route = await this.route(request);
    if (!route) return false;
    const { upstream } = route;
    // Called with each member's own login: the full path picks the member's session.
    if (upstream.perMember) return false;
    // A prompt or resource of a server hidden from the member: the full path says it is unknown.
    if (request.method !== 'tools/call' && this.options.gate?.hidden(upstream.name, exchange.caller))
      return false;
    const pass = upstream.current()?.passThrough();
    if (!pass) return false;
    const record =
      request.method === 'tools/call'
        ? await this.admitTool(exchange, request, route)
        : this.auditRead(exchange, request, route);
    if (record === 'answered' || record === 'full-path') return record === 'answered';
    await this.forward(exchange, request, route, pass, record);
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

  /** The upstream and its name for the request; undefined: the full path says it is unknown. */
  private async route(request: HotRequest): Promise<Route | undefined> {
    if (request.method === 'tools/call') return this.options.resolveTool(request.name);
    if (request.method === 'prompts/get') return this.options.resolvePrompt(request.name);
    const upstream = await this.options.owner(request.name);
    return upstream ? { upstream, name: request.name } : undefined;
  }

  /**
   * A tool call's admission (the gate's, as on the full path): how to record it once it ended,
   * or 'answered' (refused, the refusal sent), or 'full-path' (a tool set to ask).
   */
  private async admitTool(
    exchange: HotExchange,
    request: HotRequest,
    route: Route,
  ): Promise<((ending: Ending) => void) | 'answered' | 'full-path'> {
    const { gate } = this.options;
    if (!gate) return () => undefined;
    const { upstream } = route;
    const listed = upstream.kept('tools').find((tool) => tool.name === route.name);
    const tool = { ...(listed ?? {}), name: route.name };
    const pinKey = this.options.pinKey(upstream);
    // A tool set to ask needs the full path (its question, its answer).
    if (gate.policy.verdict(upstream.name, pinKey, tool, exchange.caller).decision === 'ask')
      return 'full-path';
    const decision = await gate.admit({
      server: upstream.name,
      pinKey,
      tool,
      args: request.args,
      host: exchange.hostName,
      caller: exchange.caller,
      ask: undefined,
    });
    if (decision.kind === 'refused') {
      answerJson(exchange, request.id, { result: decision.result });
      return 'answered';
    }
    const { admission } = decision;
    // Off the path: the host has its answer.
    return (ending) =>
      setImmediate(() => {
        const written =
          'error' in ending ? recordFailure(admission, ending.error) : recordSummary(admission, ending);
        written.catch(() => undefined);
      });
  }

  /** A prompt or resource read: audited as the full path audits it (no rule decides on these). */
  private auditRead(exchange: HotExchange, request: HotRequest, route: Route): (ending: Ending) => void {
    const { gate } = this.options;
    if (!gate) return () => undefined;
    const finish = gate.beginRelayed({
      kind: request.method === 'prompts/get' ? 'prompt' : 'resource',
      server: route.upstream.name,
      name: route.name,
      args: request.args,
      host: exchange.hostName,
      caller: exchange.caller,
    });
    return (ending) =>
      setImmediate(() => {
        const end =
          'error' in ending
            ? { error: ending.error instanceof Error ? ending.error.message : String(ending.error) }
            : { bytes: ending.bytes };
        finish(end).catch(() => undefined);
      });
  }

  private async forward(
    exchange: HotExchange,
    request: HotRequest,
    route: Route,
    pass: PassThrough,
    record: (ending: Ending) => void,
  ): Promise<void> {
    const { res } = exchange;
    const { upstream } = route;
    const upstreamId = `${this.idPrefix}${this.nextId++}`;
    const payload = JSON.stringify({
      jsonrpc: '2.0',
      id: upstreamId,
      method: request.method,
      params: upstreamParams(request, route.name),
    });
    const aborter = new AbortController();
    const key = callKey(exchange.sessionId, request.id);
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
        return await this.throughSession(exchange, request, route, record);
      }
      if (cancelled) return;
      const type = String(response.headers['content-type'] ?? '');
      const sse = isSse(type);
      if (response.statusCode !== 200 || !(sse || type.startsWith('application/json'))) {
        response.body.resume();
        return await this.throughSession(exchange, request, route, record);
      }
      if (!res.headersSent) res.writeHead(200, sseHeaders(exchange.sessionId));
      const relay = new UpstreamMessages(upstreamId, request.id, res, {
        response: (ending) => record(ending),
        small: (message) => this.small(pass, upstream, message),
      });
      const events = sse ? new SseParser(relay) : undefined;
      try {
        for await (const chunk of response.body) {
          if (events) events.push(chunk as Buffer);
          else relay.data(chunk as Buffer, false);
          // Bounded memory: read on only once the host took what was written.
          if (res.writableNeedDrain) await drained(res);
          if (cancelled) return;
        }
        if (!events && !relay.done) relay.end();
      } catch {
        if (cancelled || relay.done) return;
        if (relay.streaming) return this.brokeMidAnswer(exchange, request, pass, record);
        return this.broke(exchange, request, route, pass, record);
      }
      if (relay.done) {
        if (relay.failed) this.brokeMidAnswer(exchange, request, pass, record);
        return;
      }
      if (cancelled) return;
      if (relay.streaming) return this.brokeMidAnswer(exchange, request, pass, record);
      return this.broke(exchange, request, route, pass, record);
    } finally {
      this.inFlight.delete(key);
      res.off('close', onClose);
    }
  }

  /** A small upstream message that is neither the response nor progress: as the full path takes it. */
  private small(pass: PassThrough, upstream: Upstream, message: Classified): void {
    if (message.kind === 'log') this.options.onLog(upstream, message.params);
    else if (message.kind === 'list-changed') this.options.onListChanged(upstream, message.list);
    else if (message.kind === 'request') void this.post(pass, answerQuestion(message.message, upstream.name));
  }

  private sendTo(res: ServerResponse, data: string): void {
    if (!res.writableEnded) res.write(`event: message\ndata: ${data}\n\n`);
  }

  /**
   * The answer broke off before any of the response was sent: the session is lost (its reason,
   * the next calls' within the backoff, as the full path's), and the host's answer is the one the
   * full path gives a request in flight.
   */
  private broke(
    exchange: HotExchange,
    request: HotRequest,
    route: Route,
    pass: PassThrough,
    record: (ending: Ending) => void,
  ): void {
    pass.broken(request.method);
    const { upstream } = route;
    const reason =
      upstream.problem() ??
      new PatchbayError('connect-failed', `the connection to ${upstream.name} broke during the call`);
    record({ error: reason });
    answerUnreachable(exchange, request, upstream.name, reason);
  }

  /** Part of a streamed response went out and the rest cannot follow: the host's stream breaks. */
  private brokeMidAnswer(
    exchange: HotExchange,
    request: HotRequest,
    pass: PassThrough,
    record: (ending: Ending) => void,
  ): void {
    pass.broken(request.method);
    record({ error: new Error('the upstream answer broke off while it was relayed') });
    exchange.res.destroy();
  }

  /**
   * The admitted request through the upstream's SDK session (as relay.ts sends it), answered as
   * the full path answers: a result, an upstream that cannot be reached as a tool error (a tool)
   * or an explained error (a prompt, a resource), a JSON-RPC error as it is, anything else sealed.
   */
  private async throughSession(
    exchange: HotExchange,
    request: HotRequest,
    route: Route,
    record: (ending: Ending) => void,
  ): Promise<void> {
    const { res } = exchange;
    const { upstream } = route;
    const token = request.progressToken;
    let result: CallResult;
    try {
      result = (await upstream.request((client, _session, lost): Promise<unknown> => {
        const options = {
          signal: lost,
          timeout: CALL_TIMEOUT_MS,
          resetTimeoutOnProgress: true,
          ...(token === undefined
            ? {}
            : {
                onprogress: (progress: object) => {
                  if (!res.headersSent) res.writeHead(200, sseHeaders(exchange.sessionId));
                  const note = {
                    method: 'notifications/progress',
                    params: { progressToken: token, ...progress },
                  };
                  this.sendTo(res, JSON.stringify({ ...note, jsonrpc: '2.0' }));
                },
              }),
        };
        const args = request.args ? { arguments: request.args } : {};
        if (request.method === 'tools/call') return client.callTool({ name: route.name, ...args }, options);
        if (request.method === 'prompts/get')
          return client.getPrompt(
            { name: route.name, ...(args as { arguments?: Record<string, string> }) },
            options,
          );
        return client.readResource({ uri: route.name }, options);
      })) as CallResult;
    } catch (error) {
      record({ error });
      if (error instanceof PatchbayError) return answerUnreachable(exchange, request, upstream.name, error);
      try {
        sealed(request.method, error, this.options.onWarning);
      } catch (sealedError) {
        const { code, message, data } = sealedError as { code?: unknown; message: string; data?: unknown };
        return answerJson(exchange, request.id, {
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
    const isError = request.method === 'tools/call' && Boolean(result.isError);
    record({ isError, errorText: isError ? firstText(result) : undefined, bytes: Buffer.byteLength(text) });
    answerJson(exchange, request.id, { result });
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

function upstreamParams(request: HotRequest, name: string): Record<string, unknown> {
  const params: Record<string, unknown> = request.method === 'resources/read' ? { uri: name } : { name };
  if (request.args) params.arguments = request.args;
  if (request.progressToken !== undefined) params._meta = { progressToken: request.progressToken };
  return params;
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

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

/** A response's size less its envelope: the result's serialized size, as the full path counts it. */
function resultBytes(messageBytes: number, upstreamId: string): number {
  const envelope = Buffer.byteLength(`{"jsonrpc":"2.0","id":${JSON.stringify(upstreamId)},"result":}`);
  return Math.max(0, messageBytes - envelope);
}

function summarize(message: Record<string, unknown>, bytes: number): Ending {
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

function nextEol(buffer: Buffer, from: number): number {
  const lf = buffer.indexOf(LF, from);
  const cr = buffer.indexOf(CR, from);
  return lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
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
    private readonly res: ServerResponse,
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
        this.res.write('event: message\ndata: ');
        this.stream = new ResponseStream(this.upstreamId, this.hostId, (out) => writeData(this.res, out));
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
      this.res.end('\n\n');
      return;
    }
    const data = Buffer.concat(parts).toString('utf8');
    if (data.length === 0) return;
    const kind = classify(data, this.upstreamId);
    if (kind.kind === 'response') {
      const answer = new Answer(this.upstreamId, this.hostId).final(data, kind.message);
      this.done = true;
      this.handlers.response(answer.summary);
      writeEvent(this.res, answer.text);
      this.res.end();
      return;
    }
    // Progress carries the host's own token: passed through as it came.
    if (kind.kind === 'progress') writeEvent(this.res, data);
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

function writeEvent(res: ServerResponse, text: string): void {
  res.write('event: message\ndata: ');
  writeData(res, Buffer.from(text));
  res.write('\n\n');
}

function hotRequest(body: unknown): HotRequest | undefined {
  const message = body as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
  if (message.jsonrpc !== '2.0' || !HOT_METHODS.has(message.method)) return undefined;
  const method = message.method as HotMethod;
  const { id } = message;
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  const params = message.params as
    { name?: unknown; uri?: unknown; arguments?: unknown; _meta?: { progressToken?: unknown } } | undefined;
  if (typeof params !== 'object' || params === null) return undefined;
  const nameKey = method === 'resources/read' ? 'uri' : 'name';
  const name = params[nameKey];
  if (typeof name !== 'string') return undefined;
  const args = params.arguments;
  if (method === 'resources/read' && args !== undefined) return undefined;
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args)))
    return undefined;
  // A prompt's arguments are strings; anything else is the full path's to refuse.
  if (method === 'prompts/get' && args && Object.values(args).some((value) => typeof value !== 'string'))
    return undefined;
  const token = params._meta?.progressToken;
  if (token !== undefined && typeof token !== 'string' && typeof token !== 'number') return undefined;
  // Anything else in the params (a task, other _meta) is the full path's to handle.
  for (const key of Object.keys(params))
    if (key !== nameKey && key !== 'arguments' && key !== '_meta') return undefined;
  if (params._meta !== undefined && (typeof params._meta !== 'object' || params._meta === null))
    return undefined;
  if (params._meta && Object.keys(params._meta).some((key) => key !== 'progressToken')) return undefined;
  return { method, id, name, args: args as Record<string, unknown> | undefined, progressToken: token };
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

/** An upstream that cannot be reached: a tool error for a tool call, an explained error otherwise (relay.ts). */
function answerUnreachable(
  exchange: HotExchange,
  request: HotRequest,
  server: string,
  error: PatchbayError,
): void {
  if (request.method === 'tools/call')
    return answerJson(exchange, request.id, { result: unavailable(server, error) });
  answerJson(exchange, request.id, {
    error: { code: -32603, message: `${error.message}${error.hint ? ` Fix: ${error.hint}` : ''}` },
  });
}

/** One answer, as the full path's session transport sends it: an SSE event (after any progress). */
function answerJson(
  exchange: HotExchange,
  id: JsonRpcId,
  body: { result: unknown } | { error: unknown },
): void {
  const { res } = exchange;
  if (res.writableEnded) return;
  if (!res.headersSent) res.writeHead(200, sseHeaders(exchange.sessionId));
  writeEvent(res, JSON.stringify({ jsonrpc: '2.0', id, ...body }));
  res.end();
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
