/**
 * The message bus over Redis pub/sub. A subscribing connection can do nothing else, so the bus
 * has one of its own (a duplicate of the store's client), opened at the first subscription. It
 * reconnects with the store's client settings and subscribes again on its own (node-redis
 * resubscribes after a reconnect); messages published while it was away are not heard (pub/sub
 * keeps nothing), which is the bus's contract.
 */

import { randomUUID } from 'node:crypto';

import type { RedisClientType } from 'redis';

import type { MessageBus } from './store.js';

type Client = RedisClientType;

export class RedisBus implements MessageBus {
  readonly replica = randomUUID();
  private subscriber: Promise<Client> | undefined;

  constructor(
    private readonly client: Client,
    /** The store's key prefix: channels share it, so one Redis can serve other programs too. */
    private readonly prefix: string,
  ) {}

  async publish(channel: string, message: unknown): Promise<number> {
    return this.client.publish(this.prefix + channel, JSON.stringify(message));
  }

  async subscribe(channel: string, onMessage: (message: unknown) => void): Promise<() => Promise<void>> {
    const subscriber = await this.connection();
    const name = this.prefix + channel;
    const listener = (text: string) => {
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        return; // Not one of ours: another program published on our prefix.
      }
      onMessage(message);
    };
    await subscriber.subscribe(name, listener);
    return async () => {
      if (subscriber.isOpen) await subscriber.unsubscribe(name, listener).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    const subscriber = await this.subscriber?.catch(() => undefined);
    await subscriber?.close().catch(() => undefined);
  }

  private connection(): Promise<Client> {
    this.subscriber ??= (async () => {
      const subscriber = this.client.duplicate();
      subscriber.on('error', () => undefined);
      await subscriber.connect();
      return subscriber as Client;
    })();
    // A first connection that failed is tried again by the next subscription.
    this.subscriber.catch(() => (this.subscriber = undefined));
    return this.subscriber;
  }
}
