/**
 * `--max-output`: what a server returns can be any size, and a terminal (or a model reading the
 * output) should not drown in it. The commands that print a server's answers write through a
 * stdout that passes the first N characters and counts the rest; afterwards a note on stderr
 * says how much was left out. JSON is cut only when --max-output is given (cut JSON does not
 * parse, and a script asking for JSON wants all of it).
 */

import { PatchbayError } from '../errors.js';
import { note, type Io } from './io.js';

export const DEFAULT_MAX_OUTPUT = 1_000_000;

export interface OutputLimitFlags {
  maxOutput?: string;
  json?: boolean;
}

/** The limit the flags ask for, in characters; undefined when nothing is to be cut. */
export function maxOutputFrom(flags: OutputLimitFlags): number | undefined {
  if (flags.maxOutput === undefined) return flags.json ? undefined : DEFAULT_MAX_OUTPUT;
  const limit = Number(flags.maxOutput);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new PatchbayError(
      'usage',
      `Invalid --max-output ${JSON.stringify(flags.maxOutput)}: expected a number of characters, such as 20000.`,
    );
  return limit;
}

/** Run a command with its stdout cut at the limit, then note what was left out. */
export async function withOutputLimit(
  io: Io,
  flags: OutputLimitFlags,
  run: (io: Io) => Promise<number>,
): Promise<number> {
  const limit = maxOutputFrom(flags);
  if (limit === undefined) return run(io);
  const stdout = new CappedOutput(io.stdout, limit);
  const code = await run({ ...io, stdout: stdout.stream });
  if (stdout.leftOut > 0) {
    if (!stdout.endedWithNewline) io.stdout.write('\n');
    note(
      io,
      `… ${stdout.leftOut} more character${stdout.leftOut === 1 ? '' : 's'} left out (--max-output ${limit}; raise it to see more).`,
    );
  }
  return code;
}

/** A write-only stream that passes on the first `limit` characters and counts the rest. */
class CappedOutput {
  leftOut = 0;
  endedWithNewline = true;
  private written = 0;
  readonly stream: Io['stdout'];

  constructor(
    private readonly target: Io['stdout'],
    private readonly limit: number,
  ) {
    const write = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      this.take(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      // Node streams call back once written; keep that promise for callers that wait on it.
      const callback = rest.find((item) => typeof item === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    };
    // Everything but write (isTTY, columns, once('drain') …) is the real stream's.
    this.stream = new Proxy(target, {
      get: (object, property, receiver) =>
        property === 'write' ? write : (Reflect.get(object, property, receiver) as unknown),
    });
  }

  private take(text: string): void {
    const room = this.limit - this.written;
    if (room <= 0) {
      this.leftOut += text.length;
      return;
    }
    let passed = text.length <= room ? text : text.slice(0, room);
    // Never end on half of a surrogate pair (an emoji cut in two prints as garbage).
    if (passed.length < text.length && /[\ud800-\udbff]$/.test(passed)) passed = passed.slice(0, -1);
    this.target.write(passed);
    // Once cut, nothing more passes (not even a chunk small enough for the room left).
    this.written = passed.length < text.length ? this.limit : this.written + passed.length;
    this.endedWithNewline = passed.endsWith('\n');
    this.leftOut += text.length - passed.length;
  }
}
