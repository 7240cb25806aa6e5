/**
 * One reading of a duration for every flag and variable that takes one: `500ms`, `30s`, `2m`,
 * `1h` (decimals allowed: `1.5s`), and a bare number in the caller's unit — seconds on the
 * command line, milliseconds in `.mcp.json` (Claude Code's format; `timeout` there stays a
 * number and is read by config/entry.ts, not here).
 */

import { PatchbayError } from '../errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** setTimeout's ceiling: a longer delay fires at once, which would turn "wait long" into "never wait". */
export const MAX_DURATION_MS = 2_147_483_647;

export interface DurationOptions {
  /** What a number without a unit means (default seconds). */
  bareUnit?: 'ms' | 's';
  /** The hint on a bad value (default: the accepted forms). */
  hint?: string;
}

/**
 * `text` in milliseconds (a whole, positive number), or a usage error naming `source` (the flag
 * or variable it came from) and the forms it accepts.
 */
export function parseDuration(text: string, source: string, options: DurationOptions = {}): number {
  const trimmed = text.trim();
  const match = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?$/i.exec(trimmed);
  const fail = (why: string) =>
    new PatchbayError('usage', `${source}: ${JSON.stringify(text)} ${why}; use e.g. 500ms, 30s, 2m`, {
      hint:
        options.hint ??
        `A number alone means ${options.bareUnit === 'ms' ? 'milliseconds' : 'seconds'}; units: ms, s, m, h.`,
    });
  if (!match) throw fail('is not a duration');
  const unit = (match[2] ?? options.bareUnit ?? 's').toLowerCase();
  const ms = Math.round(Number(match[1]) * UNIT_MS[unit]!);
  if (!(ms >= 1)) throw fail('is not a positive duration');
  if (ms > MAX_DURATION_MS) throw fail('is longer than patchbay can wait (about 24 days)');
  return ms;
}

/** `30s`, `2m`, `1500ms`: a duration as it can be typed back into a flag. */
export function durationText(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
