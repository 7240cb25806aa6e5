/**
 * Requests and replies between replicas over the store's message bus (store.ts `MessageBus`):
 * how a replica asks the one that holds something in memory (a paused call, a host's stream) to
 * act on it and waits for the answer. Each replica hears its own channel, `replica:<bus.replica>`;
 * a request carries a correlation id and the asker's replica, and the reply goes to the asker's
 * channel. Files: one process, the same code through the in-memory bus.
 *
 * - Nobody heard the request (publish reached 0 replicas): the replica is gone, said at once.
 * - `timeoutMs` bounds silence, not work: while a handler runs, the serving replica says it is
 *   still at it every third of that time, so a long answer is waited for and a replica killed
 *   mid-request is noticed within `timeoutMs`.
 * - The asker's `signal` reaches the serving handler as a cancellation.
 * - Pending requests end on their reply, their timeout, their cancellation or `close()`: nothing
 *   is kept for an answer that cannot come.
 *
 * Several services may share a replica's channel (each its own BusRpc); a message names its
 * service and the others ignore it, as they ignore messages that are not requests or replies. A
 * replica that does not serve a service is silent to it: its asker times out.
 */

import { randomUUID } from 'node:crypto';

import type { MessageBus } from './store.js';

export interface AskOptions {
  /** The longest the asker waits without a word from the other replica. */
  timeoutMs: number;
  /** Cancels the request here and, as a cancellation, on the serving replica. */
  signal?: AbortSignal;
}

export type RpcHandler = (
  message: unknown,
  context: { from: string; signal: AbortSignal },
) => Promise<unknown>;

export type RpcFailure = 'gone' | 'timeout' | 'cancelled' | 'closed' | 'failed';

/** Why a request got no answer; `reason` is for the caller's message, `message` says it plainly. */
export class BusRpcError extends Error {
  constructor(
    readonly reason: RpcFailure,
    message: string,
  ) {
    super(message);
    this.name = 'BusRpcError';
  }
}

type Envelope =
  | { rpc: 'ask'; service: string; id: string; from: string; timeoutMs: number; body: unknown }
  | { rpc: 'reply'; service: string; id: string; ok: true; body: unknown }
  | { rpc: 'reply'; service: string; id: string; ok: false; error: string }
  | { rpc: 'alive'; service: string; id: string }
  | { rpc: 'cancel'; service: string; id: string };

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: BusRpcError) => void;
  /** Starts the silence clock again (the other replica said it is still at it). */
  heard: () => void;
}

export function replicaChannel(replica: string): string {
  return `replica:${replica}`;
}

export class BusRpc {
  private readonly pending = new Map<string, Pending>();
  /** Requests this replica is serving, by id (random, so never two askers'), to cancel them. */
  private readonly serving = new Map<string, AbortController>();
  private handler: RpcHandler | undefined;
  private subscribed: Promise<() => Promise<void>> | undefined;
  private closed = false;

  constructor(
    private readonly bus: MessageBus,
    /** The name this layer's messages carry (one word of the code: `rounds`, `sessions`). */
    private readonly service: string,
  ) {}

  get replica(): string {
    return this.bus.replica;
  }

  /** Answer requests for this service with `handler`; resolves once this replica hears them. */
  async serve(handler: RpcHandler): Promise<void> {
    this.handler = handler;
    await this.ready();
  }

  /** Ask `replica` and wait for its reply; rejects with a BusRpcError when none can come. */
  async ask(replica: string, body: unknown, options: AskOptions): Promise<unknown> {
    const { timeoutMs, signal } = options;
    if (this.closed) throw new BusRpcError('closed', 'this replica is closing');
    // The reply comes to our channel: hear it before asking.
    await this.ready();
    signal?.throwIfAborted();
    const id = randomUUID();
    const reply = new Promise<unknown>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        end();
        void this.send(replica, { rpc: 'cancel', service: this.service, id }).catch(() => undefined);
        reject(new BusRpcError('cancelled', 'the request was cancelled'));
      };
      const end = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
      };
      const heard = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          end();
          reject(
            new BusRpcError(
              'timeout',
              `replica ${replica} said nothing for ${Math.round(timeoutMs / 1000)} s`,
            ),
          );
        }, timeoutMs);
        timer.unref();
      };
      this.pending.set(id, {
        resolve: (value) => (end(), resolve(value)),
        reject: (error) => (end(), reject(error)),
        heard,
      });
      heard();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    const heardBy = await this.send(replica, {
      rpc: 'ask',
      service: this.service,
      id,
      from: this.replica,
      timeoutMs,
      body,
    }).catch((error: unknown) => {
      this.pending.get(id)?.reject(new BusRpcError('failed', `could not send: ${messageOf(error)}`));
      return undefined;
    });
    if (heardBy === 0)
      this.pending
        .get(id)
        ?.reject(new BusRpcError('gone', `replica ${replica} is gone (nobody heard the request)`));
    return reply;
  }

  /** Stop hearing; pending requests fail as `closed`, requests being served are cancelled. */
  async close(): Promise<void> {
    this.closed = true;
    for (const pending of [...this.pending.values()])
      pending.reject(new BusRpcError('closed', 'this replica is closing'));
    for (const serving of this.serving.values()) serving.abort(new Error('the replica is closing'));
    this.serving.clear();
    const unsubscribe = await this.subscribed?.catch(() => undefined);
    await unsubscribe?.();
  }

  /** Resolves once this replica hears its channel; a failed subscription is tried again by the next call. */
  async ready(): Promise<void> {
    this.subscribed ??= this.bus.subscribe(replicaChannel(this.replica), (message) => this.hear(message));
    this.subscribed.catch(() => (this.subscribed = undefined));
    await this.subscribed;
  }

  private send(replica: string, envelope: Envelope): Promise<number> {
    return this.bus.publish(replicaChannel(replica), envelope);
  }

  private hear(message: unknown): void {
    if (!isEnvelope(message) || message.service !== this.service) return;
    switch (message.rpc) {
      case 'ask':
        return void this.answer(message);
      case 'cancel':
        return this.serving.get(message.id)?.abort(new Error('the asking replica cancelled the request'));
      case 'alive':
        return this.pending.get(message.id)?.heard();
      case 'reply': {
        const pending = this.pending.get(message.id);
        if (!pending) return; // Timed out or cancelled meanwhile: nobody waits for it.
        if (message.ok) pending.resolve(message.body);
        else pending.reject(new BusRpcError('failed', message.error));
      }
    }
  }

  private async answer(ask: Extract<Envelope, { rpc: 'ask' }>): Promise<void> {
    const { id, from } = ask;
    if (typeof from !== 'string' || typeof ask.timeoutMs !== 'number') return;
    const reply = (envelope: Envelope) => this.send(from, envelope).catch(() => 0);
    // Only the instance that serves answers: another one of this service on this replica (an
    // asker of the same process) keeps quiet rather than refuse in its place.
    const handler = this.handler;
    if (!handler || this.closed) return;
    const aborter = new AbortController();
    this.serving.set(id, aborter);
    const alive = setInterval(
      () => void reply({ rpc: 'alive', service: this.service, id }),
      Math.max(10, Math.floor(ask.timeoutMs / 3)),
    );
    alive.unref();
    try {
      const body = await handler(ask.body, { from, signal: aborter.signal });
      await reply({ rpc: 'reply', service: this.service, id, ok: true, body });
    } catch (error) {
      await reply({ rpc: 'reply', service: this.service, id, ok: false, error: messageOf(error) });
    } finally {
      clearInterval(alive);
      this.serving.delete(id);
    }
  }
}

function isEnvelope(message: unknown): message is Envelope {
  if (typeof message !== 'object' || message === null) return false;
  const { rpc, id, service } = message as Record<string, unknown>;
  return typeof rpc === 'string' && typeof id === 'string' && typeof service === 'string';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
