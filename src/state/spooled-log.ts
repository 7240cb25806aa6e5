/**
 * The writer in front of a shared log (redis-log.ts): lines go to Redis a batch at a time, and to
 * a local spool while Redis cannot be reached, so that calls which need no shared state keep
 * being served and recorded.
 *
 * - Batches: a line is sent at once when nothing is in flight; the lines that come while a write
 *   is in flight go together in the next one (one round trip for many calls under load).
 * - Spool: when a write fails (refused, dropped mid-way, late), its lines and every line after
 *   them go to `<state dir>/<name>-spool.jsonl` (0600), in order, until a flush has sent the
 *   spool and found it empty. A flush is tried every FLUSH_EVERY_MS once the process wrote its
 *   first line; a spool left by a process that was killed is sent before that first line. Lines whose write had an unknown outcome are among them:
 *   the log's append is idempotent per line id, so one that did land is not recorded twice.
 * - Replicas on one machine may share the state directory: the spool's writes and flushes all
 *   take its lock, and whoever flushes sends every process's lines.
 * - Bounded: past MAX_SPOOL_BYTES new lines are dropped and counted (said once per outage).
 *
 * `write` resolves when the line is in Redis or in the spool (the file's page cache: it survives
 * the process being killed, not the machine losing power), and never rejects.
 */

import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';

import { fileSize, fileSizeNow, withFileLock, writeFileAtomic } from '../core/file-store.js';
import { lineId } from './redis-log.js';
import type { LoggedLine, SharedLog, SharedLogOptions } from './store.js';

/** What the writer needs of the log (RedisLog; a test may give another). */
export interface LogBackend {
  append(lines: readonly LoggedLine[]): Promise<number>;
  read(options?: { sinceMs?: number }): AsyncIterable<LoggedLine>;
}

export const MAX_SPOOL_BYTES = 64 * 1024 * 1024;
export const FLUSH_EVERY_MS = 1_000;
/** Lines per write: a spool of many thousand lines goes in steps, each a bounded script run. */
const BATCH = 200;
/**
 * A flush holds the spool's lock while it sends (a spool of 64 MiB: some seconds); a line spooled
 * meanwhile waits for it rather than be dropped.
 */
const LOCK_TIMEOUT_MS = 60_000;

interface Waiting {
  line: LoggedLine;
  done: () => void;
}

export class SpooledLog implements SharedLog {
  private waiting: Waiting[] = [];
  private running: Promise<void> | undefined;
  /** Lines go to the spool (not Redis) until a flush finds it empty. */
  private spooling = false;
  private flushing: Promise<void> | undefined;
  /** Set by the first write: a log only read (patchbay log --state) never touches the spool. */
  private timer: NodeJS.Timeout | undefined;
  private dropped = 0;
  private closed = false;

  constructor(
    private readonly backend: LogBackend,
    readonly spoolPath: string,
    private readonly options: SharedLogOptions & { maxSpoolBytes?: number } = {},
  ) {}

  write(text: string): Promise<void> {
    if (!this.timer) this.start();
    return new Promise((done) => {
      this.waiting.push({ line: { id: lineId(), line: text }, done });
      this.running ??= this.drain();
    });
  }

  private start(): void {
    // A spool left behind (by a process killed while Redis was away, or by another replica on
    // this machine): its lines are older, so new ones queue behind them until it is sent.
    // A spool that cannot even be looked at is found by the first write to it.
    this.spooling = (() => {
      try {
        return fileSizeNow(this.spoolPath) > 0;
      } catch {
        return false;
      }
    })();
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
    if (this.spooling) void this.flush();
  }

  read(options?: { sinceMs?: number }): AsyncIterable<LoggedLine> {
    return this.backend.read(options);
  }

  /** Every line written so far stored or spooled; the periodic flush stopped. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
    await this.flushing;
  }

  /** Runs while lines wait; clears `running` in the same step it finds none (no line left behind). */
  private async drain(): Promise<void> {
    for (;;) {
      if (this.waiting.length === 0) {
        this.running = undefined;
        return;
      }
      const group = this.waiting.splice(0, BATCH);
      const lines = group.map((waiting) => waiting.line);
      if (!this.spooling) {
        try {
          await this.backend.append(lines);
          group.forEach((waiting) => waiting.done());
          continue;
        } catch (error) {
          this.spooling = true;
          this.warn(
            `The audit stream cannot be written (${(error as Error).message}); lines are kept in ${this.spoolPath} and sent once it can.`,
          );
        }
      }
      const spooled = await this.toSpool(lines);
      // A flush emptied the spool meanwhile: these go straight to the log, still in order.
      if (!spooled) this.waiting.unshift(...group);
      else group.forEach((waiting) => waiting.done());
    }
  }

  /** Append to the spool under its lock; false when the spool was emptied meanwhile (send directly). */
  private async toSpool(lines: readonly LoggedLine[]): Promise<boolean> {
    try {
      // The lock file lives beside the spool: the directory first.
      await fs.mkdir(dirname(this.spoolPath), { recursive: true, mode: 0o700 });
      return await withFileLock(this.spoolPath, LOCK_TIMEOUT_MS, async () => {
        if (!this.spooling) return false;
        const text = lines.map((line) => `${JSON.stringify(line)}\n`).join('');
        const size = await fileSize(this.spoolPath);
        if (size + Buffer.byteLength(text) > (this.options.maxSpoolBytes ?? MAX_SPOOL_BYTES)) {
          if (this.dropped === 0)
            this.warn(
              `The audit spool ${this.spoolPath} is full: new lines are dropped until Redis is back.`,
            );
          this.dropped += lines.length;
          return true;
        }
        await fs.appendFile(this.spoolPath, text, { mode: 0o600 });
        return true;
      });
    } catch (error) {
      // The disk refused too: the call goes on (the audit never fails one); said, not hidden.
      this.warn(`An audit line could not be spooled: ${(error as Error).message}`);
      return true;
    }
  }

  /** Send the spool in order; once it is empty this process writes to the log directly again. */
  flush(): Promise<void> {
    if (this.flushing || this.closed) return this.flushing ?? Promise.resolve();
    this.flushing = this.sendSpool()
      .catch(() => undefined)
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async sendSpool(): Promise<void> {
    if (!this.spooling && (await fileSize(this.spoolPath)) === 0) return;
    await withFileLock(this.spoolPath, LOCK_TIMEOUT_MS, async () => {
      const lines = parseSpool(await readOrEmpty(this.spoolPath));
      let sent = 0;
      try {
        for (; sent < lines.length; sent += BATCH) await this.backend.append(lines.slice(sent, sent + BATCH));
      } finally {
        // What was sent is gone from the spool (a kill before this line: sent again, and skipped).
        if (sent >= lines.length) await fs.rm(this.spoolPath, { force: true });
        else if (sent > 0) await writeSpool(this.spoolPath, lines.slice(sent));
      }
      if (lines.length > 0) this.warn(`The audit stream is back: ${lines.length} spooled lines sent.`);
      if (this.dropped > 0) this.warn(`${this.dropped} audit lines were dropped while the spool was full.`);
      this.dropped = 0;
      this.spooling = false;
    });
  }

  private warn(message: string): void {
    try {
      this.options.onWarning?.(message);
    } catch {
      // A reporter that fails must not stop the audit.
    }
  }
}

function parseSpool(text: string): LoggedLine[] {
  const lines: LoggedLine[] = [];
  for (const row of text.split('\n')) {
    if (row === '') continue;
    try {
      const value = JSON.parse(row) as Partial<LoggedLine>;
      if (typeof value.id === 'string' && typeof value.line === 'string')
        lines.push({ id: value.id, line: value.line });
    } catch {
      // A row cut short by a crash mid-append: nothing to send.
    }
  }
  return lines;
}

async function writeSpool(path: string, lines: readonly LoggedLine[]): Promise<void> {
  await writeFileAtomic(path, lines.map((line) => `${JSON.stringify(line)}\n`).join(''), {
    mode: 0o600,
    secret: true,
  });
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}
