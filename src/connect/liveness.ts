/**
 * Noticing, for every command at once, that a session's connection broke while it waited for an
 * answer — instead of waiting out the timeout and then guessing at a firewall.
 *
 * The SDK's Streamable HTTP client leaves a request pending when the event stream carrying its
 * answer dies: without resumability (no event ids) it only reports "SSE stream disconnected" to
 * `onerror`; with it, it retries twice over about 2.5 s and then reports "Maximum reconnection
 * attempts". The legacy SSE client loses every pending answer with its one GET stream. Neither
 * rejects the request. So the watch sits on the session's fetch, sees each answer stream end,
 * and says the connection is lost when one breaks that the SDK will not resume, or when the SDK
 * gives up resuming one. The session then fails its requests in flight at once (session.ts).
 *
 * It also remembers how far the latest exchange got — no response headers yet, or an answer
 * begun (an event stream open) and then silent — so that a timeout can say which it was.
 */

import type { FetchLike } from './network.js';

/** How far one request's HTTP exchange got: sent, or its answer begun (headers in). */
export type ExchangeProgress = 'awaiting-headers' | 'answering';

export interface Lost {
  /** The JSON-RPC method whose answer was lost (`tools/call`), when known. */
  method: string | undefined;
}

interface Exchange {
  method: string | undefined;
  progress: ExchangeProgress;
}

export class ConnectionWatch {
  private readonly controller = new AbortController();
  private readonly inFlight = new Set<Exchange>();
  /** The progress of the latest exchange that ended by being cancelled (the SDK's timeout). */
  private lastCancelled: ExchangeProgress | undefined;
  /** The method of the latest answer stream that broke and that the SDK then tried to resume. */
  private lastResuming: string | undefined;
  private disposed = false;

  /** Aborted, with a `Lost` as its reason, once the connection is found broken. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** How far the oldest exchange in flight got, else the last one cancelled. */
  progress(): ExchangeProgress | undefined {
    for (const exchange of this.inFlight) return exchange.progress;
    return this.lastCancelled;
  }

  /** The session is being closed or abandoned: what breaks from now on is patchbay's doing. */
  dispose(): void {
    this.disposed = true;
  }

  /**
   * An answer that did not go through the wrapped fetch (a relay's own request on the session's
   * connection pool) broke: the connection is lost as if the SDK's own answer had.
   */
  noticeBroken(method: string | undefined): void {
    this.lose(method);
  }

  /** The SDK's `onerror`: the one place it says it gave up resuming a stream. */
  noticeClientError(error: unknown): void {
    if (/Maximum reconnection attempts/.test(String(error))) this.lose(this.lastResuming);
  }

  /**
   * The fetch a transport of `kind` uses. Streamable HTTP: each POST's answer is watched (a JSON
   * body cut short, or an event stream that breaks with no event id to resume from, loses its
   * answer).
   * Legacy SSE: the GET stream is watched (every answer comes on it).
   */
  wrap(fetch: FetchLike, kind: 'http' | 'sse'): FetchLike {
    return async (url, init) => {
      const method = (init?.method ?? 'GET').toUpperCase();
      if (kind === 'http' && method === 'GET' && hasHeader(init, 'last-event-id'))
        return this.resuming(fetch, url, init);
      const watched = kind === 'http' ? method === 'POST' : method === 'GET';
      if (!watched || this.disposed) return fetch(url, init);
      const exchange: Exchange = {
        method: kind === 'http' ? requestMethod(init?.body) : undefined,
        progress: 'awaiting-headers',
      };
      this.inFlight.add(exchange);
      let response: Response;
      try {
        response = await fetch(url, init);
      } catch (error) {
        // A refused or reset request rejects by itself; the SDK passes that on at once.
        this.end(exchange, init);
        throw error;
      }
      if (!response.ok || !response.body) {
        this.inFlight.delete(exchange);
        return response;
      }
      // A JSON answer is watched too: cut short, it would reject the request by itself, but as
      // "terminated", which says nothing of where or when.
      const stream = /^\s*text\/event-stream/i.test(response.headers.get('content-type') ?? '');
      exchange.progress = 'answering';
      return new Response(this.watchStream(response.body, exchange, stream ? kind : 'json', init), {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    };
  }

  /**
   * The SDK resuming a broken answer stream (GET with Last-Event-ID). A refusal it does not
   * retry — 405, the spec's "no resumption here", or any other status — leaves the request
   * pending in silence; a network error it retries, and reports once it gives up.
   */
  private async resuming(
    fetch: FetchLike,
    url: string | URL,
    init: RequestInit | undefined,
  ): Promise<Response> {
    const response = await fetch(url, init);
    if (!response.ok && init?.signal?.aborted !== true) this.lose(this.lastResuming);
    return response;
  }

  private watchStream(
    body: ReadableStream<Uint8Array>,
    exchange: Exchange,
    kind: 'http' | 'sse' | 'json',
    init: RequestInit | undefined,
  ): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    let resumable = false;
    let atLineStart = true;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          const cancelled = this.end(exchange, init);
          // Broken under an answer the SDK will not resume (an event id would let it try).
          if (!cancelled && !this.disposed) {
            if (kind !== 'http' || !resumable) this.lose(exchange.method);
            else this.lastResuming = exchange.method;
          }
          controller.error(error);
          return;
        }
        if (chunk.done) {
          this.end(exchange, init);
          controller.close();
          return;
        }
        if (kind === 'http' && !resumable)
          ({ found: resumable, atLineStart } = findEventId(chunk.value, atLineStart));
        controller.enqueue(chunk.value);
      },
      cancel: async (reason) => {
        this.end(exchange, init);
        await reader.cancel(reason).catch(() => undefined);
      },
    });
  }

  /** The exchange is over; true when it ended because patchbay cancelled it. */
  private end(exchange: Exchange, init: RequestInit | undefined): boolean {
    this.inFlight.delete(exchange);
    const cancelled = init?.signal?.aborted === true;
    if (cancelled) this.lastCancelled = exchange.progress;
    return cancelled;
  }

  private lose(method: string | undefined): void {
    if (this.disposed || this.controller.signal.aborted) return;
    const lost: Lost = { method };
    this.controller.abort(lost);
  }
}

function hasHeader(init: RequestInit | undefined, name: string): boolean {
  const headers = init?.headers;
  if (!headers) return false;
  if (headers instanceof Headers) return headers.has(name);
  if (Array.isArray(headers)) return headers.some(([key]) => key?.toLowerCase() === name);
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

/** The method of a JSON-RPC request body (`{"method":"tools/call",…,"id":…}`), read cheaply. */
function requestMethod(body: RequestInit['body']): string | undefined {
  if (typeof body !== 'string') return undefined;
  // The SDK writes `method` first; a nested "method" key in the arguments comes after `params`.
  const match = /^\s*\{\s*"method"\s*:\s*"([\w/$.-]{1,80})"/.exec(body.slice(0, 200));
  return match?.[1];
}

const NEWLINE = 0x0a;
const RETURN = 0x0d;
const ID_FIELD = [0x69, 0x64, 0x3a]; // "id:"

/**
 * Whether an SSE `id:` field starts a line in `chunk`. One split across two chunks is missed
 * (rare): that answer then fails at once instead of being resumed.
 */
function findEventId(chunk: Uint8Array, atLineStart: boolean): { found: boolean; atLineStart: boolean } {
  let lineStart = atLineStart;
  for (let i = 0; i < chunk.length; i++) {
    const byte = chunk[i]!;
    if (lineStart && byte === ID_FIELD[0] && chunk[i + 1] === ID_FIELD[1] && chunk[i + 2] === ID_FIELD[2])
      return { found: true, atLineStart: false };
    lineStart = byte === NEWLINE || byte === RETURN;
  }
  return { found: false, atLineStart: lineStart };
}
