/**
 * Redis beyond one server (state/redis-url.ts, state/redis-connection.ts), on Debian's
 * redis-server: the URL forms; a Cluster spreads records over its masters, lists them from every
 * master and counts limit windows exactly (their hash tag keeps the script's keys in one slot);
 * a master behind Sentinel is followed across a failover, with the bus's subscriptions.
 * The whole store contract runs on both in store-contract.test.ts.
 */

import { spawnSync } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeState, parseStateOption } from '../../src/state/open.js';
import { RedisState } from '../../src/state/redis.js';
import { parseRedisUrl } from '../../src/state/redis-url.js';
import { WINDOW_PREFIX } from '../../src/state/redis-windows.js';
import {
  startCluster,
  startSentinel,
  type ClusterSetup,
  type SentinelSetup,
} from '../helpers/redis-topologies.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Redis URL forms', () => {
  it('reads a server, a Sentinel master and a Cluster, with TLS and a password', () => {
    expect(parseRedisUrl('redis://10.0.0.5:6379/1')).toEqual({
      kind: 'server',
      url: 'redis://10.0.0.5:6379/1',
    });
    expect(parseRedisUrl('redis+sentinel://:pw@s1:26379,[::1]:26380/my%20master')).toEqual({
      kind: 'sentinel',
      nodes: [
        { host: 's1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      master: 'my master',
      password: 'pw',
      tls: false,
    });
    expect(parseRedisUrl('rediss+cluster://alice:pw@c1:7000,c2:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'c1', port: 7000 },
        { host: 'c2', port: 7001 },
      ],
      username: 'alice',
      password: 'pw',
      tls: true,
    });
  });

  it('refuses a Sentinel URL without its master, a Cluster URL with a path, a node without a port — never repeating the password', () => {
    for (const text of [
      'redis+sentinel://:hunter2@s1:26379',
      'redis+cluster://:hunter2@c1:7000/0',
      'redis+cluster://:hunter2@c1',
      'redis+sentinel://:hunter2@s1:99999/m',
    ]) {
      expect(() => parseStateOption(text)).toThrow(expect.objectContaining({ code: 'usage' }));
      try {
        parseStateOption(text);
      } catch (error) {
        expect(String(error)).not.toContain('hunter2');
      }
    }
    expect(parseStateOption(' redis+cluster://c1:7000,c2:7001 ')).toBe('redis+cluster://c1:7000,c2:7001');
  });

  it('describes them without user or password', () => {
    expect(describeState('rediss+sentinel://alice:hunter2@s1:26379,s2:26379/main', '/x')).toBe(
      'redis sentinel at rediss+sentinel://s1:26379,s2:26379/main',
    );
    expect(describeState('redis+cluster://:hunter2@c1:7000,c2:7001', '/x')).toBe(
      'redis cluster at redis+cluster://c1:7000,c2:7001',
    );
  });
});

describe('Redis Cluster', () => {
  let cluster: ClusterSetup;
  let store: RedisState;
  beforeAll(async () => {
    cluster = await startCluster();
    store = await RedisState.connect(cluster.url);
  }, 30_000);
  afterAll(async () => {
    await store?.close();
    await cluster?.close();
  });

  it('spreads records over every master, and lists them from all of them', async () => {
    const records = store.records<number>('cluster-spread');
    await Promise.all(Array.from({ length: 60 }, (_, i) => records.put(`k${i}`, i)));
    const counts = cluster.nodes.map((node) =>
      Number(spawnSync('redis-cli', ['-p', String(node.port), 'dbsize'], { encoding: 'utf8' }).stdout.trim()),
    );
    expect(counts.every((count) => count > 0)).toBe(true);
    expect(counts.reduce((a, b) => a + b)).toBe(60);
    const entries = await records.entries();
    expect(entries).toHaveLength(60);
    expect(Object.fromEntries(entries)).toMatchObject({ k0: 0, k59: 59 });
    expect(store.description).toMatch(
      /^redis cluster at redis\+cluster:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/,
    );
    expect(await store.reachable()).toBe(true);
  });

  it('counts limit windows exactly: every counter in the one slot of its hash tag', async () => {
    const windows = store.windows;
    const call = [
      { key: 'member-a:tool', limit: 5, ttlMs: 60_000 },
      { key: 'member-a:server', limit: 7, ttlMs: 60_000 },
    ];
    const results = await Promise.all(Array.from({ length: 12 }, () => windows.charge([call])));
    expect(results.flat().filter((result) => result.admitted)).toHaveLength(5);
    expect(await windows.read(['member-a:tool', 'member-a:server'])).toEqual([5, 5]);
    expect(WINDOW_PREFIX).toMatch(/\{[^}]+\}/);
  });
});

describe('Redis Sentinel', () => {
  let setup: SentinelSetup;
  let store: RedisState;
  beforeAll(async () => {
    setup = await startSentinel();
    store = await RedisState.connect(setup.url);
  }, 30_000);
  afterAll(async () => {
    await store?.close();
    await setup?.close();
  });

  it('follows the master across a failover: records and bus subscriptions go on', async () => {
    const records = store.records<string>('sentinel-failover');
    await records.put('before', 'kept');
    const heard: unknown[] = [];
    await store.bus.subscribe('sentinel-bus', (message) => heard.push(message));
    expect(await store.bus.publish('sentinel-bus', { n: 1 })).toBe(1);
    // Let the replica take the write before its master goes away.
    await sleep(200);
    await setup.master.kill();
    const deadline = Date.now() + 15_000;
    for (;;) {
      const written = await records.put('after', 'written').then(
        () => true,
        () => false,
      );
      if (written) break;
      if (Date.now() > deadline) throw new Error('no master within 15 s');
      await sleep(100);
    }
    expect(await records.get('after')).toBe('written');
    expect(await records.get('before')).toBe('kept');
    expect(await store.reachable()).toBe(true);
    for (;;) {
      if ((await store.bus.publish('sentinel-bus', { n: 2 }).catch(() => 0)) === 1) break;
      if (Date.now() > deadline) throw new Error('the subscription did not follow the master');
      await sleep(100);
    }
    for (; !heard.some((message) => (message as { n: number }).n === 2); await sleep(20))
      if (Date.now() > deadline) throw new Error('not heard after the failover');
  }, 30_000);
});
