/**
 * Usage limits (`patchbay limit sentry 'delete_*' 5/day`): how a limit is written, and the counter
 * store that every patchbay process on the machine shares (the gateway and CLI calls together).
 *
 * Windows are fixed and aligned to UTC: a minute window starts at second 0, an hour window at
 * minute 0, a day window at 00:00 UTC (not local midnight). Fixed rather than sliding, because
 * then a refusal can say exactly when the window reopens, the store holds one counter per key and
 * unit instead of a timestamp per call, and every process agrees on the window whatever its time
 * zone or daylight saving. The cost, accepted: up to 2N calls can pass around a boundary (N at the
 * end of one window, N at the start of the next).
 *
 * The counts live in `<state dir>/usage.json` (0600), one counter per (key, unit):
 *
 *     { "version": 1,
 *       "counters": { "sentry:delete_*": { "day": { "window": "2026-11-21T00:00:00Z", "used": 5 } } } }
 *
 * `consume` reads, checks and counts under one exclusive lock file for all its rules, and writes
 * the file atomically (temp file, rename), so concurrent processes lose no update and a crashed
 * process leaves the old counts or the new ones whole. The write is not fsync'd: it happens on
 * every admitted call, and the fsync was most of a call's cost at 1 in flight (1.1 of 1.9 ms
 * measured). What that gives up: after a power loss (not a process crash: the kernel still holds
 * the write) the counts of the last seconds may be lost, so a limit may allow that many calls
 * again; a file left unreadable by it is set aside as below. A gateway (holdLock) keeps the lock
 * across a burst of calls and decides from the counts in memory meanwhile, writing the admitted
 * calls at most 20 ms later (HeldUsage below, which says what a crash then loses): a decision at
 * 1 in flight then costs no file operation before the call goes upstream, instead of a dozen
 * (core/file-store.ts HeldFileLock says how other processes still get their turn). Windows that
 * have ended are dropped on every write. A file
 * that cannot be understood is set aside as `usage.json.corrupt-<time>` and counting starts again
 * from zero: a damaged counter file must never block calls for good.
 */

import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { PatchbayError } from '../errors.js';
import {
  HeldFileLock,
  OverwrittenFile,
  replaceFileSync,
  withFileLock,
  writeFileAtomic,
} from '../core/file-store.js';
import type { Paths } from '../core/paths.js';
import type { WindowCounters } from '../state/store.js';

export type LimitUnit = 'minute' | 'hour' | 'day';

export interface Limit {
  /** Calls allowed per window: a whole number of at least 1. */
  count: number;
  unit: LimitUnit;
}

export const LIMIT_UNITS: readonly LimitUnit[] = ['minute', 'hour', 'day'];

const UNIT_MS: Record<LimitUnit, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

const UNIT_SPELLINGS: Record<string, LimitUnit> = {
  minute: 'minute',
  min: 'minute',
  m: 'minute',
  hour: 'hour',
  hr: 'hour',
  h: 'hour',
  day: 'day',
  d: 'day',
};

const PARSE_HINT = 'For example: patchbay limit sentry 100/hour';

/** `100/hour`, `5/day`, `10/min`, `10/m`, `1/h`, `3/d` (unit case-insensitive). */
export function parseLimit(text: string): Limit {
  const match = /^\s*(\S+?)\s*\/\s*(\S+?)\s*$/.exec(text);
  if (!match) {
    throw new PatchbayError(
      'usage',
      `Invalid limit ${JSON.stringify(text)}: expected <N>/<minute|hour|day>, e.g. 100/hour.`,
      { hint: PARSE_HINT },
    );
  }
  const [, countText = '', unitText = ''] = match;
  const count = /^\d+$/.test(countText) ? Number(countText) : Number.NaN;
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new PatchbayError(
      'usage',
      `Invalid limit ${JSON.stringify(text)}: the number of calls must be a whole number of at least 1, not ${JSON.stringify(countText)}.`,
      { hint: PARSE_HINT },
    );
  }
  const unit = Object.hasOwn(UNIT_SPELLINGS, unitText.toLowerCase())
    ? UNIT_SPELLINGS[unitText.toLowerCase()]
    : undefined;
  if (!unit) {
    throw new PatchbayError(
      'usage',
      `Invalid limit ${JSON.stringify(text)}: unknown unit ${JSON.stringify(unitText)}; use minute, hour or day.`,
      { hint: PARSE_HINT },
    );
  }
  return { count, unit };
}

/** The canonical spelling: `100/hour`. */
export function formatLimit(limit: Limit): string {
  return `${limit.count}/${limit.unit}`;
}

/** The UTC-aligned window of `unit` that holds `now`: [start, end). */
export function limitWindow(unit: LimitUnit, now: Date): { start: Date; end: Date } {
  const length = UNIT_MS[unit];
  const start = Math.floor(now.getTime() / length) * length;
  return { start: new Date(start), end: new Date(start + length) };
}

export interface LimitRule {
  /** What is counted together, e.g. `sentry` or `sentry:delete_*`: an opaque string the caller builds. */
  key: string;
  limit: Limit;
  /** For messages, e.g. `sentry delete_*`. */
  label: string;
  /** The server and tool glob the limit was set with, to build the command that raises it. */
  server?: string;
  tool?: string;
  /** The hint to show on refusal, instead of the `patchbay limit ...` command built from server/tool. */
  hint?: string;
}

export interface LimitStoreOptions {
  /** The usage file is `paths.usage`. */
  paths: Paths;
  /** The time to count at; defaults to the clock. */
  now?: Date;
  /** Told when the usage file could not be understood (and, by `consume`, was set aside). */
  onWarning?: (message: string) => void;
  /** How long to wait for another process holding the usage file's lock. */
  lockTimeoutMs?: number;
  /**
   * A long-lived process (a gateway): keep the usage file's lock across a burst of calls
   * (HeldFileLock) and decide from the counts in memory while it is kept. Every admitted call is
   * still written to the file, at most WRITE_EVERY_MS (20 ms) after it was admitted (HeldUsage).
   */
  holdLock?: boolean;
  /** How long a kept lock waits for the next decision before it is given back (default 25 ms). */
  holdIdleMs?: number;
}

export interface LimitRefusal {
  ok: false;
  /** The exhausted rule; when several are, the one whose window reopens last. */
  rule: LimitRule;
  used: number;
  reopensAt: Date;
  /** What failed and when it can succeed again. */
  message: string;
  /** The command that raises the limit (or the rule's own hint). */
  hint: string;
}

export type ConsumeResult = { ok: true } | LimitRefusal;

export interface LimitUsage {
  rule: LimitRule;
  used: number;
  remaining: number;
  windowStart: Date;
  reopensAt: Date;
}

const FORMAT_VERSION = 1;
const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

/** The counts could not be reached (Redis away): the call is refused, nothing was counted. */
export interface LimitUnavailable {
  ok: false;
  unavailable: true;
  message: string;
  hint: string;
}

export type LimitDecision = ConsumeResult | LimitUnavailable;

/** One call to decide: its rules, counted at `now`. */
export interface LimitRequest {
  rules: readonly LimitRule[];
  now?: Date;
}

/**
 * Where limits are counted. `consume` decides the requests in their order, atomically: each is
 * counted in all its windows, or refused with the rule that is exhausted, or (a store that cannot
 * be reached) refused as unavailable, with nothing counted.
 */
export interface LimitCounter {
  /** For messages: `the usage file …`, `redis at redis://host:6379`. */
  readonly description: string;
  consume(requests: readonly LimitRequest[]): Promise<LimitDecision[]>;
  usage(rules: readonly LimitRule[], now?: Date): Promise<LimitUsage[]>;
  /** Give back what is held (a kept lock) when the process stops serving. */
  close?(): Promise<void>;
}

/** The default: the machine's usage file, shared by every patchbay process on it (below). */
export function fileLimitCounter(options: Omit<LimitStoreOptions, 'now'>): LimitCounter {
  const withNow = (now: Date | undefined) => ({ ...options, ...(now ? { now } : {}) });
  return {
    description: `the usage file ${options.paths.usage}`,
    consume: (requests) => Promise.all(requests.map(({ rules, now }) => consume(rules, withNow(now)))),
    usage: (rules, now) => {
      // This process's own counts not yet written are part of the answer.
      const held = heldLocks.get(options.paths.usage);
      if (held?.unwrittenAt) {
        try {
          writeHeldNow(options.paths.usage, held);
        } catch {
          // Shown from the file as it is; the next decision reports the failed write.
        }
      }
      return usage(rules, withNow(now));
    },
    close: async () => {
      const kept = heldLocks.get(options.paths.usage);
      heldLocks.delete(options.paths.usage);
      await kept?.lock.giveBack();
    },
  };
}

/** Counters live a little past their window's end, so a clock a little behind still finds them. */
const WINDOW_GRACE_MS = 60_000;

/**
 * Limits counted by a state store that counts windows itself (Redis, for replicas): the same
 * fixed UTC windows and the same answers as the usage file, exact across every process that
 * shares the store. `where` names the store in a refusal (`redis at redis://10.0.0.5:6379`).
 */
export function storeLimitCounter(windows: WindowCounters, where: string): LimitCounter {
  const counterKey = (rule: LimitRule, start: Date) => `${rule.limit.unit}:${start.getTime()}:${rule.key}`;
  const unavailable = (error: unknown): LimitUnavailable => ({
    ok: false,
    unavailable: true,
    message: `This call has a usage limit, and its counts could not be reached (${where}: ${
      error instanceof Error ? error.message : String(error)
    }); it is refused rather than let through uncounted.`,
    hint: 'Check that Redis runs and is reachable from the gateway (its /readyz says "state"); calls go through again once it is back.',
  });
  return {
    description: where,
    async consume(requests) {
      const decided: LimitDecision[] = new Array<LimitDecision>(requests.length);
      const asked: number[] = [];
      // A rule that is not a limit is an error, as with the usage file.
      for (const { rules } of requests) rules.forEach(checkRule);
      const charges = requests.flatMap(({ rules, now = new Date() }, index) => {
        if (rules.length === 0) {
          decided[index] = { ok: true };
          return [];
        }
        asked.push(index);
        return [
          rules.map((rule) => {
            const { start, end } = limitWindow(rule.limit.unit, now);
            return {
              key: counterKey(rule, start),
              limit: rule.limit.count,
              ttlMs: end.getTime() - now.getTime() + WINDOW_GRACE_MS,
            };
          }),
        ];
      });
      if (charges.length === 0) return decided;
      let results;
      try {
        results = await windows.charge(charges);
      } catch (error) {
        for (const index of asked) decided[index] = unavailable(error);
        return decided;
      }
      asked.forEach((index, at) => {
        const { rules, now = new Date() } = requests[index]!;
        const result = results[at]!;
        if (result.admitted) {
          decided[index] = { ok: true };
          return;
        }
        // The counts seen, as counters, so the refusal is worded as the usage file's is.
        const counters: Counters = new Map();
        rules.forEach((rule, position) => {
          const byUnit = counters.get(rule.key) ?? new Map<LimitUnit, Counter>();
          counters.set(rule.key, byUnit);
          byUnit.set(rule.limit.unit, {
            window: limitWindow(rule.limit.unit, now).start.getTime(),
            used: result.used[position] ?? 0,
          });
        });
        decided[index] = findRefusal(rules, counters, now) ?? unavailable(new Error('no window refused'));
      });
      return decided;
    },
    async usage(rules, now = new Date()) {
      rules.forEach(checkRule);
      const counts = await windows.read(
        rules.map((rule) => counterKey(rule, limitWindow(rule.limit.unit, now).start)),
      );
      return rules.map((rule, index) => {
        const { start, end } = limitWindow(rule.limit.unit, now);
        const used = counts[index] ?? 0;
        return {
          rule,
          used,
          remaining: Math.max(0, rule.limit.count - used),
          windowStart: start,
          reopensAt: end,
        };
      });
    },
  };
}

/**
 * Check every rule and, only if none is exhausted, count one call against each (a key and unit
 * shared by several rules is counted once). All of it under one lock, so it is atomic across
 * processes: of N concurrent calls against a limit of L, exactly min(N, L) pass.
 *
 * The calls of one process that arrive while its lock is held wait together and are then decided
 * in their order under one lock, one read and one write: at 32 calls in flight the lock, the read
 * and the fsync'd write are paid once per batch instead of once per call, with the same answers.
 */
export function consume(rules: readonly LimitRule[], options: LimitStoreOptions): Promise<ConsumeResult> {
  if (rules.length === 0) return Promise.resolve({ ok: true });
  try {
    rules.forEach(checkRule);
  } catch (error) {
    return Promise.reject(error as Error);
  }
  const now = options.now ?? new Date();
  const path = options.paths.usage;
  const atOnce = options.holdLock ? decideOnKeptLock(path, rules, now) : undefined;
  if (atOnce) return Promise.resolve(atOnce);
  return new Promise<ConsumeResult>((resolve, reject) => {
    let batch = batches.get(path);
    if (!batch) batches.set(path, (batch = { waiting: [], draining: false }));
    batch.waiting.push({ rules, now, options, resolve, reject });
    if (!batch.draining) void drain(path, batch);
  });
}

interface PendingConsume {
  rules: readonly LimitRule[];
  now: Date;
  options: LimitStoreOptions;
  resolve: (result: ConsumeResult) => void;
  reject: (error: unknown) => void;
}

interface Batch {
  waiting: PendingConsume[];
  draining: boolean;
}

/**
 * Calls from one process wait for each other here rather than all polling the lock file, so the
 * lock is contended only across processes and a burst in the gateway does not back off for nothing.
 */
const batches = new Map<string, Batch>();
/**
 * A usage file whose lock this process keeps (holdLock), with the counts read under it, and the
 * counts admitted but not yet written. While the lock is kept the counts in memory are the truth
 * and nobody else reads the file, so the write of a decision is left for later: it no longer
 * stands between the decision and the request going upstream, and the decisions of up to
 * WRITE_EVERY_MS share one write (the rename that replaces the file was most of a gateway's CPU
 * per call: ext4 pushes the new file's data out when a rename replaces one). It is always done
 * before the lock is given back.
 *
 * What that gives up: a gateway killed (kill -9, out of memory) loses the counts of the calls it
 * admitted in its last WRITE_EVERY_MS, so a limit may allow that many calls again. A power loss
 * already loses more (the writes are not fsync'd). A write that fails (a full disk) refuses the
 * next calls with its error while the counts wait in memory; if the lock must be given back
 * before a write succeeds, they are lost, and the old file is left as it was.
 */
interface HeldUsage {
  lock: HeldFileLock;
  counters: Counters | undefined;
  /** The time of the latest admitted decision not yet written (undefined: all written). */
  unwrittenAt: Date | undefined;
  /** The usage file, overwritten in place while the lock is kept. */
  file: OverwrittenFile;
  /** The coming write, when one is scheduled. */
  writeSoon: NodeJS.Timeout | undefined;
  /** When the counts were last written (epoch ms). */
  writtenAt: number;
  /** The last write failed: the next decision writes first, and fails the calls if it still cannot. */
  writeFailed: boolean;
}

const heldLocks = new Map<string, HeldUsage>();
/** Given back after this long without a decision, or once held this long while someone waits. */
const HOLD_IDLE_MS = 25;
const HOLD_MAX_MS = 250;
/** A kept lock's counts are written at most this long after a decision (HeldUsage). */
const WRITE_EVERY_MS = 20;

function heldLock(path: string, timeoutMs: number, idleMs: number): HeldUsage {
  let held = heldLocks.get(path);
  if (!held) {
    const made: HeldUsage = {
      lock: new HeldFileLock(path, {
        timeoutMs,
        idleMs,
        maxHoldMs: HOLD_MAX_MS,
        beforeGiveBack: () => {
          try {
            writeHeldNow(path, made);
          } finally {
            made.file.close();
          }
        },
      }),
      file: new OverwrittenFile(path, 0o600),
      counters: undefined,
      unwrittenAt: undefined,
      writeSoon: undefined,
      writtenAt: 0,
      writeFailed: false,
    };
    held = made;
    heldLocks.set(path, held);
  }
  return held;
}

/** Write the held counts if some are unwritten; throws (write-failed) when the file cannot take them. */
function writeHeldNow(path: string, held: HeldUsage): void {
  clearTimeout(held.writeSoon);
  held.writeSoon = undefined;
  if (!held.unwrittenAt || !held.counters) return;
  try {
    held.file.write(serialize(held.counters, held.unwrittenAt));
  } catch (error) {
    held.writeFailed = true;
    throw error;
  }
  held.unwrittenAt = undefined;
  held.writtenAt = Date.now();
  held.writeFailed = false;
}

function writeHeldSoon(path: string, held: HeldUsage, latest: Date): void {
  if (!held.unwrittenAt || latest > held.unwrittenAt) held.unwrittenAt = latest;
  if (held.writeSoon) return;
  // Not before the request is on its way upstream, nor sooner than WRITE_EVERY_MS after the last.
  const wait = Math.max(0, held.writtenAt + WRITE_EVERY_MS - Date.now());
  held.writeSoon = setTimeout(() => {
    try {
      writeHeldNow(path, held);
    } catch {
      // writeFailed is set: the next decision tries again and refuses its calls if it fails.
    }
  }, wait);
}

/**
 * A gateway's common case, decided at once: the lock is kept, its counts are in memory and
 * written, and nobody queued before this call. The same decision `drain` makes under a kept lock
 * (countOne, a write within WRITE_EVERY_MS), without its queue, promises and lock round; anything
 * else (no lock yet, a failed write, a bound reached, calls waiting) goes the queued way.
 */
function decideOnKeptLock(path: string, rules: readonly LimitRule[], now: Date): ConsumeResult | undefined {
  const held = heldLocks.get(path);
  if (!held?.counters || held.writeFailed || batches.has(path)) return undefined;
  const counters = held.counters;
  return held.lock.runKept(() => {
    const result = countOne(rules, counters, now);
    if (result.ok) writeHeldSoon(path, held, now);
    return result;
  });
}

/** Directories of usage files made (or found) by this process: mkdir once, not per call. */
const madeDirs = new Set<string>();

async function drain(path: string, batch: Batch): Promise<void> {
  batch.draining = true;
  while (batch.waiting.length > 0) {
    const group = batch.waiting.splice(0);
    // The warning is told after the lock is released: the caller's callback must not lengthen it.
    let warning: string | undefined;
    try {
      const dir = dirname(path);
      if (!madeDirs.has(dir)) {
        await fs.mkdir(dir, { recursive: true, mode: 0o700 });
        madeDirs.add(dir);
      }
      const lockTimeoutMs = Math.max(
        ...group.map((each) => each.options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS),
      );
      // The group decided against the counts of the file (read now, or kept in memory with its
      // lock), and `write` records the admitted ones.
      const decide = async (
        kept: Counters | undefined,
        write: (counters: Counters, latest: Date) => Promise<void> | void,
      ) => {
        const loaded = kept ? { counters: kept, problem: undefined } : await readCounters(path);
        if (loaded.problem) {
          const aside = await setAside(path);
          warning =
            `The usage counts in ${path} could not be understood (${loaded.problem}); counting starts again from zero. ` +
            (aside ? `The old file was kept as ${aside}.` : 'The old file could not be kept.');
        }
        const counters = loaded.counters;
        const decided = group.map((each) => countOne(each.rules, counters, each.now));
        if (decided.some((result) => result.ok)) {
          const latest = new Date(Math.max(...group.map((each) => each.now.getTime())));
          await write(counters, latest);
        }
        return { decided, counters };
      };
      // Written for every admitted call: atomic, not fsync'd (see the module comment).
      const writeNow = (counters: Counters, latest: Date) =>
        writeFileAtomic(path, serialize(counters, latest), { mode: 0o600, secret: false, durable: false });
      const holding = group.find((each) => each.options.holdLock)?.options;
      const holder = holding ? heldLock(path, lockTimeoutMs, holding.holdIdleMs ?? HOLD_IDLE_MS) : undefined;
      const results = holder
        ? await holder.lock.run(async (kept, held) => {
            // A write that failed is tried again before deciding more; if it fails, so do the calls.
            // Not by throwing here: that would give the lock back, and the unwritten counts with it.
            if (kept && holder.writeFailed) {
              try {
                writeHeldNow(path, holder);
              } catch (error) {
                return error as Error;
              }
            }
            // Kept since the last batch: nobody else wrote, the counts in memory are the file's.
            const { decided, counters } = await decide(
              kept ? holder.counters : undefined,
              // Kept past this run: written within WRITE_EVERY_MS (HeldUsage); else now, at once.
              held
                ? (_, latest) => writeHeldSoon(path, holder, latest)
                : (written, latest) => replaceFileSync(path, serialize(written, latest), 0o600),
            );
            holder.counters = counters;
            return decided;
          })
        : (await withFileLock(path, lockTimeoutMs, () => decide(undefined, writeNow))).decided;
      if (results instanceof Error) throw results;
      if (warning) group[0]!.options.onWarning?.(warning);
      group.forEach((each, index) => each.resolve(results[index]!));
    } catch (error) {
      // The directory may have been removed under us: make it again next time.
      madeDirs.delete(dirname(path));
      for (const each of group) each.reject(error);
    }
  }
  batch.draining = false;
  if (batches.get(path) === batch) batches.delete(path);
}

/** One call's decision against the counters, counted into them when it passes. */
function countOne(rules: readonly LimitRule[], counters: Counters, now: Date): ConsumeResult {
  const refusal = findRefusal(rules, counters, now);
  if (refusal) return refusal;
  const counted = new Set<string>();
  for (const rule of rules) {
    // Rules that share a key and unit count the same calls: one call, one count.
    const id = `${rule.limit.unit}\0${rule.key}`;
    if (counted.has(id)) continue;
    counted.add(id);
    const start = limitWindow(rule.limit.unit, now).start.getTime();
    const byUnit = counters.get(rule.key) ?? new Map<LimitUnit, Counter>();
    counters.set(rule.key, byUnit);
    const counter = byUnit.get(rule.limit.unit);
    byUnit.set(rule.limit.unit, {
      window: start,
      used: counter && counter.window === start ? counter.used + 1 : 1,
    });
  }
  return { ok: true };
}

/** The current counts of each rule's window, without counting anything (and without a lock: writes are atomic). */
export async function usage(
  rules: readonly LimitRule[],
  options: Omit<LimitStoreOptions, 'lockTimeoutMs'>,
): Promise<LimitUsage[]> {
  rules.forEach(checkRule);
  const now = options.now ?? new Date();
  const path = options.paths.usage;
  const loaded = await readCounters(path);
  if (loaded.problem) {
    options.onWarning?.(
      `The usage counts in ${path} could not be understood (${loaded.problem}); showing zero. ` +
        'The next counted call sets the file aside and starts again from zero.',
    );
  }
  return rules.map((rule) => {
    const { start, end } = limitWindow(rule.limit.unit, now);
    const used = usedIn(loaded.counters, rule, start);
    return {
      rule,
      used,
      remaining: Math.max(0, rule.limit.count - used),
      windowStart: start,
      reopensAt: end,
    };
  });
}

interface Counter {
  /** Start of the counted window, epoch ms. */
  window: number;
  used: number;
}

/** Keyed by a string the caller builds: Maps, so a key like `__proto__` is just a key. */
type Counters = Map<string, Map<LimitUnit, Counter>>;

function checkRule(rule: LimitRule): void {
  const { count, unit } = rule.limit;
  if (!Number.isSafeInteger(count) || count < 1 || !Object.hasOwn(UNIT_MS, unit)) {
    throw new PatchbayError(
      'usage',
      `Invalid limit for ${rule.label}: ${String(count)}/${String(unit)}; expected <N>/<minute|hour|day> with N at least 1.`,
      { hint: PARSE_HINT },
    );
  }
}

function usedIn(counters: Counters, rule: LimitRule, windowStart: Date): number {
  const counter = counters.get(rule.key)?.get(rule.limit.unit);
  return counter && counter.window === windowStart.getTime() ? counter.used : 0;
}

function findRefusal(rules: readonly LimitRule[], counters: Counters, now: Date): LimitRefusal | undefined {
  let refusal: LimitRefusal | undefined;
  for (const rule of rules) {
    const { start, end } = limitWindow(rule.limit.unit, now);
    const used = usedIn(counters, rule, start);
    if (used < rule.limit.count) continue;
    // The call can pass only once every exhausted window has reopened: report the last to reopen.
    if (refusal && refusal.reopensAt.getTime() >= end.getTime()) continue;
    refusal = {
      ok: false,
      rule,
      used,
      reopensAt: end,
      message:
        `Usage limit reached for ${rule.label}: ${formatLimit(rule.limit)} (${used} used); ` +
        `the window reopens at ${isoSeconds(end)} (in ${formatDuration(end.getTime() - now.getTime())}).`,
      hint: rule.hint ?? raiseHint(rule),
    };
  }
  return refusal;
}

function raiseHint(rule: LimitRule): string {
  const target = rule.server
    ? [rule.server, ...(rule.tool ? [rule.tool] : [])].map(shellWord).join(' ')
    : '<server> [tool-or-glob]';
  return `Wait until then, or raise the limit: patchbay limit ${target} <N>/${rule.limit.unit}`;
}

function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** `2026-11-22T00:00:00Z`: windows start on whole seconds, so milliseconds would only be noise. */
function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `45 s`, `12 min 5 s`, `3 h 12 min` (rounded up to the minute: the exact time is given too). */
export function formatDuration(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) {
    const rest = seconds % 60;
    return `${Math.floor(seconds / 60)} min${rest ? ` ${rest} s` : ''}`;
  }
  const minutes = Math.ceil(seconds / 60);
  const rest = minutes % 60;
  return `${Math.floor(minutes / 60)} h${rest ? ` ${rest} min` : ''}`;
}

async function readCounters(path: string): Promise<{ counters: Counters; problem?: string }> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { counters: new Map() };
    throw new PatchbayError(
      'read-failed',
      `Cannot read the usage counts ${path}: ${(error as Error).message}.`,
      {
        hint: `Check the file's permissions: ls -l ${path}`,
        cause: error,
      },
    );
  }
  if (text.trim() === '') return { counters: new Map() };
  try {
    return { counters: parseCounters(JSON.parse(text) as unknown) };
  } catch (error) {
    return { counters: new Map(), problem: (error as Error).message };
  }
}

function parseCounters(value: unknown): Counters {
  if (!isRecord(value)) throw new Error('not a JSON object');
  if (value.version !== FORMAT_VERSION) throw new Error(`unknown version ${JSON.stringify(value.version)}`);
  if (!isRecord(value.counters)) throw new Error('"counters" is not an object');
  const counters: Counters = new Map();
  for (const [key, byUnitValue] of Object.entries(value.counters)) {
    if (!isRecord(byUnitValue)) throw new Error(`counters of ${JSON.stringify(key)} are not an object`);
    const byUnit = new Map<LimitUnit, Counter>();
    for (const [unit, counter] of Object.entries(byUnitValue)) {
      const where = `${JSON.stringify(key)} ${JSON.stringify(unit)}`;
      if (!Object.hasOwn(UNIT_MS, unit)) throw new Error(`unknown unit at ${where}`);
      if (!isRecord(counter)) throw new Error(`counter ${where} is not an object`);
      const window = typeof counter.window === 'string' ? Date.parse(counter.window) : Number.NaN;
      if (!Number.isFinite(window)) throw new Error(`counter ${where} has no valid "window"`);
      const used = counter.used;
      if (typeof used !== 'number' || !Number.isSafeInteger(used) || used < 0) {
        throw new Error(`counter ${where} has no valid "used"`);
      }
      byUnit.set(unit as LimitUnit, { window, used });
    }
    counters.set(key, byUnit);
  }
  return counters;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The file's text, without windows that have ended by `now`. */
function serialize(counters: Counters, now: Date): string {
  const entries: Array<[string, Record<string, { window: string; used: number }>]> = [];
  for (const [key, byUnit] of counters) {
    const live: Array<[string, { window: string; used: number }]> = [];
    for (const [unit, counter] of byUnit) {
      if (counter.window + UNIT_MS[unit] <= now.getTime()) continue;
      live.push([unit, { window: isoSeconds(new Date(counter.window)), used: counter.used }]);
    }
    // Object.fromEntries defines own properties, so no key reaches a prototype.
    if (live.length > 0) entries.push([key, Object.fromEntries(live)]);
  }
  return `${JSON.stringify({ version: FORMAT_VERSION, counters: Object.fromEntries(entries) }, null, 2)}\n`;
}

/** Move an unreadable usage file out of the way, keeping it for inspection. */
async function setAside(path: string): Promise<string | undefined> {
  const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  try {
    await fs.rename(path, aside);
    return aside;
  } catch {
    // Renaming failed: the rewrite replaces it anyway, and a failure there is reported.
    return undefined;
  }
}
