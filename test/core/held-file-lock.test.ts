/**
 * core/file-store.ts HeldFileLock: the usage file's lock kept by a gateway across a burst of
 * calls, given back when idle or after its bound, and when the work fails; meanwhile another
 * taker (withFileLock, as another process's call) waits for it and then gets it.
 */

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { HeldFileLock, withFileLock } from '../../src/core/file-store.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let directory: string;
let file: string;
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'patchbay-held-lock-'));
  file = join(directory, 'usage.json');
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('HeldFileLock', () => {
  it('keeps the lock between runs close together, and gives it back once idle', async () => {
    const lock = new HeldFileLock(file, { timeoutMs: 5_000, idleMs: 40, maxHoldMs: 10_000 });
    const kept: boolean[] = [];
    for (let i = 0; i < 3; i++) await lock.run(async (was) => kept.push(was));
    expect(kept).toEqual([false, true, true]);
    expect(existsSync(`${file}.lock`)).toBe(true);
    await sleep(150);
    expect(existsSync(`${file}.lock`)).toBe(false);
    await lock.run(async (was) => kept.push(was));
    expect(kept.at(-1)).toBe(false);
    await lock.giveBack();
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('makes another taker wait while it is kept, and lets it in after its bound though runs go on', async () => {
    const lock = new HeldFileLock(file, { timeoutMs: 5_000, idleMs: 10_000, maxHoldMs: 100 });
    await lock.run(async () => undefined);
    const started = Date.now();
    let otherIn = 0;
    const other = withFileLock(file, 5_000, async () => (otherIn = Date.now()));
    // Runs every 20 ms, on and on, as a busy gateway's: the other still gets its turn.
    const kept: boolean[] = [];
    while (otherIn === 0 && Date.now() - started < 3_000) {
      await lock.run(async (was) => kept.push(was));
      await sleep(20);
    }
    await other;
    expect(kept[0]).toBe(true);
    expect(otherIn - started).toBeGreaterThanOrEqual(90);
    expect(otherIn - started).toBeLessThan(1_500);
    await lock.giveBack();
  });

  it('keeps the lock past its bound while nobody waits for it', async () => {
    const lock = new HeldFileLock(file, { timeoutMs: 5_000, idleMs: 10_000, maxHoldMs: 60 });
    const kept: boolean[] = [];
    const started = Date.now();
    while (Date.now() - started < 400) {
      await lock.run(async (was) => kept.push(was));
      await sleep(20);
    }
    // Taken once, then kept through several bounds: no run took it afresh.
    expect(kept.length).toBeGreaterThan(5);
    expect(kept.slice(1).every(Boolean)).toBe(true);
    await lock.giveBack();
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('gives the lock back when the work fails, and reads afresh after', async () => {
    const lock = new HeldFileLock(file, { timeoutMs: 5_000, idleMs: 10_000, maxHoldMs: 10_000 });
    await lock.run(async () => undefined);
    await expect(
      lock.run(async () => {
        throw new Error('write failed');
      }),
    ).rejects.toThrow('write failed');
    expect(existsSync(`${file}.lock`)).toBe(false);
    expect(await lock.run(async (was) => was)).toBe(false);
    await lock.giveBack();
  });
});
