/**
 * One contract, both backends of the state store: what the gateway's jobs rely on, checked
 * against the file backend and against real redis-servers on loopback — one server, a master
 * behind Sentinel, and a 3-master Cluster.
 */

import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FileState } from '../../src/state/files.js';
import { RedisState } from '../../src/state/redis.js';
import type { StateStore } from '../../src/state/store.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import {
  startCluster,
  startSentinel,
  type ClusterSetup,
  type SentinelSetup,
} from '../helpers/redis-topologies.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Backend {
  name: string;
  /** A fresh store (a second call: another handle on the same state, as another process has). */
  open(): Promise<StateStore>;
}

let redis: RedisServer;
let sentinel: SentinelSetup;
let cluster: ClusterSetup;
let directory: string;
const opened: StateStore[] = [];

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'patchbay-state-'));
  [redis, sentinel, cluster] = await Promise.all([startRedis(), startSentinel(), startCluster()]);
});
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await Promise.all([redis?.close(), sentinel?.close(), cluster?.close()]);
  await rm(directory, { recursive: true, force: true });
});

const backends: Backend[] = [
  { name: 'files', open: async () => track(new FileState(directory)) },
  { name: 'redis', open: async () => track(await RedisState.connect(redis.url)) },
  { name: 'redis sentinel', open: async () => track(await RedisState.connect(sentinel.url)) },
  { name: 'redis cluster', open: async () => track(await RedisState.connect(cluster.url)) },
];

function track(store: StateStore): StateStore {
  opened.push(store);
  return store;
}

describe.each(backends)('state store contract: $name', (backend) => {
  it('keeps, lists and deletes records, each namespace apart', async () => {
    const store = await backend.open();
    const keys = store.records<{ n: number }>('contract-basic');
    const other = store.records<{ n: number }>('contract-other');
    await keys.put('a', { n: 1 });
    await keys.put('b:with:colons', { n: 2 });
    await other.put('a', { n: 9 });
    expect(await keys.get('a')).toEqual({ n: 1 });
    expect(await keys.get('missing')).toBeUndefined();
    expect(Object.fromEntries(await keys.entries())).toEqual({ a: { n: 1 }, 'b:with:colons': { n: 2 } });
    expect(await keys.delete('a')).toBe(true);
    expect(await keys.delete('a')).toBe(false);
    expect(await other.get('a')).toEqual({ n: 9 });
  });

  it('forgets a record when its time is up, in get and in entries', async () => {
    const store = await backend.open();
    const records = store.records<string>('contract-ttl');
    await records.put('short', 'x', { ttlMs: 80 });
    await records.put('long', 'y', { ttlMs: 60_000 });
    expect(await records.get('short')).toBe('x');
    await sleep(200);
    expect(await records.get('short')).toBeUndefined();
    expect(await records.entries()).toEqual([['long', 'y']]);
  });

  it('take: of many takers at once (two handles), exactly one gets the value', async () => {
    const [one, two] = [await backend.open(), await backend.open()];
    await one.records<string>('contract-take').put('state', 'secret-state');
    const takes = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        (i % 2 ? one : two).records<string>('contract-take').take('state'),
      ),
    );
    expect(takes.filter((value) => value === 'secret-state')).toHaveLength(1);
    expect(await one.records<string>('contract-take').get('state')).toBeUndefined();
  });

  it('update: concurrent changes from two handles lose nothing', async () => {
    const [one, two] = [await backend.open(), await backend.open()];
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        (i % 2 ? one : two).records<number>('contract-update').update('count', (n) => (n ?? 0) + 1),
      ),
    );
    expect(await one.records<number>('contract-update').get('count')).toBe(24);
    // Returning undefined deletes.
    expect(await one.records<number>('contract-update').update('count', () => undefined)).toBeUndefined();
    expect(await two.records<number>('contract-update').get('count')).toBeUndefined();
  });

  it('update: reads the lifetime after the change (a caller keeps the lifetime it saw)', async () => {
    const store = await backend.open();
    const records = store.records<{ until: number }>('contract-update-ttl');
    await records.put('r', { until: Date.now() + 150 });
    let until: number | undefined;
    const lifetime = {
      get ttlMs() {
        return until === undefined ? undefined : Math.max(1, until - Date.now());
      },
    };
    await records.update(
      'r',
      (current) => ((until = current?.until), current && { until: current.until }),
      lifetime,
    );
    expect(await records.get('r')).toBeDefined();
    await sleep(300);
    expect(await records.get('r')).toBeUndefined();
  });
});

describe.each(backends)('message bus contract: $name', (backend) => {
  it('delivers a copy to each current subscriber, says whether a replica heard it, and stops on unsubscribe', async () => {
    const store = await backend.open();
    const heard: unknown[] = [];
    const sent = { n: 1, nested: { list: [1, 2] } };
    const stopOne = await store.bus.subscribe('contract-bus', (message) => heard.push(['one', message]));
    const stopTwo = await store.bus.subscribe('contract-bus', (message) => heard.push(['two', message]));
    await store.bus.subscribe('contract-elsewhere', (message) => heard.push(['elsewhere', message]));
    // One replica holds both subscriptions: it counts once.
    expect(await store.bus.publish('contract-bus', sent)).toBe(1);
    await until(() => heard.length === 2);
    expect(heard).toEqual(
      expect.arrayContaining([
        ['one', sent],
        ['two', sent],
      ]),
    );
    expect((heard[0] as unknown[])[1]).not.toBe(sent);
    await stopOne();
    expect(await store.bus.publish('contract-bus', { n: 2 })).toBe(1);
    await until(() => heard.length === 3);
    expect(heard[2]).toEqual(['two', { n: 2 }]);
    await stopTwo();
    expect(await store.bus.publish('contract-bus', { n: 3 })).toBe(0);
    await sleep(50);
    expect(heard).toHaveLength(3);
  });
});

async function until(what: () => boolean, withinMs = 5_000): Promise<void> {
  for (const deadline = Date.now() + withinMs; !what(); await sleep(10))
    if (Date.now() > deadline) throw new Error('not within the time');
}

describe('file backend specifics', () => {
  it('keeps a secret namespace 0600 and refuses to rewrite a file that does not parse', async () => {
    const store = new FileState(directory);
    await store.records<string>('contract-secret', { secret: true }).put('k', 'v');
    expect((await stat(join(directory, 'contract-secret.json'))).mode & 0o777).toBe(0o600);
    const broken = join(directory, 'contract-broken.json');
    await writeFile(broken, '{ not json');
    const records = store.records<string>('contract-broken');
    await expect(records.put('k', 'v')).rejects.toThrow(/does not parse/);
    expect(await readFile(broken, 'utf8')).toBe('{ not json');
  });
});

describe('redis backend specifics', () => {
  it('says which Redis it could not reach, within its bound', async () => {
    const started = Date.now();
    await expect(RedisState.connect('redis://127.0.0.1:1')).rejects.toThrow(
      /Could not reach Redis at 127\.0\.0\.1:1/,
    );
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('carries bus messages between two handles (two replicas), and subscribes again after Redis restarts', async () => {
    const own = await startRedis();
    const [one, two] = [await RedisState.connect(own.url), await RedisState.connect(own.url)];
    try {
      expect(one.bus.replica).not.toBe(two.bus.replica);
      const heard: unknown[] = [];
      await two.bus.subscribe('contract-replicas', (message) => heard.push(message));
      expect(await one.bus.publish('contract-replicas', { from: 'one' })).toBe(1);
      await until(() => heard.length === 1);
      await own.kill();
      await expect(one.bus.publish('contract-replicas', { lost: true })).rejects.toThrow();
      await own.restart();
      // Both handles reconnect on their own; the subscription comes back with them.
      for (const deadline = Date.now() + 10_000; ; await sleep(100)) {
        const count = await one.bus.publish('contract-replicas', { after: 'restart' }).catch(() => 0);
        if (count === 1) break;
        if (Date.now() > deadline) throw new Error('the subscription did not come back');
      }
      await until(() => heard.length >= 2);
      expect(heard.at(-1)).toEqual({ after: 'restart' });
      expect(heard).not.toContainEqual({ lost: true });
    } finally {
      await Promise.all([one.close(), two.close()]);
      await own.close();
    }
  });

  it('refuses a URL that is not Redis', async () => {
    await expect(RedisState.connect('http://127.0.0.1:6379')).rejects.toThrow(/Not a Redis URL/);
  });
});
