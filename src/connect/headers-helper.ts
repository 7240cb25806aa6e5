/**
 * `headersHelper` (as in Claude Code): a command whose stdout is a JSON object of headers, run at
 * connect time without a shell, within 10 s. Its stdout holds credentials, so no message built
 * here ever contains it (nor any header value); header names are fine.
 */

import { splitCommandLine } from '../core/command-line.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

import { setOwn } from '../core/json-source.js';
import { PatchbayError } from '../errors.js';
import { terminalText } from '../core/terminal-text.js';
import { lastStderrLine, layerEnv } from './child-env.js';
import { destroyPipes, signalProcessGroup, streamClosed } from './child-process.js';
import { formatDuration } from '../core/race.js';

export interface HeadersHelperContext {
  /** The server's configured name, passed as PATCHBAY_SERVER_NAME (and CLAUDE_CODE_MCP_SERVER_NAME). */
  serverName?: string;
  /** The server's URL, passed as PATCHBAY_SERVER_URL (and CLAUDE_CODE_MCP_SERVER_URL). */
  url: string;
  cwd?: string;
  /**
   * The helper's environment; defaults to process.env. Unlike a stdio server (third-party code,
   * given a minimal environment), the helper is the user's own credential program and often needs
   * AWS_PROFILE, VAULT_ADDR, SSH_AUTH_SOCK or KUBECONFIG, as it does under Claude Code.
   */
  env?: NodeJS.ProcessEnv;
  /** Default 10 000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export const HEADERS_HELPER_TIMEOUT_MS = 10_000;
/** A few headers fit in far less; more is a helper printing something else. */
export const HEADERS_HELPER_MAX_STDOUT = 64 * 1024;
/** Between SIGTERM and SIGKILL for a helper that is being stopped. */
const KILL_GRACE_MS = 500;
/** After the helper exited, how long its pipes may stay open (a background child holding them). */
const PIPE_DRAIN_GRACE_MS = 100;
const STDERR_KEEP_CHARS = 8 * 1024;

const OUTPUT_HINT =
  'the helper must print one JSON object mapping header names to string values, e.g. {"Authorization": "Bearer <token>"}';
const SHELL_HINT = "it runs without a shell; to use shell syntax, say so explicitly: sh -c '<your command>'";

/** RFC 9110 `token`: what a header name may consist of. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Runs the helper and returns its headers. Throws PatchbayError('headers-helper-failed') whose
 * message says what went wrong (not found, exit code + last stderr line, timeout, not a JSON
 * object of strings) and never contains the helper's stdout. If `signal` aborts, the helper is
 * stopped and the promise rejects with `signal.reason`.
 */
export async function runHeadersHelper(
  command: string,
  context: HeadersHelperContext,
): Promise<Record<string, string>> {
  context.signal?.throwIfAborted();
  const argv = parseHelperCommand(command);
  const program = argv[0]!;
  const timeoutMs = context.timeoutMs ?? HEADERS_HELPER_TIMEOUT_MS;
  const identity: Record<string, string> = {
    PATCHBAY_SERVER_URL: context.url,
    CLAUDE_CODE_MCP_SERVER_URL: context.url,
  };
  if (context.serverName !== undefined) {
    identity.PATCHBAY_SERVER_NAME = context.serverName;
    identity.CLAUDE_CODE_MCP_SERVER_NAME = context.serverName;
  }

  const run = await execute(argv, {
    env: layerEnv(definedOnly(context.env ?? process.env), identity),
    cwd: context.cwd,
    timeoutMs,
    signal: context.signal,
  });

  if (run.stopped === 'aborted') throw context.signal!.reason;
  if (run.spawnError) throw spawnFailure(run.spawnError, program, context);
  if (run.stopped === 'timeout') {
    throw failure(`headersHelper did not finish within ${formatDuration(timeoutMs)}`, {
      hint: 'make the helper answer faster (for example, cache the token it fetches), then connect again',
    });
  }
  if (run.stopped === 'too-large') {
    throw failure(`headersHelper printed more than ${HEADERS_HELPER_MAX_STDOUT / 1024} KiB`, {
      hint: OUTPUT_HINT,
    });
  }
  if (run.code !== 0) {
    const line = lastStderrLine(run.stderr);
    const how =
      run.code === null ? `was killed by ${run.signal ?? 'a signal'}` : `exited with code ${run.code}`;
    throw failure(`headersHelper ${how}${line ? `: ${line}` : ' (nothing on stderr)'}`, {
      hint: 'run the headersHelper command yourself to see its whole output',
    });
  }
  return parseHeaders(run.stdout);
}

export { splitCommandLine };

function parseHelperCommand(command: string): string[] {
  let argv: string[];
  try {
    argv = splitCommandLine(command);
  } catch (error) {
    if (!(error instanceof PatchbayError)) throw error;
    throw failure(`headersHelper is not a valid command: ${error.message}`, {
      hint: error.hint ?? 'fix the quoting in the headersHelper setting',
    });
  }
  if (argv.length === 0) throw failure('headersHelper is empty', { hint: 'set headersHelper to a command' });
  if (argv.some((arg) => arg.includes('\0'))) {
    throw failure('headersHelper contains a NUL character', { hint: 'fix the headersHelper setting' });
  }
  const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(argv[0]!);
  if (assignment) {
    throw failure(
      `headersHelper starts with a variable assignment (${assignment[1]}=\u2026), which needs a shell`,
      { hint: SHELL_HINT },
    );
  }
  return argv;
}

// ---------------------------------------------------------------------------------------------
// Running

interface HelperRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  spawnError?: NodeJS.ErrnoException;
  stopped?: 'timeout' | 'aborted' | 'too-large';
}

interface ExecuteOptions {
  env: Record<string, string>;
  cwd: string | undefined;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

function execute(argv: string[], options: ExecuteOptions): Promise<HelperRun> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      shell: false,
      // Its own process group (POSIX), so that stopping it also stops what it started.
      detached: process.platform !== 'win32',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      windowsHide: true,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let stopped: HelperRun['stopped'];
    let overflowed = false;
    let killTimer: NodeJS.Timeout | undefined;
    let finished = false;

    const stop = (why: NonNullable<HelperRun['stopped']>) => {
      // A helper that already exited is done, whatever its pipes are still delivering.
      if (stopped || finished || child.exitCode !== null || child.signalCode !== null) return;
      stopped = why;
      signalGroup(child, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => stop('timeout'), Math.max(1, options.timeoutMs));
    const onAbort = () => stop('aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (result: Omit<HelperRun, 'stdout' | 'stderr' | 'stopped'>) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      destroyPipes(child);
      stopped ??= overflowed ? 'too-large' : undefined;
      resolve({ ...result, stdout: Buffer.concat(chunks), stderr, ...(stopped ? { stopped } : {}) });
    };

    child.stdout!.on('data', (chunk: Buffer) => {
      if (stopped || overflowed) return;
      size += chunk.length;
      if (size <= HEADERS_HELPER_MAX_STDOUT) {
        chunks.push(chunk);
        return;
      }
      overflowed = true;
      chunks.length = 0;
      stop('too-large');
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      stderr = (stderr + text).slice(-STDERR_KEEP_CHARS);
    });
    child.stdout!.on('error', () => undefined);
    child.stderr!.on('error', () => undefined);
    child.on('error', (error: NodeJS.ErrnoException) => {
      // Before 'spawn' this is the start failing (ENOENT, EACCES); after it, a failed kill.
      if (child.pid === undefined) finish({ code: null, signal: null, spawnError: error });
    });
    child.once('exit', (code, signal) => {
      // Whatever a stopped helper left running in its group goes too.
      if (stopped) signalGroup(child, 'SIGKILL');
      void Promise.race([
        Promise.all([streamClosed(child.stdout), streamClosed(child.stderr)]),
        new Promise((wait) => setTimeout(wait, PIPE_DRAIN_GRACE_MS)),
      ]).then(() => finish({ code, signal }));
    });
  });
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid !== undefined) signalProcessGroup(child.pid, signal);
}

function parseHeaders(stdout: Buffer): Record<string, string> {
  const text = stdout.toString('utf8').replace(/^\uFEFF/, '');
  if (text.trim() === '') throw failure('headersHelper printed nothing', { hint: OUTPUT_HINT });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // No `cause`: a SyntaxError's message quotes the text it failed on.
    throw failure('headersHelper printed something that is not JSON', { hint: OUTPUT_HINT });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw failure(`headersHelper printed JSON that is not an object (it is ${describe(parsed)})`, {
      hint: OUTPUT_HINT,
    });
  }
  const headers = Object.create(null) as Record<string, string>;
  const seen = new Set<string>();
  const entries = Object.entries(parsed as Record<string, unknown>);
  for (const [index, [name, value]] of entries.entries()) {
    // `__proto__` is a valid token, but no header, and a trap for whoever Object.assign()s the result.
    if (!HEADER_NAME.test(name) || name === '__proto__') {
      throw failure(
        `headersHelper printed a key that is not a valid HTTP header name (key ${index + 1} of ${entries.length})`,
        { hint: OUTPUT_HINT },
      );
    }
    if (typeof value !== 'string') {
      throw failure(
        `headersHelper printed JSON that is not an object of string values (key "${name}" is ${describe(value)})`,
        { hint: OUTPUT_HINT },
      );
    }
    if (/[\r\n\0]/.test(value)) {
      throw failure(`headersHelper printed a value with a line break or NUL for header "${name}"`, {
        hint: OUTPUT_HINT,
      });
    }
    if (seen.has(name.toLowerCase())) {
      throw failure(`headersHelper printed header "${name}" twice (header names ignore case)`, {
        hint: OUTPUT_HINT,
      });
    }
    seen.add(name.toLowerCase());
    setOwn(headers, name, value);
  }
  return headers;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  return `a ${typeof value}`;
}

// ---------------------------------------------------------------------------------------------
// Errors

function failure(message: string, options: { hint: string; cause?: unknown }): PatchbayError {
  return new PatchbayError('headers-helper-failed', message, options);
}

function spawnFailure(
  error: NodeJS.ErrnoException,
  program: string,
  context: HeadersHelperContext,
): PatchbayError {
  const shown = terminalText(program, { max: 200 });
  const setting = context.serverName ? ` (see \`patchbay get ${context.serverName}\`)` : '';
  if (error.code === 'ENOENT' && context.cwd !== undefined && !existsSync(context.cwd)) {
    return failure(
      `headersHelper's working directory does not exist: ${terminalText(context.cwd, { max: 200 })}`,
      {
        hint: 'run patchbay from an existing directory',
        cause: error,
      },
    );
  }
  if (error.code === 'ENOENT') {
    return failure(`headersHelper command not found: ${shown}`, {
      hint: `headersHelper runs without a shell: give an absolute path or a program on PATH${setting}`,
      cause: error,
    });
  }
  if (error.code === 'EACCES') {
    return failure(`headersHelper command is not executable: ${shown}`, {
      hint: `check the file's permissions (chmod +x), or run it through its interpreter${setting}`,
      cause: error,
    });
  }
  return failure(`headersHelper could not be started: ${shown} (${error.code ?? error.name})`, {
    hint: `check the headersHelper setting${setting}`,
    cause: error,
  });
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}
