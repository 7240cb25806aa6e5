/**
 * The per-call cost of a limit decision at 1 in flight: the usage file (the default: lock file,
 * read, atomic write) against Redis (one EVALSHA of the window script), in the same run,
 * through the code the gateway uses (policy/limits.ts: fileLimitCounter, storeLimitCounter over
 * state/redis.ts). A PING to the same Redis is the floor of a round trip.
 *
 *     npm run build && node bench/limit-store.mjs [decisions=2000]
 *
 * Starts Debian's redis-server on a free loopback port (no persistence) and stops it after.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { startRedis } from './replica-parts.mjs';

const repo = new URL('..', import.meta.url);
const { fileLimitCounter, storeLimitCounter } = await import(new URL('dist/policy/limits.js', repo).href);
const { RedisState } = await import(new URL('dist/state/redis.js', repo).href);

const decisions = Number(process.argv[2] ?? 2000);
const warmup = Math.min(200, decisions / 10);

const redis = await startRedis();

const directory = await mkdtemp(join(tmpdir(), 'patchbay-bench-limits-'));
const state = await RedisState.connect(redis.url);
try {
  const rule = { key: 'bench:echo', limit: { count: 1_000_000_000, unit: 'day' }, label: 'bench echo' };
  const file = fileLimitCounter({ paths: { usage: join(directory, 'usage.json') } });
  const held = fileLimitCounter({ paths: { usage: join(directory, 'held-usage.json') }, holdLock: true });
  const store = storeLimitCounter(state.windows, state.description);
  const rows = [
    ['redis PING (round-trip floor)', () => state.reachable()],
    ['usage file (default)', () => file.consume([{ rules: [rule] }])],
    ['usage file, lock kept (a gateway)', () => held.consume([{ rules: [rule] }])],
    ['redis window script', () => store.consume([{ rules: [rule] }])],
  ];
  console.log(
    `limit decision, 1 in flight, ${decisions} each (after ${warmup} warm-up); load ${loadavg()[0].toFixed(2)}`,
  );
  const medians = {};
  for (const [name, decide] of rows) {
    for (let i = 0; i < warmup; i++) await decide();
    const times = [];
    const cpu = process.cpuUsage();
    for (let i = 0; i < decisions; i++) {
      const start = performance.now();
      const [result] = [].concat(await decide());
      if (result && result.ok === false) throw new Error(`${name}: refused: ${result.message}`);
      times.push(performance.now() - start);
    }
    const used = process.cpuUsage(cpu);
    times.sort((a, b) => a - b);
    const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
    medians[name] = at(0.5);
    console.log(
      `${name.padEnd(30)} p50 ${at(0.5).toFixed(3)} ms  p90 ${at(0.9).toFixed(3)} ms  p99 ${at(0.99).toFixed(3)} ms  ` +
        `client CPU ${((used.user + used.system) / 1000 / decisions).toFixed(3)} ms/decision`,
    );
  }
  // Every decision was made in Redis: its window holds them all.
  const [counted] = await store.usage([rule]);
  console.log(`redis window count after the run: ${counted.used} (expected ${warmup + decisions})`);
  const delta = medians['redis window script'] - medians['usage file (default)'];
  console.log(
    `redis minus usage file, p50: ${delta >= 0 ? '+' : ''}${delta.toFixed(3)} ms (issue #20 target: at most +0.3 ms)`,
  );
} finally {
  await state.close();
  await redis.stop();
  await rm(directory, { recursive: true, force: true });
}
