/** One reading of durations for every flag: units, bare numbers, and errors that say what to type. */

import { describe, expect, it } from 'vitest';

import { durationText, MAX_DURATION_MS, parseDuration } from '../../src/core/duration.js';
import { timeoutFrom } from '../../src/cli/health.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1.5s', 1_500],
    ['30', 30_000],
    ['0.5', 500],
    [' 10 s ', 10_000],
    ['2M', 120_000],
  ])('%j is %d ms (a bare number is seconds)', (text, ms) => {
    expect(parseDuration(text, '--timeout')).toBe(ms);
  });

  it('reads a bare number in the caller\u2019s unit when it says so', () => {
    expect(parseDuration('30000', 'timeout', { bareUnit: 'ms' })).toBe(30_000);
  });

  it.each([
    ['30x', 'is not a duration'],
    ['', 'is not a duration'],
    ['1e3', 'is not a duration'],
    ['-5s', 'is not a duration'],
    ['s', 'is not a duration'],
    ['0', 'is not a positive duration'],
    ['0.0001s', 'is not a positive duration'],
    ['1000h', 'is longer than patchbay can wait (about 24 days)'],
  ])('refuses %j, naming the flag and the forms it takes', (text, why) => {
    expect(() => parseDuration(text, '--timeout')).toThrow(
      `--timeout: ${JSON.stringify(text)} ${why}; use e.g. 500ms, 30s, 2m`,
    );
  });

  it('writes durations back in the largest whole unit', () => {
    expect([30_000, 120_000, 3_600_000, 1_500, MAX_DURATION_MS].map(durationText)).toEqual([
      '30s',
      '2m',
      '1h',
      '1500ms',
      `${MAX_DURATION_MS}ms`,
    ]);
  });
});

describe('timeoutFrom', () => {
  it('takes --timeout, else PATCHBAY_TIMEOUT, else 10 s, all with units', () => {
    expect(timeoutFrom('2m', { PATCHBAY_TIMEOUT: '5' })).toBe(120_000);
    expect(timeoutFrom(undefined, { PATCHBAY_TIMEOUT: '1500ms' })).toBe(1_500);
    expect(timeoutFrom(undefined, {})).toBe(10_000);
    expect(() => timeoutFrom(undefined, { PATCHBAY_TIMEOUT: 'soon' })).toThrow(/^PATCHBAY_TIMEOUT: "soon"/);
  });
});
