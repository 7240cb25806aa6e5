/**
 * The Session `connect()` returns: the open client, a 2025-era session renewed in place when the
 * server forgets it, the loss of the connection under a request turned into its reason at once,
 * failed requests explained, and a goodbye (HTTP DELETE) on close.
 */

import { setMaxListeners } from 'node:events';

import type { Client } from '@modelcontextprotocol/client';

import type { Transport } from '../config/entry.js';
import { terminalText } from '../core/terminal-text.js';
import { Attempt, type Dialer, type Opened } from './attempt.js';
import { causeChain, classifyFailure, httpStatus, timeoutFailure } from './classify.js';
import { ConnectError } from './connect-error.js';
import { connectDeadline } from './deadline.js';
import {
  credentialFailure,
  describeConnectFailure,
  failureContext,
  lostFailure,
  redactFailure,
  settleDyingChild,
} from './explain.js';
import type { Lost } from './liveness.js';
import type { HttpClient } from './network.js';
import { raceAbort } from '../core/race.js';
import { rawChannelOf, type RawChannel } from './raw-channel.js';
import type { PassThrough, SdkTransport, ServerIdentity, Session } from './session-types.js';
import type { StdioProcessTransport } from './stdio-transport.js';

/** How long a server gets to acknowledge the end of its session (HTTP DELETE). */
const SESSION_END_GRACE_MS = 500;

export class LiveSession implements Session {
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

  passThrough(): PassThrough | undefined {
    const { opened, dialer } = this;
    const sessionId = opened.transport.sessionId;
    const protocolVersion = this.protocolVersion;
    if (this.closed || this.lost.aborted || this.renewing || opened.kind !== 'http') return undefined;
    if (this.era !== 'legacy' || !sessionId || !protocolVersion || !dialer.http) return undefined;
    const url = (dialer.target as { url: URL }).url;
    const { tokens, login } = dialer;
    return {
      url,
      dispatcher: dialer.http.dispatcher(url),
      headers: async () => {
        // As the SDK transport's _commonHeaders: configured headers, then the bearer token.
        const token = tokens ? await tokens.token() : login?.kind === 'valid' ? login.accessToken : undefined;
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(dialer.headers)) headers[name.toLowerCase()] = value;
        if (token) headers.authorization = `Bearer ${token}`;
        headers['mcp-session-id'] = sessionId;
        headers['mcp-protocol-version'] = protocolVersion;
        return headers;
      },
      broken: (method) => {
        if (this.opened === opened) opened.watch.noticeBroken(method);
      },
    };
  }

  rawChannel(): RawChannel | undefined {
    const { opened } = this;
    if (this.closed || this.lost.aborted || this.renewing || opened.kind !== 'stdio') return undefined;
    if (this.era !== 'legacy') return undefined;
    return rawChannelOf(opened.transport);
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
