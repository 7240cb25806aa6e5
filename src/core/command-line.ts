/**
 * A command line split into argv the way a POSIX shell would: for programs patchbay runs without
 * a shell (headersHelper, PATCHBAY_BROWSER). Nothing is expanded unless the caller passes a
 * `reference` reader, and then a reference's value is appended to the word it stands in, never
 * split or re-parsed: `${VAR}` is one argument (or part of one) whatever its value holds, as a
 * POSIX shell treats `"${VAR}"`.
 */

import { PatchbayError } from '../errors.js';

const SHELL_HINT = "it runs without a shell; to use shell syntax, say so explicitly: sh -c '<your command>'";

/** A reference found at a position of the command line: how long it is and what it stands for. */
export interface Reference {
  length: number;
  value: string;
}

/** Reads a reference (such as `${VAR}`) starting at `index`, or undefined when there is none. */
export type ReferenceReader = (command: string, index: number) => Reference | undefined;

/** Splits a command line into argv the way a POSIX shell would; see the module comment. */
export function splitCommandLine(command: string, reference?: ReferenceReader): string[] {
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  let found: Reference | undefined;
  let i = 0;
  while (i < command.length) {
    const c = command[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === '#' && !inWord) {
      // A comment, to the end of the line.
      const newline = command.indexOf('\n', i);
      i = newline === -1 ? command.length : newline;
    } else if (c === '\\') {
      if (command[i + 1] !== '\n') {
        // The next character taken literally; a trailing backslash stays, as with `sh -c`.
        word += command[i + 1] ?? c;
        inWord = true;
      } // else: backslash-newline continues the line.
      i += 2;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end === -1) throw splitError(`unterminated single quote (opened at character ${i + 1})`);
      // Unlike sh, references are read inside single quotes too: patchbay expands `${VAR}` in every
      // field of an entry wherever it stands, and did so here before splitting was reference-aware.
      word += reference ? withReferences(command, i + 1, end, reference) : command.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      const opened = i;
      inWord = true;
      i++;
      for (;;) {
        if (i >= command.length)
          throw splitError(`unterminated double quote (opened at character ${opened + 1})`);
        const d = command[i]!;
        if (d === '"') {
          i++;
          break;
        }
        const next = command[i + 1];
        const quoted = d === '$' ? reference?.(command, i) : undefined;
        if (quoted) {
          word += quoted.value;
          i += quoted.length;
        } else if (
          d === '\\' &&
          (next === '$' || next === '`' || next === '"' || next === '\\' || next === '\n')
        ) {
          if (next !== '\n') word += next;
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
    } else if (c === '$' && (found = reference?.(command, i))) {
      word += found.value;
      inWord = true;
      i += found.length;
    } else if (SHELL_SYNTAX.has(c)) {
      let operator = c;
      while (i + operator.length < command.length && SHELL_SYNTAX.has(command[i + operator.length]!)) {
        operator += command[i + operator.length];
      }
      throw splitError(`"${operator}" is shell syntax, and the command runs without a shell`, SHELL_HINT);
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) argv.push(word);
  return argv;
}

/** The text between `start` and `end` with each reference replaced by its value. */
function withReferences(command: string, start: number, end: number, reference: ReferenceReader): string {
  let text = '';
  let i = start;
  while (i < end) {
    const found = command[i] === '$' ? reference(command, i) : undefined;
    if (found && i + found.length <= end) {
      text += found.value;
      i += found.length;
    } else {
      text += command[i];
      i++;
    }
  }
  return text;
}

/** Unquoted, these make `sh` pipe, redirect, chain, background or substitute: never meant literally. */
const SHELL_SYNTAX = new Set(['|', '&', ';', '<', '>', '(', ')', '`']);

/** Characters that need no quoting in a command line. */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * argv as one command line that `splitCommandLine` turns back into exactly that argv: each word
 * that needs it in single quotes.
 */
export function joinCommandLine(argv: readonly string[]): string {
  return argv.map((word) => (PLAIN_WORD.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function splitError(message: string, hint?: string): PatchbayError {
  return new PatchbayError('usage', message, hint === undefined ? {} : { hint });
}
