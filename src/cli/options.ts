/**
 * The flags several commands take, declared once: a shared flag has one spelling, one help text
 * and one default wherever it appears. A command that needs more adds a detail, never a copy.
 */

import { Option } from 'commander';

/** Repeatable flags (`-H`, `-e`): each use adds one value. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `--json`, on every command that reads: "machine-readable output", with what it holds. */
export function jsonOption(detail?: string): Option {
  return new Option('--json', detail ? `machine-readable output (${detail})` : 'machine-readable output');
}

/**
 * `--timeout`, on every command that contacts servers: what it limits, then the default they all
 * share (timeoutFrom in health.ts) and the variable that changes it.
 */
export function timeoutOption(what = 'timeout', note?: string): Option {
  return new Option(
    '--timeout <duration>',
    `${what} (default 10s, or PATCHBAY_TIMEOUT${note ? `; ${note}` : ''})`,
  );
}

/** `-s, --scope`: which configuration file a command reads or writes. */
export function scopeOption(description: string, defaultScope?: 'local'): Option {
  const option = new Option('-s, --scope <scope>', description);
  return defaultScope ? option.default(defaultScope) : option;
}

/** The scopes that hold policy: the default, the team's file, or every project of this user. */
export function policyScopeOption(): Option {
  return scopeOption("local (default), project (the team's .patchbay.json) or user");
}

export function forceOption(description: string): Option {
  return new Option('-f, --force', description);
}

export function dryRunOption(description: string): Option {
  return new Option('--dry-run', description);
}

/** `--no-check`: what a command knows without contacting a server. */
export function noCheckOption(description: string): Option {
  return new Option('--no-check', description);
}

export function noRefreshOption(): Option {
  return new Option(
    '--no-refresh',
    'read-only: do not renew an expired login (it shows as renewing on next use)',
  );
}

export function showSecretsOption(): Option {
  return new Option('--show-secrets', 'show secret values instead of ****');
}

/** `--log-arguments`, where calls are audited: `whose` names the calls ("the call's", "each call's"). */
export function logArgumentsOption(whose: string): Option {
  return new Option('--log-arguments', `keep ${whose} arguments in the audit log (secrets masked)`);
}

/** `--since`, over the audit log. */
export function sinceOption(defaultSince: string): Option {
  return new Option(
    '--since <when>',
    `how far back: 90s, 15m, 1h, 2d, 1w or a date (default ${defaultSince})`,
  );
}

/** --max-output, on every command that prints what a server returns. */
export function maxOutputOption(): Option {
  return new Option(
    '--max-output <chars>',
    'cut the output after this many characters, with a note (default 1000000; --json only when given)',
  );
}

/** How call, read and prompt answer the requests a server makes while it works on theirs. */
export function serverRequestOptions(): Option[] {
  return [
    new Option('--accept-defaults', "answer the server's questions with their defaults, without asking"),
    new Option('--roots', 'let the server see the current directory as a root (roots/list)'),
  ];
}
