/**
 * One connect attempt: an SDK client and its transport (Streamable HTTP in either era, legacy
 * SSE, or stdio), opened within the deadline; the era hint that skips `server/discover` for a
 * server remembered as 2025-era; and whether a refused POST means "try SSE".
 */

import type { Deadline } from '../core/deadline.js';
import { deadlineKind } from './deadline.js';
import type { Transport } from '../config/entry.js';
import { packageVersion } from '../core/version.js';
import { causeChain, httpStatus, LIST_MAX_PAGES } from './classify.js';
import { CLIENT_CAPABILITIES, declineServerRequests } from './client-capabilities.js';
import { lostFailure } from './explain.js';
import { ConnectionWatch, type Lost } from './liveness.js';
import type { FetchLike } from './network.js';
import { raceAbort } from '../core/race.js';
import { completingResults } from './result-type.js';
import type { AttemptState, Dialer, Opened, ResolvedConnectOptions, SdkTransport } from './session-types.js';
import type { StdioProcessTransport } from './stdio-transport.js';

export type { Dialer, Opened } from './session-types.js';

/** The statuses after which the spec says to try the legacy SSE transport on the same URL. */
const SSE_FALLBACK_STATUSES = new Set([400, 404, 405]);

export class Attempt implements AttemptState {
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

export async function knownLegacyQuietly(url: string, options: ResolvedConnectOptions): Promise<boolean> {
  const { processEraHints } = await import('./era-hints.js');
  const hints = options.eraHintCache ?? processEraHints;
  return hints.knownLegacy(url, options.paths).catch(() => false);
}

/**
 * Open an http attempt, straight to `initialize` when the server is remembered as 2025-era. If
 * that is refused for any reason but the deadline or a credential, the hint is wrong (the server
 * moved on, or another server took its address): negotiate afresh, as without a hint.
 */
export async function openHinted(attempt: Attempt, legacy: boolean, deadline: Deadline): Promise<Opened> {
  const { dialer } = attempt;
  if (!legacy) return attempt.open(dialer.target.transport);
  try {
    return await attempt.open('http', { kind: 'legacy' });
  } catch (error) {
    if (deadline.signal.aborted || deadlineKind(deadline, error, dialer.sdk) !== undefined) throw error;
    const status = httpStatus([...causeChain(error)], dialer.sdk);
    if (status === 401 || status === 403) throw error;
    await attempt.abandon();
    const { processEraHints } = await import('./era-hints.js');
    if (dialer.options.eraHints === 'read-write') {
      const hints = dialer.options.eraHintCache ?? processEraHints;
      await hints.rememberEra(dialer.entry.url ?? '', 'modern', dialer.options.paths);
    }
    return attempt.open('http');
  }
}

export function shouldTrySse(error: unknown, dialer: Dialer, deadline: Deadline): boolean {
  if (dialer.target.transport !== 'http' || dialer.options.sseFallback === false) return false;
  if (deadline.signal.aborted) return false;
  const status = httpStatus([...causeChain(error)], dialer.sdk);
  return status !== undefined && SSE_FALLBACK_STATUSES.has(status);
}
