/** The audit log on real files: what is written, what is masked, rotation, reading, summaries. */

import { execFileSync, spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { resolvePaths, type Paths } from '../../src/core/paths.js';
import { PatchbayError } from '../../src/errors.js';
import {
  maskSecretsInText,
  parseSince,
  percentile,
  readAudit,
  recordCall,
  summarize,
  summarizeCalls,
  type AuditEntry,
} from '../../src/policy/audit.js';

let root: string;
let env: NodeJS.ProcessEnv;
let paths: Paths;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'patchbay-audit-'));
  env = { HOME: root, PATCHBAY_STATE_DIR: join(root, 'state') };
  paths = resolvePaths(env);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function entry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    time: '2026-01-31T09:00:00.000Z',
    host: 'claude-code',
    via: 'gateway',
    server: 'notion',
    tool: 'search',
    decision: 'allowed',
    outcome: 'ok',
    durationMs: 12,
    argumentBytes: 20,
    resultBytes: 300,
    ...overrides,
  };
}

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter(Boolean);
}

describe('recordCall and readAudit', () => {
  it('appends JSON lines that read back in time order, in a 0600 file in a 0700 directory', async () => {
    expect(
      await recordCall(entry({ time: '2026-01-31T09:00:02.000Z', tool: 'b' }), {
        paths,
        logArguments: false,
      }),
    ).toBe(true);
    expect(
      await recordCall(entry({ time: '2026-01-31T09:00:01.000Z', tool: 'a' }), {
        paths,
        logArguments: false,
      }),
    ).toBe(true);

    const path = paths.audit;
    expect(path).toBe(join(root, 'state', 'audit.jsonl'));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'state'))).mode & 0o777).toBe(0o700);
    expect(await lines(path)).toHaveLength(2);

    const read = await readAudit({ paths });
    expect(read.malformed).toBe(0);
    expect(read.files).toEqual([path]);
    expect(read.entries.map((e) => e.tool)).toEqual(['a', 'b']);
    expect(read.entries[0]).toEqual(entry({ time: '2026-01-31T09:00:01.000Z', tool: 'a' }));
  });

  it('drops the arguments unless asked to log them', async () => {
    const args = { query: 'weekly notes' };
    await recordCall(entry({ arguments: args }), { paths, logArguments: false });
    await recordCall(entry({ arguments: args }), { paths, logArguments: true });
    const [without, withArgs] = await lines(paths.audit);
    expect(JSON.parse(without!)).not.toHaveProperty('arguments');
    expect(JSON.parse(withArgs!).arguments).toEqual(args);
  });

  it('masks secret keys in arguments, at any depth and whatever the value', async () => {
    await recordCall(
      entry({
        arguments: {
          query: 'weekly notes',
          apiKey: 'abc123',
          headers: { Authorization: 'Bearer xyz-987654', Accept: 'application/json' },
          auth: { user: 'ada', pin: 1234, remember: true },
          list: [{ password: 'hunter2' }, 'plain'],
          template: { token: '${NOTION_TOKEN}' },
          note: 'use ghp_abcdefghijklmnopqrstuvwx1234 here',
          callback: 'https://cb.example/done?state=1&access_token=s3cr3t',
          sha: '0123456789abcdef0123456789abcdef01234567',
        },
      }),
      { paths, logArguments: true },
    );
    const [line] = await lines(paths.audit);
    expect(line).not.toMatch(/abc123|xyz-987654|hunter2|1234[^5]|ghp_|s3cr3t/);
    expect(JSON.parse(line!).arguments).toEqual({
      query: 'weekly notes',
      apiKey: '****',
      headers: { Authorization: 'Bearer ****', Accept: 'application/json' },
      auth: { user: '****', pin: '****', remember: true },
      list: [{ password: '****' }, 'plain'],
      template: { token: '${NOTION_TOKEN}' },
      note: 'use **** here',
      callback: 'https://cb.example/done?state=1&access_token=****',
      sha: '0123456789abcdef0123456789abcdef01234567',
    });
  });

  it('masks secrets in the error text', async () => {
    await recordCall(
      entry({
        outcome: 'error',
        error:
          'HTTP 401 from https://ada:pa55word@h.example/mcp?api_key=k3y: Authorization: Bearer sk-abcdefghijklmnop1234; "client_secret":"cs_987"',
      }),
      { paths, logArguments: false },
    );
    const [read] = (await readAudit({ paths })).entries;
    expect(read!.error).not.toMatch(/pa55word|k3y|sk-abc|cs_987/);
    expect(read!.error).toContain('HTTP 401 from https://ada:****@h.example/mcp?api_key=****: ');
    expect(read!.error).toContain('Authorization: Bearer ****;');
    expect(read!.error).toContain('"client_secret":"****"');
  });

  it('leaves a large argument out rather than writing a huge line', async () => {
    await recordCall(entry({ arguments: { text: 'word '.repeat(20_000) } }), { paths, logArguments: true });
    const [line] = await lines(paths.audit);
    expect(JSON.parse(line!).arguments).toMatch(/^\[\d+ bytes, over 65536: not logged\]$/);
  });

  it('never throws for a logging failure; it tells onError and returns false', async () => {
    await writeFile(join(root, 'state'), 'a file where the directory should be');
    const errors: unknown[] = [];
    const ok = await recordCall(entry(), { paths, logArguments: false, onError: (e) => errors.push(e) });
    expect(ok).toBe(false);
    expect(errors).toHaveLength(1);
    expect(
      await recordCall(entry(), {
        paths,
        logArguments: false,
        onError: () => {
          throw new Error('reporter broken');
        },
      }),
    ).toBe(false);
  });

  it('skips malformed lines and counts them', async () => {
    await recordCall(entry({ tool: 'first' }), { paths, logArguments: false });
    const path = paths.audit;
    await appendFile(path, 'not json\n{"time":"2026-01-31T09:00:00Z"}\n[1,2]\n\n');
    await recordCall(entry({ tool: 'second' }), { paths, logArguments: false });
    await appendFile(path, '{"time":"2026-01-31T09:00:0'); // a crash mid-write
    const read = await readAudit({ paths });
    expect(read.entries.map((e) => e.tool)).toEqual(['first', 'second']);
    expect(read.malformed).toBe(4);
  });

  it('filters by time and by server', async () => {
    await recordCall(entry({ time: '2026-01-30T09:00:00.000Z', server: 'notion' }), {
      paths,
      logArguments: false,
    });
    await recordCall(entry({ time: '2026-01-31T09:00:00.000Z', server: 'sentry' }), {
      paths,
      logArguments: false,
    });
    await recordCall(entry({ time: '2026-01-31T10:00:00.000Z', server: 'notion' }), {
      paths,
      logArguments: false,
    });
    const since = new Date('2026-01-31T00:00:00Z');
    expect((await readAudit({ paths, since })).entries.map((e) => e.server)).toEqual(['sentry', 'notion']);
    expect((await readAudit({ paths, server: 'notion' })).entries).toHaveLength(2);
    expect((await readAudit({ paths, since, server: 'notion' })).entries).toHaveLength(1);
  });

  it('reads nothing, and says no file exists, before anything was recorded', async () => {
    expect(await readAudit({ paths })).toEqual({ entries: [], malformed: 0, files: [] });
  });
});

describe('rotation', () => {
  it('rotates by size, keeps 3 old files, and reading spans them oldest first', async () => {
    const maxBytes = 2000;
    for (let i = 0; i < 60; i++) {
      const time = new Date(Date.UTC(2026, 0, 31, 9, 0, i)).toISOString();
      expect(
        await recordCall(entry({ time, argumentBytes: i }), { paths, logArguments: false, maxBytes }),
      ).toBe(true);
    }
    const dir = join(root, 'state');
    const files = ['audit.3.jsonl', 'audit.2.jsonl', 'audit.1.jsonl', 'audit.jsonl'].map((name) =>
      join(dir, name),
    );
    let kept = 0;
    for (const file of files) {
      const size = (await stat(file)).size;
      expect(size).toBeLessThanOrEqual(maxBytes);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      kept += (await lines(file)).length;
    }
    await expect(stat(join(dir, 'audit.4.jsonl'))).rejects.toThrow();

    const read = await readAudit({ paths });
    expect(read.files).toEqual(files);
    expect(read.entries).toHaveLength(kept);
    // The newest `kept` entries, contiguous and in order: the oldest were dropped with audit.4.
    expect(read.entries.map((e) => e.argumentBytes)).toEqual(
      Array.from({ length: kept }, (_, i) => 60 - kept + i),
    );
    expect(kept).toBeLessThan(60);
  });

  it('does not read a rotated file last changed before --since', async () => {
    const maxBytes = 600;
    for (let i = 0; i < 6; i++)
      await recordCall(entry({ time: new Date().toISOString() }), { paths, logArguments: false, maxBytes });
    const read = await readAudit({ paths, since: new Date(Date.now() + 60_000) });
    expect(read.entries).toEqual([]);
    expect(read.files.length).toBeGreaterThan(1);
  });
});

describe('concurrent processes', () => {
  const WORKER = fileURLToPath(new URL('../fixtures/audit-writer.mjs', import.meta.url));
  const BUILT = fileURLToPath(new URL('../../dist/policy/audit.js', import.meta.url));
  const SOURCE = fileURLToPath(new URL('../../src/policy/audit.ts', import.meta.url));

  beforeAll(() => {
    // The workers run the built module; make sure it is this source's.
    const stale = (() => {
      try {
        return statSync(BUILT).mtimeMs < statSync(SOURCE).mtimeMs;
      } catch {
        return true;
      }
    })();
    if (stale) execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  }, 120_000);

  function runWorkers(workers: number, count: number, maxBytes: number): Promise<void> {
    const startAt = Date.now() + 500;
    return Promise.all(
      Array.from(
        { length: workers },
        (_, worker) =>
          new Promise<void>((resolve, reject) => {
            const child = spawn(
              process.execPath,
              [WORKER, String(worker), String(count), String(maxBytes), String(startAt)],
              { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
            );
            let stderr = '';
            child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
            child.on('error', reject);
            child.on('close', (code) =>
              code === 0 ? resolve() : reject(new Error(`worker ${worker} exited ${code}: ${stderr}`)),
            );
          }),
      ),
    ).then(() => undefined);
  }

  /** Every line of every file parses, and each (worker, index) arrived exactly once. */
  async function expectAll(paths: string[], workers: number, count: number): Promise<void> {
    const seen = new Set<string>();
    let total = 0;
    for (const path of paths) {
      const text = await readFile(path, 'utf8').catch(() => '');
      expect(text === '' || text.endsWith('\n')).toBe(true);
      for (const line of text.split('\n').filter(Boolean)) {
        const parsed = JSON.parse(line) as AuditEntry & { arguments: { worker: number; index: number } };
        expect(parsed.tool).toBe(`w${parsed.arguments.worker}`);
        seen.add(`${parsed.arguments.worker}:${parsed.arguments.index}`);
        total++;
      }
    }
    expect(total).toBe(workers * count);
    expect(seen.size).toBe(workers * count);
    const read = await readAudit({ paths: resolvePaths(env) });
    expect(read.malformed).toBe(0);
    expect(read.entries).toHaveLength(workers * count);
  }

  it('8 processes × 200 appends: exactly 1600 well-formed lines', async () => {
    await runWorkers(8, 200, 0);
    const path = paths.audit;
    expect(await lines(path)).toHaveLength(1600);
    await expectAll([path], 8, 200);
  }, 60_000);

  it('rotating while 8 processes append: never twice for one full file, so no line is lost', async () => {
    // ~1600 lines of ~650 bytes ≈ 1 MB; at 300 kB a file that is 4 files (3 old + current),
    // with some room. One rotation too many would push a whole file out and lose lines.
    const maxBytes = 300_000;
    await runWorkers(8, 200, maxBytes);
    const dir = join(root, 'state');
    const files = ['audit.3.jsonl', 'audit.2.jsonl', 'audit.1.jsonl', 'audit.jsonl'].map((name) =>
      join(dir, name),
    );
    expect((await stat(files[0]!)).size).toBeGreaterThan(0);
    await expectAll(files, 8, 200);
  }, 60_000);
});

describe('parseSince', () => {
  const now = new Date('2026-01-31T12:00:00.000Z');

  it.each([
    ['90s', '2026-01-31T11:58:30.000Z'],
    ['15m', '2026-01-31T11:45:00.000Z'],
    ['1h', '2026-01-31T11:00:00.000Z'],
    ['1.5h', '2026-01-31T10:30:00.000Z'],
    ['2d', '2026-01-29T12:00:00.000Z'],
    ['1w', '2026-01-24T12:00:00.000Z'],
    [' 3H ', '2026-01-31T09:00:00.000Z'],
    ['2026-01-30T08:00:00Z', '2026-01-30T08:00:00.000Z'],
    ['2026-01-30T08:00:00+01:00', '2026-01-30T07:00:00.000Z'],
  ])('%s', (text, expected) => {
    expect(parseSince(text, now).toISOString()).toBe(expected);
  });

  it('takes a date, or a date-time without a zone, as local time', () => {
    expect(parseSince('2026-01-30T08:00', now).getTime()).toBe(new Date(2026, 0, 30, 8, 0).getTime());
    expect(parseSince('2026-01-30 08:00:30', now).getTime()).toBe(new Date(2026, 0, 30, 8, 0, 30).getTime());
    expect(parseSince('2026-01-30', now).getTime()).toBe(new Date(2026, 0, 30).getTime());
  });

  it.each(['', '1', 'h', '0h', '-1h', '1y', '1 hour', 'yesterday', '2026-13-45', '2026-01-30Tnoon'])(
    'refuses %j as a usage error with a hint',
    (text) => {
      try {
        parseSince(text, now);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(PatchbayError);
        expect((error as PatchbayError).code).toBe('usage');
        expect((error as PatchbayError).exitCode).toBe(2);
        expect((error as PatchbayError).hint).toMatch(/--since 1h/);
      }
    },
  );
});

describe('summarize', () => {
  it('counts calls, errors, denials and limits, with nearest-rank latency per server and tool', () => {
    const entries: AuditEntry[] = [
      ...Array.from({ length: 20 }, (_, i) => entry({ durationMs: i + 1 })), // notion/search: 1..20 ms
      entry({ outcome: 'tool-error', durationMs: 100 }),
      entry({ decision: 'denied', outcome: 'refused', durationMs: 0 }),
      entry({ decision: 'limited', outcome: 'refused', durationMs: 0 }),
      entry({ server: 'sentry', tool: 'issues', outcome: 'error', durationMs: 5000 }),
      entry({ server: 'notion', tool: 'fetch', decision: 'asked', durationMs: 40 }),
    ];
    expect(summarize(entries)).toEqual([
      {
        server: 'notion',
        tool: 'fetch',
        calls: 1,
        errors: 0,
        denied: 0,
        limited: 0,
        p50Ms: 40,
        p95Ms: 40,
        maxMs: 40,
      },
      // 21 latencies (the refused two have none): 1..20 and 100.
      {
        server: 'notion',
        tool: 'search',
        calls: 23,
        errors: 3,
        denied: 1,
        limited: 1,
        p50Ms: 11,
        p95Ms: 20,
        maxMs: 100,
      },
      {
        server: 'sentry',
        tool: 'issues',
        calls: 1,
        errors: 1,
        denied: 0,
        limited: 0,
        p50Ms: 5000,
        p95Ms: 5000,
        maxMs: 5000,
      },
    ]);
    expect(summarizeCalls(entries)).toMatchObject({
      calls: 25,
      errors: 4,
      denied: 1,
      limited: 1,
      maxMs: 5000,
    });
  });

  it('has no latency for tools whose calls were all refused, and nothing for no calls', () => {
    expect(summarize([entry({ decision: 'denied', outcome: 'refused' })])[0]).toMatchObject({
      p50Ms: null,
      p95Ms: null,
      maxMs: null,
    });
    expect(summarize([])).toEqual([]);
  });

  it('computes nearest-rank percentiles', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 95)).toBe(4);
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        95,
      ),
    ).toBe(95);
  });
});

describe('maskSecretsInText', () => {
  it.each([
    ['Token expired', 'Token expired'],
    ['Bearer authentication required', 'Bearer authentication required'],
    ['Authorization: Bearer abc', 'Authorization: Bearer ****'],
    ['token=abc&user=ada', 'token=****&user=ada'],
    ['jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-x', 'jwt ****'],
    ['id 550e8400-e29b-41d4-a716-446655440000', 'id 550e8400-e29b-41d4-a716-446655440000'],
    ['random Xk9fQ2mL7pR4sT8vW1yZ3bC6dF0gH5jN', 'random ****'],
    [
      '/Users/ada/src/patchbay/test/policy/audit.test.ts',
      '/Users/ada/src/patchbay/test/policy/audit.test.ts',
    ],
  ])('%j → %j', (text, expected) => {
    expect(maskSecretsInText(text)).toBe(expected);
  });
});
