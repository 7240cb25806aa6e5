/**
 * `patchbay shell <name>`: one session with a server, kept open for many commands, so that what
 * one command leaves on the server (a resource a call registered, a subscription, a log level)
 * is there for the next, and what the server says on its own (log messages, resource updates,
 * list changes) is seen as it arrives.
 *
 * On a terminal: a line editor with history (shell/history.ts) and Tab completion of verbs, tool,
 * prompt and resource names, argument names, and the server's own completions for prompt
 * arguments; notices are printed above the line being typed, which is drawn again as it was;
 * a server's question (elicitation) and a tool approval are asked in place. Ctrl-C cancels the
 * command running (the server is told), or clears the line; Ctrl-D or `exit` leaves.
 *
 * Without a terminal it is a line protocol for scripts: one command a line on stdin, `#` starts a
 * comment; results on stdout as the one-shot commands print them, errors and notices on stderr;
 * with --json every stdout line is one JSON object tagged by `kind` (result, error, log,
 * resource-updated, list-changed). At the end of input it exits 0 when every command succeeded,
 * else with the status of the last one that failed (--exit-on-error: at the first, with its
 * status); `exit N` exits with N.
 */

import { clearLine, cursorTo } from 'node:readline';
import { createInterface, type Interface } from 'node:readline/promises';

import { validateName } from '../../config/validate.js';
import { PatchbayError, EXIT } from '../../errors.js';
import { timeoutFrom } from '../health.js';
import { isInteractive, note, paint, useColor, writeLine, type Io } from '../io.js';
import type { QuestionSource } from '../questions.js';
import { reportError } from '../report-error.js';
import { explainUseFailure, openServer, parseServerRequestOptions } from '../server-session.js';
import { jsonLine, Names, type ShellContext, type ShellOptions } from '../shell/context.js';
import { historyPath, HISTORY_SIZE, loadHistory, saveHistoryLine } from '../shell/history.js';
import { describeNotice, listenForNotices, type Notice } from '../shell/notices.js';
import { LOG_LEVELS } from '../../core/log-levels.js';
import { ExitShell, findVerb, setLogLevel, VERBS } from '../shell/verbs.js';
import { lineWords, partialWords, quoteWord } from '../shell/words.js';

export type { ShellOptions } from '../shell/context.js';

export function parseShellOptions(
  name: string,
  raw: {
    json?: boolean;
    timeout?: string;
    roots?: boolean;
    acceptDefaults?: boolean;
    yes?: boolean;
    logArguments?: boolean;
    logLevel?: string;
    exitOnError?: boolean;
    history?: boolean;
  },
  env: NodeJS.ProcessEnv,
): ShellOptions {
  if (raw.logLevel !== undefined && !LOG_LEVELS.includes(raw.logLevel))
    throw new PatchbayError('usage', `Unknown log level ${JSON.stringify(raw.logLevel)}.`, {
      hint: `One of: ${LOG_LEVELS.join(', ')}`,
    });
  return {
    name: validateName(name),
    json: Boolean(raw.json),
    timeoutMs: timeoutFrom(raw.timeout, env),
    requests: parseServerRequestOptions(raw),
    yes: Boolean(raw.yes),
    logArguments: Boolean(raw.logArguments),
    logLevel: raw.logLevel,
    exitOnError: Boolean(raw.exitOnError),
    history: raw.history !== false,
  };
}

/** A list's changes closer together than this are shown as one. */
const LIST_CHANGE_QUIET_MS = 100;

/** How long Tab waits for the server before offering nothing (the line editor waits meanwhile). */
const COMPLETION_WAIT_MS = 2_000;

export async function runShell(options: ShellOptions, io: Io): Promise<number> {
  const interactive = isInteractive(io);
  const terminal = interactive ? new TerminalLine(io, `${options.name}> `) : undefined;
  // Set once connected; a list change before that has nothing to forget.
  const known: { names?: Names } = {};
  const pendingChanges = new Map<string, NodeJS.Timeout>();
  const showNotice = (notice: Notice) => {
    if (notice.kind === 'list-changed' && !pendingChanges.has(notice.list)) {
      known.names?.forget(notice.list);
      // A burst of changes to one list (server-everything adds a tool at a time) is told once.
      const timer = setTimeout(() => {
        pendingChanges.delete(notice.list);
        known.names?.forget(notice.list);
        show(notice);
      }, LIST_CHANGE_QUIET_MS);
      pendingChanges.set(notice.list, timer);
      return;
    }
    if (notice.kind !== 'list-changed') show(notice);
  };
  const show = (notice: Notice) => {
    const print = options.json
      ? () => jsonLine(io, notice.kind, noticeFields(notice))
      : () => writeLine(io.stderr, describeNotice(notice, useColor(io)));
    if (terminal) terminal.above(print);
    else print();
  };
  const { session, opened } = await openServer(
    options.name,
    options.timeoutMs,
    io,
    { ...options.requests, ...(terminal ? { questions: terminal.questions } : {}) },
    (client) => listenForNotices(client, showNotice),
  ).catch((error: unknown) => {
    terminal?.close();
    throw error;
  });
  const names = new Names(session, io, options.name);
  known.names = names;
  const base: ShellContext = {
    options,
    session,
    opened,
    io,
    questions: terminal?.questions,
    names,
    subscriptions: new Map(),
    result: (command, value) => jsonLine(io, 'result', { command, value }),
  };
  const closers: Array<() => Promise<void>> = [];
  try {
    if (options.logLevel) await setLogLevel(base, options.logLevel);
    if (session.era === 'modern') {
      // 2026-07-28: list changes come on a subscriptions/listen stream; asked for what the server offers.
      const offers = session.client.getServerCapabilities();
      const filter = {
        ...(offers?.tools?.listChanged ? { toolsListChanged: true } : {}),
        ...(offers?.prompts?.listChanged ? { promptsListChanged: true } : {}),
        ...(offers?.resources?.listChanged ? { resourcesListChanged: true } : {}),
      };
      if (Object.keys(filter).length > 0) {
        const stream = await session
          .request((client) => client.listen(filter, session.requestOptions()))
          .catch(() => undefined);
        if (stream) closers.push(() => stream.close());
      }
    }
  } catch (error) {
    terminal?.close();
    await session.close();
    throw await explainUseFailure(options.name, session, error);
  }

  const runLine = async (line: string, interrupt: AbortSignal): Promise<number | ExitShell | undefined> => {
    let words: string[];
    let verbName = '';
    try {
      words = lineWords(line);
      if (words.length === 0) return undefined;
      verbName = words[0]!;
      const verb = findVerb(verbName);
      const ctx: ShellContext = { ...base, io: { ...io, interrupt } };
      return await verb.run(ctx, words.slice(1));
    } catch (thrown) {
      const error = await explainUseFailure(options.name, session, thrown);
      if (options.json) {
        const failure = error instanceof PatchbayError ? error : undefined;
        jsonLine(io, 'error', {
          command: verbName || null,
          code: failure?.code ?? 'internal',
          message: error.message,
          hint: failure?.hint ?? null,
          exitCode: failure?.exitCode ?? EXIT.error,
        });
        return failure?.exitCode ?? EXIT.error;
      }
      return reportError(error, io);
    }
  };

  let status: number = EXIT.ok;
  let exitWith: number | undefined;
  try {
    if (terminal) {
      const p = paint(useColor(io));
      const identity = session.server ? `${session.server.name} ${session.server.version}` : options.name;
      note(
        io,
        p.dim(
          `Connected to ${options.name} (${identity}, ${session.transport}). Type help for commands; exit or Ctrl-D to leave.`,
        ),
      );
      const history = options.history ? historyPath(io.paths, options.name) : undefined;
      const completer = async (line: string): Promise<[string[], string]> => completeLine({ ...base }, line);
      const outcome = await terminal.run({
        history: history ? await loadHistory(history) : [],
        completer,
        onLine: async (line, interrupt) => {
          if (history) await saveHistoryLine(history, line);
          return runLine(line, interrupt);
        },
        lost: session.lost,
      });
      status = outcome.status;
      exitWith = outcome.exitWith;
    } else {
      const input = createInterface({ input: io.stdin, terminal: false });
      for await (const line of input) {
        if (io.interrupt?.aborted || session.lost.aborted) break;
        const commandSignal = io.interrupt ?? new AbortController().signal;
        const code = await runLine(line, commandSignal);
        if (code instanceof ExitShell) {
          exitWith = code.code;
          break;
        }
        if (code !== undefined && code !== EXIT.ok) {
          status = code;
          if (options.exitOnError || code === EXIT.interrupted) break;
        }
        if (session.lost.aborted) break;
      }
      input.close();
    }
    if (session.lost.aborted) {
      status = reportLost(session.lost.reason, options, io);
      exitWith = undefined;
    }
    if (io.interrupt?.aborted) return EXIT.interrupted;
    return exitWith ?? status;
  } finally {
    // Changes still being gathered are told before leaving, not dropped.
    for (const [list, timer] of pendingChanges) {
      clearTimeout(timer);
      show({ kind: 'list-changed', list: list as 'tools' | 'prompts' | 'resources' });
    }
    terminal?.close();
    for (const close of closers) await close().catch(() => undefined);
    for (const end of base.subscriptions.values())
      if (session.era === 'modern') await end().catch(() => undefined);
    await session.close();
  }
}

function reportLost(reason: unknown, options: ShellOptions, io: Io): number {
  const error = reason instanceof Error ? reason : new Error(String(reason));
  if (options.json) {
    const failure = error instanceof PatchbayError ? error : undefined;
    jsonLine(io, 'error', {
      command: null,
      code: failure?.code ?? 'connect-failed',
      message: error.message,
      hint: failure?.hint ?? null,
      exitCode: failure?.exitCode ?? EXIT.degraded,
    });
    return failure?.exitCode ?? EXIT.degraded;
  }
  return reportError(error, io);
}

function noticeFields(notice: Notice): Record<string, unknown> {
  const { kind: _kind, ...fields } = notice;
  return fields;
}

/** Tab: the candidates for the word under the cursor, and that word as typed (readline's pair). */
export async function completeLine(ctx: ShellContext, line: string): Promise<[string[], string]> {
  const { words, start } = partialWords(line);
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  let candidates: string[] = [];
  try {
    if (before.length === 0) candidates = [...VERBS.map((verb) => verb.name), 'quit'];
    else {
      const verb = findVerb(before[0]!);
      if (verb.complete) {
        let timer: NodeJS.Timeout | undefined;
        candidates = await Promise.race([
          verb.complete(ctx, before.slice(1), current),
          new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), COMPLETION_WAIT_MS))),
        ]).finally(() => clearTimeout(timer));
      }
    }
  } catch {
    // Tab never prints an error into the line being typed.
    candidates = [];
  }
  const hits = [...new Set(candidates)].filter((candidate) => candidate.startsWith(current)).sort();
  return [hits.map(quoteWord), line.slice(start)];
}

/**
 * The line editor on a terminal: a prompt, history, Tab, and lines printed above the one being
 * typed. Questions (a server's form, a tool approval) are asked on it too, in place: a second
 * interface on the same terminal would read every key twice.
 */
class TerminalLine {
  private rl: Interface | undefined;
  private idle = false;
  private asking = 0;

  constructor(
    private readonly io: Io,
    private readonly promptText: string,
  ) {}

  /** Lends the line editor for a question; `done` gives it back (it stays open). */
  readonly questions: QuestionSource = () => {
    const rl = this.rl;
    if (!rl) {
      // Before the editor exists (a question while connecting): an interface of its own.
      const own = createInterface({ input: this.io.stdin, output: this.io.stderr, terminal: true });
      return { prompt: own, done: () => own.close() };
    }
    this.asking++;
    return { prompt: rl, done: () => void this.asking-- };
  };

  /** Prints above the line being typed, then draws the prompt and that line again. */
  above(print: () => void): void {
    const out = this.io.stderr;
    if (this.rl && (this.idle || this.asking > 0)) {
      clearLine(out, 0);
      cursorTo(out, 0);
      print();
      this.rl.prompt(true);
    } else print();
  }

  async run(setup: {
    history: string[];
    completer: (line: string) => Promise<[string[], string]>;
    onLine: (line: string, interrupt: AbortSignal) => Promise<number | ExitShell | undefined>;
    lost: AbortSignal;
  }): Promise<{ status: number; exitWith: number | undefined }> {
    const rl = createInterface({
      input: this.io.stdin,
      output: this.io.stderr,
      terminal: true,
      prompt: this.promptText,
      history: setup.history,
      historySize: HISTORY_SIZE,
      removeHistoryDuplicates: true,
      completer: setup.completer,
    });
    this.rl = rl;
    let status: number = EXIT.ok;
    let exitWith: number | undefined;
    let running: AbortController | undefined;
    const queue: string[] = [];
    let closed = false;
    let wake: (() => void) | undefined;
    rl.on('line', (line) => {
      queue.push(line);
      wake?.();
    });
    rl.on('close', () => {
      closed = true;
      wake?.();
    });
    rl.on('SIGINT', () => {
      if (running) {
        running.abort(new Error('interrupted by Ctrl-C'));
        return;
      }
      if (rl.line !== '') {
        // As shells do: the line is dropped, a fresh prompt given.
        this.io.stderr.write('^C\n');
        rl.write(null, { ctrl: true, name: 'u' });
      } else note(this.io, '(To leave: exit, or Ctrl-D)');
      rl.prompt();
    });
    const onLost = () => {
      closed = true;
      wake?.();
    };
    setup.lost.addEventListener('abort', onLost, { once: true });
    try {
      for (;;) {
        if (queue.length === 0 && !closed) {
          this.idle = true;
          rl.prompt();
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          this.idle = false;
        }
        const line = queue.shift();
        if (line === undefined) {
          if (closed) break;
          continue;
        }
        running = new AbortController();
        const code = await setup.onLine(line, running.signal);
        running = undefined;
        if (code instanceof ExitShell) {
          exitWith = code.code;
          break;
        }
        // A command cancelled with Ctrl-C was the person's choice, not a failure of the session.
        if (code !== undefined && code !== EXIT.ok && code !== EXIT.interrupted) status = code;
        if (setup.lost.aborted) break;
      }
    } finally {
      setup.lost.removeEventListener('abort', onLost);
    }
    return { status, exitWith };
  }

  close(): void {
    this.rl?.close();
    this.rl = undefined;
  }
}
