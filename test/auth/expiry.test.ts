/** The one expiry rule (auth/expiry.ts) and the wording of times, for the lifetimes people meet. */

import { describe, expect, it } from 'vitest';

import { expiryText, renewalDueAt, tokenState } from '../../src/auth/expiry.js';
import { refreshDue } from '../../src/auth/refresh.js';

const t0 = Date.UTC(2026, 0, 1);
const issued = (lifetimeMs: number) => ({ obtainedAt: t0, expiresAt: t0 + lifetimeMs });

describe('tokenState', () => {
  it.each([
    ['30 s', 30_000, 22_500],
    ['61 s', 61_000, 45_750],
    ['1 h', 3_600_000, 3_540_000],
  ])(
    'a fresh %s token is fresh at login and due at min(60 s, a quarter of its life) before expiry',
    (_label, life, dueAfter) => {
      const token = issued(life);
      expect(tokenState(token, t0)).toBe('fresh');
      expect(tokenState(token, t0 + 1_000)).toBe('fresh');
      expect(renewalDueAt(token)).toBe(t0 + dueAfter);
      expect(tokenState(token, t0 + dueAfter - 1)).toBe('fresh');
      expect(tokenState(token, t0 + dueAfter)).toBe('due');
      expect(tokenState(token, t0 + life)).toBe('expired');
    },
  );

  it('counts the lifetime from the last refresh, and a token without expiry never expires', () => {
    const refreshed = { obtainedAt: t0 - 86_400_000, lastRefreshAt: t0, expiresAt: t0 + 30_000 };
    expect(tokenState(refreshed, t0 + 20_000)).toBe('fresh');
    expect(tokenState({ obtainedAt: t0 }, t0 + 10 * 86_400_000)).toBe('fresh');
  });

  it('is the rule the refresher uses', () => {
    for (const life of [30_000, 61_000, 3_600_000])
      for (const at of [0, life / 2, life * 0.8, life - 1, life + 1]) {
        const tokens = { ...issued(life), issuer: 'i', resource: 'r', accessToken: 'a', tokenType: 'Bearer' };
        expect(refreshDue(tokens, t0 + at)).toBe(tokenState(tokens, t0 + at) !== 'fresh');
      }
  });
});

describe('expiryText', () => {
  it('says how far from now, in the right tense', () => {
    expect(expiryText(t0 + 25_000, t0)).toBe('expires in 25 s');
    expect(expiryText(t0 - 3 * 60_000, t0)).toBe('expired 3 min ago');
    expect(expiryText(t0 + 2 * 3_600_000, t0)).toBe('expires in 2 h');
  });
});
