/**
 * 2025-era hosts over HTTP get real sessions (`Mcp-Session-Id`): a standing GET stream on which
 * they hear `list_changed` and the upstreams' log messages, and a server that can ask them back
 * (elicitation, sampling) during a call. Stateless serving could do neither.
 *
 * - A session starts with `initialize` and ends with DELETE, with the gateway (without a state
 *   store), or when it has been idle for `idleMs`: no request and no stream open for that long (a
 *   host that keeps its GET stream open is never idle; one that crashed is swept).
 * - At most `maxSessions` at once; one more `initialize` is answered 503 with the reason.
 * - An unknown or expired session ID is answered 404, which tells the host to initialize again.
 * - A session is bound to the caller that initialized it (the credential's kind and member): a
 *   request of another caller is answered 404, as for a session that does not exist.
 * - With a state store (every `serve --http`), sessions are shared by the replicas of a gateway
 *   (shared-sessions.ts): each replica holds copies of the sessions it serves, made on demand
 *   from the store's record, and `maxSessions` bounds each replica's copies. A replica that stops
 *   closes its copies only: the others (or the gateway started again on the same state) go on.
 *   Each session is counted by one replica (`owned`, the `patchbay_sessions` metric): the one
 *   that opened it, or took it over (shared-sessions.ts). Without a store, every copy here.
 */

import { randomUUID } from 'node:crypto';

import {
  isInitializeRequest,
  isJSONRPCResultResponse,
  WebStandardStreamableHTTPServerTransport,
  type AuthInfo,
  type JSONRPCMessage,
  type RequestId,
  type Server,
  type WebStandardStreamableHTTPServerTransportOptions,
} from '@modelcontextprotocol/server';

import type { AuditCaller } from '../policy/audit.js';
import type { StateStore } from '../state/store.js';
import { CALLER_KEY } from './caller.js';
import {
  deliverTo,
  replayInitialize,
  SharedSessions,
  tagOutgoing,
  type SessionOwner,
} from './shared-sessions.js';

export const MAX_SESSIONS = 100;
export const SESSION_IDLE_MS = 30 * 60_000;

/** Settles when the HTTP exchange is over (its response written, or the client gone). */
export type Ended = Promise<void>;

export interface LegacySessionLimits {
  maxSessions: number;
  idleMs: number;
}

export interface LegacySessionOptions {
  /** Where sessions are shared with the other replicas; without one, this process's only. */
  state?: StateStore;
  /** A host's `notifications/cancelled` published by the replica it landed on (the hot path's calls here). */
  onCancelled?: (session: string, message: JSONRPCMessage) => void;
  /** The upstreams' log level a host set on another replica. */
  onLogLevel?: (level: string) => void;
}

interface LegacySession {
  transport: SessionTransport;
  server: Server;
  owner: SessionOwner;
  /** HTTP exchanges of this session still open (POSTs being answered, GET streams). */
  open: number;
  lastActive: number;
}

export class LegacySessions {
  private readonly sessions = new Map<string, LegacySession>();
  /** Copies being made from the store's record, so that concurrent requests make one. */
  private readonly restoring = new Map<string, Promise<LegacySession | undefined>>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly shared: SharedSessions | undefined;

  constructor(
    private readonly makeServer: () => Server,
    private readonly limits: LegacySessionLimits,
    private readonly options: LegacySessionOptions = {},
  ) {
    this.shared =
      options.state &&
      new SharedSessions(options.state, limits.idleMs, {
        drop: (id) => this.drop(id),
        streamMoved: (id) => this.sessions.get(id)?.transport.closeStandaloneSSEStream(),
        log: (params) => {
          for (const session of this.sessions.values())
            void session.server.sendLoggingMessage(params as never).catch(() => undefined);
        },
        deliver: (id, message) => void this.deliver(id, message),
        logLevel: (level) => options.onLogLevel?.(level),
        holds: (id) => this.sessions.has(id),
      });
    this.sweeper = setInterval(() => void this.sweep(), Math.min(limits.idleMs / 2, 60_000));
    this.sweeper.unref();
  }

  /** Copies of sessions held here: the ones opened here and the ones made from the store's record. */
  get size(): number {
    return this.sessions.size;
  }

  /** Sessions this replica counts as its own: summed over replicas, each session once. */
  get owned(): number {
    const shared = this.shared;
    if (!shared) return this.sessions.size;
    let owned = 0;
    for (const id of this.sessions.keys()) if (shared.counts(id)) owned++;
    return owned;
  }

  /** An upstream log message observed by this replica (sent to its own copies already): for the others. */
  shareLog(params: Record<string, unknown>): void {
    this.shared?.shareLog(params);
  }

  /** A host set the upstreams' log level on this replica: for the others. */
  shareLogLevel(level: string): void {
    this.shared?.shareLogLevel(level);
  }

  /** Whether this 2025-era request belongs here (a session's, or one opening a session). */
  claims(request: Request, parsedBody: unknown): boolean {
    return request.headers.has('mcp-session-id') || isInitializeRequest(parsedBody);
  }

  /** `authInfo`: what the HTTP layer established about this request's caller (passed to handlers). */
  async handle(request: Request, parsedBody: unknown, ended: Ended, authInfo?: AuthInfo): Promise<Response> {
    const owner = ownerOf(authInfo?.extra?.[CALLER_KEY] as AuditCaller | undefined);
    const id = request.headers.get('mcp-session-id');
    if (id !== null) {
      const session = await this.find(id, owner);
      if (session instanceof Response) return session;
      if (!session)
        return jsonRpcError(404, -32001, 'Session not found (expired or closed); initialize again.');
      let body = parsedBody;
      if (this.shared && request.method === 'POST' && body !== undefined) {
        try {
          body = await this.shared.route(id, body);
        } catch {
          return this.unreachable('to pass on this answer');
        }
        // Only answers to questions another replica asked: forwarded there.
        if (body === undefined) return new Response(null, { status: 202 });
      }
      const response = await this.serve(id, session, request, body, ended, authInfo);
      if (request.method === 'GET' && response.status === 200) this.shared?.streamOpened(id);
      return response;
    }
    await this.sweep();
    if (this.sessions.size >= this.limits.maxSessions) return this.full();
    const session = await this.open(owner);
    if (this.shared && isInitializeRequest(parsedBody)) {
      const shared = this.shared;
      // Stored before the host has its answer: its next request may go to another replica.
      session.transport.initializing = {
        id: (parsedBody as unknown as { id: RequestId }).id,
        beforeAnswer: async (result) => {
          const now = Date.now();
          await shared.create(session.transport.sessionId!, {
            owner,
            protocolVersion: String(result.protocolVersion),
            clientInfo: session.server.getClientVersion() ?? { name: 'unknown', version: '' },
            capabilities: session.server.getClientCapabilities() ?? {},
            created: now,
            lastActive: now,
          });
        },
      };
    }
    return this.serve(undefined, session, request, parsedBody, ended, authInfo);
  }

  /**
   * One exchange of a session. It counts as open until `ended` is called, which the HTTP layer does
   * once the response (or stream) has been written or abandoned.
   */
  private async serve(
    id: string | undefined,
    session: LegacySession,
    request: Request,
    parsedBody: unknown,
    ended: Ended,
    authInfo: AuthInfo | undefined,
  ): Promise<Response> {
    this.use(id, session, ended);
    return session.transport.handleRequest(request, { parsedBody, ...(authInfo ? { authInfo } : {}) });
  }

  /**
   * The server of a session, held open for one exchange served outside its transport (the hot
   * path) until `ended`, as `serve` holds it; undefined for an unknown session or another caller's
   * (the full path then answers).
   */
  async hold(id: string, ended: Ended, caller: AuditCaller): Promise<Server | undefined> {
    const session = await this.find(id, ownerOf(caller));
    if (!session || session instanceof Response) return undefined;
    this.use(id, session, ended);
    return session.server;
  }

  private use(id: string | undefined, session: LegacySession, ended: Ended): void {
    session.open++;
    session.lastActive = Date.now();
    if (id !== undefined) this.shared?.touch(id);
    ended.then(() => {
      session.open--;
      session.lastActive = Date.now();
    });
  }

  /**
   * This replica's copy of session `id` if `owner` may use it: held here, or made from the store's
   * record. A Response when it cannot be served now (this replica full, the store unreachable).
   */
  private async find(id: string, owner: SessionOwner): Promise<LegacySession | Response | undefined> {
    let restoring = this.restoring.get(id);
    let session = restoring ? undefined : this.sessions.get(id);
    if (!session && !restoring && this.shared) {
      restoring = this.restore(id).finally(() => this.restoring.delete(id));
      this.restoring.set(id, restoring);
    }
    if (restoring) {
      try {
        session = await restoring;
      } catch (error) {
        if (error instanceof Full) return this.full();
        return this.unreachable('to find this session');
      }
    }
    return session && sameOwner(session.owner, owner) ? session : undefined;
  }

  /** A copy of session `id` from the store's record (any caller's: find checks the owner); undefined when there is none. */
  private async restore(id: string): Promise<LegacySession | undefined> {
    const shared = this.shared!;
    await shared.ready();
    const record = await shared.get(id);
    if (!record) return undefined;
    if (this.sessions.size >= this.limits.maxSessions) await this.sweep();
    if (this.sessions.size >= this.limits.maxSessions) throw new Full();
    const session = await this.open(record.owner, id);
    try {
      await replayInitialize(session.transport, id, record);
    } catch {
      // A record this version cannot serve (say, a protocol version it no longer speaks, after an
      // upgrade): as unknown, and the host initializes again.
      await session.server.close().catch(() => undefined);
      return undefined;
    }
    this.sessions.set(id, session);
    // Counted here only if nobody else counts it; off the request's path.
    void shared.claim(id, record).catch(() => undefined);
    shared.touch(id);
    return session;
  }

  /** A new session's server and transport: a new ID, or `id` for a copy of a stored session. */
  private async open(owner: SessionOwner, id?: string): Promise<LegacySession> {
    const server = this.makeServer();
    const transport = new SessionTransport(
      {
        sessionIdGenerator: () => id ?? randomUUID(),
        // A copy is counted once it has been restored (restore).
        ...(id === undefined
          ? { onsessioninitialized: (sessionId: string) => void this.sessions.set(sessionId, session) }
          : {}),
        onsessionclosed: async (sessionId) => {
          if (sessionId === undefined) return;
          this.sessions.delete(sessionId);
          // The host ended it: on every replica. A store away now lets the record expire.
          await this.shared?.end(sessionId).catch(() => undefined);
        },
      },
      this.shared && ((requestId) => this.shared!.tag(requestId)),
    );
    // Declared after the transport, whose callbacks run only once a request is handled.
    const session: LegacySession = { transport, server, owner, open: 0, lastActive: Date.now() };
    transport.onclose = () => {
      const sessionId = transport.sessionId;
      if (sessionId === undefined || this.sessions.get(sessionId) !== session) return;
      this.sessions.delete(sessionId);
      this.shared?.forgetCopy(sessionId);
    };
    await server.connect(transport);
    return session;
  }

  /** The session ended on another replica, or its record is gone: this copy goes too. */
  private drop(id: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    void session.server.close().catch(() => undefined);
  }

  /** A message of the host that landed on another replica, for this replica's copy. */
  private async deliver(id: string, message: JSONRPCMessage): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) return;
    if ('method' in message && message.method === 'notifications/cancelled')
      this.options.onCancelled?.(id, message);
    await deliverTo(session.transport, id, message).catch(() => undefined);
  }

  private unreachable(what: string): Response {
    return jsonRpcError(
      503,
      -32000,
      `The gateway could not reach its state store (${this.options.state!.description}) ${what}; try again.`,
      { 'retry-after': '1' },
    );
  }

  private full(): Response {
    return jsonRpcError(
      503,
      -32000,
      `The gateway holds ${this.sessions.size} sessions, its limit (--max-sessions); close one or try again later.`,
      { 'retry-after': '5' },
    );
  }

  /**
   * Close the copies nobody has used here for idleMs (their records stay for the other replicas),
   * and keep alive the records of the sessions whose streams are held here.
   */
  private async sweep(): Promise<void> {
    const before = Date.now() - this.limits.idleMs;
    const idle: Array<[string, LegacySession]> = [];
    for (const [id, session] of this.sessions) {
      if (session.open === 0 && session.lastActive < before) idle.push([id, session]);
      else if (session.open > 0) this.shared?.touch(id);
    }
    for (const [id] of idle) {
      this.sessions.delete(id);
      this.shared?.forgetCopy(id);
    }
    await Promise.all(idle.map(([, session]) => session.server.close().catch(() => undefined)));
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((session) => session.server.close().catch(() => undefined)));
    await this.shared?.close();
  }
}

class Full extends Error {}

/**
 * A session's transport: the requests it sends the host name this replica (shared sessions), and
 * the answer to the host's `initialize` waits until the session is stored.
 */
class SessionTransport extends WebStandardStreamableHTTPServerTransport {
  initializing:
    { id: RequestId; beforeAnswer: (result: Record<string, unknown>) => Promise<void> } | undefined;

  constructor(
    options: WebStandardStreamableHTTPServerTransportOptions,
    private readonly tag: ((id: RequestId) => string) | undefined,
  ) {
    super(options);
  }

  override async send(message: JSONRPCMessage, options?: { relatedRequestId?: RequestId }): Promise<void> {
    const outgoing = this.tag ? tagOutgoing(message, this.tag) : message;
    const initializing = this.initializing;
    if (!initializing || !isJSONRPCResultResponse(outgoing) || outgoing.id !== initializing.id)
      return super.send(outgoing, options);
    this.initializing = undefined;
    try {
      await initializing.beforeAnswer(outgoing.result);
    } catch {
      // A session the other replicas would not know: refused, and closed here.
      await super.send(
        {
          jsonrpc: '2.0',
          id: outgoing.id,
          error: {
            code: -32603,
            message: 'The gateway could not store the session (its state store is unreachable); try again.',
          },
        },
        options,
      );
      await this.close();
      return;
    }
    return super.send(outgoing, options);
  }
}

/** Who a session belongs to: the credential's kind and member (the one static token: no member). */
function ownerOf(caller: Pick<AuditCaller, 'auth' | 'subject'> | undefined): SessionOwner {
  return { auth: caller?.auth ?? 'none', subject: caller?.subject ?? null };
}

function sameOwner(a: SessionOwner, b: SessionOwner): boolean {
  return a.auth === b.auth && a.subject === b.subject;
}

function jsonRpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}
