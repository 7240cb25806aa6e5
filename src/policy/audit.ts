/**
 * The audit log: one JSON line per tool call made through the gateway, `patchbay call` or the
 * console (`patchbay ui`), in
 * `<state dir>/audit.jsonl` (0600, its directory 0700).
 *
 * Appends take no lock. Each line is written with a single write() on a descriptor opened with
 * O_APPEND, and the kernel places every such write whole at the end of the file, so lines from
 * concurrent processes never interleave (every line is far below the size where a local file
 * system would split a write; arguments over MAX_ARGUMENT_BYTES are left out for that reason too).
 *
 * Rotation takes the lock. Before an append that would take the file past `maxBytes`, the
 * appender takes `withFileLock(audit.jsonl)`, looks at the size again and only then shifts
 * audit.2 → audit.3, audit.1 → audit.2, audit → audit.1 (the rename over audit.3 drops the
 * oldest). The second look is what stops two processes that both saw a full file from rotating
 * twice. A process that opened audit.jsonl just before the rename writes its line into what is
 * now audit.1: the line is kept, merely in the previous file, and readers sort by time anyway.
 *
 * Logging never fails a call: `recordCall` reports a failure through `onError` and returns false.
 *
 * Two sinks, one job. What a line holds (fields, masking, members) is decided here once; the line
 * then goes to the file above, or, for a gateway with `--state redis://…`, to the audit stream
 * every replica writes (`sink`: the store's shared log, state/redis-log.ts, spooled locally while
 * Redis is away, state/spooled-log.ts). `readAudit` reads either, through the same filters.
 *
 * When a line is durable. The full path (policy-gate.ts `call`, `patchbay call`) awaits the line
 * before the answer is sent: in the file, or in Redis or the local spool. The gateway's hot path
 * (hot-path.ts) streams the upstream's answer through and writes the line just after it (off the
 * path, setImmediate): a replica killed with -9 in between loses the lines of the calls it had
 * just answered. That loss window is one Redis round trip plus the wait behind a write in flight,
 * longer when the process is starved of CPU. bench/audit-stream.mjs measures it: on the 2-core
 * dev machine at load ~15 (other work), answer → acknowledged by Redis p50 0.8 ms, p99 17 ms, max
 * 22 ms at 16 calls in flight; 10 kills at random moments lost 79 of 2,765 answered calls' lines
 * (0 in 8 kills, 31 and 48 in two). Closing it means a local write-ahead before the answer (the
 * spool as a journal), which the hot path does not do today.
 * What Redis keeps after its own crash is its persistence's business (appendfsync).
 *
 * Through the gateway, a line also says what patchbay established itself about the caller
 * (`caller`: transport, how it was authenticated and as whom, the session, the peer address),
 * beside the name the client gave itself (`hostClaimed`, the same as `host`, which older readers
 * know). Resource reads and prompts relayed by the gateway are lines too (`kind`), with the
 * decision `not-governed`: allow/ask/deny rules apply to tools only.
 */

import { closeSync, constants, openSync, promises as fs, writeSync } from 'node:fs';
import { dirname } from 'node:path';

import { PatchbayError } from '../errors.js';
import { fileSize, fileSizeNow, withFileLock } from '../core/file-store.js';
import { maskJsonSecrets, maskSecretsInText } from '../core/redact.js';
import type { Paths } from '../core/paths.js';
import type { SharedLog } from '../state/store.js';

/** Masking of tool arguments and error texts: the one redactor's rules (core/redact.ts). */
export { maskJsonSecrets, maskSecretsInText };

export type AuditVia = 'gateway' | 'call' | 'console';
export const AUDIT_VIAS: readonly AuditVia[] = ['gateway', 'call', 'console'];
/** `not-governed`: a resource read or prompt, relayed without any rule deciding on it. */
export type AuditDecision = 'allowed' | 'asked' | 'denied' | 'limited' | 'not-governed';
export type AuditOutcome = 'ok' | 'tool-error' | 'error' | 'refused';
/** What a line is about; absent (older lines, every tool call) means a tool. */
export type AuditKind = 'tool' | 'resource' | 'prompt';
export const AUDIT_KINDS: readonly AuditKind[] = ['tool', 'resource', 'prompt'];

/**
 * Who made a request through the gateway, as far as patchbay itself knows — nothing here comes
 * from what the client says about itself.
 */
export interface AuditCaller {
  transport: 'stdio' | 'http';
  /**
   * How the request was authenticated: `gateway-token` (the bearer token of patchbay serve),
   * `api-key` (a named key of `patchbay keys`), `oauth` (an access token of the team's
   * authorization server), `none` (--dangerously-no-auth), or `parent-process` (stdio: whoever
   * started patchbay serve).
   */
  auth: 'gateway-token' | 'api-key' | 'oauth' | 'none' | 'parent-process';
  /**
   * The member the credential names: null for the one static token; the IdP's subject (OAuth) or
   * the key's owner (API key) on a team gateway. Policy rules naming members match this or email.
   */
  subject: string | null;
  /** The member's email, when the IdP gave one. */
  email?: string;
  /** The member's groups (the IdP's groups claim; an API key's own). Rules naming groups match these. */
  groups?: string[];
  /** The OAuth client (the host's registration) or the API key's name. */
  client?: string;
  /** The scopes the credential carries. */
  scopes?: string[];
  /** A 2025-era HTTP session: `sha256:` and 16 hex digits of its Mcp-Session-Id (not the id itself). */
  session?: string;
  /** The HTTP peer, `address:port` (IPv6 in brackets). */
  peer?: string;
}

export interface AuditEntry {
  /** When the call was made (ISO 8601). */
  time: string;
  /** The MCP client's name as it announced itself, 'patchbay call' or 'patchbay ui'; null if it gave none. */
  host: string | null;
  /** Through the gateway: the client's self-given name again, named for what it is (unverified). */
  hostClaimed?: string | null;
  via: AuditVia;
  /** Through the gateway: what patchbay knows of the caller. */
  caller?: AuditCaller;
  /**
   * Through the gateway: whose login went upstream — the one `shared` login of the server, or the
   * calling `member`'s own (a `perMember` server on a team gateway).
   */
  upstreamCredential?: 'shared' | 'member';
  /** Absent for a tool call. */
  kind?: AuditKind;
  server: string;
  /** The tool's name; for a resource read its URI, for a prompt its name. */
  tool: string;
  decision: AuditDecision;
  /** `tool-error`: the tool answered with isError; `error`: no answer; `refused`: never sent. */
  outcome: AuditOutcome;
  durationMs: number;
  argumentBytes: number;
  resultBytes: number;
  error?: string;
  /** Only with --log-arguments, and then with secrets masked. */
  arguments?: unknown;
}

export const AUDIT_DECISIONS: readonly AuditDecision[] = [
  'allowed',
  'asked',
  'denied',
  'limited',
  'not-governed',
];
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['ok', 'tool-error', 'error', 'refused'];

/** Rotate before the current file would grow past this. */
export const MAX_LOG_BYTES = 10 * 1024 * 1024;
/** Rotated files kept: audit.1.jsonl (newest) … audit.3.jsonl (oldest). */
export const KEEP_FILES = 3;
/** Logged arguments larger than this (after masking) are replaced by a note of their size. */
export const MAX_ARGUMENT_BYTES = 64 * 1024;
/** Error texts are cut here: a server can send an error as long as it likes. */
const MAX_ERROR_CHARS = 2000;
/** Rotation waits this long for another process's lock; past it, this append just goes on. */
const ROTATE_LOCK_TIMEOUT_MS = 5_000;
const READ_LOCK_TIMEOUT_MS = 2_000;

/** audit.jsonl for 0, audit.<n>.jsonl for a rotated file. */
function rotatedPath(path: string, index: number): string {
  return index === 0 ? path : path.replace(/\.jsonl$/, `.${index}.jsonl`);
}

// ---------------------------------------------------------------------------------------------
// Masking

// ---------------------------------------------------------------------------------------------
// Writing

export interface RecordOptions {
  /** The log is `paths.audit` (and its rotated files beside it), unless `sink` is given. */
  paths: Paths;
  /** The audit stream of the gateway's state store (`--state redis://…`); unset: the file. */
  sink?: Pick<SharedLog, 'write'> | undefined;
  /** --log-arguments: keep the (masked) arguments; without it they are never written. */
  logArguments: boolean;
  /** Rotation size; MAX_LOG_BYTES unless a test wants a small one. */
  maxBytes?: number;
  keepFiles?: number;
  /** Told about a failure to log; the call itself goes on either way. */
  onError?: (error: unknown) => void;
  /**
   * Told of every entry once, whether or not it could be written (the gateway's metrics count
   * calls here: one place for the full path and the hot path).
   */
  observe?: CallObserver | undefined;
}

/** Sees each audit entry as it is recorded; must not throw (a throw is reported as a log failure). */
export type CallObserver = (entry: AuditEntry) => void;

/** The line written for an entry: fixed field order, error masked, arguments only if asked for. */
export function auditLine(entry: AuditEntry, logArguments: boolean): string {
  const record: AuditEntry = {
    time: entry.time,
    host: entry.host,
    ...(entry.hostClaimed !== undefined ? { hostClaimed: entry.hostClaimed } : {}),
    via: entry.via,
    ...(entry.caller ? { caller: auditCaller(entry.caller) } : {}),
    ...(entry.upstreamCredential ? { upstreamCredential: entry.upstreamCredential } : {}),
    ...(entry.kind && entry.kind !== 'tool' ? { kind: entry.kind } : {}),
    server: entry.server,
    tool: entry.tool,
    decision: entry.decision,
    outcome: entry.outcome,
    durationMs: Math.round(entry.durationMs * 10) / 10,
    argumentBytes: entry.argumentBytes,
    resultBytes: entry.resultBytes,
  };
  if (entry.error !== undefined) record.error = maskSecretsInText(entry.error.slice(0, MAX_ERROR_CHARS));
  if (logArguments && entry.arguments !== undefined) record.arguments = loggableArguments(entry.arguments);
  // JSON.stringify escapes newlines inside strings, so this is exactly one line.
  return `${JSON.stringify(record)}\n`;
}

/** The caller's fields in a fixed order, and only those (a caller object may carry more). */
function auditCaller(caller: AuditCaller): AuditCaller {
  return {
    transport: caller.transport,
    auth: caller.auth,
    subject: caller.subject,
    ...(caller.email !== undefined ? { email: caller.email } : {}),
    ...(caller.groups !== undefined ? { groups: caller.groups } : {}),
    ...(caller.client !== undefined ? { client: caller.client } : {}),
    ...(caller.session !== undefined ? { session: caller.session } : {}),
    ...(caller.peer !== undefined ? { peer: caller.peer } : {}),
  };
}

function loggableArguments(value: unknown): unknown {
  let plain: unknown;
  try {
    // Down to plain JSON data first, as it went over the wire (no Dates, no class instances).
    plain = JSON.parse(JSON.stringify(value) ?? 'null');
  } catch {
    return '[arguments not serialisable]';
  }
  const masked = maskJsonSecrets(plain);
  const bytes = Buffer.byteLength(JSON.stringify(masked));
  return bytes > MAX_ARGUMENT_BYTES ? `[${bytes} bytes, over ${MAX_ARGUMENT_BYTES}: not logged]` : masked;
}

/** Append one entry. Returns false (and tells `onError`) if it could not be written; never throws. */
export async function recordCall(entry: AuditEntry, options: RecordOptions): Promise<boolean> {
  const report = (error: unknown) => {
    try {
      options.onError?.(error);
    } catch {
      // A reporter that fails must not fail the call either.
    }
  };
  if (options.observe) {
    try {
      options.observe(entry);
    } catch (error) {
      report(error);
    }
  }
  try {
    if (options.sink) {
      // The stream's entry is the line without its newline; the sink never rejects (it spools).
      await options.sink.write(auditLine(entry, options.logArguments).slice(0, -1));
      return true;
    }
    const path = options.paths.audit;
    const line = Buffer.from(auditLine(entry, options.logArguments), 'utf8');
    if (!madeDirectories.has(dirname(path))) {
      await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
      madeDirectories.add(dirname(path));
    }
    try {
      await rotateIfFull(path, line.length, options);
    } catch (error) {
      // Not rotated this time (lock busy, rename refused): still log; the next append tries again.
      report(error);
    }
    appendWhole(path, line);
    return true;
  } catch (error) {
    report(error);
    return false;
  }
}

/** Directories already made by this process (a gateway records every call: no mkdir each time). */
const madeDirectories = new Set<string>();

/**
 * One O_APPEND write. Synchronous on purpose: a small append to a local file takes microseconds,
 * while the same open/write/close through the thread pool cost about 0.3 ms of CPU per call, a
 * tenth of what the gateway spends relaying one.
 */
function appendWhole(path: string, line: Buffer): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  try {
    let written = 0;
    // One write() in practice; the loop only guards against a short write (a full disk, a signal).
    while (written < line.length) written += writeSync(fd, line, written, line.length - written);
  } finally {
    closeSync(fd);
  }
}

/** A file is full when the next line would take it past maxBytes (an empty file takes any line). */
function isFull(size: number, lineBytes: number, maxBytes: number): boolean {
  return size > 0 && size + lineBytes > maxBytes;
}

async function rotateIfFull(path: string, lineBytes: number, options: RecordOptions): Promise<void> {
  const maxBytes = options.maxBytes ?? MAX_LOG_BYTES;
  if (!isFull(fileSizeNow(path), lineBytes, maxBytes)) return;
  await withFileLock(path, ROTATE_LOCK_TIMEOUT_MS, async () => {
    // Another process may have rotated while this one waited for the lock.
    if (!isFull(await fileSize(path), lineBytes, maxBytes)) return;
    const keep = options.keepFiles ?? KEEP_FILES;
    for (let index = keep; index >= 1; index--) {
      try {
        await fs.rename(rotatedPath(path, index - 1), rotatedPath(path, index));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface ReadAuditOptions {
  /** The log is `paths.audit` (and its rotated files beside it), unless `log` is given. */
  paths: Paths;
  /** The audit stream (`--state redis://…`: the store's shared log); unset: the files. */
  log?: Pick<SharedLog, 'read'> | undefined;
  /** Only entries this keeps (`--member`, `--group`: audit-members.ts). */
  where?: ((entry: AuditEntry) => boolean) | undefined;
  /** Only entries at or after this time. */
  since?: Date;
  /** Only entries for this server. */
  server?: string;
  keepFiles?: number;
}

export interface AuditRead {
  /** In time order, oldest first. */
  entries: AuditEntry[];
  /** Lines that were not a whole entry (a crash mid-write, a hand edit); skipped. */
  malformed: number;
  /** The log files that exist, oldest first; none means nothing was ever recorded (files only). */
  files: string[];
}

/** Lines stored this long before `since` are read too: a line's time is its call's start. */
const STREAM_SKEW_MS = 5 * 60_000;

/**
 * Every entry the options select, as a stream: the audit stream's page by page as it holds them
 * (memory bounded: `patchbay log --jsonl`), the files' in time order. `counts` is filled as it goes.
 */
export async function* auditEntries(
  options: ReadAuditOptions,
  counts: { malformed: number } = { malformed: 0 },
): AsyncGenerator<AuditEntry> {
  if (!options.log) {
    const read = await readAudit(options);
    counts.malformed += read.malformed;
    yield* read.entries;
    return;
  }
  const since = options.since?.getTime();
  for await (const { line } of options.log.read(
    since === undefined ? {} : { sinceMs: since - STREAM_SKEW_MS },
  )) {
    const entry = parseEntry(line);
    if (!entry) counts.malformed++;
    else if (keeps(entry, options)) yield entry;
  }
}

/** The one filter of both sources: --since, a server, and `where`. */
function keeps(entry: AuditEntry, options: ReadAuditOptions): boolean {
  if (options.since !== undefined && Date.parse(entry.time) < options.since.getTime()) return false;
  if (options.server !== undefined && entry.server !== options.server) return false;
  return options.where ? options.where(entry) : true;
}

export async function readAudit(options: ReadAuditOptions): Promise<AuditRead> {
  if (options.log) {
    const counts = { malformed: 0 };
    const entries: AuditEntry[] = [];
    for await (const entry of auditEntries(options, counts)) entries.push(entry);
    // Replicas store lines as their calls end; shown, as the files' are, by when each call began.
    return { entries: sortByTime(entries), malformed: counts.malformed, files: [] };
  }
  const path = options.paths.audit;
  const keep = options.keepFiles ?? KEEP_FILES;
  const candidates = Array.from({ length: keep + 1 }, (_, i) => rotatedPath(path, keep - i));
  const present = await existing(candidates);
  if (present.length === 0) return { entries: [], malformed: 0, files: [] };
  // Under the rotation lock, so a rotation cannot shift the files between two reads (one file
  // read twice, another never). If the lock cannot be had, read anyway: a rare glitch beats none.
  let locked = false;
  try {
    return await withFileLock(path, READ_LOCK_TIMEOUT_MS, () => {
      locked = true;
      return readFiles(candidates, options);
    });
  } catch (error) {
    if (locked) throw error;
    return readFiles(candidates, options);
  }
}

async function existing(paths: string[]): Promise<string[]> {
  const found = await Promise.all(
    paths.map((path) =>
      fs.stat(path).then(
        () => path,
        () => undefined,
      ),
    ),
  );
  return found.filter((path): path is string => path !== undefined);
}

async function readFiles(paths: string[], options: ReadAuditOptions): Promise<AuditRead> {
  const since = options.since?.getTime();
  const entries: AuditEntry[] = [];
  const files: string[] = [];
  let malformed = 0;
  for (const path of paths) {
    let text: string;
    try {
      const stat = await fs.stat(path);
      files.push(path);
      // Every line was written before the file's last change, so an older file holds nothing newer.
      if (since !== undefined && stat.mtimeMs < since) continue;
      text = await fs.readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new PatchbayError(
        'read-failed',
        `Cannot read the audit log ${path}: ${(error as Error).message}.`,
        {
          hint: `Check the file's permissions: ls -l ${path}`,
          cause: error,
        },
      );
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const entry = parseEntry(line);
      if (!entry) malformed++;
      else if (keeps(entry, options)) entries.push(entry);
    }
  }
  return { entries: sortByTime(entries), malformed, files };
}

/** Stable: lines of one process keep their order; lines of concurrent processes merge by time. */
function sortByTime(entries: AuditEntry[]): AuditEntry[] {
  return entries
    .map((entry) => ({ entry, at: Date.parse(entry.time) }))
    .sort((a, b) => a.at - b.at)
    .map(({ entry }) => entry);
}

function parseEntry(line: string): AuditEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  return isAuditEntry(value) ? value : undefined;
}

function isAuditEntry(value: unknown): value is AuditEntry {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  const isCount = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  return (
    typeof v.time === 'string' &&
    Number.isFinite(Date.parse(v.time)) &&
    (v.host === null || typeof v.host === 'string') &&
    (v.hostClaimed === undefined || v.hostClaimed === null || typeof v.hostClaimed === 'string') &&
    AUDIT_VIAS.includes(v.via as AuditVia) &&
    (v.caller === undefined || isCaller(v.caller)) &&
    (v.upstreamCredential === undefined ||
      v.upstreamCredential === 'shared' ||
      v.upstreamCredential === 'member') &&
    (v.kind === undefined || AUDIT_KINDS.includes(v.kind as AuditKind)) &&
    typeof v.server === 'string' &&
    typeof v.tool === 'string' &&
    AUDIT_DECISIONS.includes(v.decision as AuditDecision) &&
    AUDIT_OUTCOMES.includes(v.outcome as AuditOutcome) &&
    isCount(v.durationMs) &&
    isCount(v.argumentBytes) &&
    isCount(v.resultBytes) &&
    (v.error === undefined || typeof v.error === 'string')
  );
}

function isCaller(value: unknown): value is AuditCaller {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const c = value as Record<string, unknown>;
  return (
    typeof c.transport === 'string' &&
    typeof c.auth === 'string' &&
    (c.subject === null || typeof c.subject === 'string') &&
    (c.email === undefined || typeof c.email === 'string') &&
    (c.groups === undefined || (Array.isArray(c.groups) && c.groups.every((g) => typeof g === 'string'))) &&
    (c.client === undefined || typeof c.client === 'string') &&
    (c.session === undefined || typeof c.session === 'string') &&
    (c.peer === undefined || typeof c.peer === 'string')
  );
}

// ---------------------------------------------------------------------------------------------
// Summaries

export interface CallStats {
  calls: number;
  /** Calls whose outcome is not ok (tool errors, failures, refusals). */
  errors: number;
  denied: number;
  limited: number;
  /**
   * Latency over the calls that were sent to the server (a refused call has no latency worth
   * counting); null when there were none. Percentiles are nearest-rank: p50 of 1,2,3,4 is 2.
   */
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
}

export interface ToolStats extends CallStats {
  server: string;
  tool: string;
  /** Set for a resource or prompt row (`tool` is then its URI or name); absent for a tool. */
  kind?: Exclude<AuditKind, 'tool'>;
}

/** Per server and tool (and resource, and prompt), sorted by server then tool. */
export function summarize(entries: readonly AuditEntry[]): ToolStats[] {
  type Group = { server: string; tool: string; kind: AuditKind; entries: AuditEntry[] };
  const groups = new Map<string, Group>();
  for (const entry of entries) {
    const kind = entry.kind ?? 'tool';
    // JSON of the triple: no separator character can make two of them collide.
    const key = JSON.stringify([entry.server, entry.tool, kind]);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { server: entry.server, tool: entry.tool, kind, entries: [] }));
    group.entries.push(entry);
  }
  return [...groups.values()]
    .sort((a, b) => compare(a.server, b.server) || compare(a.kind, b.kind) || compare(a.tool, b.tool))
    .map(({ server, tool, kind, entries }) => ({
      server,
      tool,
      ...(kind !== 'tool' ? { kind } : {}),
      ...summarizeCalls(entries),
    }));
}

/** The same figures over any set of calls (the totals line of `patchbay stats`). */
export function summarizeCalls(entries: readonly AuditEntry[]): CallStats {
  const durations = entries
    .filter((entry) => entry.outcome !== 'refused')
    .map((entry) => entry.durationMs)
    .sort((a, b) => a - b);
  return {
    calls: entries.length,
    errors: entries.filter((entry) => entry.outcome !== 'ok').length,
    denied: entries.filter((entry) => entry.decision === 'denied').length,
    limited: entries.filter((entry) => entry.decision === 'limited').length,
    p50Ms: percentile(durations, 50),
    p95Ms: percentile(durations, 95),
    maxMs: durations.length ? durations[durations.length - 1]! : null,
  };
}

/** Nearest-rank percentile of ascending values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// --since

const UNIT_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `90s`, `15m`, `1h`, `2d`, `1w` (that long before `now`), or an ISO date or date-time. */
export function parseSince(text: string, now: Date = new Date()): Date {
  const trimmed = text.trim();
  const relative = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(trimmed);
  if (relative) {
    const amount = Number(relative[1]);
    if (amount > 0) return new Date(now.getTime() - amount * UNIT_MS[relative[2]!.toLowerCase()]!);
  } else if (/^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/i.test(trimmed)) {
    // A date alone is local midnight, like a date-time without a zone (not UTC, as Date.parse has it).
    const at = Date.parse(trimmed.length === 10 ? `${trimmed}T00:00` : trimmed.replace(' ', 'T'));
    if (Number.isFinite(at)) return new Date(at);
  }
  throw new PatchbayError(
    'usage',
    `Invalid --since ${JSON.stringify(text)}: expected a duration (90s, 15m, 1h, 2d, 1w) or an ISO date.`,
    { hint: 'For example: --since 1h, or --since 2026-01-31T09:00 (local time unless it ends in Z).' },
  );
}
