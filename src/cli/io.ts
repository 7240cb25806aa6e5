/**
 * What a command may touch of the outside world: its streams, environment and directory.
 * Passing it explicitly keeps `run(opts, io)` testable without spawning a process.
 */

import { resolvePaths, type Paths } from '../core/paths.js';
import { terminalJson, terminalText } from '../core/terminal-text.js';

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Where patchbay's files are, from `env`, resolved once for the whole command. */
  paths: Paths;
  cwd: string;
  /** Aborted on Ctrl-C: a command in the middle of a request cancels it and returns 130. */
  interrupt?: AbortSignal;
}

export function processIo(interrupt?: AbortSignal): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    paths: resolvePaths(process.env),
    cwd: process.cwd(),
    ...(interrupt ? { interrupt } : {}),
  };
}

/** Colour only for a terminal, never with NO_COLOR (any value), always with FORCE_COLOR. */
export function useColor(io: Io, stream: 'stdout' | 'stderr' = 'stderr'): boolean {
  if (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '') return false;
  if (io.env.FORCE_COLOR !== undefined && io.env.FORCE_COLOR !== '0') return true;
  if (io.env.TERM === 'dumb') return false;
  return Boolean(io[stream].isTTY);
}

export interface Paint {
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  /** Information that is not a problem (a login that renews on next use). */
  cyan(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

export function paint(enabled: boolean): Paint {
  const wrap = (open: number, close: number) => (text: string) =>
    enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return {
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
    dim: wrap(2, 22),
    bold: wrap(1, 22),
  };
}

export function writeLine(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(text + '\n');
}

/**
 * warn and note carry messages that quote servers, processes and files, so they print through the
 * one terminal sanitizer (lines kept); styled text of patchbay's own goes through writeLine.
 */
export function warn(io: Io, message: string): void {
  const p = paint(useColor(io));
  writeLine(io.stderr, `${p.yellow('warning:')} ${terminalText(message, { multiline: true })}`);
}

export function note(io: Io, message: string): void {
  writeLine(io.stderr, terminalText(message, { multiline: true }));
}

/** One helper for every `--json`: stable, pretty, on stdout. */
export function printJson(io: Io, value: unknown): void {
  writeLine(io.stdout, terminalJson(value));
}

export function isInteractive(io: Io): boolean {
  return Boolean(io.stdin.isTTY && io.stderr.isTTY);
}
