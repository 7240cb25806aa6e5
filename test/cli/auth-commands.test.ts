/** The pure halves of `logout` and `auth status`: parsing, and how times are said. */

import { describe, expect, it } from 'vitest';

import { sameResource } from '../../src/auth/resource-url.js';
import { relativeTime, roughDuration } from '../../src/cli/commands/auth-status.js';
import { parseLogoutOptions } from '../../src/cli/commands/logout.js';
import { PatchbayError } from '../../src/errors.js';

describe('parseLogoutOptions', () => {
  it('takes a server name, or the URL of a stored login', () => {
    expect(parseLogoutOptions('corp', {}, {})).toEqual({
      target: { kind: 'name', name: 'corp' },
      timeoutMs: 10_000,
    });
    expect(parseLogoutOptions('https://old.example.com/mcp', { timeout: '3' }, {})).toEqual({
      target: { kind: 'url', url: 'https://old.example.com/mcp' },
      timeoutMs: 3000,
    });
    expect(parseLogoutOptions('corp', {}, { PATCHBAY_TIMEOUT: '2.5' }).timeoutMs).toBe(2500);
  });

  it.each([
    ['a bad name', 'no spaces'],
    ['a URL of another scheme', 'ftp://example.com/mcp'],
  ])('refuses %s as a usage error', (_label, input) => {
    try {
      parseLogoutOptions(input, {}, {});
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PatchbayError);
      expect((error as PatchbayError).exitCode).toBe(2);
    }
  });

  it('refuses a timeout that is not a positive number of seconds', () => {
    expect(() => parseLogoutOptions('corp', { timeout: '0' }, {})).toThrow(/--timeout/);
  });
});

describe('how auth status says times and URLs', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');

  it('says roughly how far away a time is', () => {
    expect(relativeTime(now + 42 * 60_000, now)).toBe('in 42 min');
    expect(relativeTime(now - 3 * 3600_000, now)).toBe('3 h ago');
    expect(relativeTime(now + 30_000, now)).toBe('in 30 s');
    expect(relativeTime(now - 3 * 86_400_000, now)).toBe('3 d ago');
    expect(roughDuration(89 * 60_000)).toBe('89 min');
    expect(roughDuration(90 * 60_000)).toBe('2 h');
  });

  it('takes two spellings of one URL as the same resource', () => {
    expect(sameResource('https://h.example/mcp', 'HTTPS://H.example:443/mcp')).toBe(true);
    expect(sameResource('https://h.example/mcp', 'https://h.example/mcp/')).toBe(false);
    expect(sameResource('not a url', 'not a url')).toBe(true);
    expect(sameResource('not a url', 'https://h.example/')).toBe(false);
  });
});
