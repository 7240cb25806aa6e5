import { describe, expect, it } from 'vitest';

import { Deadline, DeadlineExceeded, isDeadline } from '../../src/core/deadline.js';

describe('Deadline', () => {
  it('aborts with a timeout when the budget runs out, and says so', async () => {
    const deadline = new Deadline(20);
    const error = await deadline.race(new Promise(() => undefined)).catch((e: unknown) => e);
    expect(isDeadline(error)).toBe(true);
    expect(deadline.reached(error)).toBe('timeout');
    expect((error as DeadlineExceeded).message).toBe('no answer within 20 ms');
    expect(deadline.expired()).toBe(true);
    deadline.dispose();
  });

  it("aborts with kind 'aborted' when the caller cancels, before or during", () => {
    const caller = new AbortController();
    const during = new Deadline(10_000, { signal: caller.signal });
    caller.abort();
    expect(during.reached(undefined)).toBe('aborted');
    const before = new Deadline(10_000, { signal: caller.signal });
    expect(before.reached(new Error('other'))).toBe('aborted');
    during.dispose();
    before.dispose();
  });

  it('keeps at least 1 ms remaining, and uses the caller’s timeout message', async () => {
    const deadline = new Deadline(1, { timeoutMessage: 'the connect timeout passed' });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(deadline.remainingMs()).toBe(1);
    expect((deadline.signal.reason as Error).message).toBe('the connect timeout passed');
  });
});
