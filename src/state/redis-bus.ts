/**
 * The message bus over Redis pub/sub (redis-connection.ts gives each shape's: a server's on a
 * connection of its own, Sentinel's on the master it follows, a Cluster's sharded). It
 * reconnects and subscribes again on its own (node-redis resubscribes after a reconnect);
 * messages published while it was away are not heard (pub/sub keeps nothing), which is the bus's
 * contract.
 */

import { randomUUID } from 'node:crypto';

import type { RedisPubSub } from './redis-connection.js';
import type { MessageBus } from './store.js';

export class RedisBus implements MessageBus {
  readonly replica = randomUUID();

  constructor(
    private readonly pubsub: RedisPubSub,
    /** The store's key prefix: channels share it, so one Redis can serve other programs too. */
    private readonly prefix: string,
  ) {}

  async publish(channel: string, message: unknown): Promise<number> {
    return this.pubsub.publish(this.prefix + channel, JSON.stringify(message));
  }

  async subscribe(channel: string, onMessage: (message: unknown) => void): Promise<() => Promise<void>> {
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
    await this.pubsub.subscribe(name, listener);
    return () => this.pubsub.unsubscribe(name, listener).catch(() => undefined);
  }

  close(): Promise<void> {
    return this.pubsub.close();
  }
}
