/**
 * `connect(entry, options) → Session`: the one way every command reaches a server, on the SDK
 * client. Streamable HTTP in both protocol eras (2026-07-28 `server/discover`, else the 2025-era
 * `initialize` with a session), legacy HTTP+SSE (also as the spec's fallback for an `http` entry
 * whose server speaks only that), and stdio through patchbay's own transport.
 *
 * Every wait is bounded by the connect timeout and the caller's signal. Reasons never hold a
 * configured header or environment value, nor a headersHelper's output. The SDK, undici and the
 * transports are loaded here only, so commands that need no network never pay for them.
 */

import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';

import type { Client } from '@modelcontextprotocol/client';

import { PatchbayError } from '../errors.js';
import type { ServerEntry, Transport } from '../config/entry.js';
import { terminalText } from '../core/terminal-text.js';
import { packageVersion } from '../core/version.js';
import {
  causeChain,
  classifyFailure,
  hostPortOf,
  httpStatus,
  LIST_MAX_PAGES,
  loginCommand,
  networkFailure,
  redact,
  secretValues,
  timeoutFailure,
  type FailureContext,
  type Target,
} from './classify.js';
import { CLIENT_CAPABILITIES, declineServerRequests } from './client-capabilities.js';
import { ConnectError } from './connect-error.js';
import { ConnectionWatch, type Lost } from './liveness.js';
import { Deadline, type DeadlineKind } from '../core/deadline.js';
import { raceAbort } from '../core/race.js';
import { completingResults } from './result-type.js';
import type { FetchLike, HttpClient } from './network.js';
import type { StdioProcessTransport } from './stdio-transport.js';
import type { StoredAccess } from '../auth/stored-token.js';
import type { CredentialError, OAuthTokenSource } from '../auth/refresh.js';

export { ConnectError, type ConnectFailureStatus, type ConnectStep } from './connect-error.js';

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
  /** Options for one request: the per-request timeout and the caller's signal. */
  requestOptions(): { timeout: number; signal?: AbortSignal };
  /** The reason, step and hint for a failed request of this session (timed out after `timeoutMs`). */
  /** Before `explain` after a failed request: lets a dying stdio child's exit settle (bounded). */
  settle(): Promise<void>;
  explain(error: unknown, timeoutMs?: number): ConnectError;
  /** Ends the session (DELETE for HTTP sessions, process group for stdio). Idempotent. */
  close(): Promise<void>;
}

type ClientModule = typeof import('@modelcontextprotocol/client');
type SdkTransport = Parameters<Client['connect']>[0];

/** How long a server gets to acknowledge the end of its session (HTTP DELETE). */
const SESSION_END_GRACE_MS = 500;
/** The statuses after which the spec says to try the legacy SSE transport on the same URL. */
const SSE_FALLBACK_STATUSES = new Set([400, 404, 405]);

interface Opened {
  client: Client;
  transport: SdkTransport;
  kind: Transport;
  /** Notices when this connection breaks under a request (liveness.ts). */
  watch: ConnectionWatch;
}

/** What a connect attempt needs while it runs, shared by the first attempt and a renewal. */
interface Dialer {
  sdk: ClientModule;
  entry: ServerEntry;
  target: Target;
  options: ConnectOptions;
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

export async function connect(entry: ServerEntry, options: ConnectOptions): Promise<Session> {
  const started = performance.now();
  const secrets = secretValues(entry);
  const target = checkEntry(entry);
  const deadline = connectDeadline(options.timeoutMs, options.signal);
  let http: HttpClient | undefined;
  let attempt: Attempt | undefined;
  let sdk: ClientModule | undefined;
  try {
    sdk = await deadline.race(import('@modelcontextprotocol/client'));
    const headers = { ...entry.headers };
    if (target.transport !== 'stdio') {
      if (entry.headersHelper) {
        const extra = await runHelper(entry.headersHelper, target.url, options, deadline);
        secrets.push(...Object.values(extra).filter((value) => value.length >= 6));
        Object.assign(headers, extra);
      }
      http = await createHttp(entry, options);
    }
    const { login, tokens } =
      target.transport === 'stdio' || !http
        ? {}
        : await credentialsFor(entry, target.url, headers, options, http, secrets);
    if (login?.kind === 'valid') secrets.push(login.accessToken);
    const dialer: Dialer = { sdk, entry, target, options, headers, http, secrets, login, tokens };
    attempt = new Attempt(dialer, deadline);
    const hints = target.transport === 'http' ? (options.eraHints ?? 'off') : 'off';
    const env = options.env ?? process.env;
    const hintUrl = entry.url ?? '';
    let opened: Opened;
    let fellBack = false;
    try {
      opened = await openHinted(
        attempt,
        hints !== 'off' && (await knownLegacyQuietly(hintUrl, env)),
        deadline,
      );
    } catch (error) {
      if (!shouldTrySse(error, dialer, deadline)) throw error;
      // The spec's backwards-compatibility rule: a 4xx to the POST means "try GET for an SSE stream".
      await attempt.abandon();
      try {
        opened = await attempt.open('sse');
        fellBack = true;
      } catch {
        await attempt.abandon();
        throw error;
      }
    }
    const session = new LiveSession(dialer, opened, fellBack, Math.round(performance.now() - started));
    if (hints === 'read-write' && !fellBack) {
      const { rememberEra } = await import('./era-hints.js');
      await rememberEra(hintUrl, session.era, env);
    }
    return session;
  } catch (error) {
    const failure = await describeConnectFailure(error, { deadline, attempt, sdk, entry, target, options });
    await attempt?.abandon();
    await http?.close();
    throw redactFailure(failure, secrets);
  } finally {
    deadline.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Entry, headers, HTTP client

function checkEntry(entry: ServerEntry): Target {
  const invalid = (reason: string) => new ConnectError('failed', 'config', reason);
  if (entry.transport === 'stdio') {
    if (!entry.command) throw invalid('the entry has no command to run');
    return { transport: 'stdio', command: entry.command };
  }
  if (!entry.url) throw invalid('the entry has no URL');
  let url: URL;
  try {
    url = new URL(entry.url);
  } catch {
    throw invalid('the entry\u2019s URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`the entry\u2019s URL must start with http:// or https://, not ${url.protocol}//`);
  }
  return { transport: entry.transport, url };
}

async function runHelper(
  command: string,
  url: URL,
  options: ConnectOptions,
  deadline: Deadline,
): Promise<Record<string, string>> {
  const { runHeadersHelper } = await import('./headers-helper.js');
  try {
    return await deadline.race(
      runHeadersHelper(command, {
        url: url.href,
        ...(options.name ? { serverName: options.name } : {}),
        ...(options.cwd ? { cwd: options.cwd } : {}),
        env: options.env ?? process.env,
        timeoutMs: Math.min(10_000, deadline.remainingMs()),
        signal: deadline.signal,
      }),
    );
  } catch (error) {
    if (error instanceof PatchbayError && !(error instanceof ConnectError)) {
      throw new ConnectError('failed', 'headers-helper', error.message, {
        cause: error,
        ...(error.hint ? { hint: error.hint } : {}),
      });
    }
    throw error;
  }
}

async function createHttp(entry: ServerEntry, options: ConnectOptions): Promise<HttpClient> {
  const { createHttpClient } = await import('./network.js');
  try {
    return await createHttpClient({
      env: options.env ?? process.env,
      ...(entry.tls ? { tls: entry.tls } : {}),
      connectTimeoutMs: options.timeoutMs,
    });
  } catch (error) {
    if (error instanceof PatchbayError) {
      throw new ConnectError('failed', 'config', error.message, {
        cause: error,
        ...(error.hint ? { hint: error.hint } : {}),
      });
    }
    throw error;
  }
}

interface Credentials {
  login?: StoredAccess | undefined;
  tokens?: OAuthTokenSource;
}

/** A stored login for the server, unless the entry sends its own Authorization header. */
async function credentialsFor(
  entry: ServerEntry,
  url: URL,
  headers: Record<string, string>,
  options: ConnectOptions,
  http: HttpClient,
  secrets: string[],
): Promise<Credentials> {
  if (options.credentials !== 'refresh') {
    const login = await loginFor(url, headers, options);
    if (options.credentials !== 'renew' || !login?.refreshable) return { login };
    if (login.kind === 'valid' && !login.due) return { login };
    // Due or expired with a refresh token: the token source renews it before the first request.
    return tokenSourceFor(entry, url, options, http, secrets);
  }
  if (hasAuthorization(headers)) return {};
  return tokenSourceFor(entry, url, options, http, secrets);
}

/** The refreshing token source of a login: one refresh across processes, as a call does it. */
async function tokenSourceFor(
  entry: ServerEntry,
  url: URL,
  options: ConnectOptions,
  http: HttpClient,
  secrets: string[],
): Promise<Credentials> {
  const [{ OAuthTokenSource }, { openCredentialStore }] = await Promise.all([
    import('../auth/refresh.js'),
    import('../auth/store.js'),
  ]);
  const env = options.env ?? process.env;
  return {
    tokens: new OAuthTokenSource({
      resource: entry.url ?? url.href,
      ...(options.name ? { name: options.name } : {}),
      ...(entry.oauth?.clientId ? { clientId: entry.oauth.clientId } : {}),
      ...(entry.oauth?.authServerMetadataUrl
        ? { authServerMetadataUrl: entry.oauth.authServerMetadataUrl }
        : {}),
      fetch: http.fetch,
      store: () => openCredentialStore(env),
      onToken: (token) => {
        if (!secrets.includes(token)) secrets.push(token);
      },
    }),
  };
}

function hasAuthorization(headers: Record<string, string>): boolean {
  return Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
}

/** Read-only: the stored, unexpired access token as it is. */
async function loginFor(
  url: URL,
  headers: Record<string, string>,
  options: ConnectOptions,
): Promise<StoredAccess | undefined> {
  if (hasAuthorization(headers)) return undefined;
  const { storedAccess } = await import('../auth/stored-token.js');
  try {
    return await storedAccess(url.href, options.env ?? process.env);
  } catch {
    // An unreadable credential store is `patchbay auth status`'s to report; the check goes on
    // without a login and says needs-auth if the server wants one.
    return undefined;
  }
}

async function knownLegacyQuietly(url: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const { knownLegacy } = await import('./era-hints.js');
  return knownLegacy(url, env).catch(() => false);
}

/**
 * Open an http attempt, straight to `initialize` when the server is remembered as 2025-era. If
 * that is refused for any reason but the deadline or a credential, the hint is wrong (the server
 * moved on, or another server took its address): negotiate afresh, as without a hint.
 */
async function openHinted(attempt: Attempt, legacy: boolean, deadline: Deadline): Promise<Opened> {
  const { dialer } = attempt;
  if (!legacy) return attempt.open(dialer.target.transport);
  try {
    return await attempt.open('http', { kind: 'legacy' });
  } catch (error) {
    if (deadline.signal.aborted || deadlineKind(deadline, error, dialer.sdk) !== undefined) throw error;
    const status = httpStatus([...causeChain(error)], dialer.sdk);
    if (status === 401 || status === 403) throw error;
    await attempt.abandon();
    const { rememberEra } = await import('./era-hints.js');
    if (dialer.options.eraHints === 'read-write')
      await rememberEra(dialer.entry.url ?? '', 'modern', dialer.options.env ?? process.env);
    return attempt.open('http');
  }
}

function shouldTrySse(error: unknown, dialer: Dialer, deadline: Deadline): boolean {
  if (dialer.target.transport !== 'http' || dialer.options.sseFallback === false) return false;
  if (deadline.signal.aborted) return false;
  const status = httpStatus([...causeChain(error)], dialer.sdk);
  return status !== undefined && SSE_FALLBACK_STATUSES.has(status);
}

// ---------------------------------------------------------------------------------------------
// One connect attempt: a client and a transport, and what is needed to explain its failure

class Attempt {
  current: Opened | undefined;

  constructor(
    readonly dialer: Dialer,
    private readonly deadline: Deadline,
  ) {}

  async open(kind: Transport, prior?: { kind: 'legacy' }): Promise<Opened> {
    const { sdk, options } = this.dialer;
    const client = new sdk.Client(
      { name: 'patchbay', version: packageVersion() },
      {
        // HTTP: ask `server/discover` first and fall back to `initialize`, so both eras work.
        // stdio and SSE: `initialize`, which every server of those transports answers; probing
        // a stdio server with `server/discover` makes some older servers exit.
        versionNegotiation: { mode: kind === 'http' ? 'auto' : 'legacy' },
        listMaxPages: LIST_MAX_PAGES,
        // The same for checks and use, so every command sees the same tools (client-capabilities.ts).
        capabilities: { ...CLIENT_CAPABILITIES },
      },
    );
    declineServerRequests(client);
    options.configureClient?.(client);
    const watch = new ConnectionWatch();
    const onerror = client.onerror;
    client.onerror = (error) => {
      watch.noticeClientError(error);
      onerror?.(error);
    };
    const transport = await this.createTransport(kind, watch);
    this.current = { client, transport, kind, watch };
    const connecting = client.connect(transport, {
      timeout: this.deadline.remainingMs(),
      signal: this.deadline.signal,
      ...(prior ? { prior } : {}),
    });
    await this.deadline.race(
      raceAbort(connecting, watch.signal).catch((error: unknown) => {
        if (watch.signal.aborted) throw lostFailure(watch.signal.reason as Lost, this.dialer, 'handshake');
        throw error;
      }),
    );
    return this.current;
  }

  private async createTransport(kind: Transport, watch: ConnectionWatch): Promise<SdkTransport> {
    const { sdk, entry, target, options, headers, http } = this.dialer;
    if (kind === 'stdio') {
      const [{ StdioProcessTransport }, { inheritsEnvironment }] = await Promise.all([
        import('./stdio-transport.js'),
        import('./child-env.js'),
      ]);
      const parent = options.env ?? process.env;
      return new StdioProcessTransport({
        command: (target as { command: string }).command,
        args: entry.args ?? [],
        env: { ...entry.env },
        ...(options.cwd ? { cwd: options.cwd } : {}),
        inheritFrom: parent,
        inheritAll: inheritsEnvironment(entry, parent),
      });
    }
    const url = (target as { url: URL }).url;
    const requestInit: RequestInit = { headers };
    const { login, tokens } = this.dialer;
    // The token source's fetch wraps the client's: it knows which token a 401 answered.
    const baseFetch = tokens ? tokens.fetch : http?.fetch;
    const challenged = baseFetch ? this.rememberingChallenges(completingResults(baseFetch)) : undefined;
    const listening =
      challenged && kind === 'http' && options.listen === false ? withoutListening(challenged) : challenged;
    // Outermost, so that it also sees a resumption refused by withoutListening.
    const wrapped = listening ? watch.wrap(listening, kind === 'http' ? 'http' : 'sse') : undefined;
    const transportOptions = {
      requestInit,
      ...(wrapped ? { fetch: wrapped } : {}),
      ...(tokens
        ? { authProvider: tokens }
        : // Sent as is: a check never refreshes it (no token request); an expired one is not sent.
          login?.kind === 'valid'
          ? { authProvider: { token: () => Promise.resolve(login.accessToken) } }
          : {}),
    };
    return kind === 'http'
      ? new sdk.StreamableHTTPClientTransport(url, transportOptions)
      : new sdk.SSEClientTransport(url, transportOptions);
  }

  /**
   * The scopes a 401 or 403 challenge asked for (`WWW-Authenticate: Bearer scope="…"`), on any
   * request, so the reason can name the login that asks for them (the first request may pass
   * unchallenged and a later one not).
   */
  private rememberingChallenges(fetch: FetchLike): FetchLike {
    const { sdk } = this.dialer;
    return async (url, init) => {
      const response = await fetch(url, init);
      if ((response.status === 401 || response.status === 403) && response.headers.has('www-authenticate')) {
        const { scope } = sdk.extractWWWAuthenticateParams(response);
        if (scope) this.dialer.challengeScope = scope;
      }
      return response;
    };
  }

  stdio(): StdioProcessTransport | undefined {
    const transport = this.current?.transport as Partial<StdioProcessTransport> | undefined;
    return transport && 'stderrTail' in transport ? (transport as StdioProcessTransport) : undefined;
  }

  /** Close a failed attempt without ceremony: no DELETE, the process group killed. */
  async abandon(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (!current) return;
    current.watch.dispose();
    await current.client.close().catch(() => undefined);
    await current.transport.close().catch(() => undefined);
  }
}

/**
 * The Streamable HTTP client opens a GET stream for server-initiated messages after every
 * 2025-era handshake. A client need not (the spec makes the GET a MAY, and a server may answer
 * it 405), so for a caller that only lists and leaves, answer it 405 here: one request fewer for
 * the server, and no stream to tear down. POST and DELETE pass as they are.
 */
function withoutListening(fetch: FetchLike): FetchLike {
  return (url, init) =>
    (init?.method ?? 'GET').toUpperCase() === 'GET'
      ? Promise.resolve(new Response(null, { status: 405, statusText: 'Not listening' }))
      : fetch(url, init);
}

/** What a failure's context is built from. */
interface ContextSources {
  login?: StoredAccess | undefined;
  challengeScope?: string | undefined;
  tokens?: OAuthTokenSource | undefined;
  entry: ServerEntry;
  target: Target;
  options: ConnectOptions;
  stage?: 'handshake' | 'request';
  http?: HttpClient | undefined;
}

interface FailureSources extends ContextSources {
  deadline: Deadline;
  attempt: Attempt | undefined;
  sdk: ClientModule | undefined;
}

/** How long a failed stdio session waits for its child's exit to be settled before saying why. */
const STDIO_EXIT_WAIT_MS = 1_000;
/** How long a failed request waits to see whether its stdio child is exiting at all. */
const STDIO_EXIT_NOTICE_MS = 500;

/**
 * After a failure of a stdio session, before saying why: a dying child's last stderr lines may
 * still be in flight, and its exit is settled only once its pipes drained (up to 250 ms). Waits
 * for that, bounded, so the reason is its exit code and last words even on a busy machine. A
 * child that is not exiting costs STDIO_EXIT_NOTICE_MS; only failures pay either wait.
 */
async function settleDyingChild(stdio: StdioProcessTransport): Promise<void> {
  if (!stdio.exit) await Promise.race([stdio.exited(), sleep(STDIO_EXIT_NOTICE_MS)]);
  if (stdio.exit) await Promise.race([stdio.exited(), sleep(STDIO_EXIT_WAIT_MS)]);
}

async function describeConnectFailure(error: unknown, sources: FailureSources): Promise<ConnectError> {
  const { deadline, attempt, sdk } = sources;
  const kind = deadlineKind(deadline, error, sdk);
  if (kind === 'aborted')
    return new ConnectError('failed', sources.stage ?? 'handshake', 'the connection attempt was cancelled');
  if (error instanceof ConnectError) return error;
  const challengeScope = sources.challengeScope ?? attempt?.dialer.challengeScope;
  const credentials = credentialFailure(error, { ...sources, ...(challengeScope ? { challengeScope } : {}) });
  if (credentials) return credentials;
  const stdio = attempt?.stdio();
  if (stdio && kind === undefined) await settleDyingChild(stdio);
  const context = failureContext(sources, stdio, attempt);
  const exchange = attempt?.current?.watch.progress();
  if (exchange) context.exchange = exchange;
  if (kind === 'timeout') return timeoutFailure(sources.options.timeoutMs, context);
  if (!sdk) {
    return new ConnectError(
      'failed',
      'handshake',
      `the MCP client library failed to load (${String(error)})`,
    );
  }
  return classifyFailure(error, context, sdk);
}

function failureContext(
  sources: ContextSources,
  stdio: StdioProcessTransport | undefined,
  attempt: Attempt | undefined,
): FailureContext {
  const { target, entry, options } = sources;
  const context: FailureContext = {
    target,
    entry,
    name: options.name ?? '<name>',
    stage: sources.stage ?? 'handshake',
  };
  const http = sources.http ?? attempt?.dialer.http;
  if (target.transport !== 'stdio' && http) {
    context.phase = http.phase(target.url);
    const proxy = http.proxyFor(target.url);
    if (proxy) context.proxy = `${proxy.protocol}//${proxy.host}`;
  }
  if (stdio) {
    context.stdio = { exit: stdio.exit, stderrTail: stdio.stderrTail, strayStdout: stdio.strayStdout };
  }
  const login = sources.login ?? attempt?.dialer.login;
  if (login?.kind === 'expired') context.expiredLogin = login;
  const challengeScope = sources.challengeScope ?? attempt?.dialer.challengeScope;
  if (challengeScope) context.challengeScope = challengeScope;
  const tokens = sources.tokens ?? attempt?.dialer.tokens;
  if (tokens) context.refreshingLogin = true;
  const granted = tokens?.grantedScope();
  if (granted) context.grantedScope = granted;
  return context;
}

/**
 * A token source's failure, wherever the SDK carried it: the login to renew, or why the
 * authorization server could not renew it (a network reason names that server, not the MCP one).
 */
function credentialFailure(error: unknown, sources: ContextSources): ConnectError | undefined {
  const found = [...causeChain(error)].find(
    (link): link is CredentialError => link instanceof PatchbayError && link.name === 'CredentialError',
  );
  if (!found) return undefined;
  const name = sources.options.name ?? '<name>';
  // A 401 that named scopes: the login to run asks for them (the token source knows no challenge).
  const plainLogin = `patchbay login ${name}`;
  const hint =
    found.hint === undefined || found.hint === plainLogin
      ? loginCommand(name, sources.challengeScope)
      : found.hint;
  const httpStatus = found.httpStatus === undefined ? {} : { httpStatus: found.httpStatus };
  if (found.kind === 'needs-login') {
    return new ConnectError('needs-auth', 'http', found.message, { cause: found, hint, ...httpStatus });
  }
  if (found.kind === 'unreachable' && found.endpoint) {
    const context = failureContext(
      { ...sources, target: { transport: 'http', url: found.endpoint } },
      undefined,
      undefined,
    );
    const network = networkFailure([...causeChain(found.cause)], found.endpoint, context);
    if (network) {
      // A certificate or proxy fix applies as is; "start the server" is not the user's to do here.
      const fix =
        network.step === 'tls' || context.proxy
          ? network.hint
          : `Try again once ${found.endpoint.host} is reachable; patchbay doctor ${sources.options.name ?? '<name>'} checks each step.`;
      return new ConnectError('failed', network.step, `${found.message}: ${network.reason}`, {
        cause: found,
        ...(fix ? { hint: fix } : {}),
      });
    }
  }
  return new ConnectError('failed', 'http', found.message, {
    cause: found,
    ...(found.hint ? { hint: found.hint } : {}),
  });
}

/**
 * The connection broke while patchbay waited for an answer (liveness.ts): say so, naming where
 * it went and what was under way, rather than wait for the timeout and guess.
 */
function lostFailure(lost: Lost, dialer: Dialer, stage: 'handshake' | 'request'): ConnectError {
  const { target, options } = dialer;
  const where = target.transport === 'stdio' ? 'the server' : hostPortOf(target.url);
  const proxy = target.transport === 'stdio' ? null : dialer.http?.proxyFor(target.url);
  const via = proxy ? ` (through the proxy ${proxy.protocol}//${proxy.host})` : '';
  const during =
    stage === 'handshake'
      ? 'the MCP handshake'
      : lost.method === 'tools/call'
        ? 'the call'
        : lost.method
          ? `the request (${lost.method})`
          : 'the request';
  return new ConnectError('failed', stage, `the connection to ${where}${via} broke during ${during}`, {
    hint: `patchbay doctor ${options.name ?? '<name>'} checks each step (the server went away or the network dropped; try again once it is back).`,
  });
}

function redactFailure(error: ConnectError, secrets: string[]): ConnectError {
  const reason = redact(error.reason, secrets);
  const hint = error.hint === undefined ? undefined : redact(error.hint, secrets);
  if (reason === error.reason && hint === error.hint) return error;
  return new ConnectError(error.status, error.step, reason, {
    cause: error.cause,
    ...(hint !== undefined ? { hint } : {}),
    ...(error.httpStatus !== undefined ? { httpStatus: error.httpStatus } : {}),
    renewsOnUse: error.renewsOnUse,
  });
}

// ---------------------------------------------------------------------------------------------
// The session

class LiveSession implements Session {
  private opened: Opened;
  private closed = false;
  private renewing: Promise<void> | undefined;
  /** Aborted, with the ConnectError to throw, when the connection broke under a request. */
  private readonly lostController = new AbortController();

  constructor(
    private readonly dialer: Dialer,
    opened: Opened,
    readonly fellBackToSse: boolean,
    readonly connectMs: number,
  ) {
    this.opened = opened;
    // Every request in flight waits on it: one listener per request, not a leak.
    setMaxListeners(0, this.lostController.signal);
    this.follow(opened);
  }

  get client(): Client {
    return this.opened.client;
  }
  get transport(): Transport {
    return this.opened.kind;
  }
  get http(): HttpClient | undefined {
    return this.dialer.http;
  }
  get server(): ServerIdentity | undefined {
    const info = this.client.getServerVersion();
    if (!info) return undefined;
    // Self-reported by the server: printable and bounded before anything displays it.
    const identity: ServerIdentity = {
      name: terminalText(String(info.name), { max: 100 }),
      version: terminalText(String(info.version), { max: 50 }),
    };
    if (typeof info.title === 'string') identity.title = terminalText(info.title, { max: 100 });
    return identity;
  }
  get protocolVersion(): string | undefined {
    return this.client.getNegotiatedProtocolVersion();
  }
  get era(): 'modern' | 'legacy' {
    return this.client.getProtocolEra() ?? 'legacy';
  }
  get sessionId(): string | undefined {
    return this.opened.transport.sessionId;
  }
  get instructions(): string | undefined {
    return this.client.getInstructions();
  }

  requestOptions(): { timeout: number; signal?: AbortSignal } {
    const timeout = this.dialer.options.requestTimeoutMs ?? this.dialer.options.timeoutMs;
    return this.dialer.options.signal ? { timeout, signal: this.dialer.options.signal } : { timeout };
  }

  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  async request<T>(run: (client: Client) => Promise<T>): Promise<T> {
    const before = this.opened;
    try {
      return await this.unlessLost(before, run(before.client));
    } catch (error) {
      if (!this.isExpiredSession(error, before)) throw error;
      await this.renew(before);
      return this.unlessLost(this.opened, run(this.opened.client));
    }
  }

  /** The request's outcome, or the broken connection's reason as soon as it is known. */
  private unlessLost<T>(opened: Opened, request: Promise<T>): Promise<T> {
    if (this.lost.aborted) {
      request.catch(() => undefined);
      return Promise.reject(this.lost.reason as Error);
    }
    return raceAbort(request, this.lost);
  }

  /** Forward a connection's loss to the session's signal while that connection is the current one. */
  private follow(opened: Opened): void {
    const onLost = () => {
      if (this.opened !== opened || this.closed || this.lost.aborted) return;
      this.lostController.abort(
        redactFailure(
          lostFailure(opened.watch.signal.reason as Lost, this.dialer, 'request'),
          this.dialer.secrets,
        ),
      );
    };
    if (opened.watch.signal.aborted) onLost();
    else opened.watch.signal.addEventListener('abort', onLost, { once: true });
  }

  /**
   * Before `explain` after a failed request: a stdio child that is dying has its exit settled
   * only once its pipes drained, and until then the reason would miss its exit code and last
   * stderr line. Waits for that, bounded; returns at once for HTTP or a child that lives on.
   */
  async settle(): Promise<void> {
    const stdio = this.stdio();
    if (stdio) await settleDyingChild(stdio);
  }

  explain(error: unknown, timeoutMs = this.requestOptions().timeout): ConnectError {
    if (error instanceof ConnectError) return error;
    const { sdk, entry, target, options, http, tokens } = this.dialer;
    const { challengeScope } = this.dialer;
    const credentials = credentialFailure(error, {
      entry,
      target,
      options,
      stage: 'request',
      http,
      ...(challengeScope ? { challengeScope } : {}),
    });
    if (credentials) return redactFailure(credentials, this.dialer.secrets);
    const context = failureContext(
      { entry, target, options, stage: 'request', http, tokens, challengeScope: this.dialer.challengeScope },
      this.stdio(),
      undefined,
    );
    const exchange = this.opened.watch.progress();
    if (exchange) context.exchange = exchange;
    const timedOut = sdk.SdkError.isInstance(error) && error.code === sdk.SdkErrorCode.RequestTimeout;
    const failure = timedOut ? timeoutFailure(timeoutMs, context) : classifyFailure(error, context, sdk);
    return redactFailure(failure, this.dialer.secrets);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.renewing?.catch(() => undefined);
    const { client, transport, watch } = this.opened;
    watch.dispose();
    await endSession(transport);
    await client.close().catch(() => undefined);
    await transport.close().catch(() => undefined);
    await this.dialer.http?.close();
  }

  private stdio(): StdioProcessTransport | undefined {
    const transport = this.opened.transport as Partial<StdioProcessTransport>;
    return 'stderrTail' in transport ? (transport as StdioProcessTransport) : undefined;
  }

  /** A 2025-era session the server no longer knows: 404 on a request that carried its id. */
  private isExpiredSession(error: unknown, opened: Opened): boolean {
    if (this.closed || opened.kind !== 'http' || !opened.transport.sessionId) return false;
    return httpStatus([...causeChain(error)], this.dialer.sdk) === 404;
  }

  /** Start a new session in place of an expired one; concurrent requests share one renewal. */
  private async renew(expired: Opened): Promise<void> {
    if (this.opened !== expired) return; // another request already renewed it
    this.renewing ??= (async () => {
      const timeoutMs = this.requestOptions().timeout;
      const deadline = connectDeadline(timeoutMs, this.dialer.options.signal);
      const attempt = new Attempt(this.dialer, deadline);
      try {
        const fresh = await attempt.open('http');
        // The old session is gone on the server; closing it locally must not send a DELETE.
        expired.watch.dispose();
        await expired.client.close().catch(() => undefined);
        this.opened = fresh;
        this.follow(fresh);
      } catch (error) {
        const failure = await describeConnectFailure(error, {
          deadline,
          attempt,
          sdk: this.dialer.sdk,
          entry: this.dialer.entry,
          target: this.dialer.target,
          options: { ...this.dialer.options, timeoutMs },
          http: this.dialer.http,
        });
        await attempt.abandon();
        throw redactFailure(failure, this.dialer.secrets);
      } finally {
        deadline.dispose();
      }
    })().finally(() => {
      this.renewing = undefined;
    });
    await this.renewing;
  }
}

/** A 2025-era Streamable HTTP session holds state on the server; say goodbye instead of abandoning it. */
async function endSession(transport: SdkTransport): Promise<void> {
  const terminate = (transport as { terminateSession?: () => Promise<void> }).terminateSession;
  if (!transport.sessionId || typeof terminate !== 'function') return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    terminate.call(transport).catch(() => undefined),
    new Promise((resolve) => (timer = setTimeout(resolve, SESSION_END_GRACE_MS))),
  ]);
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// Deadline: the connect timeout and the caller's cancellation, told apart from SDK errors

function connectDeadline(timeoutMs: number, signal: AbortSignal | undefined): Deadline {
  return new Deadline(timeoutMs, { signal, timeoutMessage: 'the connect timeout passed' });
}

/** Whether a failure is (or was caused by) this deadline, whatever the SDK wrapped it in. */
function deadlineKind(
  deadline: Deadline,
  error: unknown,
  sdk: ClientModule | undefined,
): DeadlineKind | undefined {
  const kind = deadline.reached(error);
  if (kind !== undefined) return kind;
  // The SDK's own request timeout (set to the remaining budget) may fire a moment earlier.
  if (sdk?.SdkError.isInstance(error) && error.code === sdk.SdkErrorCode.RequestTimeout) return 'timeout';
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
