/**
 * What patchbay hands to the programs it starts (stdio servers, headersHelper) and how it reads
 * what they say.
 *
 * The environment of a stdio server: by default the user's own, with the entry's `env` over it —
 * what Claude Code, Cursor and VS Code give the same entry, so `npx` behind a proxy, a private CA
 * (NODE_EXTRA_CA_CERTS) or a token read from the shell work the same under patchbay. Keeping the
 * shell's variables (cloud keys, tokens, other servers' credentials) from third-party code is an
 * explicit choice: `"inheritEnv": false` on the entry, or PATCHBAY_STDIO_INHERIT_ENV=0 for every
 * entry that does not say; such a server gets the minimal environment below (enough to find
 * executables, a home, a temp directory and a locale) and its own `env`.
 *
 * Their stderr: untrusted text, shown one bounded, printable line at a time.
 */

import { terminalText } from '../core/terminal-text.js';
import { setOwn } from '../core/json-source.js';

/** The variable that sets the default for entries without their own `inheritEnv`. */
export const INHERIT_ENV_VARIABLE = 'PATCHBAY_STDIO_INHERIT_ENV';

/**
 * Whether a stdio server gets the whole parent environment: the entry's own `inheritEnv` when it
 * has one, else PATCHBAY_STDIO_INHERIT_ENV (`0`, `false`, `no`, `off` keep it), else yes.
 */
export function inheritsEnvironment(entry: { inheritEnv?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (entry.inheritEnv !== undefined) return entry.inheritEnv;
  const setting = env[INHERIT_ENV_VARIABLE]?.trim().toLowerCase();
  return !(setting === '0' || setting === 'false' || setting === 'no' || setting === 'off');
}

/** The whole environment `from` (its defined values), as a prototype-less map. */
export function fullEnv(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(from)) if (value !== undefined) setOwn(env, name, value);
  return env;
}

/** What a server that does not inherit the environment still gets; the rest is the entry's own `env`. */
export const INHERITED_ENV: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'TERM',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMPDIR',
  'TEMP',
  'TMP',
  // Windows: programs fail in odd ways without these.
  'SystemRoot',
  'windir',
  'ComSpec',
  'PATHEXT',
  'APPDATA',
  'LOCALAPPDATA',
  'ProgramData',
  'ProgramFiles',
  'ProgramFiles(x86)',
  'USERPROFILE',
  'USERNAME',
  'HOMEDRIVE',
  'HOMEPATH',
  // Set by `patchbay serve` for what it starts, so that a gateway started by a gateway refuses to run.
  'PATCHBAY_GATEWAY_PID',
];

/**
 * The INHERITED_ENV subset of `from`. Names are matched exactly, except on Windows, where
 * environment names ignore case (`process.env` does this itself; a plain object does not).
 */
export function minimalEnv(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const windows = process.platform === 'win32';
  const byLowerName = windows ? lowerCaseIndex(from) : undefined;
  const env = Object.create(null) as Record<string, string>;
  for (const name of INHERITED_ENV) {
    const value = from[name] ?? byLowerName?.get(name.toLowerCase());
    // A value starting with `()` is a bash function export: a known injection vector, never needed here.
    if (value === undefined || value.startsWith('()')) continue;
    setOwn(env, name, value);
  }
  return env;
}

/** `base` with `overrides` on top, as a prototype-less map (names such as `__proto__` stay data). */
export function layerEnv(
  base: Record<string, string>,
  overrides?: Record<string, string>,
): Record<string, string> {
  const env = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(base)) setOwn(env, name, value);
  for (const [name, value] of Object.entries(overrides ?? {})) setOwn(env, name, value);
  return env;
}

function lowerCaseIndex(from: NodeJS.ProcessEnv): Map<string, string> {
  const index = new Map<string, string>();
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && !index.has(name.toLowerCase())) index.set(name.toLowerCase(), value);
  }
  return index;
}

/**
 * The line of a stderr tail that says what went wrong: the last non-empty one, except that the
 * noise runtimes print after the message is skipped — Node's `Node.js v20.1.0` trailer, stack
 * frames (`    at f (file.js:1:2)`, Python's `  File "x.py", line 3`) and the braces of an error's
 * printed properties. Without ANSI escapes, printable, at most 200 characters.
 */
export function lastStderrLine(stderrTail: string): string | undefined {
  // Sanitized as a whole first: an escape sequence may span lines.
  const lines = terminalText(stderrTail, { multiline: true })
    .split('\n')
    .map((line) => terminalText(line).trim())
    .filter(Boolean);
  const meaningful = withoutPropertyBlocks(lines).filter(
    (line) => !STDERR_NOISE.some((noise) => noise.test(line)),
  );
  const last = meaningful.at(-1) ?? lines.at(-1);
  return last === undefined ? undefined : terminalText(last, { max: 200 });
}

/** Node prints an error's own properties as `{ code: 'X', errno: -2 }` after its stack. */
function withoutPropertyBlocks(lines: string[]): string[] {
  const out: string[] = [];
  let depth = 0;
  for (const line of lines) {
    if (depth > 0) {
      if (/^}/.test(line)) depth--;
      continue;
    }
    if (/ \{$/.test(line) && /^at /.test(line)) depth = 1;
    out.push(line);
  }
  return out;
}

const STDERR_NOISE = [
  /^Node\.js v\d+\.\d+/,
  /^at (?:.+ \()?(?:file:|node:|\/|[A-Za-z]:\\|<anonymous>|native)/,
  /^File ".*", line \d+/,
  /^\^+$/,
  /^[{}[\]]+,?$/,
  /^[A-Za-z_$][\w$]*: .*,$/,
];
