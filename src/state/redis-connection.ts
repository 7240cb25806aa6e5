/**
 * One connection to the Redis a `--state` URL names (redis-url.ts), whatever its shape — a server,
 * a Sentinel-watched master, a Cluster — seen by the store through the few commands it uses, so
 * that the records, the window counters and the bus are one implementation over all three.
 *
 * What each shape needs of the store's commands:
 * - every record operation names one key (GET, SET, GETDEL, DEL, and `update`'s compare-and-set
 *   script): on a Cluster each goes to the key's own master, so records spread over all shards;
 * - listing a namespace SCANs every master (node-redis's cluster SCAN), and reads the keys one by
 *   one there (MGET may only name keys of one slot) — the client pipelines them;
 * - the limit counters' script names several keys at once: their `{limits}` hash tag
 *   (redis-windows.ts) keeps them in one slot, so on a Cluster one master counts every limit;
 * - a script the node does not know yet (NOSCRIPT) is sent whole with EVAL, which reaches the
 *   node of its keys (SCRIPT LOAD would go to any node);
 * - the bus is PUBLISH/SUBSCRIBE on a server and through Sentinel (on the master, followed
 *   across failovers), and sharded pub/sub (SPUBLISH/SSUBSCRIBE) on a Cluster: each channel lives
 *   on its slot's master, so a publish counts every subscriber, as the bus promises.
 *
 * Every shape reconnects on its own (a bounded back-off); commands made while Redis is away fail
 * at once rather than queue, so callers can refuse clearly.
 */

import { createClient, createCluster, createSentinel, type RedisClientType } from 'redis';

import type { RedisTarget } from './redis-url.js';

/** The commands the store uses, as every shape's client has them. */
export interface RedisCommands {
  get(key: string): Promise<string | null>;
  set(
    key: string,
    value: string,
    options?: { condition?: 'NX'; expiration?: { type: 'PX'; value: number } },
  ): Promise<unknown>;
  getDel(key: string): Promise<string | null>;
  del(key: string): Promise<number>;
  mGet(keys: string[]): Promise<Array<string | null>>;
  scanIterator(options: { MATCH: string; COUNT: number }): AsyncIterable<string[]>;
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  /** The audit stream's pages (redis-log.ts). */
  xRange(
    key: string,
    start: string,
    end: string,
    options?: { COUNT?: number },
  ): Promise<Array<{ id: string; message: Record<string, string> }> | null>;
}

/** Pub/sub as the bus uses it (redis-bus.ts). */
export interface RedisPubSub {
  /** Returns how many subscribers heard it. */
  publish(channel: string, text: string): Promise<number>;
  subscribe(channel: string, listener: (text: string) => void): Promise<void>;
  unsubscribe(channel: string, listener: (text: string) => void): Promise<void>;
  close(): Promise<void>;
}

export interface RedisConnection {
  commands: RedisCommands;
  /** Whether one command may name keys of different slots (MGET): not on a Cluster. */
  crossSlot: boolean;
  pubsub: RedisPubSub;
  readonly isReady: boolean;
  ping(): Promise<unknown>;
  connect(): Promise<void>;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export interface SocketOptions {
  connectTimeout: number;
  reconnectStrategy: (retries: number) => number;
}

/** The connection for a target, not connected yet. */
export function redisConnection(target: RedisTarget, socket: SocketOptions): RedisConnection {
  if (target.kind === 'server') return serverConnection(target.url, socket);
  const auth = {
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
  };
  const nodeSocket = target.tls ? { ...socket, tls: true as const } : socket;
  if (target.kind === 'sentinel') {
    const sentinel = createSentinel({
      name: target.master!,
      sentinelRootNodes: target.nodes,
      nodeClientOptions: { ...auth, socket: nodeSocket, disableOfflineQueue: true },
      sentinelClientOptions: { socket },
    });
    // Reconnection is the client's own; errors between commands are reported by the commands.
    sentinel.on('error', () => undefined);
    return {
      commands: sentinel as unknown as RedisCommands,
      crossSlot: true,
      pubsub: {
        publish: (channel, text) => sentinel.publish(channel, text),
        subscribe: (channel, listener) => sentinel.subscribe(channel, listener),
        // Its type says any listener of either mode; ours is the string mode's.
        unsubscribe: (channel, listener) => sentinel.unsubscribe(channel, listener as never),
        close: async () => undefined,
      },
      get isReady() {
        return sentinel.isReady;
      },
      ping: () => sentinel.ping(),
      connect: async () => void (await sentinel.connect()),
      close: () => sentinel.close(),
      destroy: () => sentinel.destroy(),
    };
  }
  const cluster = createCluster({
    rootNodes: target.nodes.map((node) => ({ socket: node })),
    defaults: { ...auth, socket: nodeSocket, disableOfflineQueue: true },
  });
  cluster.on('error', () => undefined);
  return {
    commands: cluster as unknown as RedisCommands,
    crossSlot: false,
    pubsub: {
      publish: (channel, text) => cluster.sPublish(channel, text),
      subscribe: (channel, listener) => cluster.sSubscribe(channel, listener),
      unsubscribe: (channel, listener) => cluster.sUnsubscribe(channel, listener),
      close: async () => undefined,
    },
    get isReady() {
      return cluster.isReady;
    },
    ping: () => cluster.sendCommand(undefined, true, ['PING']),
    connect: async () => void (await cluster.connect()),
    close: () => cluster.close(),
    destroy: async () => cluster.destroy(),
  };
}

function serverConnection(url: string, socket: SocketOptions): RedisConnection {
  const client: RedisClientType = createClient({ url, socket, disableOfflineQueue: true });
  client.on('error', () => undefined);
  return {
    commands: client as unknown as RedisCommands,
    crossSlot: true,
    pubsub: serverPubSub(client),
    get isReady() {
      return client.isReady;
    },
    ping: () => client.ping(),
    connect: async () => void (await client.connect()),
    close: () => client.close(),
    destroy: async () => client.destroy(),
  };
}

/**
 * A subscribing connection can do nothing else, so a server's bus has one of its own (a duplicate
 * of the store's client), opened at the first subscription; node-redis subscribes it again after
 * a reconnect. (Sentinel and Cluster clients keep their subscribing connections themselves.)
 */
function serverPubSub(client: RedisClientType): RedisPubSub {
  let subscriber: Promise<RedisClientType> | undefined;
  const connection = () => {
    subscriber ??= (async () => {
      const duplicate = client.duplicate();
      duplicate.on('error', () => undefined);
      await duplicate.connect();
      return duplicate as RedisClientType;
    })();
    // A first connection that failed is tried again by the next subscription.
    subscriber.catch(() => (subscriber = undefined));
    return subscriber;
  };
  return {
    publish: (channel, text) => client.publish(channel, text),
    subscribe: async (channel, listener) => (await connection()).subscribe(channel, listener),
    unsubscribe: async (channel, listener) => {
      const open = await subscriber?.catch(() => undefined);
      if (open?.isOpen) await open.unsubscribe(channel, listener);
    },
    close: async () => {
      const open = await subscriber?.catch(() => undefined);
      await open?.close().catch(() => undefined);
    },
  };
}

/**
 * A Lua script by its SHA-1 (EVALSHA), sent whole (EVAL) where the node does not know it yet
 * (first use, a restart, SCRIPT FLUSH, a Cluster node that never ran it). EVAL, not SCRIPT LOAD:
 * on a Cluster it reaches the node of the keys, and caches the script there.
 */
export async function runScript(
  commands: RedisCommands,
  script: { text: string; sha: string },
  keys: string[],
  args: string[],
): Promise<unknown> {
  try {
    return await commands.evalSha(script.sha, { keys, arguments: args });
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
  }
  return commands.eval(script.text, { keys, arguments: args });
}
