/**
 * A live view for slow work on a terminal: lines that arrive as results come in, under them one
 * progress line redrawn in place. On anything but a terminal it prints nothing at all, so pipes
 * and CI logs get only the final output.
 *
 * When the work is done the live lines are erased (if they still fit on screen), so the command's
 * final, ordered output is not printed twice.
 */

import type { Io } from './io.js';

export interface LiveView {
  /** A finished item, printed above the progress line. */
  add(line: string): void;
  /** Replace the progress line. */
  status(line: string): void;
  /** Erase what the view printed and stop its timer. */
  finish(): void;
}

/**
 * While patchbay asks the person something (a server's question, an approval), live progress
 * lines stay off the terminal: a redrawn spinner would write over the question being typed into.
 */
let holds = 0;
const holdListeners = new Set<() => void>();

export function holdTerminal(): () => void {
  holds++;
  for (const listener of holdListeners) listener();
  let released = false;
  return () => {
    if (!released) holds--;
    released = true;
  };
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const FRAME_MS = 80;

export function liveView(io: Io): LiveView {
  const stream = io.stderr as NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  if (!stream.isTTY || io.env.TERM === 'dumb' || io.env.CI) return { add() {}, status() {}, finish() {} };

  const columns = () => Math.max(20, stream.columns || 80);
  // Longer lines would wrap, and a wrapped line cannot be erased by counting lines.
  const fit = (line: string) => (visibleLength(line) < columns() ? line : truncate(line, columns() - 1));
  let printed = 0;
  let frame = 0;
  let statusText = '';
  let statusShown = false;

  const clearStatus = () => {
    if (statusShown) stream.write('\r\u001b[2K');
    statusShown = false;
  };
  const drawStatus = () => {
    if (!statusText || holds > 0) return;
    stream.write(`\r\u001b[2K${fit(`${SPINNER[frame % SPINNER.length]} ${statusText}`)}`);
    statusShown = true;
  };
  holdListeners.add(clearStatus);
  const timer = setInterval(() => {
    frame++;
    drawStatus();
  }, FRAME_MS);
  timer.unref();

  return {
    add(line) {
      clearStatus();
      stream.write(`${fit(line)}\n`);
      printed++;
      drawStatus();
    },
    status(line) {
      statusText = line;
      drawStatus();
    },
    finish() {
      clearInterval(timer);
      holdListeners.delete(clearStatus);
      clearStatus();
      const rows = stream.rows || 24;
      // Lines that scrolled off the top cannot be taken back; leave them all then.
      if (printed > 0 && printed < rows - 1) stream.write(`\u001b[${printed}A\u001b[0J`);
      printed = 0;
    },
  };
}

function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex -- colour codes take no room on screen
  return [...text.replace(/\u001b\[[0-9;]*m/g, '')].length;
}

function truncate(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex -- colour codes take no room on screen
  const plain = [...text.replace(/\u001b\[[0-9;]*m/g, '')];
  return `${plain.slice(0, Math.max(0, max - 1)).join('')}…`;
}
