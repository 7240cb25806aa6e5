/** `patchbay keys create`'s parse: owner, labels, scopes and lifetimes. */

import { describe, expect, it } from 'vitest';

import { parseExpiry, parseKeysCreateOptions } from '../../src/cli/commands/keys.js';

const DAY = 86_400_000;

describe('parseExpiry', () => {
  it('reads m, h, d, w, y and never', () => {
    expect(parseExpiry('90d')).toBe(90 * DAY);
    expect(parseExpiry('12h')).toBe(12 * 3_600_000);
    expect(parseExpiry('2w')).toBe(14 * DAY);
    expect(parseExpiry('1y')).toBe(365 * DAY);
    expect(parseExpiry('30m')).toBe(30 * 60_000);
    expect(parseExpiry('never')).toBeUndefined();
  });

  it('refuses anything else, zero and absurd lifetimes', () => {
    for (const text of ['', 'soon', '0d', '10s', '1.5d', '-1d', '101y'])
      expect(() => parseExpiry(text), text).toThrow(/not a key lifetime/);
  });
});

describe('parseKeysCreateOptions', () => {
  it('defaults to the mcp scope and 90 days', () => {
    expect(parseKeysCreateOptions('ci', { service: true })).toEqual({
      name: 'ci',
      service: true,
      groups: [],
      scopes: ['mcp'],
      expiresInMs: 90 * DAY,
    });
    expect(
      parseKeysCreateOptions('alice', {
        member: 'alice',
        email: 'alice@example.com',
        group: ['eng', 'ops'],
        scope: ['mcp', 'extra'],
        expires: 'never',
      }),
    ).toEqual({
      name: 'alice',
      member: 'alice',
      service: false,
      email: 'alice@example.com',
      groups: ['eng', 'ops'],
      scopes: ['mcp', 'extra'],
    });
  });

  it('needs exactly one owner, and checks names, groups and scopes', () => {
    expect(() => parseKeysCreateOptions('ci', {})).toThrow(/--member <subject> or --service/);
    expect(() => parseKeysCreateOptions('ci', { service: true, member: 'a' })).toThrow(/one of the two/);
    expect(() => parseKeysCreateOptions('ci', { service: true, email: 'a@b' })).toThrow(
      /--email goes with --member/,
    );
    expect(() => parseKeysCreateOptions('a b', { service: true })).toThrow(/Invalid key name/);
    expect(() => parseKeysCreateOptions('ci', { service: true, group: ['a b'] })).toThrow(/--group/);
    expect(() => parseKeysCreateOptions('ci', { service: true, scope: ['a"b'] })).toThrow(/--scope/);
  });
});
