/**
 * `patchbay serve --http`: the gateway over Streamable HTTP (both eras; 2025 served statelessly),
 * on one path, `/mcp`, safe by default — the holes of CVE-2025-49596 (the Inspector's proxy:
 * no auth, any Origin, bound to every interface) are closed one by one, in this order:
 *
 * 0. a connection past the caps (MAX_CONNECTIONS in all, MAX_CONNECTIONS_PER_CLIENT from one
 *    address) is answered 503 and closed; a request whose headers (HEADERS_TIMEOUT_MS) or whole
 *    body (REQUEST_TIMEOUT_MS) take too long is answered 408 and closed by node:http (slowloris);
 * 1. only `/mcp` exists (404 elsewhere);
 * 2. `Host` must be this listener's own host:port (DNS rebinding; hostAllowed has the rule) and a
 *    browser `Origin` must be a local one: 403;
 * 3. `Authorization: Bearer <token>` must match (timing-safe): 401 with a challenge;
 * 4. a body over MAX_BODY_BYTES: 413, read no further;
 * 5. at most MAX_CONCURRENT_REQUESTS requests at once: 503 with Retry-After.
 *
 * `/healthz` and `/readyz` (health.ts, routes marked `open`) are answered before steps 1–3. With
 * TLS files the listener is https (tls.ts); behind a proxy, `X-Forwarded-*` count only from the
 * trusted ones (proxies.ts); a drain (drain.ts) refuses new requests and lets those in flight end.
 *
 * 2026-07-28 requests are served per request (`createMcpHandler`); 2025-era hosts get sessions
 * (legacy-sessions.ts: bounded in number, expired when idle, shared by the replicas through the
 * state store), and a 2025 request without a session
 * that is not `initialize` is still answered, statelessly. A tool call, prompt or resource read of
 * either era may be relayed by the hot path (hot-path.ts) instead, decided per request.
 */

import { createHash } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';

import {
  createMcpHandler,
  isLegacyRequest,
  type AuthInfo,
  type McpHttpHandler,
} from '@modelcontextprotocol/server';

import { isLoopbackHost } from '../core/loopback.js';
import { Drain } from './drain.js';
import type { Readiness } from './health.js';
import { peerOf, type Forwarded, type TrustedProxies } from './proxies.js';
import { createTlsServer, type TlsFiles } from './tls.js';
import type { AuditCaller } from '../policy/audit.js';
import { CALLER_KEY } from './caller.js';
import {
  bearerOf,
  challengeHeader,
  type Authenticator,
  type GatewayRoute,
  type Identity,
  type Refusal,
} from './inbound.js';
import type { Gateway } from './gateway.js';
import { HotPath } from './hot-path.js';
import { LegacySessions, MAX_SESSIONS, SESSION_IDLE_MS, type Ended } from './legacy-sessions.js';
import { closeServer, listen, serveWebHandler } from '../core/web-handler.js';
import type { StateStore } from '../state/store.js';

export const MCP_PATH = '/mcp';
export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_CONCURRENT_REQUESTS = 64;
/** From a connection's first byte to the end of its request headers. */
export const HEADERS_TIMEOUT_MS = 10_000;
/**
 * To the end of the request body (node:http's requestTimeout). Only the request: a response
 * streamed for minutes (a long tool call, a standing SSE GET) is not cut by it.
 */
export const REQUEST_TIMEOUT_MS = 30_000;
/** An idle kept-alive connection is closed after this. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Open connections at once, in all and from one client address. */
export const MAX_CONNECTIONS = 1024;
export const MAX_CONNECTIONS_PER_CLIENT = 256;

/** What one gateway listener allows (`patchbay serve --http` flags); unset: the defaults above. */
export interface HttpLimits {
  /** 2025-era sessions held at once (default MAX_SESSIONS). */
  maxSessions?: number;
  /** A 2025-era session with nothing open for this long is closed (default SESSION_IDLE_MS). */
  sessionIdleMs?: number;
  /** Defaults: HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_CLIENT. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxConnections?: number;
  maxConnectionsPerClient?: number;
}

export interface HttpGatewayOptions extends HttpLimits {
  host: string;
  port: number;
  /** Who may call `/mcp` (inbound.ts); undefined with --dangerously-no-auth. */
  authenticator: Authenticator | undefined;
  /** Paths served besides `/mcp` (protected-resource metadata, sign-in pages, health). */
  routes?: GatewayRoute[];
  /**
   * A team gateway's front door, made once the listener's URL is known (a port of 0 is chosen by
   * the system): its authenticator and routes replace the two above. Requests wait for it.
   */
  front?: (mcpUrl: URL) => Promise<{ authenticator: Authenticator; routes: GatewayRoute[] }>;
  /**
   * The gateway's URL as hosts reach it (`https://mcp.example.com`), when that is not the listener's
   * own (behind a TLS-terminating proxy): its host is accepted in `Host` and its origin in `Origin`.
   */
  publicUrl?: URL;
  /** Speak TLS with these files (reloaded when they change, or on SIGHUP). */
  tls?: TlsFiles;
  /** The proxies whose `X-Forwarded-*` headers are believed; nobody's when unset. */
  trustedProxies?: TrustedProxies;
  /** `/readyz`'s checks: the listener adds its own (listener, front, draining). */
  readiness?: Readiness;
  /** What the person running the gateway may want logged. */
  events?: ListenerEvents;
  /**
   * The gateway's state store: 2025-era sessions are kept there, so that any replica serves any
   * session (shared-sessions.ts). Without one, this process's only.
   */
  state?: StateStore;
}

/** A request answered with a refusal before it reached the gateway. Never carries a credential. */
export interface RefusedRequest {
  status: number;
  /** A fixed word: not-found, host, origin, unauthenticated, invalid_token, insufficient_scope, … */
  reason: string;
  method: string;
  path: string;
  peer: string | undefined;
}

export interface ListenerEvents {
  onRefused?: (refused: RefusedRequest) => void;
  onTlsReloaded?: () => void;
  onTlsReloadFailed?: (error: Error) => void;
}

export interface HttpGateway {
  url: string;
  /** Where it listens (`127.0.0.1:7431`): differs from the URL's authority behind a load balancer. */
  listening: string;
  handler: McpHttpHandler;
  /**
   * Stop taking connections and requests (503, Retry-After, Connection: close; /readyz 503), and
   * resolve once the requests in flight have been answered or `withinMs` has passed: with how many
   * were still in flight then. `close` follows.
   */
  drain(withinMs: number): Promise<{ cut: number }>;
  /** Requests being answered now (standing streams not counted). */
  inFlight(): number;
  /** 2025-era host sessions open now that this replica counts as its own (legacy-sessions.ts `owned`). */
  sessions(): number;
  /** Copies of 2025-era host sessions this replica holds now (its own and other replicas'). */
  sessionCopies(): number;
  close(): Promise<void>;
}

export async function serveHttp(gateway: Gateway, options: HttpGatewayOptions): Promise<HttpGateway> {
  const handler = createMcpHandler(({ era }) => gateway.createServer(era), {
    keepAliveMs: 15_000,
    maxSubscriptions: options.maxSessions ?? MAX_SESSIONS,
  });
  // 2026-07-28 hosts hear of changes on their subscriptions/listen streams.
  gateway.onAnnounce((kind) =>
    kind === 'tools'
      ? handler.notify.toolsChanged()
      : kind === 'prompts'
        ? handler.notify.promptsChanged()
        : handler.notify.resourcesChanged(),
  );
  const sessions = new LegacySessions(
    () => gateway.createServer('legacy'),
    {
      maxSessions: options.maxSessions ?? MAX_SESSIONS,
      idleMs: options.sessionIdleMs ?? SESSION_IDLE_MS,
    },
    {
      ...(options.state ? { state: options.state } : {}),
      onCancelled: (sessionId, message) => gateway.hotPath?.cancel(sessionId, message),
      onLogLevel: (level) => void gateway.setLogLevel(level).catch(() => undefined),
    },
  );
  // An upstream's log message is observed by this replica only: the other replicas' hosts hear it
  // too; and the log level a host sets here is every replica's.
  gateway.onUpstreamLog((params) => sessions.shareLog(params));
  gateway.onLogLevel((level) => sessions.shareLogLevel(level));
  const routeMcp = async (
    request: Request,
    parsedBody: unknown,
    ended: Ended,
    authInfo: AuthInfo,
  ): Promise<Response> => {
    // Not JSON: the SDK answers the parse error.
    if (parsedBody === NOT_JSON) return handler.fetch(request);
    if (sessions.claims(request, parsedBody) && (await isLegacyRequest(request, parsedBody)))
      return sessions.handle(request, parsedBody, ended, authInfo);
    return handler.fetch(request, { authInfo, ...(parsedBody === undefined ? {} : { parsedBody }) });
  };
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  // node:http refuses a headers timeout above the request timeout (which includes the headers).
  const headersTimeout = Math.min(options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, requestTimeout);
  const serverOptions = {
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // The timeouts are only checked this often (node's default, 30 s, let a slow client stay ~90 s).
    connectionsCheckingInterval: Math.min(1_000, headersTimeout / 2),
  };
  const { events = {}, tls } = options;
  const secure = tls
    ? await createTlsServer(serverOptions, tls, {
        ...(events.onTlsReloaded ? { onReloaded: events.onTlsReloaded } : {}),
        ...(events.onTlsReloadFailed ? { onReloadFailed: events.onTlsReloadFailed } : {}),
      })
    : undefined;
  // An https server has the API of an http one; its connections are counted once TLS is up.
  const httpServer = (secure?.server ?? createServer(serverOptions)) as HttpServer;
  const refused = capConnections(
    httpServer,
    options.maxConnections ?? MAX_CONNECTIONS,
    options.maxConnectionsPerClient ?? MAX_CONNECTIONS_PER_CLIENT,
    secure ? 'secureConnection' : 'connection',
    options.trustedProxies,
  );
  try {
    await listen(httpServer, options.host, options.port);
  } catch (error) {
    secure?.stopWatching();
    throw error;
  }
  const { port } = httpServer.address() as AddressInfo;
  const scheme = secure ? 'https' : 'http';
  const origin = `${scheme}://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  const loopback = isLoopbackHost(options.host);
  const allowedHosts = new Set(
    (loopback ? LOOPBACK_NAMES : [options.host.toLowerCase()]).map((name) => authority(name, port)),
  );
  const { publicUrl } = options;
  if (publicUrl) allowedHosts.add(publicAuthority(publicUrl));
  const selfOrigins = new Set([origin, ...(publicUrl ? [publicUrl.origin] : [])]);
  const mcpUrl = new URL(MCP_PATH, publicUrl ?? origin);
  // Open routes (health) are the caller's and stay; the front door's are added once it is built.
  const openRoutes = (options.routes ?? []).filter((route) => route.open);
  let { authenticator, routes = [] } = options;
  let frontState: 'building' | 'built' | 'failed' = 'building';
  const front = options.front?.(mcpUrl).then(
    (made) => {
      ({ authenticator } = made);
      routes = [...routes, ...made.routes];
      frontState = 'built';
    },
    (error: unknown) => {
      frontState = 'failed';
      throw error;
    },
  );
  const drain = new Drain();
  let inFlight = 0;
  options.readiness?.add('listener', () =>
    httpServer.listening ? { ready: true } : { ready: false, reason: 'not-listening' },
  );
  if (front)
    options.readiness?.add('front', () =>
      frontState === 'built' ? { ready: true } : { ready: false, reason: frontState },
    );
  options.readiness?.add('draining', () =>
    drain.draining ? { ready: false, reason: 'draining', count: drain.inFlight } : { ready: true },
  );

  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // Answered 503 already; node:http may still have parsed what the client sent.
    if (refused.has(req.socket)) return;
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const forwarded = options.trustedProxies?.forwarded(req);
    const peer = peerOf(req, forwarded);
    // Under a prefix route (a sign-in page) the rest of the path may be a state: not logged.
    const prefix = routes.find((route) => route.path.endsWith('/') && path.startsWith(route.path));
    const logged = { method: req.method ?? '', path: prefix ? `${prefix.path}…` : path, peer };
    const deny = (status: number, reason: string, text: string) => {
      events.onRefused?.({ status, reason, ...logged });
      plain(res, status, text);
    };
    void (async () => {
      const open = openRoutes.find((candidate) => routeMatches(candidate, path));
      // Draining: every answer ends its connection, so that clients reconnect elsewhere.
      if (drain.draining) res.setHeader('connection', 'close');
      if (open) return await open.handle(req, res);
      if (drain.draining) {
        res.setHeader('Retry-After', '5');
        return deny(503, 'draining', 'The gateway is shutting down; try again.');
      }
      // In flight from here (authentication, body) until its answer is over: a drain waits for it.
      const leave = drain.enter();
      res.once('close', leave);
      // A front door that failed to start serves nothing, least of all without its authenticator.
      // Waited for only while it is being built: once settled, its state says (no promise per request).
      if (front && frontState === 'building')
        await front.then(
          () => undefined,
          () => undefined,
        );
      if (front && frontState === 'failed') return deny(503, 'not-started', 'The gateway did not start.');
      const route = path === MCP_PATH ? undefined : routes.find((candidate) => routeMatches(candidate, path));
      if (path !== MCP_PATH && !route)
        return deny(404, 'not-found', `Not found. The MCP endpoint is ${MCP_PATH}.`);
      if (!hostAllowed(forwardedHost(req, forwarded), allowedHosts, defaultPort(forwarded)))
        return deny(403, 'host', 'Forbidden: the Host header does not name this server (DNS rebinding?).');
      if (!originAllowed(req.headers.origin, loopback, selfOrigins))
        return deny(403, 'origin', 'Forbidden: requests from web pages of other origins are refused.');
      if (route && !route.authenticated) return await route.handle(req, res);
      let identity: Identity = { auth: 'none', subject: null };
      if (authenticator) {
        const answer = await authenticator.authenticate(bearerOf(req), req);
        if (!answer.ok) {
          const refusal: Refusal =
            answer.kind === 'refused'
              ? answer
              : { ok: false, kind: 'refused', status: 401, description: 'A bearer token is required.' };
          events.onRefused?.({
            status: refusal.status,
            reason: refusal.error ?? 'unauthenticated',
            ...logged,
          });
          return refuse(res, authenticator, refusal);
        }
        identity = answer.identity;
      }
      if (route) return await route.handle(req, res);
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readBody(req);
      if (body === 'too-large')
        return deny(413, 'too-large', `Request body larger than ${MAX_BODY_BYTES} bytes.`);
      const parsedBody = body === undefined || body.length === 0 ? undefined : parseJson(body);
      // Standing streams (a session's GET, a 2026 subscriptions/listen) are bounded by the number
      // of sessions and subscriptions, not counted as requests in flight.
      const standing = req.method === 'GET' || isListen(parsedBody);
      if (standing) leave();
      if (!standing && inFlight >= MAX_CONCURRENT_REQUESTS) {
        res.setHeader('Retry-After', '1');
        return deny(503, 'busy', 'Too many requests at once; try again.');
      }
      if (!standing) inFlight++;
      let end!: () => void;
      const ended = new Promise<void>((resolve) => (end = resolve));
      try {
        const hot = gateway.hotPath;
        const sessionId = req.headers['mcp-session-id'];
        if (hot && req.method === 'POST' && typeof sessionId === 'string') {
          if (HotPath.candidate(parsedBody)) {
            const caller = callerOf(req, identity, peer);
            const server = await sessions.hold(sessionId, ended, caller);
            const served =
              server !== undefined &&
              (await hot.serve({
                req,
                res,
                body: parsedBody,
                sessionId,
                hostName: server.getClientVersion()?.name ?? null,
                hostCapabilities: server.getClientCapabilities(),
                caller,
              }));
            if (served) return;
          } else hot.cancel(sessionId, parsedBody);
        } else if (
          hot &&
          req.method === 'POST' &&
          sessionId === undefined &&
          req.headers['mcp-protocol-version'] !== undefined &&
          HotPath.candidate(parsedBody)
        ) {
          // A 2026-07-28 host's request (hot-modern.ts reads it as the SDK's entry would).
          const served = await hot.serveModern({
            req,
            res,
            body: parsedBody,
            caller: callerOf(req, identity, peer),
          });
          if (served) return;
        }
        await serveWebHandler(
          req,
          res,
          origin,
          (request) => routeMcp(request, parsedBody, ended, callerInfo(req, identity, peer)),
          body ? { body } : {},
        );
      } finally {
        end();
        if (!standing) inFlight--;
      }
    })().catch(() => {
      if (!res.headersSent) plain(res, 500, 'Internal error.');
      else res.destroy();
    });
  });

  // Already listening (requests wait for it): a front door that fails must not leave the port open.
  await front?.catch(async (error: unknown) => {
    await closeServer(httpServer);
    throw error;
  });

  let closing: Promise<void> | undefined;
  return {
    url: mcpUrl.href,
    listening: new URL(origin).host,
    handler,
    async drain(withinMs) {
      const finished = drain.start(withinMs);
      // No new connection. Kept-alive ones stay until the drain is over: a request sent on one just
      // now is answered 503 with Connection: close (a clear retry), where closing it under the
      // sender would reset a POST that no one may safely send again. (http.Server's own close()
      // would also close the idle ones at once: the listening socket is closed as net's is.)
      NetServer.prototype.close.call(httpServer);
      await finished;
      return { cut: drain.inFlight };
    },
    inFlight: () => drain.inFlight,
    sessions: () => sessions.owned,
    sessionCopies: () => sessions.size,
    close() {
      closing ??= (async () => {
        secure?.stopWatching();
        await Promise.all([handler.close(), sessions.close()]);
        await closeServer(httpServer);
      })();
      return closing;
    },
  };
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/**
 * What this exchange established about its caller, handed to the gateway as the request's
 * authInfo (the SDK passes it through to handlers as ctx.http.authInfo) for policy, listings and
 * the audit log. The credential itself is not in it.
 */
function callerInfo(req: IncomingMessage, identity: Identity, peer: string | undefined): AuthInfo {
  const caller = callerOf(req, identity, peer);
  return {
    token: '',
    clientId: caller.client ?? caller.auth,
    scopes: caller.scopes ?? [],
    extra: { [CALLER_KEY]: caller },
  };
}

/**
 * The caller of this exchange: who the credential names, and the session and peer (callerInfo's,
 * for the hot path). The peer is the client a trusted proxy names, else the TCP peer.
 */
function callerOf(req: IncomingMessage, identity: Identity, peer: string | undefined): AuditCaller {
  const session = req.headers['mcp-session-id'];
  return {
    transport: 'http',
    ...identity,
    ...(typeof session === 'string' ? { session: sessionLabel(session) } : {}),
    ...(peer ? { peer } : {}),
  };
}

/**
 * A session id as the audit log names it: a short hash, never the id (it is the session's key).
 * Every request of a session carries it, so the hash of the last few hundred is kept.
 */
function sessionLabel(session: string): string {
  let label = sessionLabels.get(session);
  if (label === undefined) {
    label = `sha256:${createHash('sha256').update(session).digest('hex').slice(0, 16)}`;
    if (sessionLabels.size >= MAX_SESSION_LABELS) sessionLabels.delete(sessionLabels.keys().next().value!);
    sessionLabels.set(session, label);
  }
  return label;
}

const sessionLabels = new Map<string, string>();
const MAX_SESSION_LABELS = 512;

/** `name:port`, an IPv6 address in brackets, as it appears in a Host header. */
function authority(name: string, port: number): string {
  return `${name.includes(':') ? `[${name}]` : name}:${port}`;
}

/**
 * The Host header names this listener: one of its names *and* its port (DNS rebinding — a page of
 * evil.example resolved to 127.0.0.1 sends `Host: evil.example:<port>`; another local service's
 * page sends its own port). A Host without a port means the scheme's default, 80 (RFC 7230
 * §5.4, RFC 3986 §3.2.3 — also for `name:` with an empty port), so `Host: localhost` is accepted
 * only by a gateway bound to port 80. No Host at all, userinfo, or anything else: refused.
 */
function hostAllowed(
  host: string | undefined,
  allowed: Set<string>,
  defaultPort = DEFAULT_HTTP_PORT,
): boolean {
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9._~-]+)(?::(\d*))?$/i.exec(host ?? '');
  if (!match) return false;
  const port = match[2] ? Number(match[2]) : defaultPort;
  return port <= 65_535 && allowed.has(`${match[1]!.toLowerCase()}:${port}`);
}

const DEFAULT_HTTP_PORT = 80;

/** The Host the client asked for: a trusted proxy's X-Forwarded-Host, else the request's own. */
function forwardedHost(req: IncomingMessage, forwarded: Forwarded | undefined): string | undefined {
  return forwarded?.host ?? req.headers.host;
}

/** A Host without a port: 443 when the trusted proxy says the client spoke https, else 80. */
function defaultPort(forwarded: Forwarded | undefined): number {
  return forwarded?.host !== undefined && forwarded.proto === 'https' ? 443 : DEFAULT_HTTP_PORT;
}

/**
 * At most `total` connections at once, and `perClient` from one address other than a trusted
 * proxy's: one more is answered
 * 503 and closed before its request is served, and the connections already open go on. Returns
 * the refused sockets, whose requests the caller must not serve.
 */
function capConnections(
  server: HttpServer,
  total: number,
  perClient: number,
  event: 'connection' | 'secureConnection',
  /** A trusted proxy (a load balancer) carries many clients: only the total bounds it. */
  proxies?: TrustedProxies,
): WeakSet<Socket> {
  const refused = new WeakSet<Socket>();
  const byAddress = new Map<string, number>();
  let open = 0;
  server.on(event, (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const fromThere = byAddress.get(address) ?? 0;
    const capped = !proxies?.trusts(address);
    if (open >= total || (capped && fromThere >= perClient)) {
      refused.add(socket);
      socket.pause();
      const body = `Too many connections${open >= total ? '' : ' from this address'}; close some and try again.\n`;
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n` +
          `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      // Nothing it sends is read; the close after the answer is flushed.
      socket.once('finish', () => socket.destroy());
      return;
    }
    open++;
    byAddress.set(address, fromThere + 1);
    socket.once('close', () => {
      open--;
      const left = (byAddress.get(address) ?? 1) - 1;
      if (left === 0) byAddress.delete(address);
      else byAddress.set(address, left);
    });
  });
  return refused;
}

/**
 * No Origin: not a browser (hosts, CLIs), allowed. A browser page: only one of this computer
 * when serving loopback, else only this server's own origin.
 */
function originAllowed(origin: string | undefined, loopback: boolean, self: Set<string>): boolean {
  if (origin === undefined) return true;
  if (self.has(origin)) return true;
  if (!loopback) return false;
  try {
    const { hostname, protocol } = new URL(origin);
    return (
      (protocol === 'http:' || protocol === 'https:') &&
      LOOPBACK_NAMES.includes(hostname.replace(/^\[|\]$/g, ''))
    );
  } catch {
    return false;
  }
}

/** 401 or 403 with the authenticator's challenge (RFC 6750 §3; RFC 9728 §5.1 on a team gateway). */
function refuse(res: ServerResponse, authenticator: Authenticator, refusal: Refusal): void {
  res.setHeader(
    'WWW-Authenticate',
    challengeHeader({
      ...authenticator.challenge(),
      ...(refusal.error ? { error: refusal.error, error_description: refusal.description } : {}),
      ...(refusal.scope ? { scope: refusal.scope } : {}),
    }),
  );
  plain(res, refusal.status, refusal.description);
}

function routeMatches(route: GatewayRoute, path: string): boolean {
  return route.path.endsWith('/') ? path.startsWith(route.path) : path === route.path;
}

/** A public URL's host:port as a Host header names it (the scheme's default port when none). */
function publicAuthority(url: URL): string {
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : DEFAULT_HTTP_PORT;
  return authority(url.hostname.replace(/^\[|\]$/g, '').toLowerCase(), port);
}

/** The body, or 'too-large' as soon as it passes the limit (the rest is not read). */
function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return Promise.resolve('too-large');
  // Events, not `for await`: an async iterator per request is a measurable share of a relayed call.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (outcome: Buffer | 'too-large' | Error) => {
      req.off('data', onData).off('end', onEnd).off('error', done).off('close', onClose);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        // The rest is not read: the answer ends the exchange.
        req.pause();
        return done('too-large');
      }
      chunks.push(chunk);
    };
    const onEnd = () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    const onClose = () => {
      if (!req.complete) done(new Error('the request was cut off'));
    };
    req.on('data', onData).on('end', onEnd).on('error', done).on('close', onClose);
  });
}

const NOT_JSON = Symbol('not JSON');

function isListen(body: unknown): boolean {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as { method?: unknown }).method === 'subscriptions/listen'
  );
}

/** The body as JSON, or NOT_JSON. */
function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return NOT_JSON;
  }
}

function plain(res: ServerResponse, status: number, text: string): void {
  if (!res.headersSent)
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(`${text}\n`);
}
