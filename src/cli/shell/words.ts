/**
 * A shell line as words: quoted as a POSIX shell quotes (core/command-line.ts, the one splitter),
 * nothing expanded. While a line is being typed, `partialWords` splits it without failing on an
 * unfinished quote, for Tab.
 */

import { splitCommandLine } from '../../core/command-line.js';
import { PatchbayError } from '../../errors.js';

export function lineWords(line: string): string[] {
  try {
    return splitCommandLine(line);
  } catch (error) {
    if (!(error instanceof PatchbayError)) throw error;
    // The splitter's own hint is about commands run without a shell; here the fix is quoting.
    throw new PatchbayError('usage', `Cannot read the line: ${error.message}.`, {
      hint: "Quote a value that holds spaces or | & ; < > ( ) `, e.g. message='a > b'",
    });
  }
}

/**
 * The words of a line typed so far, the last one the word under the cursor ('' after a space),
 * and where that word starts on the line; an unterminated quote is taken as closed.
 */
export function partialWords(line: string): { words: string[]; start: number } {
  const words: string[] = [];
  let word = '';
  let start = 0;
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else word += c;
      continue;
    }
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    if (!inWord) start = i;
    inWord = true;
    if (c === "'" || c === '"') quote = c;
    else if (c === '\\' && i + 1 < line.length) word += line[++i];
    else word += c;
  }
  if (!inWord) start = line.length;
  words.push(word);
  return { words, start };
}

/** A completed word as it must be typed: quoted when it holds what the splitter reads specially. */
export function quoteWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./{}-]*$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
