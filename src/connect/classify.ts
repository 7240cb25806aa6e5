/**
 * Failures → one sentence a person can act on, plus the step where it happened and the next
 * command to run. Reasons are built from what patchbay knows (status codes, error codes, the URL's
 * origin and path), never from header values or a server's error text.
 */

import type { ServerEntry } from '../config/entry.js';
import type { ConnectionPhase } from './network.js';
import { expiryText } from '../auth/expiry.js';
import { ConnectError, type ConnectStep } from './connect-error.js';
import { formatDuration } from '../core/race.js';
import { displayUrl } from '../config/text.js';
import { replaceSecrets } from '../core/redact.js';
import { terminalText } from '../core/terminal-text.js';
import { lastStderrLine } from './child-env.js';
import type { StdioExit } from './stdio-transport.js';

type ClientModule = typeof import('@modelcontextprotocol/client');

export type Target = { transport: 'http' | 'sse'; url: URL } | { transport: 'stdio'; command: string };

/** What the connect attempt knew when it failed. */
export interface FailureContext {
  target: Target;
  /** The server's configured name, for hints; '<name>' when unknown. */
  name: string;
  /** Raw (unexpanded) entry scope is unknown here; hints use the plain command forms. */
  entry: ServerEntry;
  /** The MCP exchange under way: the handshake, or a later request. */
  stage: 'handshake' | 'request';
  /** HTTP: how far the connection to the server (or its proxy) got. */
  phase?: ConnectionPhase;
  /** HTTP: the proxy in use, for messages (no credentials). */
  proxy?: string;
  stdio?: { exit: StdioExit | null; stderrTail: string; strayStdout: string | undefined };
  /** The scopes the server's last 401/403 challenge asked for, as it sent them. */
  challengeScope?: string;
  /** The scopes the login in use was granted, for a step-up login that keeps them (SEP-2350). */
  grantedScope?: string;
  /** The server's stored login had expired, so no token was sent. */
  expiredLogin?: { expiresAt: number; refreshable: boolean };
  /** A stored login was in use that is refreshed on a 401 (`credentials: 'refresh'`). */
  refreshingLogin?: boolean;
  /** HTTP: how far the exchange that timed out got (connect/liveness.ts). */
  exchange?: 'awaiting-headers' | 'answering';
}

// ---------------------------------------------------------------------------------------------
// Timeouts

export function timeoutFailure(timeoutMs: number, context: FailureContext): ConnectError {
  const after = `timed out after ${formatDuration(timeoutMs)}`;
  const waitingFor =
    context.stage === 'handshake' ? 'the MCP handshake' : 'a request made after a successful handshake';
  const fix = `If the server is just slow, allow it longer: --timeout 1m (or "timeout" in ms in the entry).`;
  if (context.target.transport === 'stdio') {
    const { stdio } = context;
    if (stdio?.strayStdout !== undefined) {
      return new ConnectError(
        'failed',
        context.stage,
        `${after}: the process wrote text that is not MCP to stdout (servers must log to stderr): ${stdio.strayStdout}`,
      );
    }
    const line = stdio ? lastStderrLine(stdio.stderrTail) : undefined;
    if (line) {
      // What the server said (npm's error, a proxy refusing, a variable it misses) is the reason;
      // a longer timeout rarely is the fix.
      return new ConnectError(
        'failed',
        context.stage,
        `the server said on stderr: ${line} (no answer to ${waitingFor}; ${after})`,
        {
          hint: `Fix what it reports: patchbay get ${context.name} shows the command and env it runs with. If it is only slow: --timeout 1m (or "timeout" in ms in the entry).`,
        },
      );
    }
    return new ConnectError('failed', context.stage, `${after} waiting for ${waitingFor} from the process`, {
      hint: fix,
    });
  }
  const hostPort = hostPortOf(context.target.url);
  const via = context.proxy ? ` through the proxy ${context.proxy}` : '';
  // How far the exchange got says more than the connection phase, which a later connection
  // (the cancellation the SDK sends at its timeout) may already have moved on. In the handshake
  // the phase still decides while no connection is up: that is the firewall case.
  const exchange =
    context.stage === 'request' || context.phase === 'connected' ? context.exchange : undefined;
  if (exchange === 'answering') {
    return new ConnectError(
      'failed',
      context.stage,
      `${after}: ${hostPort}${via} began its answer${context.stage === 'handshake' ? ' to the MCP handshake' : ''} and then sent nothing more`,
      { hint: fix },
    );
  }
  if (exchange === 'awaiting-headers') {
    return new ConnectError(
      'failed',
      context.stage,
      `${after}: no answer from ${hostPort}${via} to ${context.stage === 'handshake' ? 'the MCP handshake' : 'the request'} (not even response headers)`,
      { hint: fix },
    );
  }
  if (context.stage === 'request' && context.phase === 'connecting') {
    // It answered the handshake, so neither a firewall nor a wrong address: it went away since.
    return new ConnectError(
      'failed',
      'connect',
      `${after} connecting to ${context.proxy ?? hostPort} again: it answered before, but nothing answers now (is the server still running?)`,
      { hint: `patchbay doctor ${context.name} checks each step.` },
    );
  }
  switch (context.phase) {
    case 'none':
    case undefined:
      // Nothing was sent: the time went before the first connection (loading, a headersHelper,
      // a token renewal), so "nothing answered" would be a guess about the network.
      return new ConnectError(
        'failed',
        context.stage,
        `${after} before patchbay opened a connection to ${context.proxy ?? hostPort}${context.proxy ? ' (the proxy)' : ''}`,
        { hint: fix },
      );
    case 'connecting':
      return new ConnectError(
        'failed',
        'connect',
        `${after} connecting to ${context.proxy ?? hostPort}${context.proxy ? ' (the proxy)' : ''}: nothing answered (a firewall, or the wrong host or port?)`,
      );
    case 'tls-handshake':
      return new ConnectError(
        'failed',
        'tls',
        `${after} in the TLS handshake with ${hostPort}${via} (is it an https server?)`,
      );
    case 'connected':
      return new ConnectError(
        'failed',
        context.stage,
        `${after}: connected to ${hostPort}${via}, but got no answer to ${waitingFor}`,
        { hint: fix },
      );
  }
}

// ---------------------------------------------------------------------------------------------
// Everything else

export function classifyFailure(error: unknown, context: FailureContext, sdk: ClientModule): ConnectError {
  return context.target.transport === 'stdio'
    ? classifyStdio(error, context, context.target.command, sdk)
    : classifyHttp(error, context, context.target, sdk);
}

function classifyStdio(error: unknown, context: FailureContext, command: string, sdk: ClientModule) {
  const failed = (step: ConnectStep, reason: string, hint?: string) =>
    new ConnectError('failed', step, reason, { cause: error, ...(hint ? { hint } : {}) });
  // Spawn failures reject `start()` with Node's own error.
  const code = nodeErrorCode(error);
  if (code === 'ENOENT')
    return failed(
      'spawn',
      `command not found: ${command}`,
      `Install it, or give its full path: patchbay get ${context.name} shows the entry.`,
    );
  if (code === 'EACCES') return failed('spawn', `permission denied running ${command} (is it executable?)`);
  if (code === 'EISDIR' || code === 'ENOTDIR') return failed('spawn', `not a program: ${command}`);

  const stdio = context.stdio;
  const line = stdio ? lastStderrLine(stdio.stderrTail) : undefined;
  const stderrPart = line ? `: ${line}` : ' (it wrote nothing to stderr)';
  const exit = stdio?.exit;
  if (exit) {
    if (exit.signal) return failed(context.stage, `the process was killed by ${exit.signal}${stderrPart}`);
    return failed(context.stage, `the process exited with code ${exit.code}${stderrPart}`);
  }
  if (sdkCode(error, sdk) === sdk.SdkErrorCode.ConnectionClosed) {
    return failed(context.stage, `the process closed its connection${stderrPart}`);
  }
  return failed(
    context.stage,
    describeProtocolFailure(error, sdk) ?? `the server did not complete the MCP handshake${stderrPart}`,
  );
}

function classifyHttp(
  error: unknown,
  context: FailureContext,
  target: { transport: 'http' | 'sse'; url: URL },
  sdk: ClientModule,
): ConnectError {
  const where = displayUrl(target.url);
  const chain = [...causeChain(error)];
  const login = `patchbay login ${context.name}`;
  const failed = (step: ConnectStep, reason: string, options: { hint?: string; httpStatus?: number } = {}) =>
    new ConnectError('failed', step, reason, { cause: error, ...options });
  const needsAuth = (reason: string, httpStatus: number) =>
    new ConnectError('needs-auth', 'http', reason, { cause: error, hint: login, httpStatus });

  const status = httpStatus(chain, sdk);
  const staticAuthorization = Object.keys(context.entry.headers ?? {}).some(
    (name) => name.toLowerCase() === 'authorization',
  );
  const unauthorized = status === 401 || chain.some((link) => link instanceof sdk.UnauthorizedError);
  if (unauthorized && staticAuthorization) {
    return failed('http', 'the server rejected the configured Authorization header (HTTP 401)', {
      hint: `Check the token (patchbay get ${context.name} --resolved shows where it comes from), or remove the header to log in with OAuth instead.`,
      httpStatus: 401,
    });
  }
  const insufficient = chain.find((link) => link instanceof sdk.InsufficientScopeError) as
    InstanceType<ClientModule['InsufficientScopeError']> | undefined;
  if (insufficient) {
    // Step-up: log in again asking for what the challenge names (bounded, printable scope names)
    // on top of what the login already has, so that it loses nothing (SEP-2350).
    const printable = printableScope(insufficient.requiredScope);
    return new ConnectError(
      'needs-auth',
      'http',
      `the server requires permissions the current credentials lack (HTTP 403, insufficient_scope${printable ? `; it asks for ${printable}` : ''})`,
      {
        cause: error,
        hint: loginCommand(context.name, insufficient.requiredScope, context.grantedScope),
        httpStatus: 403,
      },
    );
  }
  // With a refreshing token source, the transport's 401 after its one retry means the token it
  // got right after the first 401 was refused too (without one, any 401 has this code).
  const renewedAndRejected =
    context.refreshingLogin === true &&
    chain.some(
      (link) => sdk.SdkError.isInstance(link) && link.code === sdk.SdkErrorCode.ClientHttpAuthentication,
    );
  if (unauthorized && renewedAndRejected) {
    return needsAuth('the server rejected the access token again after it was renewed (HTTP 401)', 401);
  }
  if (unauthorized && context.expiredLogin) {
    const { refreshable, expiresAt } = context.expiredLogin;
    // Times relative to now, by the clock: an absolute time read as "expired at <future>" once.
    const when = expiryText(expiresAt);
    if (refreshable) {
      return new ConnectError('needs-auth', 'http', `login ${when}, renews on next use`, {
        cause: error,
        hint: `A check with --no-refresh makes no token request; renew it now with: patchbay auth refresh ${context.name}`,
        httpStatus: 401,
        renewsOnUse: true,
      });
    }
    return new ConnectError(
      'needs-auth',
      'http',
      `the access token from the last login ${when}, and there is no refresh token`,
      { cause: error, hint: login, httpStatus: 401 },
    );
  }
  if (unauthorized) {
    return new ConnectError('needs-auth', 'http', 'the server requires authentication (HTTP 401)', {
      cause: error,
      hint: loginCommand(context.name, context.challengeScope),
      httpStatus: 401,
    });
  }
  if (status === 403) {
    return failed('http', `access to ${where} is forbidden with the current credentials (HTTP 403)`, {
      hint: 'Check the headers sent (patchbay get --resolved) and your permissions on the server.',
      httpStatus: 403,
    });
  }

  const unexpected = chain.find(
    (link) => sdk.SdkError.isInstance(link) && link.code === sdk.SdkErrorCode.ClientHttpUnexpectedContent,
  ) as InstanceType<ClientModule['SdkError']> | undefined;
  if (unexpected) {
    const contentType = (unexpected.data as { contentType?: unknown } | undefined)?.contentType;
    return failed('http', contentTypeReason(typeof contentType === 'string' ? contentType : ''), {
      hint: 'Check the URL: it must be the MCP endpoint itself (often ending in /mcp, or /sse for SSE servers).',
    });
  }

  if (status !== undefined) {
    const options = { httpStatus: status };
    if (status === 404) {
      return failed('http', `HTTP 404 from ${where}: no MCP endpoint at this path`, {
        ...options,
        hint: 'Check the URL: it must be the MCP endpoint itself (often ending in /mcp, or /sse for SSE servers).',
      });
    }
    if (status === 405 && target.transport === 'http') {
      return failed('http', `HTTP 405 from ${where}: it does not take MCP requests by POST`, {
        ...options,
        hint: `If it is a legacy SSE server, record that: patchbay add -t sse --force ${context.name} <url>`,
      });
    }
    // Only the SSE stream request reports a 200: the answer was not an event stream.
    if (status === 200)
      return failed('http', `${where} answered, but not with an event stream (is the URL the SSE endpoint?)`);
    if (status >= 500)
      return failed('http', `HTTP ${status} from ${where}: the server failed`, {
        ...options,
        hint: 'The server is having problems; try again later or ask its operator.',
      });
    return failed('http', `HTTP ${status} from ${where}`, options);
  }

  const network = networkFailure(chain, target.url, context);
  if (network) return failed(network.step, network.reason, network.hint ? { hint: network.hint } : {});
  return failed(
    context.stage,
    describeProtocolFailure(error, sdk) ??
      `the server at ${where} did not complete the MCP handshake (${errorName(error)})`,
  );
}

/**
 * The login that answers a challenge: `patchbay login <name>`, with `--oauth-scope` when the challenge
 * named scopes. A step-up keeps the scopes already granted (the union, SEP-2350), so that the new
 * token still does what the old one did. A scope that cannot go in a command line is left out.
 */
export function loginCommand(name: string, challenged?: string, granted?: string): string {
  const asked = printableScope(challenged);
  if (!asked) return `patchbay login ${name}`;
  const union = [...new Set([...(printableScope(granted)?.split(' ') ?? []), ...asked.split(' ')])]
    .filter(Boolean)
    .join(' ');
  return `patchbay login ${name} --oauth-scope "${printableScope(union) ?? asked}"`;
}

/** A challenge's scope, if it is plain scope tokens (RFC 6749 §3.3) that can go in a command line. */
function printableScope(scope: string | undefined): string | undefined {
  const trimmed = scope?.trim();
  return trimmed && /^[\x21\x23-\x5b\x5d-\x7e ]{1,200}$/.test(trimmed) ? trimmed : undefined;
}

function contentTypeReason(contentType: string): string {
  const essence = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (essence === 'text/html') return 'the server answered with an HTML page, not MCP';
  if (!essence) return 'the server answered without a content type, not with MCP';
  return `the server answered with ${terminalText(essence, { max: 60 })}, not MCP`;
}

/** The HTTP status of a failed exchange: on an SdkHttpError, or the stream request's on an SseError. */
export function httpStatus(chain: unknown[], sdk: ClientModule): number | undefined {
  for (const link of chain) {
    if (sdk.SdkHttpError.isInstance(link)) return link.status;
    if (sdk.SseError.isInstance(link) && typeof link.code === 'number') return link.code;
  }
  return undefined;
}

export interface NetworkFailure {
  step: ConnectStep;
  reason: string;
  hint?: string;
}

const TRUST_HINT =
  'If the server uses a private CA, trust it: NODE_EXTRA_CA_CERTS=/path/to/ca.pem, or patchbay add --ca-file /path/to/ca.pem --force …';

/** Network-level failures, from the codes Node and undici leave on an error's cause chain. */
export function networkFailure(
  chain: unknown[],
  url: URL,
  context: FailureContext,
): NetworkFailure | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const hostPort = hostPortOf(url);
  const codes = chain.flatMap((link) => {
    const found: string[] = [];
    const code = nodeErrorCode(link);
    if (code) found.push(code);
    // eventsource flattens its cause into the message text ("fetch failed: connect ECONNREFUSED ...").
    if (link instanceof Error)
      for (const match of link.message.matchAll(
        /\b(E[A-Z]{3,}|UND_ERR_[A-Z_]+|[A-Z_]*CERT[A-Z_]*|UNABLE_TO_[A-Z_]+)\b/g,
      ))
        found.push(match[1]!);
    return found;
  });
  const proxy = context.proxy;
  for (const code of codes) {
    const tls = TLS_REASONS[code];
    if (tls)
      return { step: 'tls', reason: tls(host), hint: code === 'CERT_HAS_EXPIRED' ? undefined : TRUST_HINT };
    if (proxy && (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')) {
      return {
        step: 'connect',
        reason: `could not reach the proxy ${proxy} (${code === 'ECONNREFUSED' ? 'connection refused' : 'host not found'})`,
        hint: 'Check HTTPS_PROXY / HTTP_PROXY, or bypass the proxy for this host with NO_PROXY.',
      };
    }
    const hangUp = code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
    // After a good handshake a hang-up is the connection breaking under the request, not a refusal.
    if (hangUp && context.stage === 'request' && context.phase !== 'tls-handshake')
      return brokeDuringRequest(hostPort, context.name);
    if (code === 'ECONNRESET' && context.phase === 'tls-handshake') {
      return {
        step: 'tls',
        reason: `the connection to ${hostPort} was reset during the TLS handshake`,
        ...(mtlsHint(url, context).hint
          ? mtlsHint(url, context)
          : {
              hint: 'Check that the URL should be https://, and any TLS-inspecting proxy or firewall on the way.',
            }),
      };
    }
    const reason = NETWORK_REASONS[code];
    if (reason) {
      return { step: 'connect', ...reason(hostPort, host), ...(hangUp ? mtlsHint(url, context) : {}) };
    }
  }
  const messages = chain.filter((link): link is Error => link instanceof Error).map((link) => link.message);
  if (proxy && messages.some((message) => /\b407\b|Proxy Authentication Required/i.test(message))) {
    return {
      step: 'connect',
      reason: `the proxy ${proxy} requires authentication (HTTP 407)`,
      hint: 'Put the credentials in the proxy URL: HTTPS_PROXY=http://user:password@proxy:port',
    };
  }
  if (proxy && messages.some((message) => /Proxy response \((\d+)\)/.test(message))) {
    const status = /Proxy response \((\d+)\)/.exec(messages.find((m) => /Proxy response/.test(m))!)![1];
    return {
      step: 'connect',
      reason: `the proxy ${proxy} refused the connection to ${hostPort} (HTTP ${status})`,
    };
  }
  if (messages.some((message) => /\bbad port\b/.test(message))) {
    // The fetch standard refuses ports that belong to other protocols (1, 9, 25, 6000, ...).
    return {
      step: 'connect',
      reason: `fetch refuses to connect to port ${url.port}, which is reserved for another protocol`,
      hint: 'Run the server on another port.',
    };
  }
  if (messages.some((message) => /other side closed|socket hang up|terminated/i.test(message))) {
    return context.stage === 'request'
      ? brokeDuringRequest(hostPort, context.name)
      : {
          step: context.stage,
          reason: `the server at ${hostPort} closed the connection without answering`,
          ...mtlsHint(url, context),
        };
  }
  return undefined;
}

function brokeDuringRequest(hostPort: string, name: string): NetworkFailure {
  return {
    step: 'request',
    reason: `the connection to ${hostPort} broke during the request`,
    hint: `patchbay doctor ${name} checks each step (the server went away or the network dropped; try again once it is back).`,
  };
}

/** Under TLS 1.3 a server that demands a client certificate just hangs up after the handshake. */
function mtlsHint(url: URL, context: FailureContext): { hint?: string } {
  if (url.protocol !== 'https:' || context.entry.tls?.certFile) return {};
  return {
    hint: 'If the server requires a client certificate (mTLS): patchbay add --client-cert cert.pem --client-key key.pem --force …',
  };
}

const NETWORK_REASONS: Record<string, (hostPort: string, host: string) => { reason: string; hint?: string }> =
  {
    ECONNREFUSED: (hp) => ({
      reason: `connection refused: nothing is listening on ${hp}`,
      hint: 'Start the server, or check the host and port in the URL.',
    }),
    ECONNRESET: (hp) => ({ reason: `the connection to ${hp} was reset` }),
    ENOTFOUND: (_hp, host) => ({
      reason: `DNS name not found: ${host}`,
      hint: 'Check the host name in the URL (patchbay doctor shows each step).',
    }),
    EAI_AGAIN: (_hp, host) => ({ reason: `could not resolve ${host} (DNS lookup failed; are you offline?)` }),
    ETIMEDOUT: (hp) => ({ reason: `connecting to ${hp} timed out` }),
    UND_ERR_CONNECT_TIMEOUT: (hp) => ({ reason: `connecting to ${hp} timed out` }),
    EHOSTUNREACH: (hp) => ({ reason: `no route to ${hp}` }),
    ENETUNREACH: (hp) => ({ reason: `network unreachable for ${hp}` }),
    EPIPE: (hp) => ({ reason: `the connection to ${hp} broke` }),
    UND_ERR_SOCKET: (hp) => ({ reason: `the server at ${hp} closed the connection without answering` }),
    ERR_SSL_WRONG_VERSION_NUMBER: (hp) => ({
      reason: `TLS handshake with ${hp} failed: it does not speak TLS (use http:// instead of https://?)`,
    }),
    EPROTO: (hp) => ({ reason: `TLS handshake with ${hp} failed (is it plain http?)` }),
  };

const TLS_REASONS: Record<string, (host: string) => string> = {
  CERT_HAS_EXPIRED: (host) => `the TLS certificate of ${host} has expired`,
  CERT_NOT_YET_VALID: (host) => `the TLS certificate of ${host} is not valid yet (is the clock right?)`,
  DEPTH_ZERO_SELF_SIGNED_CERT: (host) => `the TLS certificate of ${host} is not trusted: it is self-signed`,
  SELF_SIGNED_CERT_IN_CHAIN: (host) =>
    `the TLS certificate of ${host} is not trusted: its chain ends in an unknown, self-signed CA`,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: (host) =>
    `the TLS certificate of ${host} is not trusted: it was issued by an unknown CA`,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: (host) =>
    `the TLS certificate of ${host} is not trusted: it was issued by an unknown CA`,
  UNABLE_TO_GET_ISSUER_CERT: (host) =>
    `the TLS certificate of ${host} is not trusted: it was issued by an unknown CA`,
  ERR_TLS_CERT_ALTNAME_INVALID: (host) => `the TLS certificate presented by ${host} is for another host name`,
};

/**
 * Pages patchbay follows in one list before calling the list endless. Lists are meant to be
 * complete (a server with thousands of tools in pages of 10 is fine); the SDK's default of 64
 * pages would cut those short, while a cursor that never ends still has to stop somewhere.
 */
export const LIST_MAX_PAGES = 1_000;

/** Failures on the MCP layer itself: malformed answers, JSON-RPC errors, no common version. */
export function describeProtocolFailure(error: unknown, sdk: ClientModule): string | undefined {
  const chain = [...causeChain(error)];
  const named = (name: string) => chain.some((link) => link instanceof Error && link.name === name);
  if (named('SyntaxError')) return 'the server answered with invalid JSON, not MCP';
  if (named('ZodError')) return 'the server answered with JSON that is not MCP';
  if (chain.some((link) => link instanceof sdk.UnsupportedProtocolVersionError)) {
    return 'the server supports no protocol version patchbay speaks';
  }
  if (error instanceof Error && /protocol version is not supported/i.test(error.message)) {
    return 'the server chose a protocol version patchbay does not support';
  }
  const protocolError = chain.find((link) => sdk.ProtocolError.isInstance(link));
  if (protocolError) {
    // The server's own words say most ("Unknown tool: x", "Invalid params: …"); the SDK prefixes
    // them with "MCP error <code>: ", which the code already says.
    const words = protocolError.message.replace(/^MCP error -?\d+:\s*/, '').trim();
    return `the server answered with JSON-RPC error ${protocolError.code}${words ? `: ${terminalText(words, { max: 300 })}` : ''}`;
  }
  switch (sdkCode(error, sdk)) {
    case sdk.SdkErrorCode.ConnectionClosed:
      return 'the server closed the connection during the MCP exchange';
    case sdk.SdkErrorCode.InvalidResult:
      return 'the server answered with a malformed MCP result';
    case sdk.SdkErrorCode.ListPaginationExceeded:
      return `the server\u2019s list never ended (more than ${LIST_MAX_PAGES} pages)`;
    case sdk.SdkErrorCode.EraNegotiationFailed:
      return 'the server\u2019s answer to the protocol version probe was not MCP';
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading errors without trusting their shape

export function* causeChain(error: unknown): Generator<unknown> {
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
export function nodeErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  // Node, undici and OpenSSL codes are upper-case words (`ECONNREFUSED`, `UND_ERR_SOCKET`,
  // `UNABLE_TO_VERIFY_LEAF_SIGNATURE`); HTTP and JSON-RPC codes are numbers.
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code) ? code : undefined;
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

export function hostPortOf(url: URL): string {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return `${host}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
}

/** The values of configured headers and environment: never allowed into a message. */
export function secretValues(entry: ServerEntry): string[] {
  const values = [...Object.values(entry.headers ?? {}), ...Object.values(entry.env ?? {})];
  // Also the token part of `Bearer xyz`-style header values.
  for (const value of Object.values(entry.headers ?? {})) {
    const parts = value.split(/\s+/);
    if (parts.length > 1) values.push(...parts.slice(1));
  }
  // Short values (`1`, `true`) would redact ordinary words.
  return [...new Set(values)].filter((value) => value.length >= 6).sort((a, b) => b.length - a.length);
}

/** `secrets` (from secretValues) replaced by `***` in a message. */
export function redact(text: string, secrets: string[]): string {
  return replaceSecrets(text, secrets, '***');
}
