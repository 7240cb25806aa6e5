/**
 * The hot path: a host's `tools/call`, `prompts/get` and `resources/read` relayed as bytes to an
 * upstream's 2025-era session, not as SDK messages. Decided per request; anything it does not take falls back to the
 * full path (the SDK server and client, which stays the reference implementation), before a byte
 * is written:
 *
 * - eligible: one JSON-RPC request of those methods from a 2025-era host that declared neither
 *   elicitation nor sampling (it is never asked anything during the call) — over HTTP, on a known
 *   session, carrying an `MCP-Protocol-Version` the session transport accepts (absent or unknown:
 *   the full path, which checks it as the SDK does); over stdio (stdio-front.ts), once the host's
 *   connection is pinned to the 2025 era; or a 2026-07-28 host's request over HTTP (no session)
 *   that reads exactly as the SDK's entry would read it, its host named and its capabilities
 *   declared (neither elicitation nor sampling) in its `_meta` envelope (hot-modern.ts) — for a
 *   tool, prompt or resource of an upstream whose 2025-era session is open, and not a tool set to
 *   ask; a task-augmented call, and any tool call of a 2026-07-28 host that declares the tasks
 *   extension, are the full path's (tasks.ts);
 * - a tool call's policy decision is the gate's, the same admission the full path makes
 *   (policy-gate.ts); a prompt or a resource read is audited as the full path audits it
 *   (`beginRelayed`: decision `not-governed`);
 * - the request goes upstream with only what must change rewritten: the tool's or prompt's
 *   upstream name (a URI is the upstream's own), an id of the gateway's own (ids of many hosts
 *   share one upstream session), `_meta` reduced to the host's progress token (a 2026-07-28
 *   host's envelope is not forwarded);
 * - a 2026-07-28 host's answer is the one its per-request SDK server would give: JSON, or SSE from
 *   the first progress notification on, the result stamped as the SDK's encoder stamps it
 *   (hot-modern.ts; spliced in passing into a streamed one), its cancellation its connection closing;
 * - two sides, one logic: the upstream side is an `UpstreamLink` (hot-wire.ts) — a Streamable HTTP
 *   session's `PassThrough` (hot-http-upstream.ts) or a stdio session's raw channel
 *   (hot-stdio-upstream.ts) — and the host side a `HostSide` (hot-host.ts) — SSE on the host's POST,
 *   or whole lines on stdio;
 * - the audit line is written after the answer ended, off the path;
 * - a refused request upstream (401, an expired session, any non-200; a stdio write that failed)
 *   or a connection that fails before an answer runs the admitted request through the upstream's
 *   SDK session instead, which refreshes, renews and explains as the full path does (the call is
 *   admitted once either way);
 * - the host's cancellation reaches the upstream; the host gets no answer, as on the full path.
 *
 * `PATCHBAY_HOT_PATH=0` turns it off (a diagnostic switch: every request takes the full path).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/server';

import { PatchbayError } from '../errors.js';
import { traceFromHeaders, traceFromMeta, traceHeaders, type TraceContext } from '../core/trace-context.js';
import type { AuditCaller, CallObserver } from '../policy/audit.js';
import { firstText, recordFailure, recordSummary, type CallResult } from '../use/guarded-call.js';
import { HttpLink } from './hot-http-upstream.js';
import { HttpReply, LineReply, ModernReply } from './hot-host.js';
import { modernEnvelope, type ServerIdentity } from './hot-modern.js';
import { StdioLink } from './hot-stdio-upstream.js';
import { declaresTasks, MISSING_TASKS, requiresTask } from './tasks.js';
import type { Ending, HostSide, HotMethod, JsonRpcId, UpstreamLink } from './hot-wire.js';
import { ungatedCall, type PolicyGate } from './policy-gate.js';
import { sealed, unavailable } from './protocol-errors.js';
import { CALL_TIMEOUT_MS } from './relay.js';
import type { CallTracing } from './telemetry.js';
import type { Upstream } from './upstream.js';

export { RELAY_HEADER } from './hot-host.js';

export interface HotPathOptions {
  resolveTool(name: string): Promise<Route | undefined>;
  resolvePrompt(name: string): Promise<Route | undefined>;
  /** The upstream that offers a URI (listed, or matching a template). */
  owner(uri: string): Promise<Upstream | undefined>;
  pinKey(upstream: Upstream): string;
  gate: PolicyGate | undefined;
  /** Without a gate: told of each tool call once it ended (the metrics; the gate tells its own). */
  ungated?: CallObserver | undefined;
  /** An upstream's log message, sent to every host as the full path sends it. */
  onLog(upstream: Upstream, params: Record<string, unknown>): void;
  /** An upstream's list_changed, handled as the full path's upstream client handles it. */
  onListChanged(upstream: Upstream, kind: 'tools' | 'prompts' | 'resources'): void;
  /**
   * A relayed request to a stdio upstream is in flight: its questions reach the upstream's SDK
   * client, which must count it among the calls they may belong to (relay.ts). Returns the end.
   */
  during(upstream: Upstream): () => void;
  onWarning: ((message: string) => void) | undefined;
  /** The gateway's identity, stamped on a 2026-07-28 host's results as its SDK server stamps it. */
  serverInfo: ServerIdentity;
  /** OpenTelemetry export, when configured: each call runs within the host's trace context. */
  tracing?: CallTracing | undefined;
}

interface Route {
  upstream: Upstream;
  /** The tool's or prompt's upstream name, or the URI. */
  name: string;
}

/** Who asked: what the host said at `initialize`, and what the gateway knows of the caller. */
export interface HotHost {
  hostName: string | null;
  hostCapabilities: { elicitation?: unknown; sampling?: unknown } | undefined;
  caller: AuditCaller;
  /** A 2026-07-28 host (its capabilities are its request's). */
  modern?: boolean;
}

/** One host POST the HTTP front hands over. */
export interface HotExchange extends HotHost {
  req: IncomingMessage;
  res: ServerResponse;
  body: unknown;
  sessionId: string;
}

/** A 2026-07-28 host's POST (no session): who it is comes from the request's envelope. */
export interface ModernExchange {
  req: IncomingMessage;
  res: ServerResponse;
  body: unknown;
  caller: AuditCaller;
}

const HOT_METHODS: ReadonlySet<unknown> = new Set<HotMethod>(['tools/call', 'prompts/get', 'resources/read']);

/** A host request the hot path can take, as far as it reads it. */
interface HotRequest {
  method: HotMethod;
  id: JsonRpcId;
  /** The tool's or prompt's exposed name, or the resource's URI. */
  name: string;
  args: Record<string, unknown> | undefined;
  progressToken: string | number | undefined;
  /** The host's W3C trace context (its HTTP headers, else its `_meta`), passed upstream. */
  trace: TraceContext | undefined;
}

/** A call in flight, for the host's cancellation. */
interface InFlight {
  cancel(reason: string | undefined): void;
}

/** Where cancellations of a stdio host's requests are looked up (one host per stdio front). */
const STDIO_HOST = 'stdio';
/** 2026-07-28 hosts' requests, each under a key of its own (nothing cancels them by id). */
const MODERN_HOST = 'modern';

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
   * Serve an HTTP host's POST, or return false having written nothing (the full path serves it then).
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
    if (req.headers.traceparent !== undefined) request.trace = traceFromHeaders(req.headers) ?? request.trace;
    return this.take(
      request,
      exchange,
      callKey(exchange.sessionId, request.id),
      () => new HttpReply(exchange.res, exchange.sessionId),
    );
  }

  /**
   * Serve a 2026-07-28 host's POST as the SDK's per-request server would answer it, or return false
   * having written nothing. Its cancellation is its connection closing (there is no session to
   * send `notifications/cancelled` on).
   */
  async serveModern(exchange: ModernExchange): Promise<boolean> {
    const { req, res, body } = exchange;
    if (!isJson(req.headers['content-type'])) return false;
    const envelope = modernEnvelope(req, body);
    if (!envelope) return false;
    const request = hotRequest(body, true);
    if (!request) return false;
    // A host that speaks the tasks extension may be answered with a task: the full path's (relay.ts).
    if (request.method === 'tools/call' && declaresTasks(envelope.capabilities)) return false;
    if (req.headers.traceparent !== undefined) request.trace = traceFromHeaders(req.headers) ?? request.trace;
    const host = {
      hostName: envelope.hostName,
      hostCapabilities: envelope.capabilities,
      caller: exchange.caller,
      modern: true,
    };
    const key = callKey(MODERN_HOST, `${this.nextId++}`);
    return this.take(request, host, key, () => new ModernReply(res, request.method, this.options.serverInfo));
  }

  /**
   * Serve a stdio host's message (stdio-front.ts), answering with whole lines on `out`, or return
   * false having written nothing.
   */
  async serveLine(message: unknown, host: HotHost, out: NodeJS.WritableStream): Promise<boolean> {
    const request = hotRequest(message);
    if (!request) return false;
    return this.take(request, host, callKey(STDIO_HOST, request.id), () => new LineReply(out));
  }

  /** An HTTP host's `notifications/cancelled` for a call of its session on the hot path. */
  cancel(sessionId: string, body: unknown): void {
    if (this.inFlight.size === 0 || typeof body !== 'object' || body === null) return;
    const params = (body as { method?: unknown; params?: { requestId?: unknown; reason?: unknown } }).params;
    if ((body as { method?: unknown }).method !== 'notifications/cancelled' || !params) return;
    const { requestId, reason } = params;
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return;
    this.inFlight.get(callKey(sessionId, requestId))?.cancel(typeof reason === 'string' ? reason : undefined);
  }

  /** A stdio host's `notifications/cancelled`. */
  cancelLine(message: unknown): void {
    this.cancel(STDIO_HOST, message);
  }

  private take(request: HotRequest, host: HotHost, key: string, reply: () => HostSide): Promise<boolean> {
    // Trace export off: this one check is all it costs.
    const { tracing } = this.options;
    return tracing
      ? tracing.within(request.trace, () => this.takeNow(request, host, key, reply))
      : this.takeNow(request, host, key, reply);
  }

  private async takeNow(
    request: HotRequest,
    host: HotHost,
    key: string,
    reply: () => HostSide,
  ): Promise<boolean> {
    const caps = host.hostCapabilities;
    if (!caps || caps.elicitation !== undefined || caps.sampling !== undefined) return false;
    // The host may cancel while the request is being decided (routed, admitted): heard here.
    const early: { reason?: string | undefined; cancelled?: true } = {};
    this.inFlight.set(key, { cancel: (reason) => Object.assign(early, { reason, cancelled: true }) });
    try {
      const route = await this.route(request);
      if (!route) return false;
      // Called with each member's own login: the full path picks the member's session.
      if (route.upstream.perMember) return false;
      // A prompt or resource of a server hidden from the member: the full path says it is unknown.
      if (request.method !== 'tools/call' && this.options.gate?.hidden(route.upstream.name, host.caller))
        return false;
      const link = this.link(route.upstream);
      if (!link) return false;
      // A tool that runs only as a task, for a 2026-07-28 host without the tasks extension: refused as the full path refuses it.
      if (request.method === 'tools/call' && host.modern && this.requiresTask(route)) {
        const side = reply();
        answer(side, request.id, {
          error: {
            code: MISSING_TASKS.code,
            message: MISSING_TASKS.message(request.name),
            data: MISSING_TASKS.data,
          },
        });
        return true;
      }
      const side = reply();
      const record =
        request.method === 'tools/call'
          ? await this.admitTool(host, side, request, route)
          : this.auditRead(host, request, route);
      if (record === 'answered' || record === 'full-path') return record === 'answered';
      if (early.cancelled) {
        // As the full path's: admitted, then ended by the cancellation before it went upstream.
        record({ error: new Error(early.reason ?? 'This operation was aborted') });
        side.abandon();
        return true;
      }
      await this.forward(side, key, request, route, link, record);
      return true;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private requiresTask(route: Route): boolean {
    return requiresTask(route.upstream.kept('tools').find((tool) => tool.name === route.name));
  }

  /** The open upstream session's raw side, if it has one (a 2025-era Streamable HTTP or stdio session). */
  private link(upstream: Upstream): UpstreamLink | undefined {
    const session = upstream.current();
    if (!session) return undefined;
    const pass = session.passThrough();
    if (pass)
      return new HttpLink(pass, {
        server: upstream.name,
        onLog: (params) => this.options.onLog(upstream, params),
        onListChanged: (kind) => this.options.onListChanged(upstream, kind),
      });
    const channel = session.rawChannel();
    return channel ? new StdioLink(channel, session.lost, upstream.name) : undefined;
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
    host: HotHost,
    side: HostSide,
    request: HotRequest,
    route: Route,
  ): Promise<((ending: Ending) => void) | 'answered' | 'full-path'> {
    const { gate, ungated } = this.options;
    if (!gate && ungated) {
      const end = ungatedCall(ungated, {
        server: route.upstream.name,
        tool: route.name,
        host: host.hostName,
      });
      return (ending) => end('error' in ending ? { error: ending.error } : { isError: ending.isError });
    }
    if (!gate) return () => undefined;
    const { upstream } = route;
    const listed = upstream.kept('tools').find((tool) => tool.name === route.name);
    const tool = { ...(listed ?? {}), name: route.name };
    const pinKey = this.options.pinKey(upstream);
    // A tool set to ask needs the full path (its question, its answer).
    if (gate.policy.verdict(upstream.name, pinKey, tool, host.caller).decision === 'ask') return 'full-path';
    const decision = await gate.admit({
      server: upstream.name,
      pinKey,
      tool,
      args: request.args,
      host: host.hostName,
      caller: host.caller,
      ask: undefined,
    });
    if (decision.kind === 'refused') {
      answer(side, request.id, { result: decision.result });
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
  private auditRead(host: HotHost, request: HotRequest, route: Route): (ending: Ending) => void {
    const { gate } = this.options;
    if (!gate) return () => undefined;
    const finish = gate.beginRelayed({
      kind: request.method === 'prompts/get' ? 'prompt' : 'resource',
      server: route.upstream.name,
      name: route.name,
      args: request.args,
      host: host.hostName,
      caller: host.caller,
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
    host: HostSide,
    key: string,
    request: HotRequest,
    route: Route,
    link: UpstreamLink,
    record: (ending: Ending) => void,
  ): Promise<void> {
    const upstreamId = `${this.idPrefix}${this.nextId++}`;
    const aborter = new AbortController();
    let cancelled = false;
    const cancel = (reason: string | undefined) => {
      if (cancelled || host.ended) return;
      cancelled = true;
      aborter.abort();
      link.cancel(upstreamId, reason);
      record({ error: new Error(reason ?? 'This operation was aborted') });
      host.abandon();
    };
    this.inFlight.set(key, { cancel });
    const offGone = host.onGone(() => cancel(host.goneReason ?? 'the host closed the connection'));
    const end = link instanceof StdioLink ? this.options.during(route.upstream) : undefined;
    try {
      const outcome = await link.exchange({
        upstreamId,
        hostId: request.id,
        method: request.method,
        params: upstreamParams(request, route.name),
        progressToken: request.progressToken,
        ...(request.trace ? { trace: request.trace } : {}),
        host,
        signal: aborter.signal,
        answered: record,
      });
      if (cancelled || outcome.kind === 'answered' || outcome.kind === 'cancelled') return;
      if (outcome.kind === 'refused') return await this.throughSession(host, request, route, record);
      link.broken(request.method);
      if (host.committed) {
        // Part of a streamed response went out and the rest cannot follow: the host's stream breaks.
        record({ error: new Error('the upstream answer broke off while it was relayed') });
        return host.destroy();
      }
      // Broke off before any of the response was sent: the session is lost (its reason, the next
      // calls' within the backoff, as the full path's), and the host's answer is the one the full
      // path gives a request in flight.
      const { upstream } = route;
      const reason =
        outcome.reason ??
        upstream.problem() ??
        new PatchbayError('connect-failed', `the connection to ${upstream.name} broke during the call`);
      record({ error: reason });
      answerUnreachable(host, request, upstream.name, reason);
    } finally {
      end?.();
      this.inFlight.delete(key);
      offGone();
    }
  }

  /**
   * The admitted request through the upstream's SDK session (as relay.ts sends it), answered as
   * the full path answers: a result, an upstream that cannot be reached as a tool error (a tool)
   * or an explained error (a prompt, a resource), a JSON-RPC error as it is, anything else sealed.
   */
  private async throughSession(
    host: HostSide,
    request: HotRequest,
    route: Route,
    record: (ending: Ending) => void,
  ): Promise<void> {
    const { upstream } = route;
    const token = request.progressToken;
    let result: CallResult;
    try {
      result = (await upstream.request((client, _session, lost): Promise<unknown> => {
        const options = {
          signal: lost,
          timeout: CALL_TIMEOUT_MS,
          resetTimeoutOnProgress: true,
          ...(request.trace ? { headers: traceHeaders(request.trace) } : {}),
          ...(token === undefined
            ? {}
            : {
                onprogress: (progress: object) => {
                  const note = {
                    method: 'notifications/progress',
                    params: { progressToken: token, ...progress },
                  };
                  host.send(JSON.stringify({ ...note, jsonrpc: '2.0' }));
                },
              }),
        };
        const args = {
          ...(request.args ? { arguments: request.args } : {}),
          ...(request.trace ? { _meta: { ...request.trace } } : {}),
        };
        if (request.method === 'tools/call') return client.callTool({ name: route.name, ...args }, options);
        if (request.method === 'prompts/get')
          return client.getPrompt(
            { name: route.name, ...(args as { arguments?: Record<string, string> }) },
            options,
          );
        return client.readResource(
          { uri: route.name, ...(args._meta ? { _meta: args._meta } : {}) },
          options,
        );
      })) as CallResult;
    } catch (error) {
      record({ error });
      if (error instanceof PatchbayError) return answerUnreachable(host, request, upstream.name, error);
      try {
        sealed(request.method, error, this.options.onWarning);
      } catch (sealedError) {
        const { code, message, data } = sealedError as { code?: unknown; message: string; data?: unknown };
        return answer(host, request.id, {
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
    answer(host, request.id, { result });
  }
}

function upstreamParams(request: HotRequest, name: string): Record<string, unknown> {
  const params: Record<string, unknown> = request.method === 'resources/read' ? { uri: name } : { name };
  if (request.args) params.arguments = request.args;
  if (request.progressToken !== undefined || request.trace)
    params._meta = {
      ...(request.progressToken !== undefined ? { progressToken: request.progressToken } : {}),
      ...request.trace,
    };
  return params;
}

/**
 * The request, as far as the hot path reads it. A 2025-era host's `_meta` may carry only its
 * progress token; a 2026-07-28 host's also its envelope (checked in hot-modern.ts), which is not
 * forwarded.
 */
function hotRequest(body: unknown, modern = false): HotRequest | undefined {
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
  // A 2026-07-28 host's envelope was read in hot-modern.ts (and is not forwarded).
  if (!modern && params._meta && Object.keys(params._meta).some((key) => !HOT_META_KEYS.has(key)))
    return undefined;
  return {
    method,
    id,
    name,
    args: args as Record<string, unknown> | undefined,
    progressToken: token,
    trace: traceFromMeta(params._meta),
  };
}

/** What a host's `_meta` may hold on the hot path: its progress token, its trace context. */
const HOT_META_KEYS: ReadonlySet<string> = new Set(['progressToken', 'traceparent', 'tracestate']);

function acceptsBoth(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/json') && accept.includes('text/event-stream');
}

function isJson(type: string | undefined): boolean {
  return type !== undefined && type.includes('application/json');
}

function callKey(sessionId: string, id: JsonRpcId): string {
  return `${sessionId}\0${typeof id}:${id}`;
}

/** An upstream that cannot be reached: a tool error for a tool call, an explained error otherwise (relay.ts). */
function answerUnreachable(host: HostSide, request: HotRequest, server: string, error: PatchbayError): void {
  if (request.method === 'tools/call')
    return answer(host, request.id, { result: unavailable(server, error) });
  answer(host, request.id, {
    error: { code: -32603, message: `${error.message}${error.hint ? ` Fix: ${error.hint}` : ''}` },
  });
}

/** One answer, as the full path's transport sends it (after any progress). */
function answer(host: HostSide, id: JsonRpcId, body: { result: unknown } | { error: unknown }): void {
  host.finish(JSON.stringify({ jsonrpc: '2.0', id, ...body }));
}
