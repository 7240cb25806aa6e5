/**
 * `patchbay log [name] [--since 1h] [--member M] [--group G] [--json | --jsonl] [--state URL]`: the
 * calls recorded in the audit log, one line each; `--jsonl` streams every entry as one JSON line
 * (an export for a SIEM: page by page from a stream, all of it unless --since is given).
 * `patchbay stats [--since 1d] [--member M] [--group G] [--by member] [--json] [--state URL]`:
 * calls, errors and latency per server and tool, or per member.
 * `--state redis://…` reads the audit stream the gateway's replicas write instead of this
 * machine's file, through the same reader (policy/audit.ts) and filters.
 * Every name in the log came from a host or a server, so it is made printable before it is shown.
 */

import { once } from 'node:events';

import { EXIT } from '../../errors.js';
import { validateName } from '../../config/validate.js';
import {
  auditEntries,
  parseSince,
  readAudit,
  summarize,
  summarizeCalls,
  type AuditEntry,
  type AuditRead,
  type CallStats,
  type ReadAuditOptions,
} from '../../policy/audit.js';
import {
  matchesMember,
  summarizeByMember,
  type MemberFilter,
  type MemberStats,
} from '../../policy/audit-members.js';
import { PatchbayError } from '../../errors.js';
import { note, paint, printJson, useColor, warn, writeLine, type Io } from '../io.js';
import { terminalJson, terminalText } from '../../core/terminal-text.js';
import type { SharedLog } from '../../state/store.js';

export interface LogOptions {
  /** Only this server's calls. */
  name: string | undefined;
  /** Unset only with --jsonl and no --since: the whole log. */
  since?: Date;
  json: boolean;
  /** `--jsonl`: each entry as one JSON line, streamed as it is read. */
  jsonl?: true;
  /** `--member`, `--group`: only this member's (subject or email) or group's calls. */
  filter?: MemberFilter;
  /** `--state redis://…`: the audit stream of the gateway's store; unset: this machine's files. */
  state?: string;
}

export interface StatsOptions {
  since: Date;
  json: boolean;
  filter?: MemberFilter;
  /** `--by member`: one row per member instead of per server and tool. */
  by?: 'tool' | 'member';
  state?: string;
}

type MemberFlags = { member?: string; group?: string; state?: string };

/** `--state`, checked now (a usage error before anything is read); absent when unset. */
async function parseState(raw: MemberFlags): Promise<{ state?: string }> {
  if (raw.state === undefined) return {};
  const { parseStateOption } = await import('../../state/open.js');
  const state = parseStateOption(raw.state);
  return state === undefined ? {} : { state };
}

/**
 * The audit log to read: the stream of the store `--state` names (closed after), or the files.
 * `where` names it for messages.
 */
async function withAuditLog<T>(
  state: string | undefined,
  io: Io,
  run: (log: Pick<SharedLog, 'read'> | undefined, where: string) => Promise<T>,
): Promise<T> {
  if (state === undefined) return run(undefined, io.paths.audit);
  const { openState } = await import('../../state/open.js');
  const store = await openState(state, io.paths.gatewayState);
  try {
    // Every store --state can name (Redis) has a shared log; files are read above.
    return await run(store.log?.('audit'), `the audit stream of ${store.description}`);
  } finally {
    await store.close();
  }
}

function readOptions(
  io: Io,
  log: Pick<SharedLog, 'read'> | undefined,
  options: { since?: Date | undefined; name?: string | undefined; filter?: MemberFilter | undefined },
): ReadAuditOptions {
  const { filter } = options;
  return {
    paths: io.paths,
    log,
    ...(options.since ? { since: options.since } : {}),
    ...(options.name !== undefined ? { server: options.name } : {}),
    ...(filter ? { where: (entry: AuditEntry) => matchesMember(entry, filter) } : {}),
  };
}

function parseFilter(raw: MemberFlags): { filter?: MemberFilter } {
  if (raw.member === undefined && raw.group === undefined) return {};
  return {
    filter: {
      ...(raw.member !== undefined ? { member: raw.member } : {}),
      ...(raw.group !== undefined ? { group: raw.group } : {}),
    },
  };
}

export const DEFAULT_LOG_SINCE = '24h';
export const DEFAULT_STATS_SINCE = '1d';

export function parseLogOptions(
  name: string | undefined,
  raw: { since?: string; json?: boolean; jsonl?: boolean } & MemberFlags,
  now: Date = new Date(),
): LogOptions {
  if (raw.json && raw.jsonl)
    throw new PatchbayError('usage', '--json and --jsonl: choose one.', {
      hint: 'patchbay log --json (one array) or patchbay log --jsonl (one entry per line, streamed)',
    });
  // An export takes everything unless told otherwise; the listing, the last day.
  const since = raw.since ?? (raw.jsonl ? undefined : DEFAULT_LOG_SINCE);
  return {
    name: name === undefined ? undefined : validateName(name),
    ...(since !== undefined ? { since: parseSince(since, now) } : {}),
    json: Boolean(raw.json),
    ...(raw.jsonl ? { jsonl: true as const } : {}),
    ...parseFilter(raw),
  };
}

/** parseLogOptions, and `--state` checked (it loads the store's module only when given). */
export async function parseLogCommand(
  name: string | undefined,
  raw: { since?: string; json?: boolean; jsonl?: boolean } & MemberFlags,
): Promise<LogOptions> {
  return { ...parseLogOptions(name, raw), ...(await parseState(raw)) };
}

export async function parseStatsCommand(
  raw: { since?: string; json?: boolean; by?: string } & MemberFlags,
): Promise<StatsOptions> {
  return { ...parseStatsOptions(raw), ...(await parseState(raw)) };
}

export function parseStatsOptions(
  raw: { since?: string; json?: boolean; by?: string } & MemberFlags,
  now: Date = new Date(),
): StatsOptions {
  if (raw.by !== undefined && raw.by !== 'member' && raw.by !== 'tool')
    throw new PatchbayError('usage', `Invalid --by ${JSON.stringify(raw.by)}: expected member or tool.`, {
      hint: 'For example: patchbay stats --by member',
    });
  return {
    since: parseSince(raw.since ?? DEFAULT_STATS_SINCE, now),
    json: Boolean(raw.json),
    ...parseFilter(raw),
    ...(raw.by === 'member' ? { by: 'member' as const } : {}),
  };
}

export async function runLog(options: LogOptions, io: Io): Promise<number> {
  return withAuditLog(options.state, io, async (log, where) => {
    const selected = readOptions(io, log, options);
    if (options.jsonl) return exportLines(selected, options.since, io);
    const read = await readAudit(selected);
    const since = options.since!;
    if (options.json) printJson(io, read.entries);
    reportSkipped(read, io);
    if (read.entries.length === 0) {
      sayNothing(read, since, io, options.name, log ? where : undefined);
      return EXIT.ok;
    }
    if (!options.json) printEntries(read.entries, io);
    writeLine(
      io.stderr,
      paint(useColor(io)).dim(
        `${plural(read.entries.length, 'call')} since ${localTime(since)}; totals: patchbay stats`,
      ),
    );
    return EXIT.ok;
  });
}

/**
 * `--jsonl`: one entry per line as it is read (a stream's page at a time, so memory stays bounded
 * however long the log), waiting for stdout to drain (a pipe into a SIEM's shipper).
 */
async function exportLines(selected: ReadAuditOptions, since: Date | undefined, io: Io): Promise<number> {
  const counts = { malformed: 0 };
  let lines = 0;
  for await (const entry of auditEntries(selected, counts)) {
    lines++;
    // Names came from hosts and servers: escaped as every JSON patchbay prints.
    if (!io.stdout.write(`${terminalJson(entry, 0)}\n`)) await once(io.stdout, 'drain');
  }
  reportSkipped({ malformed: counts.malformed }, io);
  writeLine(
    io.stderr,
    paint(useColor(io)).dim(`${plural(lines, 'call')}${since ? ` since ${localTime(since)}` : ''} exported`),
  );
  return EXIT.ok;
}

export async function runStats(options: StatsOptions, io: Io): Promise<number> {
  return withAuditLog(options.state, io, async (log, where) => {
    const read = await readAudit(readOptions(io, log, options));
    printStatsOf(read, options, io, log ? where : undefined);
    return EXIT.ok;
  });
}

function printStatsOf(read: AuditRead, options: StatsOptions, io: Io, stream: string | undefined): void {
  const rows = options.by === 'member' ? summarizeByMember(read.entries) : summarize(read.entries);
  if (options.json) printJson(io, rows);
  reportSkipped(read, io);
  if (read.entries.length === 0) {
    sayNothing(read, options.since, io, undefined, stream);
    return;
  }
  if (!options.json) {
    if (options.by === 'member') printMemberStats(rows as MemberStats[], summarizeCalls(read.entries), io);
    else printStats(rows as ReturnType<typeof summarize>, summarizeCalls(read.entries), io);
  }
  writeLine(io.stderr, paint(useColor(io)).dim(`since ${localTime(options.since)}; each call: patchbay log`));
}

function reportSkipped(read: Pick<AuditRead, 'malformed'>, io: Io): void {
  if (read.malformed > 0)
    warn(io, `${plural(read.malformed, 'line')} of the audit log could not be read and were skipped.`);
}

/** Nothing to show: say whether nothing was ever recorded, or only nothing in this window. */
function sayNothing(
  read: AuditRead,
  since: Date,
  io: Io,
  name: string | undefined,
  stream: string | undefined,
): void {
  if (stream !== undefined) {
    note(
      io,
      `No calls${name ? ` to ${name}` : ''} in ${stream} since ${localTime(since)}. Look further back: --since 1w`,
    );
    return;
  }
  if (read.files.length === 0) {
    note(
      io,
      `Nothing recorded yet: calls through "patchbay serve" or "patchbay call" are recorded in ${terminalText(io.paths.audit)}.`,
    );
    return;
  }
  note(
    io,
    `No calls${name ? ` to ${name}` : ''} recorded since ${localTime(since)}. Look further back: --since 1w`,
  );
}

function printEntries(entries: readonly AuditEntry[], io: Io): void {
  const p = paint(useColor(io, 'stdout'));
  const rows = entries.map((entry) => ({
    entry,
    time: localTime(new Date(entry.time)),
    host: clean(entry.host ?? '-'),
    // A resource read or prompt relayed by the gateway names its kind (tool calls as before).
    target:
      entry.kind && entry.kind !== 'tool'
        ? `${clean(entry.server)} ${entry.kind} ${clean(entry.tool)}`
        : `${clean(entry.server)}/${clean(entry.tool)}`,
  }));
  const hostWidth = Math.min(24, Math.max(...rows.map((row) => row.host.length)));
  const targetWidth = Math.min(48, Math.max(...rows.map((row) => row.target.length)));
  for (const { entry, time, host, target } of rows) {
    const decision = entry.decision.padEnd(7);
    const outcome = entry.outcome.padEnd(10);
    const sizes = `in ${bytes(entry.argumentBytes)}, out ${bytes(entry.resultBytes)}`;
    const error = entry.error ? `  ${p.red(clean(entry.error))}` : '';
    const caller = entry.caller ? `  ${p.dim(`[${callerText(entry.caller)}]`)}` : '';
    writeLine(
      io.stdout,
      [
        p.dim(time),
        host.padEnd(hostWidth),
        target.padEnd(targetWidth),
        entry.decision === 'denied'
          ? p.red(decision)
          : entry.decision === 'limited'
            ? p.yellow(decision)
            : decision,
        entry.outcome === 'ok' ? p.green(outcome) : p.red(outcome),
        duration(entry.durationMs).padStart(8),
        sizes,
      ].join('  ') +
        caller +
        error,
    );
  }
}

/**
 * What patchbay knows of a gateway caller (the host column is only what the client calls itself):
 * `http 127.0.0.1:53211 gateway-token session sha256:…`, `stdio parent-process`.
 */
function callerText(caller: NonNullable<AuditEntry['caller']>): string {
  return [
    clean(caller.transport),
    caller.peer ? clean(caller.peer) : undefined,
    caller.subject ? `${clean(caller.auth)}:${clean(caller.subject)}` : clean(caller.auth),
    caller.email && caller.email !== caller.subject ? `<${clean(caller.email)}>` : undefined,
    caller.groups?.length ? `groups ${clean(caller.groups.join(','))}` : undefined,
    caller.session ? `session ${clean(caller.session)}` : undefined,
  ]
    .filter(Boolean)
    .join(' ');
}

const STATS_COLUMNS = ['server', 'tool', 'calls', 'errors', 'denied', 'limited', 'p50', 'p95', 'max'];

function printStats(
  rows: ReadonlyArray<CallStats & { server: string; tool: string; kind?: string }>,
  total: CallStats,
  io: Io,
): void {
  printStatsTable(
    STATS_COLUMNS,
    rows.map((row) => [
      clean(row.server),
      row.kind ? `${row.kind} ${clean(row.tool)}` : clean(row.tool),
      row,
    ]),
    total,
    io,
  );
}

const MEMBER_COLUMNS = ['member', 'groups', 'calls', 'errors', 'denied', 'limited', 'p50', 'p95', 'max'];

function printMemberStats(rows: readonly MemberStats[], total: CallStats, io: Io): void {
  printStatsTable(
    MEMBER_COLUMNS,
    rows.map((row) => [
      clean(row.email && row.email !== row.member ? `${row.member} <${row.email}>` : row.member),
      clean((row.groups ?? []).join(',')),
      row,
    ]),
    total,
    io,
  );
}

/** Two name columns, then the figures of each row and a total row; header and total in bold. */
function printStatsTable(
  columns: string[],
  rows: ReadonlyArray<[string, string, CallStats]>,
  total: CallStats,
  io: Io,
): void {
  const p = paint(useColor(io, 'stdout'));
  const cells = (first: string, second: string, stats: CallStats) => [
    first,
    second,
    String(stats.calls),
    String(stats.errors),
    String(stats.denied),
    String(stats.limited),
    latency(stats.p50Ms),
    latency(stats.p95Ms),
    latency(stats.maxMs),
  ];
  const table = [columns, ...rows.map((row) => cells(...row)), cells('total', '', total)];
  const widths = columns.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  // Names to the left, figures to the right, so digits line up.
  const line = (row: string[]) =>
    row
      .map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ')
      .trimEnd();
  writeLine(io.stdout, p.bold(line(table[0]!)));
  for (const row of table.slice(1, -1)) writeLine(io.stdout, line(row));
  writeLine(io.stdout, p.bold(line(table[table.length - 1]!)));
}

function clean(text: string): string {
  return terminalText(text);
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** `2026-01-31 09:12:03` in the local time zone. */
export function localTime(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

export function duration(ms: number): string {
  if (ms < 10) return `${Math.round(ms * 10) / 10} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function latency(ms: number | null): string {
  return ms === null ? '-' : duration(ms);
}

export function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`;
  return `${(count / (1024 * 1024)).toFixed(1)} MiB`;
}
