/**
 * Limit windows in Redis (policy/limits.ts storeLimitCounter over state/redis-windows.ts),
 * against a real redis-server on loopback: exact across replicas under concurrency, worded as
 * the usage file words it, and failing closed (with recovery) when Redis goes away.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { storeLimitCounter, type LimitCounter, type LimitRule } from '../../src/policy/limits.js';
import { RedisState } from '../../src/state/redis.js';
import { WINDOW_PREFIX } from '../../src/state/redis-windows.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let redis: RedisServer;
const stores: RedisState[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await redis?.close();
});

/** A replica: its own connection, its own counter. */
async function replica(): Promise<{ store: RedisState; counter: LimitCounter }> {
  const store = await RedisState.connect(redis.url);
  stores.push(store);
  return { store, counter: storeLimitCounter(store.windows, store.description) };
}

const rule = (key: string, count: number, unit: 'minute' | 'hour' | 'day' = 'hour'): LimitRule => ({
  key,
  limit: { count, unit },
  label: `ev ${key}`,
  server: 'ev',
  tool: key,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('limit windows in Redis', () => {
  it('32 concurrent callers on 3 replicas against 100 per window: exactly 100 admitted', async () => {
    const replicas = await Promise.all([replica(), replica(), replica()]);
    const limit = rule('concurrent', 100);
    const now = new Date();
    let admitted = 0;
    let refused = 0;
    await Promise.all(
      Array.from({ length: 32 }, async (_, caller) => {
        const { counter } = replicas[caller % 3]!;
        for (let call = 0; call < 8; call++) {
          const [decision] = await counter.consume([{ rules: [limit], now }]);
          if (decision!.ok) admitted++;
          else refused++;
        }
      }),
    );
    expect(admitted).toBe(100);
    expect(refused).toBe(32 * 8 - 100);
    const [usage] = await replicas[0]!.counter.usage([limit], now);
    expect(usage!.used).toBe(100);
    expect(usage!.remaining).toBe(0);
  });

  it('checks every window of a call before counting any, and words a refusal as the usage file does', async () => {
    const { counter } = await replica();
    const now = new Date('2026-11-21T10:15:30Z');
    const narrow = rule('both-narrow', 2, 'minute');
    const wide = rule('both-wide', 5, 'day');
    const decisions = await counter.consume(
      Array.from({ length: 4 }, () => ({ rules: [narrow, wide], now })),
    );
    expect(decisions.map((decision) => decision.ok)).toEqual([true, true, false, false]);
    const refusal = decisions[2]!;
    expect(refusal.ok).toBe(false);
    expect(refusal).toMatchObject({
      rule: narrow,
      used: 2,
      message:
        'Usage limit reached for ev both-narrow: 2/minute (2 used); the window reopens at 2026-11-21T10:16:00Z (in 30 s).',
      hint: 'Wait until then, or raise the limit: patchbay limit ev both-narrow <N>/minute',
    });
    // The refused calls counted nothing, in neither window.
    const usage = await counter.usage([narrow, wide], now);
    expect(usage.map((each) => each.used)).toEqual([2, 2]);
    // The next minute's window is a new counter; the day's goes on.
    const later = new Date('2026-11-21T10:16:01Z');
    expect((await counter.consume([{ rules: [narrow, wide], now: later }]))[0]!.ok).toBe(true);
    expect((await counter.usage([narrow, wide], later)).map((each) => each.used)).toEqual([1, 3]);
  });

  it('lets a counter live as long as its window (PEXPIRE), and reloads its script after SCRIPT FLUSH', async () => {
    const { store, counter } = await replica();
    const now = new Date();
    expect((await counter.consume([{ rules: [rule('expiry', 3, 'minute')], now }]))[0]!.ok).toBe(true);
    const { createClient } = await import('redis');
    const raw = createClient({ url: redis.url });
    await raw.connect();
    try {
      const keys = await raw.keys(`${WINDOW_PREFIX}minute:*:expiry`);
      expect(keys).toHaveLength(1);
      const ttl = await raw.pTTL(keys[0]!);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(120_000);
      await raw.scriptFlush();
    } finally {
      await raw.close();
    }
    expect((await counter.consume([{ rules: [rule('expiry', 3, 'minute')], now }]))[0]!.ok).toBe(true);
    expect((await counter.usage([rule('expiry', 3, 'minute')], now))[0]!.used).toBe(2);
    expect(await store.reachable()).toBe(true);
  });

  it('Redis stopped under load: refusals that say so, nothing admitted while down, recovery after restart', async () => {
    const replicas = await Promise.all([replica(), replica(), replica()]);
    const limit = rule('outage', 100, 'day');
    const now = new Date();
    let phase: 'before' | 'down' | 'after' = 'before';
    const admitted = { before: 0, down: 0, after: 0 };
    // A decision counts in the phase it began and ended in; one that straddles a change is not
    // attributed to "down" (it may have been decided by Redis just before the kill or after the restart).
    const unavailable: string[] = [];
    let running = true;
    const callers = Array.from({ length: 12 }, async (_, caller) => {
      const { counter } = replicas[caller % 3]!;
      while (running) {
        const at = phase;
        const [decision] = await counter.consume([{ rules: [limit], now }]);
        if (decision!.ok) {
          if (at === 'down' && phase === 'down') admitted.down++;
          else if (at === 'before' && phase === 'before') admitted.before++;
          else if (phase === 'after') admitted.after++;
        } else if ('unavailable' in decision!) unavailable.push(`${decision.message} ${decision.hint}`);
        await sleep(5);
      }
    });
    await sleep(150);
    await redis.kill();
    phase = 'down';
    await sleep(400);
    expect(await replicas[0]!.store.reachable()).toBe(false);
    phase = 'after';
    await redis.restart();
    // The clients reconnect on their own (bounded back-off).
    const deadline = Date.now() + 10_000;
    while (!(await replicas[0]!.store.reachable()) && Date.now() < deadline) await sleep(50);
    await sleep(600);
    running = false;
    await Promise.all(callers);
    expect(admitted.before).toBeGreaterThan(0);
    expect(admitted.before).toBeLessThanOrEqual(100);
    expect(admitted.down).toBe(0);
    expect(unavailable.length).toBeGreaterThan(0);
    expect(unavailable[0]).toMatch(
      /could not be reached \(redis at redis:\/\/127\.0\.0\.1:\d+: .+\); it is refused/,
    );
    expect(unavailable[0]).toMatch(/Check that Redis runs/);
    // This Redis keeps nothing across a restart: the window starts again, and every call admitted
    // after it is in its count, never more than the limit.
    expect(admitted.after).toBeGreaterThan(0);
    const [usage] = await replicas[1]!.counter.usage([limit], now);
    expect(usage!.used).toBeGreaterThanOrEqual(admitted.after);
    expect(usage!.used).toBeLessThanOrEqual(100);
  }, 30_000);
});
