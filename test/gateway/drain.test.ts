/** drain.ts: requests in flight counted, and the drain's bound. */

import { describe, expect, it } from 'vitest';

import { Drain } from '../../src/gateway/drain.js';

describe('Drain', () => {
  it('resolves at once with nothing in flight', async () => {
    const drain = new Drain();
    expect(drain.draining).toBe(false);
    expect(await drain.start(10_000)).toBe(true);
    expect(drain.draining).toBe(true);
  });

  it('waits for the requests in flight, each counted once', async () => {
    const drain = new Drain();
    const first = drain.enter();
    const second = drain.enter();
    expect(drain.inFlight).toBe(2);
    let settled: boolean | undefined;
    const done = drain.start(10_000).then((finished) => (settled = finished));
    first();
    first();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect([drain.inFlight, settled]).toEqual([1, undefined]);
    second();
    await done;
    expect([drain.inFlight, settled]).toEqual([0, true]);
  });

  it('gives up after its bound, saying some were cut short', async () => {
    const drain = new Drain();
    drain.enter();
    const started = Date.now();
    expect(await drain.start(50)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(drain.inFlight).toBe(1);
  });
});
