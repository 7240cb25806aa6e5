/**
 * What `connect()` takes and gives: its options and the Session. Apart from session.ts so the
 * files that build a session (attempt.ts, live-session.ts, explain.ts) need not import it.
 */

import type { Client } from '@modelcontextprotocol/client';
import type { Dispatcher } from 'undici';

import type { OAuthTokenSource, RefreshState } from '../auth/refresh.js';
import type { StoredAccess } from '../auth/stored-token.js';
import type { TokenStore } from '../auth/token-store.js';
import type { ServerEntry, Transport } from '../config/entry.js';
import type { Paths } from '../core/paths.js';
import type { Target } from './classify.js';
import type { ConnectError } from './connect-error.js';
import type { EraHints } from './era-hints.js';
import type { ConnectionWatch } from './liveness.js';
import type { HttpClient } from './network.js';
import type { StdioProcessTransport } from './stdio-transport.js';
import type { RawChannel } from './raw-channel.js';

export interface ConnectOptions {
  /** The server's configured name: for headersHelper's environment and for hints. */
  name?: string;
  /** Upper bound for the whole connect (spawn or request, handshake). */
  timeoutMs: number;
  /** Default bound for each later request; defaults to timeoutMs. */
  requestTimeoutMs?: number;
  signal?: AbortSignal;
  /** Working directory for a stdio server and a headersHelper (defaults to the current one). */
  cwd?: string;
  /** Proxy variables and the headersHelper's inherited variables; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Where stored logins and era hints are: the caller's resolved paths. Without them, connect
   * resolves them from `env` once, for every part of this connect.
   */
  paths?: Paths;
  /** Try legacy HTTP+SSE when an http server answers the POST with 400/404/405 (default true). */
  sseFallback?: boolean;
  /** Called on each new SDK client before it connects: capabilities and request handlers. */
  configureClient?: (client: Client) => void;
  /**
   * What may be done with a stored OAuth login (never with a configured Authorization header).
   * Every mode judges a token by the one rule of auth/expiry.ts.
   * - 'read-only' (default; checks with --no-refresh): the stored access token is sent as is
   *   while unexpired; no token request is ever made.
   * - 'renew' (checks: list, get, doctor, the console): as read-only while the token is fresh; one
   *   that is due or expired and has a refresh token is renewed first, exactly as a call renews it
   *   (one refresh across processes; nothing registered, no browser), so the check reports the
   *   server as it really is.
   * - 'refresh' (calls, the gateway): refreshed shortly before it expires and once when the server
   *   answers 401, then the request is retried; one refresh across processes.
   */
  credentials?: 'read-only' | 'renew' | 'refresh';
  /**
   * What the refreshing token sources of one owner (a gateway, a test) share: refreshes under way,
   * issuer metadata, the 401 loop guard. Default: the one of this process (auth/refresh.ts).
   */
  refreshState?: RefreshState;
  /**
   * With `credentials: 'refresh'`: where the login is, instead of the user's credential store (a
   * team gateway's member vault: the calling member's own login to this server).
   */
  tokenStore?: () => Promise<TokenStore>;
  /**
   * Open the standalone GET stream for server-initiated messages after a 2025-era handshake
   * (default true). A check that lists and leaves does not need one: its GET is answered 405
   * here, which the spec lets a server answer too, so the SDK goes on without a stream.
   */
  listen?: boolean;
  /**
   * Remember which Streamable HTTP servers speak the 2025 era (connect/era-hints.ts) and send
   * them `initialize` without asking `server/discover` first: 'off' (default), 'read' (use what
   * is remembered, record nothing: a read-only check), 'read-write' (checks).
   */
  eraHints?: 'off' | 'read' | 'read-write';
  /** Whose memory of eras that is (a long-running owner may keep its own); default the process's. */
  eraHintCache?: EraHints;
}

export interface ServerIdentity {
  name: string;
  version: string;
  title?: string;
}

export interface Session {
  readonly client: Client;
  /** The transport actually in use (an http entry may have fallen back to sse). */
  readonly transport: Transport;
  /** Set when an http entry turned out to speak only the legacy HTTP+SSE transport. */
  readonly fellBackToSse: boolean;
  readonly server: ServerIdentity | undefined;
  readonly protocolVersion: string | undefined;
  /** 2026-07-28 and later: 'modern' (server/discover, stateless); else 'legacy' (initialize). */
  readonly era: 'modern' | 'legacy';
  readonly sessionId: string | undefined;
  readonly instructions: string | undefined;
  /** Time from the start of connect to a usable session. */
  readonly connectMs: number;
  /** HTTP transports only: the client every request of this session goes through. */
  readonly http: HttpClient | undefined;
  /**
   * Run a request; when a 2025-era HTTP session has expired (404 on a request that carried
   * Mcp-Session-Id), start a new session and run it once more.
   */
  request<T>(run: (client: Client) => Promise<T>): Promise<T>;
  /**
   * Aborted when the connection broke under a request (its reason: the ConnectError that says
   * so); requests in flight then fail at once, and so does every later one.
   */
  readonly lost: AbortSignal;
  /**
   * A 2025-era Streamable HTTP session's raw side, for a relay that forwards JSON-RPC bytes
   * instead of SDK messages (the gateway's hot path); undefined for every other session.
   */
  passThrough(): PassThrough | undefined;
  /**
   * A 2025-era stdio session's raw side (raw-channel.ts), the stdio counterpart of passThrough;
   * undefined for every other session, and while the session is closed, lost or renewing.
   */
  rawChannel(): RawChannel | undefined;
  /** Options for one request: the per-request timeout and the caller's signal. */
  requestOptions(): { timeout: number; signal?: AbortSignal };
  /** The reason, step and hint for a failed request of this session (timed out after `timeoutMs`). */
  /** Before `explain` after a failed request: lets a dying stdio child's exit settle (bounded). */
  settle(): Promise<void>;
  explain(error: unknown, timeoutMs?: number): ConnectError;
  /** Ends the session (DELETE for HTTP sessions, process group for stdio). Idempotent. */
  close(): Promise<void>;
}

/** What a POST of this session carries, from the same sources the SDK transport reads. */
export interface PassThrough {
  url: URL;
  /** The pooled dispatcher the session's own requests go through. */
  dispatcher: Dispatcher;
  /**
   * The headers of a POST now: the configured ones, the credential (the same token source, so a
   * token due for refresh is refreshed first), Mcp-Session-Id and MCP-Protocol-Version.
   */
  headers(): Promise<Record<string, string>>;
  /**
   * A relayed request's answer broke off (or ended without its response): the session is lost,
   * as when one of its own answers breaks, and its `lost` reason says why.
   */
  broken(method: string): void;
}

export type ClientModule = typeof import('@modelcontextprotocol/client');
export type SdkTransport = Parameters<Client['connect']>[0];

export interface Opened {
  client: Client;
  transport: SdkTransport;
  kind: Transport;
  /** Notices when this connection breaks under a request (liveness.ts). */
  watch: ConnectionWatch;
}

/** What a connect attempt needs while it runs, shared by the first attempt and a renewal. */
/** The options inside one connect, its paths resolved. */
export type ResolvedConnectOptions = ConnectOptions & { paths: Paths };

export interface Dialer {
  sdk: ClientModule;
  entry: ServerEntry;
  target: Target;
  options: ResolvedConnectOptions;
  headers: Record<string, string>;
  http: HttpClient | undefined;
  secrets: string[];
  /** What a login left for this server, when no Authorization header is configured (read-only). */
  login: StoredAccess | undefined;
  /** The refreshing token source, with `credentials: 'refresh'` and no Authorization header. */
  tokens: OAuthTokenSource | undefined;
  /** The scopes the server's last 401/403 challenge asked for. */
  challengeScope?: string;
}

/** What a failure's explanation reads of a connect attempt (attempt.ts). */
export interface AttemptState {
  readonly dialer: Dialer;
  readonly current: Opened | undefined;
  stdio(): StdioProcessTransport | undefined;
}
