/**
 * Usage limits: how a limit is written, and the counter store on real files in a temporary state
 * directory. The concurrency proof runs the built library in many node processes at once
 * (test/fixtures/limits-worker.mjs), as the gateway and CLI calls would.
 */

import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { resolvePaths, type Paths } from '../../src/core/paths.js';
import { PatchbayError } from '../../src/errors.js';
import {
  consume,
  fileLimitCounter,
  formatDuration,
  formatLimit,
  limitWindow,
  parseLimit,
  usage,
  type Limit,
  type LimitRule,
} from '../../src/policy/limits.js';

let stateDir: string;
let env: NodeJS.ProcessEnv;
let paths: Paths;
let file: string;

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'patchbay-limits-'));
  env = { PATCHBAY_STATE_DIR: join(stateDir, 'state') };
  paths = resolvePaths(env);
  file = join(stateDir, 'state', 'usage.json');
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

function rule(key: string, limit: string, extra: Partial<LimitRule> = {}): LimitRule {
  return { key, limit: parseLimit(limit), label: key.replace(':', ' '), ...extra };
}

async function consumeTimes(rules: LimitRule[], times: number, now: Date): Promise<number> {
  let passed = 0;
  for (let i = 0; i < times; i++) if ((await consume(rules, { paths, now })).ok) passed++;
  return passed;
}

describe('parseLimit', () => {
  it.each<[string, Limit]>([
    ['100/hour', { count: 100, unit: 'hour' }],
    ['5/day', { count: 5, unit: 'day' }],
    ['10/min', { count: 10, unit: 'minute' }],
    ['10/m', { count: 10, unit: 'minute' }],
    ['10/minute', { count: 10, unit: 'minute' }],
    ['1/h', { count: 1, unit: 'hour' }],
    ['2/hr', { count: 2, unit: 'hour' }],
    ['3/d', { count: 3, unit: 'day' }],
    ['7/DAY', { count: 7, unit: 'day' }],
    [' 4 / h ', { count: 4, unit: 'hour' }],
  ])('%j → %j', (text, limit) => {
    expect(parseLimit(text)).toEqual(limit);
    expect(parseLimit(formatLimit(limit))).toEqual(limit);
  });

  it.each([
    ['0/hour', /at least 1/],
    ['-1/hour', /at least 1/],
    ['1.5/hour', /at least 1/],
    ['1e3/hour', /at least 1/],
    ['+5/hour', /at least 1/],
    ['99999999999999999999/day', /at least 1/],
    ['5/week', /unknown unit "week"/],
    ['5/', /expected <N>\/<minute\|hour\|day>/],
    ['/hour', /expected <N>\/<minute\|hour\|day>/],
    ['100', /expected <N>\/<minute\|hour\|day>/],
    ['', /expected <N>\/<minute\|hour\|day>/],
    ['5/hour/day', /unknown unit "hour\/day"/],
    ['5/constructor', /unknown unit "constructor"/],
  ])('refuses %j', (text, reason) => {
    let error: unknown;
    try {
      parseLimit(text);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PatchbayError);
    const { code, message, hint } = error as PatchbayError;
    expect(code).toBe('usage');
    expect(message).toContain(JSON.stringify(text));
    expect(message).toMatch(reason);
    expect(hint).toBe('For example: patchbay limit sentry 100/hour');
  });

  it('formats the canonical spelling', () => {
    expect(formatLimit({ count: 100, unit: 'hour' })).toBe('100/hour');
  });
});

describe('windows', () => {
  it('are fixed and aligned to UTC', () => {
    const now = new Date('2026-11-21T20:47:13.250Z');
    expect(limitWindow('minute', now)).toEqual({
      start: new Date('2026-11-21T20:47:00Z'),
      end: new Date('2026-11-21T20:48:00Z'),
    });
    expect(limitWindow('hour', now)).toEqual({
      start: new Date('2026-11-21T20:00:00Z'),
      end: new Date('2026-11-21T21:00:00Z'),
    });
    expect(limitWindow('day', now)).toEqual({
      start: new Date('2026-11-21T00:00:00Z'),
      end: new Date('2026-11-22T00:00:00Z'),
    });
    // A boundary belongs to the window it starts.
    expect(limitWindow('day', new Date('2026-11-22T00:00:00Z')).start).toEqual(
      new Date('2026-11-22T00:00:00Z'),
    );
  });

  it('formats the time left', () => {
    expect(formatDuration(400)).toBe('1 s');
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(12 * 60_000 + 5_000)).toBe('12 min 5 s');
    expect(formatDuration(60_000)).toBe('1 min');
    expect(formatDuration((3 * 60 + 11) * 60_000 + 30_000)).toBe('3 h 12 min');
    expect(formatDuration(24 * 3_600_000)).toBe('24 h');
  });
});

describe('consume', () => {
  it('decides calls of one process that wait together in their order, each counted once', async () => {
    const now = new Date('2026-11-21T20:47:13Z');
    const burst = rule('burst', '20/hour', { server: 'burst' });
    const other = rule('other', '100/hour', { server: 'other' });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, index) => consume([index % 2 ? other : burst], { paths, now })),
    );
    // The first 20 of the 25 calls to `burst` pass, the later ones are refused; `other` all pass.
    const burstResults = results.filter((_, index) => index % 2 === 0).map((result) => result.ok);
    expect(burstResults).toEqual([...Array(20).fill(true), ...Array(5).fill(false)]);
    expect(results.filter((_, index) => index % 2 === 1).every((result) => result.ok)).toBe(true);
    expect((await usage([burst, other], { paths, now })).map((each) => each.used)).toEqual([20, 25]);
  });

  it.each([
    ['minute', '3/min', '2026-11-21T20:47:13Z', '2026-11-21T20:48:00Z', 'in 47 s'],
    ['hour', '3/hour', '2026-11-21T20:47:13Z', '2026-11-21T21:00:00Z', 'in 12 min 47 s'],
    ['day', '3/day', '2026-11-21T20:47:13Z', '2026-11-22T00:00:00Z', 'in 3 h 13 min'],
  ])(
    'counts up to the limit per %s, then refuses until the window reopens',
    async (_, limit, at, reopens, when) => {
      const now = new Date(at);
      const sentry = rule('sentry', limit, { server: 'sentry' });
      expect(await consumeTimes([sentry], 3, now)).toBe(3);
      const refused = await consume([sentry], { paths, now });
      expect(refused).toMatchObject({ ok: false, rule: sentry, used: 3, reopensAt: new Date(reopens) });
      if (refused.ok) throw new Error('unreachable');
      expect(refused.message).toBe(
        `Usage limit reached for sentry: ${formatLimit(sentry.limit)} (3 used); the window reopens at ${reopens} (${when}).`,
      );
      expect(refused.hint).toBe(
        `Wait until then, or raise the limit: patchbay limit sentry <N>/${sentry.limit.unit}`,
      );
      // A refusal counts nothing.
      expect((await usage([sentry], { paths, now }))[0]?.used).toBe(3);

      // Still refused the last millisecond of the window; open again at its end, counting afresh.
      expect((await consume([sentry], { paths, now: new Date(new Date(reopens).getTime() - 1) })).ok).toBe(
        false,
      );
      expect(await consume([sentry], { paths, now: new Date(reopens) })).toEqual({ ok: true });
      expect(await usage([sentry], { paths, now: new Date(reopens) })).toEqual([
        { rule: sentry, used: 1, remaining: 2, windowStart: new Date(reopens), reopensAt: expect.any(Date) },
      ]);
    },
  );

  it('says how to raise the limit, quoting a glob for the shell, or gives the rule’s own hint', async () => {
    const now = new Date('2026-11-21T20:47:13Z');
    const glob = rule('sentry:delete_*', '1/day', { server: 'sentry', tool: 'delete_*' });
    await consume([glob], { paths, now });
    const refused = await consume([glob], { paths, now });
    expect(refused).toMatchObject({
      ok: false,
      message:
        'Usage limit reached for sentry delete_*: 1/day (1 used); the window reopens at 2026-11-22T00:00:00Z (in 3 h 13 min).',
      hint: "Wait until then, or raise the limit: patchbay limit sentry 'delete_*' <N>/day",
    });

    const own = rule('github', '1/hour', { hint: 'Ask your admin.' });
    await consume([own], { paths, now });
    expect(await consume([own], { paths, now })).toMatchObject({ ok: false, hint: 'Ask your admin.' });
  });

  it('checks several rules at once: a refusal by one counts none', async () => {
    const now = new Date('2026-11-21T20:47:13Z');
    const server = rule('sentry', '10/hour');
    const deletes = rule('sentry:delete_*', '2/day');
    expect(await consumeTimes([server, deletes], 2, now)).toBe(2);
    const refused = await consume([server, deletes], { paths, now });
    expect(refused).toMatchObject({ ok: false, rule: deletes, used: 2 });
    expect((await usage([server, deletes], { paths, now })).map((entry) => entry.used)).toEqual([2, 2]);
    // Other tools of the server still pass, and count against the server only.
    expect(await consume([server], { paths, now })).toEqual({ ok: true });
    expect((await usage([server, deletes], { paths, now })).map((entry) => entry.used)).toEqual([3, 2]);
  });

  it('reports the exhausted rule that reopens last', async () => {
    const now = new Date('2026-11-21T20:47:13Z');
    const perMinute = rule('sentry', '1/min');
    const perDay = rule('sentry:search', '1/day');
    await consume([perMinute, perDay], { paths, now });
    expect(await consume([perMinute, perDay], { paths, now })).toMatchObject({
      ok: false,
      rule: perDay,
      reopensAt: new Date('2026-11-22T00:00:00Z'),
    });
  });

  it('counts a key and unit once per call, and keeps units of one key apart', async () => {
    const now = new Date('2026-11-21T20:47:13Z');
    const a = rule('sentry', '5/hour');
    const b = rule('sentry', '3/hour');
    const daily = rule('sentry', '100/day');
    expect(await consume([a, b, daily], { paths, now })).toEqual({ ok: true });
    expect((await usage([a, b, daily], { paths, now })).map((entry) => entry.used)).toEqual([1, 1, 1]);
    // Lowering a limit keeps the count of the window: 1 used of 1 allowed.
    expect(await consume([rule('sentry', '1/hour')], { paths, now })).toMatchObject({ ok: false, used: 1 });
  });

  it('does nothing for no rules, and refuses a limit that was not parsed', async () => {
    expect(await consume([], { paths })).toEqual({ ok: true });
    expect(existsSync(file)).toBe(false);
    await expect(
      consume([{ key: 'x', label: 'x', limit: { count: 0, unit: 'hour' } }], { paths }),
    ).rejects.toMatchObject({ code: 'usage' });
  });

  it('keeps counts across restarts: a fresh module reads the same file', async () => {
    const now = new Date('2026-11-21T20:47:13Z');
    expect(await consumeTimes([rule('sentry', '5/day')], 3, now)).toBe(3);

    vi.resetModules();
    const fresh = (await import('../../src/policy/limits.js')) as typeof import('../../src/policy/limits.js');
    const sentry = { key: 'sentry', label: 'sentry', limit: fresh.parseLimit('5/day') };
    expect((await fresh.usage([sentry], { paths, now }))[0]).toMatchObject({ used: 3, remaining: 2 });
    expect((await fresh.consume([sentry], { paths, now })).ok).toBe(true);
    expect((await fresh.consume([sentry], { paths, now })).ok).toBe(true);
    expect(await fresh.consume([sentry], { paths, now })).toMatchObject({ ok: false, used: 5 });
  });

  it('stores one counter per key and unit, 0600, and drops windows that have ended', async () => {
    expect(paths.usage).toBe(file);
    const monday = new Date('2026-11-23T10:15:00Z');
    await consume([rule('sentry', '5/min'), rule('sentry:delete_*', '2/day')], { paths, now: monday });
    await consume([rule('__proto__', '5/hour')], { paths, now: monday });
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      version: 1,
      counters: {
        sentry: { minute: { window: '2026-11-23T10:15:00Z', used: 1 } },
        'sentry:delete_*': { day: { window: '2026-11-23T00:00:00Z', used: 1 } },
        ['__proto__']: { hour: { window: '2026-11-23T10:00:00Z', used: 1 } },
      },
    });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(({} as Record<string, unknown>).hour).toBeUndefined();

    // An hour later the minute window is gone from the file; the day window stays.
    await consume([rule('github', '1/day')], { paths, now: new Date('2026-11-23T11:15:00Z') });
    const later = JSON.parse(await readFile(file, 'utf8')) as { counters: Record<string, unknown> };
    expect(Object.keys(later.counters).sort()).toEqual(['github', 'sentry:delete_*']);
  });

  it('sets a corrupt file aside, says so, and counts from zero', async () => {
    const now = new Date('2026-11-21T20:47:13Z');
    const sentry = rule('sentry', '2/day');
    await mkdir(join(stateDir, 'state'));
    for (const damage of [
      '{"version": 1, "counters": {"sentry": {"day": {',
      '{"version":1,"counters":[]}',
      '\0\0\0',
    ]) {
      await writeFile(file, damage);

      const shown: string[] = [];
      expect(
        await usage([sentry], { paths, now, onWarning: (message) => shown.push(message) }),
      ).toMatchObject([{ used: 0 }]);
      expect(shown).toEqual([expect.stringContaining(`The usage counts in ${file} could not be understood`)]);
      expect(await readFile(file, 'utf8')).toBe(damage); // Reading alone changes nothing.

      const warnings: string[] = [];
      expect(await consume([sentry], { paths, now, onWarning: (message) => warnings.push(message) })).toEqual(
        {
          ok: true,
        },
      );
      const aside = (await readdir(join(stateDir, 'state'))).filter((name) =>
        name.startsWith('usage.json.corrupt-'),
      );
      expect(aside).toHaveLength(1);
      const asidePath = join(stateDir, 'state', aside[0]!);
      expect(await readFile(asidePath, 'utf8')).toBe(damage);
      expect(warnings).toEqual([
        expect.stringMatching(
          /counting starts again from zero\. The old file was kept as .*usage\.json\.corrupt-/,
        ),
      ]);
      expect(warnings[0]).toContain(asidePath);
      expect((await usage([sentry], { paths, now }))[0]?.used).toBe(1);
      await rm(asidePath);
      await rm(file);
    }
  });

  it('treats a newer format as unreadable rather than guessing', async () => {
    await mkdir(join(stateDir, 'state'));
    await writeFile(file, '{"version": 2, "counters": {}}');
    const warnings: string[] = [];
    await usage([rule('sentry', '1/day')], { paths, onWarning: (message) => warnings.push(message) });
    expect(warnings[0]).toContain('unknown version 2');
  });
});

describe('a gateway keeping the usage lock', () => {
  const now = new Date('2026-11-21T20:47:13Z');
  const sentry = rule('sentry', '10/hour', { server: 'sentry' });
  // Longer than the 20 ms a kept lock's counts may wait to be written.
  const afterWrite = () => new Promise((resolve) => setTimeout(resolve, 80));
  const usedInFile = async () =>
    (JSON.parse(await readFile(file, 'utf8')) as { counters: Record<string, { hour: { used: number } }> })
      .counters.sentry!.hour.used;
  // Long enough that the lock is not given back between the steps of a test on a loaded machine.
  const counter = () => fileLimitCounter({ paths, holdLock: true, holdIdleMs: 10_000 });

  it('writes what it admitted soon after, not before the call goes on, with the lock still kept', async () => {
    const gateway = counter();
    try {
      expect(
        await gateway.consume([
          { rules: [sentry], now },
          { rules: [sentry], now },
        ]),
      ).toEqual([{ ok: true }, { ok: true }]);
      // Not yet: the decision did not wait for the file, the call went on at once.
      expect(existsSync(file)).toBe(false);
      await afterWrite();
      expect(await usedInFile()).toBe(2);
      expect(existsSync(`${file}.lock`)).toBe(true);
    } finally {
      await gateway.close!();
    }
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('shows its own counts not yet written in the usage it reports', async () => {
    const gateway = counter();
    try {
      await gateway.consume([{ rules: [sentry], now }]);
      expect((await gateway.usage([sentry], now))[0]!.used).toBe(1);
    } finally {
      await gateway.close!();
    }
  });

  it('decides at once while it keeps the lock: exactly the limit, the refusal named, every admitted call written', async () => {
    const gateway = counter();
    try {
      // The first decision takes the lock and reads the file; the ones after it are decided from memory.
      const results = [];
      for (let call = 0; call < 12; call++)
        results.push(...(await gateway.consume([{ rules: [sentry], now }])));
      expect(results.filter((result) => result.ok)).toHaveLength(10);
      expect(results.slice(10)).toEqual([
        expect.objectContaining({ ok: false, rule: expect.objectContaining({ key: sentry.key }) }),
        expect.objectContaining({ ok: false }),
      ]);
      await afterWrite();
      expect(await usedInFile()).toBe(10);
      // Those decided at once and those queued behind them count the same calls.
      const burst = await gateway.consume([
        { rules: [rule('sentry', '12/hour', { server: 'sentry' })], now },
        { rules: [rule('sentry', '12/hour', { server: 'sentry' })], now },
        { rules: [rule('sentry', '12/hour', { server: 'sentry' })], now },
      ]);
      expect(burst.map((result) => result.ok)).toEqual([true, true, false]);
    } finally {
      await gateway.close!();
    }
  });

  it('writes what is unwritten before it gives the lock back', async () => {
    const gateway = counter();
    expect(await gateway.consume([{ rules: [sentry], now }])).toEqual([{ ok: true }]);
    await gateway.close!();
    expect(await usedInFile()).toBe(1);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('refuses calls while the file cannot take the counts, and loses none of them once it can', async () => {
    const gateway = counter();
    try {
      expect(await gateway.consume([{ rules: [sentry], now }])).toEqual([{ ok: true }]);
      await afterWrite();
      // Something takes the file's place: a directory, which no rename can replace. Counts
      // larger than a page are replaced rather than overwritten in place (OverwrittenFile).
      await rm(file);
      await mkdir(join(file, 'in-the-way'), { recursive: true });
      const many = Array.from({ length: 80 }, (_, index) => rule(`server-${index}`, '10/hour'));
      expect(await gateway.consume([{ rules: [sentry, ...many], now }])).toEqual([{ ok: true }]);
      await afterWrite(); // This write fails.
      const refused = gateway.consume([{ rules: [sentry], now }]);
      await expect(refused).rejects.toThrow(PatchbayError);
      await expect(refused).rejects.toThrow(/Could not write .*usage\.json.*The old file is intact/);
      await rm(file, { recursive: true });
      expect(await gateway.consume([{ rules: [sentry], now }])).toEqual([{ ok: true }]);
      await afterWrite();
      // The call admitted while the write failed is counted; the refused one is not.
      expect(await usedInFile()).toBe(3);
    } finally {
      await gateway.close!();
    }
  });
});

describe('consume across processes', () => {
  const WORKER = fileURLToPath(new URL('../fixtures/limits-worker.mjs', import.meta.url));
  const BUILT = fileURLToPath(new URL('../../dist/policy/limits.js', import.meta.url));
  const SOURCE = fileURLToPath(new URL('../../src/policy/limits.ts', import.meta.url));

  it.each([
    ['each taking the lock per call', 0],
    ['half of them keeping it across their calls, as gateways do', 5],
  ])(
    'loses no update: 10 processes × 30 calls against 200/day pass exactly 200, %s',
    { timeout: 20_000 },
    async (_how, holding) => {
      if (!existsSync(BUILT) || statSync(BUILT).mtimeMs < statSync(SOURCE).mtimeMs) {
        throw new Error(`${BUILT} is missing or older than its source: run npm run build first.`);
      }
      const now = '2026-11-21T20:47:13Z';
      const workers = Array.from({ length: 10 }, (_, index) => {
        const hold = index < holding ? ['sentry', 'hold'] : [];
        const child = spawn(process.execPath, [WORKER, '30', '200/day', now, ...hold], {
          env: { PATH: process.env.PATH, PATCHBAY_STATE_DIR: env.PATCHBAY_STATE_DIR },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8');
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        const ready = new Promise<void>((resolve) => {
          const onData = (chunk: string): void => {
            stdout += chunk;
            if (stdout.includes('ready\n')) resolve();
          };
          child.stdout.on('data', onData);
        });
        const done = new Promise<{ ok: number; refused: number }>((resolve, reject) => {
          const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          child.on('error', reject);
          child.on('close', (code) => {
            clearTimeout(timer);
            const last = stdout.trim().split('\n').pop() ?? '';
            if (code === 0 && last.startsWith('{'))
              resolve(JSON.parse(last) as { ok: number; refused: number });
            else reject(new Error(`worker exited ${code}: ${stderr || stdout}`));
          });
        });
        return { child, ready, done };
      });
      try {
        // Start together once all are loaded, so the calls really overlap.
        await Promise.all(workers.map((worker) => worker.ready));
        for (const worker of workers) worker.child.stdin.end('go\n');
        const results = await Promise.all(workers.map((worker) => worker.done));
        expect(results.reduce((sum, result) => sum + result.ok, 0)).toBe(200);
        expect(results.reduce((sum, result) => sum + result.refused, 0)).toBe(100);
      } finally {
        for (const { child } of workers) if (child.exitCode === null) child.kill('SIGKILL');
      }
      const sentry = rule('sentry', '200/day');
      expect(await usage([sentry], { paths, now: new Date(now) })).toMatchObject([
        { used: 200, remaining: 0 },
      ]);
      const leftovers = (await readdir(join(stateDir, 'state'))).filter((name) => name !== 'usage.json');
      expect(leftovers).toEqual([]); // No lock or temporary file left behind.
    },
  );
});
