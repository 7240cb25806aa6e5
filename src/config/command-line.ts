/**
 * A command line split into argv the way a POSIX shell would, without expanding anything: for
 * programs patchbay runs without a shell (headersHelper, PATCHBAY_BROWSER).
 */

import { PatchbayError } from '../errors.js';

const SHELL_HINT = "it runs without a shell; to use shell syntax, say so explicitly: sh -c '<your command>'";

/** Splits a command line into argv the way a POSIX shell would, without expanding anything. */
export function splitCommandLine(command: string): string[] {
  const argv: string[] = [];
  let word = '';
  let inWord = false;
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
      word += command.slice(i + 1, end);
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
        if (d === '\\' && (next === '$' || next === '`' || next === '"' || next === '\\' || next === '\n')) {
          if (next !== '\n') word += next;
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
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

/** Unquoted, these make `sh` pipe, redirect, chain, background or substitute: never meant literally. */
const SHELL_SYNTAX = new Set(['|', '&', ';', '<', '>', '(', ')', '`']);

function splitError(message: string, hint?: string): PatchbayError {
  return new PatchbayError('usage', message, hint === undefined ? {} : { hint });
}
