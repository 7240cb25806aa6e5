/**
 * The request/response layer over the message bus (state/bus-rpc.ts), one contract on both
 * backends: files (one process, the in-memory bus) and a real redis-server on loopback, where two
 * RedisState handles are two replicas.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BusRpc, BusRpcError } from '../../src/state/bus-rpc.js';
import { FileState } from '../../src/state/files.js';
import { RedisState } from '../../src/state/redis.js';
import type { StateStore } from '../../src/state/store.js';
import { hasRedis, startRedis, type RedisServer } from '../helpers/redis.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Backend {
  name: string;
  /** Two replicas: on files, both ends are the one process (its one store), as in production. */
  pair(): Promise<[StateStore, StateStore]>;
}

let redis: RedisServer | undefined;
let directory: string;
const opened: StateStore[] = [];
const rpcs: BusRpc[] = [];

beforeAll(async () => {
  if (hasRedis()) redis = await startRedis();
  directory = await mkdtemp(join(tmpdir(), 'patchbay-rpc-'));
});
afterAll(async () => {
  await Promise.all(rpcs.map((rpc) => rpc.close()));
  await Promise.all(opened.map((store) => store.close()));
  await redis?.close();
  await rm(directory, { recursive: true, force: true });
});

const backends: Backend[] = [
  {
    name: 'files',
    pair: async () => {
      const store = track(new FileState(directory));
      return [store, store];
    },
  },
  // Two handles on one Redis: two replicas. Skipped only where redis-server is missing (CI has it).
  ...(hasRedis()
    ? [
        {
          name: 'redis',
          pair: async (): Promise<[StateStore, StateStore]> => [
            track(await RedisState.connect(redis!.url)),
            track(await RedisState.connect(redis!.url)),
          ],
        },
      ]
    : []),
];

function track(store: StateStore): StateStore {
  opened.push(store);
  return store;
}

function rpc(store: StateStore, service = 'contract'): BusRpc {
  const made = new BusRpc(store.bus, service);
  rpcs.push(made);
  return made;
}

describe.each(backends)('bus rpc contract: $name', (backend) => {
  it('asks another replica and gets its reply; a failing handler rejects with its message', async () => {
    const [one, two] = await backend.pair();
    const asker = rpc(one);
    const server = rpc(two);
    await server.serve(async (message, { from }) => {
      const { n } = message as { n: number };
      if (n < 0) throw new Error('negative numbers are refused');
      return { doubled: n * 2, from };
    });
    expect(await asker.ask(server.replica, { n: 21 }, { timeoutMs: 2_000 })).toEqual({
      doubled: 42,
      from: asker.replica,
    });
    // Many at once: each reply reaches the request it answers.
    const many = await Promise.all(
      Array.from({ length: 20 }, (_, n) => asker.ask(server.replica, { n }, { timeoutMs: 2_000 })),
    );
    expect(many.map((reply) => (reply as { doubled: number }).doubled)).toEqual(
      Array.from({ length: 20 }, (_, n) => n * 2),
    );
    await expect(asker.ask(server.replica, { n: -1 }, { timeoutMs: 2_000 })).rejects.toThrow(
      'negative numbers are refused',
    );
  });

  it('says at once that a replica nobody hears is gone', async () => {
    const [one] = await backend.pair();
    const asker = rpc(one);
    const started = Date.now();
    const error = await asker
      .ask('no-such-replica', { n: 1 }, { timeoutMs: 10_000 })
      .catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(BusRpcError);
    expect((error as BusRpcError).reason).toBe('gone');
    expect((error as BusRpcError).message).toContain('is gone');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('waits for a slow handler that says it is still at it, and times out on one that went silent', async () => {
    const [one, two] = await backend.pair();
    const server = rpc(two, 'slow');
    await server.serve(async () => {
      await sleep(400);
      return 'done';
    });
    const client = rpc(one, 'slow');
    expect(await client.ask(server.replica, {}, { timeoutMs: 150 })).toBe('done');
    // Heard (the replica listens on its channel) but never answered, as by a replica killed mid-request.
    const quiet = rpc(one, 'nobody-serves-this');
    const error = await quiet
      .ask(two.bus.replica, {}, { timeoutMs: 150 })
      .catch((failure: unknown) => failure);
    expect((error as BusRpcError).reason).toBe('timeout');
    // Cleaned on timeout: nothing left waiting.
    expect((quiet as unknown as { pending: Map<string, unknown> }).pending.size).toBe(0);
  });

  it("passes the asker's cancellation to the handler, and fails pending asks on close", async () => {
    const [one, two] = await backend.pair();
    const asker = rpc(one, 'cancel');
    const server = rpc(two, 'cancel');
    let cancelled: () => void = () => undefined;
    const handlerCancelled = new Promise<void>((resolve) => (cancelled = resolve));
    await server.serve(
      (_message, { signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            cancelled();
            reject(new Error('cancelled'));
          });
        }),
    );
    const aborter = new AbortController();
    const asked = asker.ask(server.replica, {}, { timeoutMs: 5_000, signal: aborter.signal });
    await sleep(50);
    aborter.abort();
    expect(((await asked.catch((error: unknown) => error)) as BusRpcError).reason).toBe('cancelled');
    await handlerCancelled;

    const closing = rpc(one, 'cancel');
    const waiting = closing.ask(server.replica, {}, { timeoutMs: 5_000 }).catch((error: unknown) => error);
    await sleep(50);
    await closing.close();
    expect(((await waiting) as BusRpcError).reason).toBe('closed');
    expect((closing as unknown as { pending: Map<string, unknown> }).pending.size).toBe(0);
  });

  it('keeps services apart on one replica channel', async () => {
    const [one, two] = await backend.pair();
    const a = rpc(two, 'service-a');
    const b = rpc(two, 'service-b');
    await a.serve(async () => 'from a');
    await b.serve(async () => 'from b');
    expect(await rpc(one, 'service-b').ask(two.bus.replica, {}, { timeoutMs: 2_000 })).toBe('from b');
    expect(await rpc(one, 'service-a').ask(two.bus.replica, {}, { timeoutMs: 2_000 })).toBe('from a');
  });
});
