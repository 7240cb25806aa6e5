/**
 * The audit stream's shared log on a real redis-server: appends are idempotent per line id (a
 * line sent again after an unknown outcome is not recorded twice), the stream is bounded, reads
 * page in order; while Redis is down lines are spooled (0600) and sent in order once it is back,
 * each once, also when several handles (replicas on one machine) share the spool.
 */

import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisLog, lineId } from '../../src/state/redis-log.js';
import { RedisState } from '../../src/state/redis.js';
import type { LoggedLine } from '../../src/state/store.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let redis: RedisServer;
let directory: string;
const opened: RedisState[] = [];

beforeAll(async () => {
  redis = await startRedis();
  directory = await mkdtemp(join(tmpdir(), 'patchbay-log-'));
});
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await redis?.close();
  await rm(directory, { recursive: true, force: true });
});

async function open(options: { maxLogLines?: number } = {}): Promise<RedisState> {
  const store = await RedisState.connect(redis.url, { directory, ...options });
  opened.push(store);
  return store;
}

async function all(
  log: { read(options?: { sinceMs?: number }): AsyncIterable<LoggedLine> },
  sinceMs?: number,
) {
  const lines: LoggedLine[] = [];
  for await (const line of log.read(sinceMs === undefined ? {} : { sinceMs })) lines.push(line);
  return lines;
}

async function raw<T>(run: (client: RedisClientType) => Promise<T>): Promise<T> {
  const client = createClient({ url: redis.url }) as unknown as RedisClientType;
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.close();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the shared log on Redis', () => {
  it('appends a line once per id: sent again (an unknown outcome retried) it is skipped', async () => {
    await raw(async (client) => {
      const log = new RedisLog(client, 'patchbay:', 'log-idem');
      const line = { id: lineId(), line: '{"n":1}' };
      expect(await log.append([line])).toBe(1);
      expect(await log.append([line, { id: lineId(), line: '{"n":2}' }])).toBe(1);
      expect((await all(log)).map((each) => each.line)).toEqual(['{"n":1}', '{"n":2}']);
      expect(await client.exists('patchbay:{log-idem}:stream')).toBe(1);
    });
  });

  it('pages in order past one XRANGE page, from a time on, and stays near its bound', async () => {
    await raw(async (client) => {
      const log = new RedisLog(client, 'patchbay:', 'log-pages', 1000);
      const lines = Array.from({ length: 1500 }, (_, n) => ({ id: lineId(), line: String(n) }));
      for (let at = 0; at < lines.length; at += 300) await log.append(lines.slice(at, at + 300));
      const read = await all(log);
      // MAXLEN ~ 1000: Redis trims whole nodes, never below the bound; the newest are kept.
      expect(read.length).toBeGreaterThanOrEqual(1000);
      expect(read.length).toBeLessThan(1500);
      expect(read.at(-1)!.line).toBe('1499');
      expect(read.map((each) => Number(each.line))).toEqual(
        [...read.map((each) => Number(each.line))].sort((a, b) => a - b),
      );
      expect(await all(log, Date.now() + 60_000)).toEqual([]);
    });
  });

  it('writes one after another as a caller awaits each (a write as a batch ends is not left waiting)', async () => {
    const store = await open();
    const log = store.log('log-sequential');
    for (let n = 0; n < 50; n++) await log.write(String(n));
    expect((await all(log)).map((each) => each.line)).toEqual(
      Array.from({ length: 50 }, (_, n) => String(n)),
    );
  });

  it('spools while Redis is down (0600), sends in order once it is back, each line once', async () => {
    const store = await open();
    const other = await open();
    const log = store.log('audit-spool');
    const otherLog = other.log('audit-spool');
    await log.write('"before"');
    await redis.kill();
    // Calls go on while Redis is away: each write resolves (spooled), none rejects.
    for (let n = 0; n < 20; n++) await (n % 2 ? otherLog : log).write(JSON.stringify(n));
    const spool = join(directory, 'audit-spool-spool.jsonl');
    expect((await stat(spool)).mode & 0o777).toBe(0o600);
    await redis.restart();
    // Written once Redis is back: queued behind the spool, never ahead of it.
    const after = log.write('"after"');
    const deadline = Date.now() + 15_000;
    for (;;) {
      // The reading client reconnects on its own meanwhile.
      const lines = (await all(log).catch(() => [])).map((each) => each.line);
      if (lines.includes('"after"') && lines.length >= 21) {
        // Redis restarted empty (no persistence): what it holds came from the spool, then after.
        expect(lines).toEqual([...Array.from({ length: 20 }, (_, n) => JSON.stringify(n)), '"after"']);
        break;
      }
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(100);
    }
    await after;
    await expect(stat(spool)).rejects.toThrow();
  }, 30_000);

  it('a spool left by a killed process is sent before the next line, and lines already stored are skipped', async () => {
    const store = await open();
    const log = store.log('audit-left');
    const landed = { id: lineId(), line: '"landed"' };
    await raw((client) => new RedisLog(client, 'patchbay:', 'audit-left').append([landed]));
    // As a process killed mid-flush leaves it: one line that did land, one that did not.
    await writeFile(
      join(directory, 'audit-left-spool.jsonl'),
      `${JSON.stringify(landed)}\n${JSON.stringify({ id: lineId(), line: '"lost"' })}\n{"id":"cut sh`,
      { mode: 0o600 },
    );
    await log.write('"next"');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const lines = (await all(log)).map((each) => each.line);
      if (lines.includes('"next"')) {
        expect(lines).toEqual(['"landed"', '"lost"', '"next"']);
        break;
      }
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(50);
    }
  }, 20_000);
});
