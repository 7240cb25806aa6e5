/** `patchbay log` and `patchbay stats`: parsing, and what they print for a real audit log. */

import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  bytes,
  duration,
  localTime,
  parseLogOptions,
  parseStatsOptions,
  runLog,
  runStats,
} from '../../src/cli/commands/log.js';
import { resolvePaths } from '../../src/core/paths.js';
import type { Io } from '../../src/cli/io.js';
import { PatchbayError } from '../../src/errors.js';
import { recordCall, type AuditEntry } from '../../src/policy/audit.js';

const now = new Date('2026-01-31T12:00:00.000Z');

describe('parseLogOptions and parseStatsOptions', () => {
  it('default to the last 24 hours and the last day, human output', () => {
    expect(parseLogOptions(undefined, {}, now)).toEqual({
      name: undefined,
      since: new Date('2026-01-30T12:00:00.000Z'),
      json: false,
    });
    expect(parseStatsOptions({}, now)).toEqual({ since: new Date('2026-01-30T12:00:00.000Z'), json: false });
  });

  it('take a server name, --since and --json', () => {
    expect(parseLogOptions('notion', { since: '1h', json: true }, now)).toEqual({
      name: 'notion',
      since: new Date('2026-01-31T11:00:00.000Z'),
      json: true,
    });
    expect(parseStatsOptions({ since: '1w', json: true }, now)).toEqual({
      since: new Date('2026-01-24T12:00:00.000Z'),
      json: true,
    });
  });

  it('--jsonl: an export, of everything unless --since is given; not with --json', () => {
    expect(parseLogOptions(undefined, { jsonl: true }, now)).toEqual({
      name: undefined,
      json: false,
      jsonl: true,
    });
    expect(parseLogOptions(undefined, { jsonl: true, since: '1h' }, now)).toMatchObject({
      since: new Date('2026-01-31T11:00:00.000Z'),
      jsonl: true,
    });
    expect(() => parseLogOptions(undefined, { jsonl: true, json: true }, now)).toThrow(/choose one/);
  });

  it.each([
    ['a bad name', () => parseLogOptions('no spaces', {}, now)],
    ['a bad --since for log', () => parseLogOptions(undefined, { since: 'yesterday' }, now)],
    ['a bad --since for stats', () => parseStatsOptions({ since: '5 minutes' }, now)],
  ])('refuse %s as a usage error', (_label, parse) => {
    try {
      parse();
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PatchbayError);
      expect((error as PatchbayError).exitCode).toBe(2);
    }
  });
});

describe('how sizes and durations are said', () => {
  it.each([
    [0.42, '0.4 ms'],
    [12.6, '13 ms'],
    [1234, '1.23 s'],
    [12_345, '12.3 s'],
    [119_600, '2 min 0 s'],
  ])('%d ms → %s', (ms, text) => expect(duration(ms)).toBe(text));

  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [3500, '3.4 KiB'],
    [5 * 1024 * 1024, '5.0 MiB'],
  ])('%d bytes → %s', (count, text) => expect(bytes(count)).toBe(text));
});

describe('runLog and runStats', () => {
  let root: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'patchbay-log-'));
    env = { HOME: root, PATCHBAY_STATE_DIR: join(root, 'state'), NO_COLOR: '1' };
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  function recorder(): { stream: Writable; text: () => string } {
    let text = '';
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        text += String(chunk);
        callback();
      },
    });
    return { stream, text: () => text };
  }

  function captureIo(): Io & { out: () => string; err: () => string } {
    const stdout = recorder();
    const stderr = recorder();
    return {
      stdout: stdout.stream,
      stderr: stderr.stream,
      stdin: new PassThrough(),
      env,
      paths: resolvePaths(env),
      cwd: root,
      out: stdout.text,
      err: stderr.text,
    };
  }

  const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);

  async function record(overrides: Partial<AuditEntry>): Promise<AuditEntry> {
    const entry: AuditEntry = {
      time: minutesAgo(5).toISOString(),
      host: 'claude-code',
      via: 'gateway',
      server: 'notion',
      tool: 'search',
      decision: 'allowed',
      outcome: 'ok',
      durationMs: 120,
      argumentBytes: 42,
      resultBytes: 3500,
      ...overrides,
    };
    expect(await recordCall(entry, { paths: resolvePaths(env), logArguments: false })).toBe(true);
    return entry;
  }

  async function sample(): Promise<void> {
    await record({ time: minutesAgo(30).toISOString(), durationMs: 80 });
    await record({ time: minutesAgo(20).toISOString(), durationMs: 200 });
    await record({
      time: minutesAgo(10).toISOString(),
      host: 'patchbay call',
      via: 'call',
      server: 'sentry',
      tool: 'issues',
      outcome: 'error',
      durationMs: 1500,
      error: 'HTTP 401: Authorization: Bearer sk-abcdefghijklmnop1234',
    });
    await record({
      time: minutesAgo(5).toISOString(),
      decision: 'denied',
      outcome: 'refused',
      durationMs: 0,
      resultBytes: 0,
      host: 'evil\u001b[2Jhost',
    });
    // Outside the default window of `log`.
    await record({ time: minutesAgo(60 * 30).toISOString(), tool: 'old' });
  }

  it('say that nothing is recorded yet, and how calls get recorded, on an empty log', async () => {
    for (const run of [
      (io: Io) => runLog(parseLogOptions(undefined, {}), io),
      (io: Io) => runStats(parseStatsOptions({}), io),
    ]) {
      const io = captureIo();
      expect(await run(io)).toBe(0);
      expect(io.out()).toBe('');
      expect(io.err()).toMatch(/Nothing recorded yet/);
      expect(io.err()).toMatch(/patchbay serve/);
      expect(io.err()).toMatch(/patchbay call/);
      expect(io.err()).toContain(resolvePaths(env).audit);
    }
    const io = captureIo();
    expect(await runLog(parseLogOptions(undefined, { json: true }), io)).toBe(0);
    expect(JSON.parse(io.out())).toEqual([]);
  });

  it('log: one line per call in the window, oldest first, names made printable', async () => {
    await sample();
    const io = captureIo();
    expect(await runLog(parseLogOptions(undefined, {}), io)).toBe(0);
    const lines = io.out().trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toContain(localTime(minutesAgo(30)).slice(0, 13));
    expect(lines[0]).toMatch(/claude-code\s+notion\/search\s+allowed\s+ok\s+80 ms\s+in 42 B, out 3\.4 KiB$/);
    expect(lines[2]).toMatch(
      /patchbay call\s+sentry\/issues\s+allowed\s+error\s+1\.50 s\s+in 42 B, out 3\.4 KiB/,
    );
    expect(lines[2]).toContain('HTTP 401: Authorization: Bearer ****');
    expect(lines[2]).not.toContain('sk-abc');
    expect(lines[3]).toMatch(/evilhost\s+notion\/search\s+denied\s+refused/);
    expect(io.out()).not.toContain('\u001b');
    expect(io.out()).not.toContain('/old');
    expect(io.err()).toMatch(/4 calls since /);
  });

  it('log: what the gateway knows of the caller, resource reads and prompts; older lines as before', async () => {
    await record({ time: minutesAgo(3).toISOString(), tool: 'plain' });
    await record({
      time: minutesAgo(2).toISOString(),
      hostClaimed: 'claude-code',
      caller: {
        transport: 'http',
        auth: 'gateway-token',
        subject: null,
        session: 'sha256:0123456789abcdef',
        peer: '127.0.0.1:5\u001b[2J',
        // Only the known fields are written, whatever else the object carries.
        token: 'secret-token-value',
      } as never,
    });
    await record({
      time: minutesAgo(1).toISOString(),
      kind: 'resource',
      tool: 'demo://readme',
      decision: 'not-governed',
      hostClaimed: 'claude-code',
      caller: { transport: 'stdio', auth: 'parent-process', subject: 'ada@example.com' },
    });
    const io = captureIo();
    await runLog(parseLogOptions(undefined, {}), io);
    const lines = io.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/notion\/plain\s+allowed\s+ok\s+120 ms\s+in 42 B, out 3\.4 KiB$/);
    expect(lines[1]).toMatch(
      /notion\/search .*\[http 127\.0\.0\.1:5 gateway-token session sha256:0123456789abcdef\]$/,
    );
    expect(lines[2]).toMatch(
      /notion resource demo:\/\/readme\s+not-governed\s+ok .*\[stdio parent-process:ada@example\.com\]$/,
    );
    expect(io.out()).not.toContain('\u001b');
    const json = captureIo();
    await runLog(parseLogOptions(undefined, { json: true }), json);
    const entries = JSON.parse(json.out()) as AuditEntry[];
    expect(entries).toHaveLength(3);
    expect(entries[0]).not.toHaveProperty('caller');
    expect(entries[1]!.caller).toEqual({
      transport: 'http',
      auth: 'gateway-token',
      subject: null,
      session: 'sha256:0123456789abcdef',
      peer: '127.0.0.1:5\u001b[2J',
    });
    expect(json.out()).not.toContain('secret-token-value');
    const stats = captureIo();
    await runStats(parseStatsOptions({ json: true }), stats);
    expect(JSON.parse(stats.out())).toEqual([
      expect.objectContaining({ server: 'notion', tool: 'demo://readme', kind: 'resource', calls: 1 }),
      expect.objectContaining({ server: 'notion', tool: 'plain', calls: 1 }),
      expect.objectContaining({ server: 'notion', tool: 'search', calls: 1 }),
    ]);
  });

  it('log <name>: only that server; --since reaches further back', async () => {
    await sample();
    const io = captureIo();
    await runLog(parseLogOptions('sentry', {}), io);
    expect(io.out().trimEnd().split('\n')).toHaveLength(1);
    expect(io.out()).toContain('sentry/issues');

    const further = captureIo();
    await runLog(parseLogOptions(undefined, { since: '2d' }), further);
    expect(further.out()).toContain('notion/old');
  });

  it('log --json: the entries as an array', async () => {
    await sample();
    const io = captureIo();
    await runLog(parseLogOptions('notion', { json: true }), io);
    const entries = JSON.parse(io.out()) as AuditEntry[];
    expect(entries.map((entry) => entry.decision)).toEqual(['allowed', 'allowed', 'denied']);
    expect(entries[0]).toMatchObject({ server: 'notion', tool: 'search', durationMs: 80, via: 'gateway' });
  });

  it('log --jsonl: every entry in time order, one JSON line each, escaped, filters applied', async () => {
    await sample();
    const io = captureIo();
    await runLog(parseLogOptions(undefined, { jsonl: true }), io);
    const lines = io.out().trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines.map((line) => (JSON.parse(line) as AuditEntry).tool)).toEqual([
      'old',
      'search',
      'search',
      'issues',
      'search',
    ]);
    // A host's escape sequence stays escaped JSON, never a raw ESC on the terminal.
    expect(io.out()).not.toContain('\u001b');
    expect(io.out()).toContain('evil\\u001b[2Jhost');
    expect(io.err()).toContain('5 calls exported');
    const only = captureIo();
    await runLog(parseLogOptions('sentry', { jsonl: true, since: '1h' }), only);
    expect(
      only
        .out()
        .trimEnd()
        .split('\n')
        .map((line) => (JSON.parse(line) as AuditEntry).tool),
    ).toEqual(['issues']);
  });

  it('say when calls exist but none in the window', async () => {
    await record({ time: minutesAgo(60 * 48).toISOString() });
    const io = captureIo();
    expect(await runLog(parseLogOptions('notion', { since: '1h' }), io)).toBe(0);
    expect(io.out()).toBe('');
    expect(io.err()).toMatch(/No calls to notion recorded since .*--since 1w/);
  });

  it('warn about lines that could not be read', async () => {
    await record({});
    await appendFile(resolvePaths(env).audit, 'garbage\n');
    const io = captureIo();
    await runLog(parseLogOptions(undefined, {}), io);
    expect(io.out().trimEnd().split('\n')).toHaveLength(1);
    expect(io.err()).toMatch(/warning: 1 line of the audit log could not be read/);
  });

  it('stats: an aligned table per server and tool, and a totals line', async () => {
    await sample();
    const io = captureIo();
    expect(await runStats(parseStatsOptions({}), io)).toBe(0);
    const lines = io.out().trimEnd().split('\n');
    expect(lines).toEqual([
      'server  tool    calls  errors  denied  limited     p50     p95     max',
      'notion  search      3       1       1        0   80 ms  200 ms  200 ms',
      'sentry  issues      1       1       0        0  1.50 s  1.50 s  1.50 s',
      'total               4       2       1        0  200 ms  1.50 s  1.50 s',
    ]);
    expect(io.err()).toMatch(/since /);
  });

  it('stats --json: the summary array', async () => {
    await sample();
    const io = captureIo();
    await runStats(parseStatsOptions({ since: '2d', json: true }), io);
    expect(JSON.parse(io.out())).toEqual([
      {
        server: 'notion',
        tool: 'old',
        calls: 1,
        errors: 0,
        denied: 0,
        limited: 0,
        p50Ms: 120,
        p95Ms: 120,
        maxMs: 120,
      },
      {
        server: 'notion',
        tool: 'search',
        calls: 3,
        errors: 1,
        denied: 1,
        limited: 0,
        p50Ms: 80,
        p95Ms: 200,
        maxMs: 200,
      },
      {
        server: 'sentry',
        tool: 'issues',
        calls: 1,
        errors: 1,
        denied: 0,
        limited: 0,
        p50Ms: 1500,
        p95Ms: 1500,
        maxMs: 1500,
      },
    ]);
  });
});
