import { Option } from 'commander';

import type { DefineCommand } from '../define.js';
import { jsonOption, sinceOption } from '../options.js';

export const logCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('log')
    .description('Show the audit log: every call through patchbay serve or patchbay call')
    .argument('[name]', 'only this server')
    .addOption(sinceOption('24h'))
    .option('--member <subject-or-email>', "only this member's calls (local: calls without a member)")
    .option('--group <group>', 'only calls of members of this group')
    .addOption(jsonOption('the entries'))
    .option('--jsonl', 'one entry per line, streamed: an export for a SIEM (all of it unless --since)')
    .addOption(stateOption())
    .addHelpText(
      'after',
      `
Every call through "patchbay serve" or "patchbay call" is recorded in
$PATCHBAY_STATE_DIR/audit.jsonl (default ~/.local/state/patchbay/audit.jsonl): time, host, server,
tool, decision, outcome, duration and sizes. Arguments only with --log-arguments, secrets masked.
A gateway served with --state redis://… records in one audit stream in Redis that every replica
writes: read it with the same --state.
--since takes 90s, 15m, 1h, 2d, 1w or an ISO date (default 24h; with --jsonl, everything).

Examples:
  $ patchbay log
  $ patchbay log notion --since 1h
  $ patchbay log --since 2026-01-31T09:00 --json
  $ patchbay log --member alice@example.com
  $ patchbay log --state redis://redis.internal:6379 --since 1h
  $ patchbay log --state redis://redis.internal:6379 --jsonl > audit.jsonl`,
    )
    .action(
      act(async (name: string | undefined, flags) => {
        const { parseLogCommand, runLog } = await import('./log.js');
        return runLog(await parseLogCommand(name, flags), io);
      }),
    );

/** The store a gateway records in (`serve --state`); unset: this machine's audit file. */
function stateOption(): Option {
  return new Option(
    '--state <url>',
    "read the audit stream of the gateway's state store, as serve --state (redis://…); default: this machine's file",
  );
}

export const statsCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('stats')
    .description('Summarise the audit log: calls, errors and latency per server and tool')
    .addOption(sinceOption('1d'))
    .option('--member <subject-or-email>', "only this member's calls (local: calls without a member)")
    .option('--group <group>', 'only calls of members of this group')
    .option('--by <what>', 'tool (default: per server and tool) or member (one row per member)')
    .addOption(jsonOption())
    .addOption(stateOption())
    .addHelpText(
      'after',
      `
Percentiles are over the calls that reached the server; refused calls count as errors.
--since takes 90s, 15m, 1h, 2d, 1w or an ISO date (default 1d).

Examples:
  $ patchbay stats
  $ patchbay stats --since 1w
  $ patchbay stats --json
  $ patchbay stats --by member --group eng
  $ patchbay stats --state redis://redis.internal:6379 --by member`,
    )
    .action(
      act(async (flags) => {
        const { parseStatsCommand, runStats } = await import('./log.js');
        return runStats(await parseStatsCommand(flags), io);
      }),
    );
