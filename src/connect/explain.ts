/**
 * Why a connect or a request failed, as a ConnectError: the deadline, a credential's failure
 * (the login to renew, or why the authorization server could not renew it), a broken connection,
 * a dying stdio child's exit and last words, else the classification of classify.ts; and every
 * reason redacted of the entry's secrets.
 */

import { PatchbayError } from '../errors.js';
import type { Deadline } from '../core/deadline.js';
import { deadlineKind } from './deadline.js';
import type { ServerEntry } from '../config/entry.js';
import type { CredentialError, OAuthTokenSource } from '../auth/refresh.js';
import type { StoredAccess } from '../auth/stored-token.js';
import {
  causeChain,
  classifyFailure,
  hostPortOf,
  loginCommand,
  networkFailure,
  redact,
  timeoutFailure,
  type FailureContext,
  type Target,
} from './classify.js';
import { ConnectError } from './connect-error.js';
import type { Lost } from './liveness.js';
import type { HttpClient } from './network.js';
import type { AttemptState, ClientModule, ConnectOptions, Dialer } from './session-types.js';
import type { StdioProcessTransport } from './stdio-transport.js';

/** What a failure's context is built from. */
export interface ContextSources {
  login?: StoredAccess | undefined;
  challengeScope?: string | undefined;
  tokens?: OAuthTokenSource | undefined;
  entry: ServerEntry;
  target: Target;
  options: ConnectOptions;
  stage?: 'handshake' | 'request';
  http?: HttpClient | undefined;
}

export interface FailureSources extends ContextSources {
  deadline: Deadline;
  attempt: AttemptState | undefined;
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
export async function settleDyingChild(stdio: StdioProcessTransport): Promise<void> {
  if (!stdio.exit) await Promise.race([stdio.exited(), sleep(STDIO_EXIT_NOTICE_MS)]);
  if (stdio.exit) await Promise.race([stdio.exited(), sleep(STDIO_EXIT_WAIT_MS)]);
}

export async function describeConnectFailure(error: unknown, sources: FailureSources): Promise<ConnectError> {
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

export function failureContext(
  sources: ContextSources,
  stdio: StdioProcessTransport | undefined,
  attempt: AttemptState | undefined,
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
export function credentialFailure(error: unknown, sources: ContextSources): ConnectError | undefined {
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
export function lostFailure(lost: Lost, dialer: Dialer, stage: 'handshake' | 'request'): ConnectError {
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

export function redactFailure(error: ConnectError, secrets: string[]): ConnectError {
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
