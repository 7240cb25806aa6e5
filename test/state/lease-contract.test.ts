/**
 * The lease contract on both backends of the state store (files, a real redis-server on loopback):
 * what the member vault's refresh single flight across replicas relies on.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FileState } from '../../src/state/files.js';
import { withLease } from '../../src/state/leases.js';
import { RedisState } from '../../src/state/redis.js';
import type { StateStore } from '../../src/state/store.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let redis: RedisServer;
let directory: string;
const opened: StateStore[] = [];

beforeAll(async () => {
  redis = await startRedis();
  directory = await mkdtemp(join(tmpdir(), 'patchbay-leases-'));
});
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await redis?.close();
  await rm(directory, { recursive: true, force: true });
});

/** A second call opens another handle on the same state, as another process (replica) has. */
const backends = [
  { name: 'files', open: async (): Promise<StateStore> => track(new FileState(directory)) },
  { name: 'redis', open: async (): Promise<StateStore> => track(await RedisState.connect(redis.url)) },
];

function track(store: StateStore): StateStore {
  opened.push(store);
  return store;
}

describe.each(backends)('lease contract: $name', (backend) => {
  it('one holder across two handles; the other takes it after the release', async () => {
    const [one, two] = [await backend.open(), await backend.open()];
    const held = await one.leases.acquire('exclusive', 5_000);
    expect(held).toBeDefined();
    expect(await two.leases.acquire('exclusive', 5_000)).toBeUndefined();
    expect(await one.leases.acquire('exclusive', 5_000)).toBeUndefined();
    // Another name is another lock.
    expect(await two.leases.acquire('exclusive-other', 5_000)).toBeDefined();
    expect(await one.leases.release(held!)).toBe(true);
    expect(await one.leases.release(held!)).toBe(false);
    const next = await two.leases.acquire('exclusive', 5_000);
    expect(next).toBeDefined();
    expect(next!.token).not.toBe(held!.token);
    await two.leases.release(next!);
  });

  it('withLease: concurrent holders on two handles never overlap, and none is lost', async () => {
    const handles = [await backend.open(), await backend.open()];
    let inside = 0;
    let most = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        withLease(handles[i % 2]!, 'serial', { leaseMs: 5_000, waitMs: 20_000 }, async () => {
          inside++;
          most = Math.max(most, inside);
          await sleep(20);
          inside--;
          done++;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(done).toBe(8);
  });

  it('a holder that vanishes loses its lease when the lease is up; a waiter then takes it', async () => {
    const [gone, waiter] = [await backend.open(), await backend.open()];
    // Taken and never released nor renewed: a replica killed while it held the lock.
    expect(await gone.leases.acquire('crashed', 1_000)).toBeDefined();
    expect(await waiter.leases.acquire('crashed', 1_000)).toBeUndefined();
    // Taken over once the lease is up (1 s), well within the wait.
    const ran = await withLease(waiter, 'crashed', { leaseMs: 5_000, waitMs: 10_000 }, async () => 'ran');
    expect(ran).toBe('ran');
  });

  it('a waiter gives up after waitMs with lock-timeout while a live holder keeps renewing', async () => {
    const [holder, waiter] = [await backend.open(), await backend.open()];
    // A lease of 1 s (renewed every third of it) and a wait of 2.5 s: only renewal keeps it held.
    const lease = { leaseMs: 1_000, waitMs: 2_500 };
    let release!: () => void;
    const holding = withLease(holder, 'renewed', lease, () => new Promise<void>((r) => (release = r)));
    await sleep(50);
    await expect(withLease(waiter, 'renewed', lease, async () => 'second')).rejects.toMatchObject({
      code: 'lock-timeout',
    });
    release();
    await holding;
    expect(await withLease(waiter, 'renewed', lease, async () => 'after')).toBe('after');
  });

  it('refuses to release or renew by a token that does not hold the lease', async () => {
    const [one, two] = [await backend.open(), await backend.open()];
    const held = await one.leases.acquire('tokens', 5_000);
    expect(held).toBeDefined();
    const forged = { name: 'tokens', token: 'not-the-holder' };
    expect(await two.leases.release(forged)).toBe(false);
    expect(await two.leases.renew(forged, 60_000)).toBe(false);
    expect(await two.leases.acquire('tokens', 5_000)).toBeUndefined();
    // The holder's own token renews and releases.
    expect(await one.leases.renew(held!, 5_000)).toBe(true);
    expect(await one.leases.release(held!)).toBe(true);
  });

  it('a lapsed holder cannot release or renew the lease another has taken since', async () => {
    const [late, next] = [await backend.open(), await backend.open()];
    const lapsed = await late.leases.acquire('lapsed', 100);
    await sleep(250);
    const taken = await next.leases.acquire('lapsed', 5_000);
    expect(taken).toBeDefined();
    expect(await late.leases.renew(lapsed!, 5_000)).toBe(false);
    expect(await late.leases.release(lapsed!)).toBe(false);
    expect(await late.leases.acquire('lapsed', 5_000)).toBeUndefined();
    await next.leases.release(taken!);
  });
});

describe('leases on redis, with Redis away', () => {
  it('refuse the work (nothing done) with a reason that says the shared state is unreachable', async () => {
    const own = await startRedis();
    const store = await RedisState.connect(own.url);
    try {
      await own.kill();
      let ran = false;
      const refused = withLease(
        store,
        'vault tokens alice crm',
        { leaseMs: 5_000, waitMs: 1_000 },
        async () => {
          ran = true;
        },
      );
      await expect(refused).rejects.toMatchObject({ code: 'connect-failed' });
      await expect(refused).rejects.toThrow(/shared state could not be reached to take the lock vault \(/);
      expect(ran).toBe(false);
    } finally {
      await store.close();
      await own.close();
    }
  });
});
