/**
 * The stdio transport patchbay uses instead of the SDK's, because it needs the process group (to
 * kill grandchildren such as the server behind `npx`), the exit status and stderr's last lines.
 *
 * Framing and message validation are the SDK's (`ReadBuffer`, `serializeMessage`); this file
 * owns the process: spawn without a shell into its own process group, the environment child-env.ts
 * decides (the user's by default, or a minimal one),
 * stderr kept (never echoed), and a teardown after which nothing of the group is left running.
 *
 * This module loads the SDK when imported: import it lazily from code on a fast path.
 */

import { spawn, type ChildProcess } from 'node:child_process';

import {
  ReadBuffer,
  SdkError,
  SdkErrorCode,
  serializeMessage,
  type JSONRPCMessage,
  type Transport,
} from '@modelcontextprotocol/client';

import { terminalText } from '../core/terminal-text.js';
import { fullEnv, layerEnv, minimalEnv } from './child-env.js';
import { destroyPipes, signalProcessGroup, streamClosed } from './child-process.js';
import { trackProcessGroup, untrackProcessGroup } from './live-children.js';

export { lastStderrLine } from './child-env.js';

export interface StdioServerParameters {
  command: string;
  args?: string[];
  /** The entry's env, laid over the inherited environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** Where the inherited environment is taken from; defaults to process.env. */
  inheritFrom?: NodeJS.ProcessEnv;
  /**
   * true (default): all of `inheritFrom`, as other MCP hosts do; false: only its minimal subset
   * (PATH, HOME, locale, temp, ...), keeping the shell's secrets from the server.
   */
  inheritAll?: boolean;
}

export interface StdioExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How long the server gets to exit by itself once its stdin is closed. */
export const STDIO_EXIT_GRACE_MS = 200;
/** How long the process group gets between SIGTERM and SIGKILL. */
export const STDIO_KILL_GRACE_MS = 1_000;
/** After the process exited, how long its pipes may stay open (a grandchild holding them) before they are cut. */
const PIPE_DRAIN_GRACE_MS = 250;
const STDERR_KEEP_CHARS = 8 * 1024;
/** Enough of a stray stdout line to show 120 printable characters. */
const STRAY_HEAD_BYTES = 1024;
const POLL_MS = 20;

const NOT_RUNNING = 'the server process is not running';

export class StdioProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /**
   * Sees each stdout line before the SDK's parse and schema check (raw-channel.ts: a relay's own
   * responses and progress, passed on as they are); returns whether it took the line.
   */
  claimLine: ((line: string) => boolean) | undefined = undefined;

  private readonly parameters: StdioServerParameters;
  private readonly readBuffer = new ReadBuffer();
  private child: ChildProcess | undefined;
  private exitStatus: StdioExit | null = null;
  private stderrText = '';
  private stray: string | undefined;
  /** The start of the stdout line being read (what a stray line would show). */
  private lineHead: Buffer | undefined;
  /** The pieces of the stdout line being read, while `claimLine` is set. */
  private lineParts: Buffer[] = [];
  /** Whether stdout's last chunk ended inside a line. */
  private midLine = false;
  /** Set when a line outgrew the ReadBuffer: the rest of it is dropped. */
  private discardingLine = false;
  /** Set once `kill(-pgid, 0)` reported the group empty: its id may be reused from then on. */
  private groupGone = false;
  private closing: Promise<void> | undefined;
  /** Pending while stdin's buffer is full. */
  private drained: Promise<void> | undefined;
  private closeNotified = false;
  /** Resolves once the exit is recorded and the pipes drained (or were cut). */
  private settled: Promise<void> | undefined;
  private readonly exitedPromise: Promise<StdioExit>;
  private resolveExited!: (exit: StdioExit) => void;

  constructor(parameters: StdioServerParameters) {
    this.parameters = parameters;
    this.exitedPromise = new Promise((resolve) => (this.resolveExited = resolve));
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Null while the process runs (or before it started, or when it never started). */
  get exit(): StdioExit | null {
    return this.exitStatus;
  }

  /** The last 8 KiB of stderr, as text. */
  get stderrTail(): string {
    return this.stderrText;
  }

  /** The first stdout line that was not JSON-RPC (a server logging to the MCP channel), printable, ≤120 chars. */
  get strayStdout(): string | undefined {
    return this.stray;
  }

  /**
   * Resolves when the process has exited and its stderr has drained. Resolves with
   * `{ code: null, signal: null }` if the process could not be started.
   */
  exited(): Promise<StdioExit> {
    return this.exitedPromise;
  }

  /** Resolves once the process is spawned; rejects with Node's error (ENOENT, EACCES, ...) if it is not. */
  async start(): Promise<void> {
    if (this.child) throw new Error('StdioProcessTransport already started');
    if (this.closing)
      throw new SdkError(SdkErrorCode.NotConnected, 'the transport was closed before it started');
    const { command, args = [], env, cwd, inheritFrom, inheritAll = true } = this.parameters;
    const inherited = inheritAll
      ? fullEnv(inheritFrom ?? process.env)
      : minimalEnv(inheritFrom ?? process.env);
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        shell: false,
        // Its own process group (POSIX), so that close() reaches grandchildren too.
        detached: process.platform !== 'win32',
        stdio: ['pipe', 'pipe', 'pipe'],
        env: layerEnv(inherited, env),
        ...(cwd !== undefined ? { cwd } : {}),
        windowsHide: true,
      });
    } catch (error) {
      // Arguments Node refuses outright (a NUL byte, a bad type) throw instead of emitting 'error'.
      this.resolveExited({ code: null, signal: null });
      throw error;
    }
    this.child = child;
    if (child.pid !== undefined) trackProcessGroup(child.pid);

    child.stdout!.on('data', (chunk: Buffer) => this.readStdout(chunk));
    child.stdout!.on('error', (error) => this.onerror?.(error));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      this.stderrText = (this.stderrText + text).slice(-STDERR_KEEP_CHARS);
    });
    child.stderr!.on('error', () => undefined);
    child.stdin!.on('error', (error: NodeJS.ErrnoException) => {
      // EPIPE: the server stopped reading; its exit (reported through onclose) says the rest.
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') this.onerror?.(error);
    });
    child.once('exit', (code, signal) => {
      this.settled = this.settle({ code, signal });
    });

    await new Promise<void>((resolve, reject) => {
      const onSpawn = () => {
        child.off('error', onSpawnError);
        child.on('error', (error) => this.onerror?.(error));
        resolve();
      };
      const onSpawnError = (error: Error) => {
        child.off('spawn', onSpawn);
        child.on('error', (later) => this.onerror?.(later));
        this.readBuffer.clear();
        this.resolveExited({ code: null, signal: null });
        reject(error);
      };
      child.once('spawn', onSpawn);
      child.once('error', onSpawnError);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || this.child?.pid === undefined || this.exitStatus || this.closing || !stdin.writable) {
      throw new SdkError(SdkErrorCode.NotConnected, NOT_RUNNING);
    }
    if (stdin.write(serializeMessage(message))) return;
    // One waiter for the pipe, however many sends are queued behind it.
    this.drained ??= new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        stdin.off('close', onClose);
        this.drained = undefined;
        resolve();
      };
      const onClose = () => {
        stdin.off('drain', onDrain);
        this.drained = undefined;
        reject(new SdkError(SdkErrorCode.NotConnected, NOT_RUNNING));
      };
      stdin.once('drain', onDrain);
      stdin.once('close', onClose);
    });
    await this.drained;
  }

  /**
   * Ends stdin, gives the server STDIO_EXIT_GRACE_MS to exit, then SIGTERM to its process group
   * and STDIO_KILL_GRACE_MS later SIGKILL. Resolves when the process exited and its pipes are
   * closed. Idempotent. On Windows there are no process groups: only the process itself is
   * killed (`child.kill`), so grandchildren may survive it.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  /**
   * Feeds the ReadBuffer one line at a time: after each newline it holds exactly one line, so a
   * `null` from readMessage means that line was not JSON (the SDK skips such lines silently).
   */
  private readStdout(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline + 1;
      this.appendToLine(chunk.subarray(start, end));
      if (newline !== -1) this.endLine();
      start = end;
    }
    this.midLine = chunk.length > 0 && chunk[chunk.length - 1] !== 0x0a;
  }

  private appendToLine(piece: Buffer): void {
    if (this.discardingLine) return;
    if (this.claimLine) this.lineParts.push(piece);
    // Usually a view into the chunk; copied only while a line spans chunks and the head is short.
    if (!this.lineHead) this.lineHead = piece;
    else if (this.lineHead.length < STRAY_HEAD_BYTES) this.lineHead = Buffer.concat([this.lineHead, piece]);
    try {
      this.readBuffer.append(piece);
    } catch (error) {
      // The line is longer than the SDK allows (10 MiB); drop it and carry on with the next one.
      this.discardingLine = true;
      this.onerror?.(
        new Error('the server wrote a stdout line longer than the allowed maximum', { cause: error }),
      );
    }
  }

  private endLine(): void {
    const head = this.lineHead;
    this.lineHead = undefined;
    const parts = this.lineParts;
    if (parts.length > 0) this.lineParts = [];
    if (this.discardingLine) {
      this.discardingLine = false;
      this.readBuffer.clear();
      return;
    }
    if (this.claimLine && parts.length > 0) {
      const line = parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts).toString('utf8');
      if (this.claimLine(line)) {
        this.readBuffer.clear();
        return;
      }
    }
    let message: JSONRPCMessage | null;
    try {
      message = this.readBuffer.readMessage();
    } catch (error) {
      // JSON, but not a JSON-RPC message.
      this.noteStray(head, error);
      return;
    }
    if (message === null) {
      this.noteStray(head, undefined);
      return;
    }
    try {
      this.onmessage?.(message);
    } catch (error) {
      this.onerror?.(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private noteStray(head: Buffer | undefined, cause: unknown): void {
    const text = head?.subarray(0, STRAY_HEAD_BYTES).toString('utf8').trim() ?? '';
    if (text === '') return; // a blank line
    this.stray ??= terminalText(text, { max: 120 });
    this.onerror?.(
      new Error(
        'the server wrote a line to stdout that is not JSON-RPC (servers must log to stderr)',
        cause === undefined ? undefined : { cause },
      ),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Exit and teardown

  private async settle(exit: StdioExit): Promise<void> {
    this.exitStatus = exit;
    const child = this.child!;
    // Output written just before the exit may still be in the pipes; a grandchild may hold them open.
    await within(Promise.all([streamClosed(child.stdout), streamClosed(child.stderr)]), PIPE_DRAIN_GRACE_MS);
    destroyPipes(child);
    // A last line without a newline still counts (a message, or a stray line worth showing).
    if (this.midLine) this.readStdout(Buffer.from('\n'));
    this.readBuffer.clear();
    this.resolveExited(exit);
    this.notifyClose();
  }

  private async shutdown(): Promise<void> {
    const child = this.child;
    if (child?.pid !== undefined) {
      try {
        child.stdin?.end();
      } catch {
        // Already destroyed: nothing to end.
      }
      if (!this.exitStatus) await this.waitUntil(() => this.exitStatus !== null, STDIO_EXIT_GRACE_MS);
      // Even when the server exited by itself, what it started may still be running.
      if (this.groupAlive()) {
        this.signalGroup(child, 'SIGTERM');
        await this.waitUntil(() => !this.groupAlive(), STDIO_KILL_GRACE_MS);
        if (this.groupAlive()) {
          this.signalGroup(child, 'SIGKILL');
          // SIGKILL cannot be ignored; the bound is for a process stuck in the kernel.
          await this.waitUntil(() => this.exitStatus !== null, STDIO_KILL_GRACE_MS);
        }
      }
      if (this.settled) await this.settled;
      destroyPipes(child);
    }
    if (child?.pid !== undefined) untrackProcessGroup(child.pid);
    this.readBuffer.clear();
    this.notifyClose();
  }

  /** Whether the server or anything else in its process group may still be running. */
  private groupAlive(): boolean {
    if (this.exitStatus === null) return true;
    const pid = this.child?.pid;
    if (this.groupGone || pid === undefined || process.platform === 'win32') return false;
    try {
      process.kill(-pid, 0);
      return true;
    } catch (error) {
      // ESRCH: empty. EPERM: only members patchbay may not signal anyway.
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') this.groupGone = true;
      return false;
    }
  }

  private signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    const pid = child.pid;
    if (pid === undefined || this.groupGone) return;
    // Windows signals the process itself, and an exited one's pid may belong to another by now.
    if (process.platform === 'win32' && this.exitStatus !== null) return;
    if (!signalProcessGroup(pid, signal)) this.groupGone = true;
  }

  private async waitUntil(done: () => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done() && Date.now() < deadline) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))),
      );
    }
  }

  private notifyClose(): void {
    if (this.closeNotified) return;
    this.closeNotified = true;
    this.onclose?.();
  }
}

async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
