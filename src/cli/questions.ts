/**
 * Where a question to the person is asked (a server's form, a tool approval): on a readline
 * interface of its own over the terminal for a one-shot command, or on the shell's own interface
 * while the shell runs (two interfaces on one terminal would both read every key).
 */

import { createInterface, type Interface } from 'node:readline/promises';

import type { Io } from './io.js';

export interface Questions {
  prompt: Interface;
  /** Done asking: closes an interface opened for the question, leaves a lent one open. */
  done(): void;
}

export type QuestionSource = (io: Io) => Questions;

/** A new interface on the terminal, closed when done: what a one-shot command asks on. */
export const ownTerminal: QuestionSource = (io) => {
  const prompt = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  return { prompt, done: () => prompt.close() };
};

/**
 * Asks (`ask` puts each of its questions with the signal given), and answers `fallback` on Ctrl-C
 * or when the interface closes: the questions still pending are withdrawn and the listeners
 * removed, since a lent interface lives on and must not keep either.
 */
export async function askOrCancel<T>(
  prompt: Interface,
  ask: (signal: AbortSignal) => Promise<T>,
  fallback: T,
): Promise<T> {
  const withdraw = new AbortController();
  let settle: ((value: T) => void) | undefined;
  const stop = new Promise<T>((resolve) => (settle = resolve));
  const onStop = () => {
    withdraw.abort();
    settle?.(fallback);
  };
  prompt.once('SIGINT', onStop);
  prompt.once('close', onStop);
  try {
    const asked = ask(withdraw.signal).catch((error: unknown) => {
      if (withdraw.signal.aborted) return fallback;
      throw error;
    });
    return await Promise.race([asked, stop]);
  } finally {
    withdraw.abort();
    prompt.off('SIGINT', onStop);
    prompt.off('close', onStop);
  }
}
