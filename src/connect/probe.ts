/**
 * The basic health check behind `patchbay list`: connect to one server with the SDK client, count
 * its tools, disconnect, and say in one sentence why it failed if it did.
 *
 * This file is imported by commands that must start fast, so the SDK is loaded inside
 * `probeServer` only. Reasons are built from what patchbay knows (status codes, error codes, the
 * URL's origin and path), never from header values or a server's error text, and every configured
 * header and environment value is redacted from them as a last line of defence.
 */

import type { ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';

import type { ServerEntry } from '../config/entry.js';

export type ProbeStatus = 'connected' | 'needs-auth' | 'failed';

export interface ProbeResult {
  status: ProbeStatus;
  /** One sentence saying what failed and why; null when connected. */
  reason: string | null;
  /** Time until the verdict (teardown not included). */
  durationMs: number;
  server?: { name: string; version: string; protocolVersion?: string };
  toolCount?: number;
}

export interface ProbeOptions {
  /** Upper bound for the whole check: spawn or request, handshake, and the tool listing. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Working directory for a stdio server (defaults to the current one). */
  cwd?: string;
}

/**
 * Inherited by a stdio server under `entry.env`: enough to find executables, a home directory, a
 * temp directory and a locale, and nothing that tends to hold secrets. (The SDK adds its own,
 * smaller allow-list underneath.) On Windows `process.env` lookups ignore case.
 */
const INHERITED_ENV = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'TERM',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMPDIR',
  'TEMP',
  'TMP',
  // Windows: programs fail in odd ways without these.
  'SystemRoot',
  'windir',
  'ComSpec',
  'PATHEXT',
  'APPDATA',
  'LOCALAPPDATA',
  'ProgramData',
  'ProgramFiles',
  'ProgramFiles(x86)',
  'USERPROFILE',
  'USERNAME',
  'HOMEDRIVE',
  'HOMEPATH',
];

/** After a healthy probe, how long a stdio server gets to exit on its own once stdin closes. */
const STDIO_EXIT_GRACE_MS = 200;
/** How long a stdio server gets between SIGTERM and SIGKILL. */
const STDIO_KILL_GRACE_MS = 1_000;
/** How long a server gets to acknowledge the end of its session (HTTP DELETE) after a healthy probe. */
const SESSION_END_GRACE_MS = 500;
const STDERR_KEEP_BYTES = 8 * 1024;

const CLIENT_INFO = { name: 'patchbay', version: '0.1.0' };

type ClientModule = typeof import('@modelcontextprotocol/client');
type Client = InstanceType<ClientModule['Client']>;
type Transport = Parameters<Client['connect']>[0];

/** Why the probe's own deadline fired: told apart from the caller's abort and from SDK errors. */
class ProbeDeadline extends Error {
  constructor(readonly kind: 'timeout' | 'aborted') {
    super(kind);
  }
}

export async function probeServer(entry: ServerEntry, options: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const secrets = secretValues(entry);
  const finish = (status: ProbeStatus, reason: string): ProbeResult => ({
    status,
    reason: redact(reason, secrets),
    durationMs: elapsed(),
  });

  if (options.signal?.aborted) return finish('failed', 'the check was cancelled before it started');
  const target = checkEntry(entry);
  if (typeof target === 'string') return finish('failed', target);

  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new ProbeDeadline('timeout')),
    Math.max(1, options.timeoutMs),
  );
  const onCallerAbort = () => deadline.abort(new ProbeDeadline('aborted'));
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });

  const stdio: StdioWatch = { stderr: '' };
  let sdk: ClientModule | undefined;
  let client: Client | undefined;
  let transport: Transport | undefined;
  try {
    sdk = await raceDeadline(import('@modelcontextprotocol/client'), deadline.signal);
    client = new sdk.Client(CLIENT_INFO, {
      // HTTP: ask `server/discover` first and fall back to `initialize`, so both eras report.
      // stdio: `initialize` only. 'auto' on the SDK's stdio transport spawns the server twice
      // (a throwaway sibling answers the discover probe), which doubles the cost of `npx`-style
      // servers; every stdio server, 2026-era SDK servers included, still answers `initialize`.
      versionNegotiation: { mode: target.transport === 'http' ? 'auto' : 'legacy' },
    });
    transport = await raceDeadline(createTransport(entry, target, options, stdio, sdk), deadline.signal);

    const remaining = () => Math.max(1, options.timeoutMs - elapsed());
    await raceDeadline(
      client.connect(transport, { timeout: remaining(), signal: deadline.signal }),
      deadline.signal,
    );
    const { tools } = await raceDeadline(
      client.listTools(undefined, { timeout: remaining(), signal: deadline.signal, cacheMode: 'bypass' }),
      deadline.signal,
    );
    const info = client.getServerVersion();
    const protocolVersion = client.getNegotiatedProtocolVersion();
    const result: ProbeResult = {
      status: 'connected',
      reason: null,
      durationMs: elapsed(),
      toolCount: tools.length,
    };
    if (info) {
      // Self-reported by the server: printable and bounded before anything displays it.
      result.server = { name: sanitize(String(info.name), 100), version: sanitize(String(info.version), 50) };
      if (protocolVersion) result.server.protocolVersion = protocolVersion;
    }
    return result;
  } catch (error) {
    const deadlineKind = deadlineOf(error, deadline.signal, sdk);
    if (deadlineKind === 'aborted') return finish('failed', 'the check was cancelled');
    if (deadlineKind === 'timeout') return finish('failed', timeoutReason(options.timeoutMs, stdio));
    // A dying child's last stderr lines may still be in flight when the close error arrives.
    if (stdio.child) await settleStdio(stdio.child);
    if (!sdk) return finish('failed', `the MCP client library failed to load (${errorName(error)})`);
    const verdict = classify(error, target, stdio, sdk);
    return finish(verdict.status, verdict.reason);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onCallerAbort);
    await teardown(client, transport, stdio, !deadline.signal.aborted);
  }
}

// ---------------------------------------------------------------------------------------------
// Entry and transport

type Target = { transport: 'http' | 'sse'; url: URL } | { transport: 'stdio'; command: string };

function checkEntry(entry: ServerEntry): Target | string {
  if (entry.transport === 'stdio') {
    if (!entry.command) return 'the entry has no command to run';
    return { transport: 'stdio', command: entry.command };
  }
  if (!entry.url) return 'the entry has no URL';
  let url: URL;
  try {
    url = new URL(entry.url);
  } catch {
    return 'the entry\u2019s URL is not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `the entry\u2019s URL must start with http:// or https://, not ${url.protocol}//`;
  }
  return { transport: entry.transport, url };
}

interface StdioWatch {
  child?: ChildProcess;
  stderr: string;
  /** The first stdout line that is not JSON: a server logging to the MCP channel. */
  strayStdout?: string;
}

async function createTransport(
  entry: ServerEntry,
  target: Target,
  options: ProbeOptions,
  stdio: StdioWatch,
  sdk: ClientModule,
): Promise<Transport> {
  if (target.transport !== 'stdio') {
    const requestInit: RequestInit = { headers: { ...entry.headers } };
    return target.transport === 'http'
      ? new sdk.StreamableHTTPClientTransport(target.url, { requestInit })
      : new sdk.SSEClientTransport(target.url, { requestInit });
  }

  const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');
  const transport = new StdioClientTransport({
    command: target.command,
    args: entry.args ?? [],
    env: { ...inheritedEnv(), ...entry.env },
    stderr: 'pipe',
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  transport.stderr?.on('data', (chunk: Buffer) => {
    stdio.stderr = (stdio.stderr + chunk.toString('utf8')).slice(-STDERR_KEEP_BYTES);
  });
  // The transport keeps its child private; patchbay needs it for the exit code and a prompt kill.
  const start = transport.start.bind(transport);
  transport.start = async () => {
    await start();
    const child = (transport as unknown as { _process?: unknown })._process;
    if (!isChildProcess(child)) return;
    stdio.child = child;
    // The SDK skips stdout lines that are not JSON without a word; a server that logs to stdout
    // and then never answers deserves a better reason than a timeout.
    child.stdout?.on('data', (chunk: Buffer) => {
      if (stdio.strayStdout !== undefined) return;
      const stray = chunk
        .toString('utf8')
        .split('\n')
        .map((line) => line.trim())
        .find((line) => line.length > 0 && !line.startsWith('{'));
      if (stray !== undefined) stdio.strayStdout = sanitize(stray, 120);
    });
  };
  return transport;
}

function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

function isChildProcess(value: unknown): value is ChildProcess {
  return (
    typeof value === 'object' &&
    value !== null &&
    'pid' in value &&
    typeof (value as ChildProcess).kill === 'function'
  );
}

// ---------------------------------------------------------------------------------------------
// Teardown: nothing may outlive the probe (no child process, no open stream).

async function teardown(
  client: Client | undefined,
  transport: Transport | undefined,
  stdio: StdioWatch,
  healthy: boolean,
): Promise<void> {
  const child = stdio.child;
  if (child && isRunning(child)) {
    // After a failure or a timeout there is nothing to be polite about.
    const termTimer = setTimeout(() => child.kill('SIGTERM'), healthy ? STDIO_EXIT_GRACE_MS : 0);
    const killTimer = setTimeout(
      () => child.kill('SIGKILL'),
      (healthy ? STDIO_EXIT_GRACE_MS : 0) + STDIO_KILL_GRACE_MS,
    );
    try {
      await Promise.all([
        closeQuietly(client, transport),
        // A grandchild holding the pipes open would keep the transport's close waiting.
        exited(child).then(() => destroyPipes(child)),
      ]);
    } finally {
      clearTimeout(termTimer);
      clearTimeout(killTimer);
    }
    return;
  }
  if (healthy) await endSession(transport);
  await closeQuietly(client, transport);
}

/** A 2025-era Streamable HTTP session holds state on the server; say goodbye instead of abandoning it. */
async function endSession(transport: Transport | undefined): Promise<void> {
  const terminate = (transport as { terminateSession?: () => Promise<void> } | undefined)?.terminateSession;
  if (!transport?.sessionId || typeof terminate !== 'function') return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    terminate.call(transport).catch(() => undefined),
    new Promise((resolve) => (timer = setTimeout(resolve, SESSION_END_GRACE_MS))),
  ]);
  clearTimeout(timer);
}

async function closeQuietly(client: Client | undefined, transport: Transport | undefined): Promise<void> {
  // Closing is best effort; the verdict is already made. The client may have dropped a transport
  // whose connect failed, so the transport is closed on its own as well (closing twice is harmless).
  await client?.close().catch(() => undefined);
  await transport?.close().catch(() => undefined);
}

function destroyPipes(child: ChildProcess): void {
  child.stdin?.destroy();
  child.stdout?.destroy();
  child.stderr?.destroy();
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function exited(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Wait (briefly) until a child that is going away has exited and its stderr has drained. */
async function settleStdio(child: ChildProcess): Promise<void> {
  if (isRunning(child)) {
    await Promise.race([exited(child), new Promise((resolve) => setTimeout(resolve, 100))]);
  }
  await new Promise((resolve) => setImmediate(resolve));
}

// ---------------------------------------------------------------------------------------------
// Deadline

function raceDeadline<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

/** Whether the failure is (or was caused by) the probe's deadline, whatever the SDK wrapped it in. */
function deadlineOf(
  error: unknown,
  signal: AbortSignal,
  sdk: ClientModule | undefined,
): 'timeout' | 'aborted' | undefined {
  if (error instanceof ProbeDeadline) return error.kind;
  if (signal.aborted && signal.reason instanceof ProbeDeadline) return signal.reason.kind;
  // The SDK's own request timeout (set to the remaining budget) may fire a moment earlier.
  if (sdk?.SdkError.isInstance(error) && error.code === sdk.SdkErrorCode.RequestTimeout) return 'timeout';
  return undefined;
}

function timeoutReason(timeoutMs: number, stdio: StdioWatch): string {
  const base = `no answer within ${formatDuration(timeoutMs)}`;
  if (stdio.strayStdout !== undefined) {
    return `${base}; the process wrote text that is not MCP to stdout (servers must log to stderr): ${stdio.strayStdout}`;
  }
  const line = lastLine(stdio.stderr);
  return line ? `${base} (stderr: ${line})` : base;
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}

// ---------------------------------------------------------------------------------------------
// Classification: SDK and Node errors → one sentence

interface Verdict {
  status: ProbeStatus;
  reason: string;
}

function classify(error: unknown, target: Target, stdio: StdioWatch, sdk: ClientModule): Verdict {
  return target.transport === 'stdio'
    ? classifyStdio(error, target.command, stdio, sdk)
    : classifyHttp(error, target, sdk);
}

function classifyStdio(error: unknown, command: string, stdio: StdioWatch, sdk: ClientModule): Verdict {
  const failed = (reason: string): Verdict => ({ status: 'failed', reason });
  // Spawn failures reject `start()` with Node's own error.
  const code = nodeErrorCode(error);
  if (code === 'ENOENT') return failed(`command not found: ${command}`);
  if (code === 'EACCES') return failed(`permission denied running ${command} (is it executable?)`);
  if (code === 'EISDIR' || code === 'ENOTDIR') return failed(`not a program: ${command}`);

  const child = stdio.child;
  const line = lastLine(stdio.stderr);
  const stderrPart = line ? `: ${line}` : ' (it wrote nothing to stderr)';
  if (child && !isRunning(child)) {
    if (child.signalCode) return failed(`process was killed by ${child.signalCode}${stderrPart}`);
    return failed(`process exited with code ${child.exitCode}${stderrPart}`);
  }
  if (sdkCode(error, sdk) === sdk.SdkErrorCode.ConnectionClosed) {
    return failed(`the process closed its connection${stderrPart}`);
  }
  return failed(
    describeProtocolFailure(error, sdk) ?? `the server did not complete the MCP handshake${stderrPart}`,
  );
}

function classifyHttp(
  error: unknown,
  target: { transport: 'http' | 'sse'; url: URL },
  sdk: ClientModule,
): Verdict {
  const failed = (reason: string): Verdict => ({ status: 'failed', reason });
  const needsAuth = (reason: string): Verdict => ({ status: 'needs-auth', reason });
  const where = displayUrl(target.url);
  const chain = [...causeChain(error)];

  // No authProvider is configured, so the transports report an auth wall instead of running OAuth.
  if (chain.some((link) => link instanceof sdk.InsufficientScopeError)) {
    return needsAuth(
      'the server requires permissions the current credentials lack (HTTP 403, insufficient_scope)',
    );
  }
  if (chain.some((link) => link instanceof sdk.UnauthorizedError)) {
    return needsAuth('the server requires authentication (HTTP 401)');
  }
  const status = httpStatus(chain, sdk);
  if (status === 401) return needsAuth('the server requires authentication (HTTP 401)');
  if (status === 403) return needsAuth('the server refused access with the current credentials (HTTP 403)');

  const unexpected = chain.find(
    (link) => sdk.SdkError.isInstance(link) && link.code === sdk.SdkErrorCode.ClientHttpUnexpectedContent,
  ) as InstanceType<ClientModule['SdkError']> | undefined;
  if (unexpected) {
    const contentType = (unexpected.data as { contentType?: unknown } | undefined)?.contentType;
    return failed(contentTypeReason(typeof contentType === 'string' ? contentType : ''));
  }

  if (status !== undefined) {
    if (status === 404) return failed(`HTTP 404 from ${where} (is the URL the MCP endpoint?)`);
    if (status === 405 && target.transport === 'http') {
      return failed(`HTTP 405 from ${where}: it does not take MCP requests by POST (is it an SSE endpoint?)`);
    }
    // Only the SSE stream request reports a 200: the answer was not an event stream.
    if (status === 200)
      return failed(`${where} answered, but not with an event stream (is the URL the SSE endpoint?)`);
    return failed(`HTTP ${status} from ${where}`);
  }

  return failed(
    networkReason(chain, target.url) ??
      describeProtocolFailure(error, sdk) ??
      `the server at ${where} did not complete the MCP handshake (${errorName(error)})`,
  );
}

function contentTypeReason(contentType: string): string {
  const essence = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (essence === 'text/html') return 'the server answered with HTML, not MCP (is the URL the MCP endpoint?)';
  if (!essence)
    return 'the server answered without a content type, not with MCP (is the URL the MCP endpoint?)';
  return `the server answered with ${sanitize(essence, 60)}, not MCP (is the URL the MCP endpoint?)`;
}

/** The HTTP status of a failed exchange: on an SdkHttpError, or the stream request's on an SseError. */
function httpStatus(chain: unknown[], sdk: ClientModule): number | undefined {
  for (const link of chain) {
    if (sdk.SdkHttpError.isInstance(link)) return link.status;
    if (sdk.SseError.isInstance(link) && typeof link.code === 'number') return link.code;
  }
  return undefined;
}

/** Network-level failures, from the codes Node and undici leave on an error's cause chain. */
function networkReason(chain: unknown[], url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const hostPort = `${host}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
  const codes = chain.flatMap((link) => {
    const found: string[] = [];
    const code = nodeErrorCode(link);
    if (code) found.push(code);
    // eventsource flattens its cause into the message text ("fetch failed: connect ECONNREFUSED ...").
    if (link instanceof Error)
      for (const match of link.message.matchAll(/\b(E[A-Z]{3,}|UND_ERR_[A-Z_]+)\b/g)) found.push(match[1]!);
    return found;
  });
  for (const code of codes) {
    if (TLS_CODES.has(code)) return `the TLS certificate of ${host} was rejected (${code})`;
    const reason = NETWORK_REASONS[code];
    if (reason) return reason(hostPort, host);
  }
  const messages = chain.filter((link): link is Error => link instanceof Error).map((link) => link.message);
  if (messages.some((message) => /\bbad port\b/.test(message))) {
    // The fetch standard refuses ports that belong to other protocols (1, 9, 25, 6000, ...).
    return `fetch refuses to connect to port ${url.port}, which is reserved for another protocol; run the server on another port`;
  }
  if (messages.some((message) => /other side closed|socket hang up|terminated/i.test(message))) {
    return `the server at ${hostPort} closed the connection without answering`;
  }
  return undefined;
}

const NETWORK_REASONS: Record<string, (hostPort: string, host: string) => string> = {
  ECONNREFUSED: (hp) => `connection refused at ${hp}`,
  ECONNRESET: (hp) => `the connection to ${hp} was reset`,
  ENOTFOUND: (_hp, host) => `host not found: ${host}`,
  EAI_AGAIN: (_hp, host) => `could not resolve ${host} (DNS lookup failed; are you offline?)`,
  ETIMEDOUT: (hp) => `connecting to ${hp} timed out`,
  UND_ERR_CONNECT_TIMEOUT: (hp) => `connecting to ${hp} timed out`,
  EHOSTUNREACH: (hp) => `no route to ${hp}`,
  ENETUNREACH: (hp) => `network unreachable for ${hp}`,
  EPIPE: (hp) => `the connection to ${hp} broke`,
  UND_ERR_SOCKET: (hp) => `the server at ${hp} closed the connection without answering`,
  ERR_SSL_WRONG_VERSION_NUMBER: (hp) => `TLS handshake with ${hp} failed (is it plain http?)`,
  EPROTO: (hp) => `TLS handshake with ${hp} failed (is it plain http?)`,
};

const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Failures on the MCP layer itself: malformed answers, JSON-RPC errors, no common version. */
function describeProtocolFailure(error: unknown, sdk: ClientModule): string | undefined {
  const chain = [...causeChain(error)];
  const named = (name: string) => chain.some((link) => link instanceof Error && link.name === name);
  if (named('SyntaxError'))
    return 'the server answered with invalid JSON, not MCP (is the URL the MCP endpoint?)';
  if (named('ZodError'))
    return 'the server answered with JSON that is not MCP (is the URL the MCP endpoint?)';
  if (chain.some((link) => link instanceof sdk.UnsupportedProtocolVersionError)) {
    return 'the server supports no protocol version patchbay speaks';
  }
  if (error instanceof Error && /protocol version is not supported/i.test(error.message)) {
    return 'the server chose a protocol version patchbay does not support';
  }
  const protocolError = chain.find((link) => sdk.ProtocolError.isInstance(link));
  if (protocolError) return `the server answered with JSON-RPC error ${protocolError.code}`;
  switch (sdkCode(error, sdk)) {
    case sdk.SdkErrorCode.ConnectionClosed:
      return 'the server closed the connection during the MCP handshake';
    case sdk.SdkErrorCode.InvalidResult:
      return 'the server answered with a malformed MCP result';
    case sdk.SdkErrorCode.ListPaginationExceeded:
      return 'the server\u2019s tool list never ended (more than 64 pages)';
    case sdk.SdkErrorCode.EraNegotiationFailed:
      return 'the server\u2019s answer to the protocol version probe was not MCP';
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading errors without trusting their shape

function* causeChain(error: unknown): Generator<unknown> {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== undefined && current !== null && !seen.has(current) && seen.size < 8) {
    seen.add(current);
    yield current;
    if (typeof current !== 'object') return;
    // SdkError keeps its cause in `cause` and, for negotiation failures, in `data.cause` too.
    const link = current as { cause?: unknown; data?: { cause?: unknown } };
    current = link.cause ?? link.data?.cause;
  }
}

/** Node's string error code (`ENOENT`, `ECONNREFUSED`, ...), not an SDK or HTTP code. */
function nodeErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' &&
    /^(E[A-Z]+|UND_ERR_[A-Z_]+|ERR_[A-Z_]+|[A-Z_]+_CERT[A-Z_]*|CERT_[A-Z_]+)$/.test(code)
    ? code
    : undefined;
}

function sdkCode(error: unknown, sdk: ClientModule): string | undefined {
  return sdk.SdkError.isInstance(error) ? error.code : undefined;
}

function errorName(error: unknown): string {
  if (error instanceof Error) return error.name;
  return typeof error;
}

// ---------------------------------------------------------------------------------------------
// Output hygiene

/** Origin and path only: a query string or user-info part may carry a key. */
function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function lastLine(text: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '');
  const lines = clean
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const last = lines.at(-1);
  return last === undefined ? undefined : sanitize(last, 200);
}

/** Printable characters only, bounded: this text came from a process or server patchbay does not control. */
function sanitize(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const printable = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
  return printable.length > max ? `${printable.slice(0, max - 1)}\u2026` : printable;
}

function secretValues(entry: ServerEntry): string[] {
  const values = [...Object.values(entry.headers ?? {}), ...Object.values(entry.env ?? {})];
  // Also the token part of `Bearer xyz`-style header values.
  for (const value of Object.values(entry.headers ?? {})) {
    const parts = value.split(/\s+/);
    if (parts.length > 1) values.push(...parts.slice(1));
  }
  // Short values (`1`, `true`) would redact ordinary words.
  return [...new Set(values)].filter((value) => value.length >= 6).sort((a, b) => b.length - a.length);
}

function redact(reason: string, secrets: string[]): string {
  let out = reason;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}
