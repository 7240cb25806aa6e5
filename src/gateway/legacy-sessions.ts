/**
 * 2025-era hosts over HTTP get real sessions (`Mcp-Session-Id`): a standing GET stream on which
 * they hear `list_changed` and the upstreams' log messages, and a server that can ask them back
 * (elicitation, sampling) during a call. Stateless serving could do neither.
 *
 * - A session starts with `initialize` and ends with DELETE, with the gateway, or when it has been
 *   idle for `idleMs`: no request and no stream open for that long (a host that keeps its GET
 *   stream open is never idle; one that crashed is swept).
 * - At most `maxSessions` at once; one more `initialize` is answered 503 with the reason.
 * - An unknown or expired session ID is answered 404, which tells the host to initialize again.
 */

import { randomUUID } from 'node:crypto';

import {
  isInitializeRequest,
  WebStandardStreamableHTTPServerTransport,
  type AuthInfo,
  type Server,
} from '@modelcontextprotocol/server';

export const MAX_SESSIONS = 100;
export const SESSION_IDLE_MS = 30 * 60_000;

/** Settles when the HTTP exchange is over (its response written, or the client gone). */
export type Ended = Promise<void>;

export interface LegacySessionLimits {
  maxSessions: number;
  idleMs: number;
}

interface LegacySession {
  transport: WebStandardStreamableHTTPServerTransport;
  server: Server;
  /** HTTP exchanges of this session still open (POSTs being answered, GET streams). */
  open: number;
  lastActive: number;
}

export class LegacySessions {
  private readonly sessions = new Map<string, LegacySession>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly makeServer: () => Server,
    private readonly limits: LegacySessionLimits,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), Math.min(limits.idleMs / 2, 60_000));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Whether this 2025-era request belongs here (a session's, or one opening a session). */
  claims(request: Request, parsedBody: unknown): boolean {
    return request.headers.has('mcp-session-id') || isInitializeRequest(parsedBody);
  }

  /** `authInfo`: what the HTTP layer established about this request's caller (passed to handlers). */
  async handle(request: Request, parsedBody: unknown, ended: Ended, authInfo?: AuthInfo): Promise<Response> {
    const id = request.headers.get('mcp-session-id');
    if (id !== null) {
      const session = this.sessions.get(id);
      if (!session)
        return jsonRpcError(404, -32001, 'Session not found (expired or closed); initialize again.');
      return this.serve(session, request, parsedBody, ended, authInfo);
    }
    await this.sweep();
    if (this.sessions.size >= this.limits.maxSessions) {
      return jsonRpcError(
        503,
        -32000,
        `The gateway holds ${this.sessions.size} sessions, its limit (--max-sessions); close one or try again later.`,
        { 'retry-after': '5' },
      );
    }
    const server = this.makeServer();
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sessionId) => {
        this.sessions.set(sessionId, session);
      },
      onsessionclosed: (sessionId) => {
        this.sessions.delete(sessionId);
      },
    });
    // Declared after the transport, whose callbacks run only once a request is handled.
    const session: LegacySession = { transport, server, open: 0, lastActive: Date.now() };
    transport.onclose = () => {
      if (transport.sessionId) this.sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    return this.serve(session, request, parsedBody, ended, authInfo);
  }

  /**
   * One exchange of a session. It counts as open until `ended` is called, which the HTTP layer does
   * once the response (or stream) has been written or abandoned.
   */
  private async serve(
    session: LegacySession,
    request: Request,
    parsedBody: unknown,
    ended: Ended,
    authInfo: AuthInfo | undefined,
  ): Promise<Response> {
    session.open++;
    session.lastActive = Date.now();
    ended.then(() => {
      session.open--;
      session.lastActive = Date.now();
    });
    return session.transport.handleRequest(request, { parsedBody, ...(authInfo ? { authInfo } : {}) });
  }

  /**
   * The server of a session, held open for one exchange served outside its transport (the hot
   * path) until `ended`, as `serve` holds it; undefined for an unknown session.
   */
  hold(id: string, ended: Ended): Server | undefined {
    const session = this.sessions.get(id);
    if (!session) return undefined;
    session.open++;
    session.lastActive = Date.now();
    ended.then(() => {
      session.open--;
      session.lastActive = Date.now();
    });
    return session.server;
  }

  /** Close the sessions nobody has used for idleMs. */
  private async sweep(): Promise<void> {
    const before = Date.now() - this.limits.idleMs;
    const idle = [...this.sessions].filter(([, s]) => s.open === 0 && s.lastActive < before);
    for (const [id] of idle) this.sessions.delete(id);
    await Promise.all(idle.map(([, session]) => session.server.close().catch(() => undefined)));
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((session) => session.server.close().catch(() => undefined)));
  }
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
