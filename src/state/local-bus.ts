/**
 * The message bus of a store with one process: in memory. A message is copied through JSON, as
 * the Redis bus delivers it, so that a job behaves the same on both backends.
 */

import { randomUUID } from 'node:crypto';

import type { MessageBus } from './store.js';

export class LocalBus implements MessageBus {
  readonly replica = randomUUID();
  private readonly channels = new Map<string, Set<(message: unknown) => void>>();

  publish(channel: string, message: unknown): Promise<number> {
    const listeners = [...(this.channels.get(channel) ?? [])];
    const text = JSON.stringify(message);
    // Delivered after the publisher has gone on, as a message over the network would be.
    for (const listener of listeners) queueMicrotask(() => listener(JSON.parse(text)));
    // One process: heard here or nowhere.
    return Promise.resolve(listeners.length > 0 ? 1 : 0);
  }

  subscribe(channel: string, onMessage: (message: unknown) => void): Promise<() => Promise<void>> {
    // Each subscription is its own entry, even for one function given twice.
    const listener = (message: unknown) => onMessage(message);
    let listeners = this.channels.get(channel);
    if (!listeners) this.channels.set(channel, (listeners = new Set()));
    listeners.add(listener);
    return Promise.resolve(async () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.channels.get(channel) === listeners) this.channels.delete(channel);
    });
  }
}
