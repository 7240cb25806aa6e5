/**
 * The built `patchbay` binary on a real pseudo-terminal, driven like a person at the keyboard:
 * wait for a prompt to appear, type an answer. util-linux `script` provides the terminal
 * (Debian's bsdutils, an essential package), so no native pty module is needed.
 */

import { spawn } from 'node:child_process';

import { BINARY } from './sandbox.js';

export interface Terminal {
  /**
   * Wait until output shown since the last match (escape sequences removed) matches the pattern;
   * returns that output. Each wait starts where the previous match ended, so a question asked
   * twice is waited for twice.
   */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Type a line and press Enter. */
  type(line: string): void;
  /** Type keys as they are, without Enter (a half-typed line, Tab as "\t", Ctrl-C as "\u0003"). */
  keys(text: string): void;
  /** Everything shown so far, without escape sequences. */
  screen(): string;
  exited: Promise<number>;
}

export function runInTerminal(args: string[], env: NodeJS.ProcessEnv, cwd: string): Terminal {
  const command = [process.execPath, BINARY, ...args].map(shellQuote).join(' ');
  // -q quiet, -e pass the exit code on, -f flush each write; the typescript goes to /dev/null.
  const child = spawn('script', ['-qefc', command, '/dev/null'], {
    env: { ...env, TERM: 'xterm', COLUMNS: '200' },
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let shown = '';
  let consumed = 0;
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    shown += chunk.toString('utf8');
    for (const wake of waiters) wake();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number>((resolve) =>
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : -1))),
  );
  const screen = () =>
    // eslint-disable-next-line no-control-regex -- removing terminal escapes is the point
    shown.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

  return {
    screen,
    exited,
    type(line) {
      child.stdin.write(`${line}\r`);
    },
    keys(text) {
      child.stdin.write(text);
    },
    waitFor(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const unread = screen().slice(consumed);
          const match = pattern.exec(unread);
          if (!match) return;
          consumed += match.index + match[0].length;
          cleanup();
          resolve(unread);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern} on the terminal; it shows:\n${screen()}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
