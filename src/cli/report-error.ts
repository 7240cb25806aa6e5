/**
 * How a failure is shown: commander's usage errors (already printed by commander), patchbay's own
 * errors with their hint, anything else as a bug to report. The one place for it: the program
 * (main.ts) and the shell, which reports each failed command and goes on.
 */

import { CommanderError } from 'commander';

import { terminalText } from '../core/terminal-text.js';
import { EXIT, exitCodeOf, PatchbayError } from '../errors.js';
import { paint, useColor, writeLine, type Io } from './io.js';

/** Prints the failure on stderr and returns its exit status. */
export function reportError(error: unknown, io: Io): number {
  if (error instanceof CommanderError) {
    if (
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.code === 'commander.help'
    )
      return EXIT.ok;
    // commander has already printed its message.
    writeLine(io.stderr, 'Run `patchbay help <command>` for usage.');
    return EXIT.usage;
  }
  const p = paint(useColor(io));
  if (error instanceof PatchbayError) {
    // Messages and hints quote servers, files and processes; printed through the one sanitizer.
    writeLine(io.stderr, `${p.red('error:')} ${terminalText(error.message, { multiline: true })}`);
    if (error.hint)
      writeLine(io.stderr, `${p.dim('hint:')} ${terminalText(error.hint, { multiline: true })}`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  writeLine(io.stderr, `${p.red('error:')} ${terminalText(message, { multiline: true })}`);
  writeLine(
    io.stderr,
    `${p.dim('hint:')} this is a bug in patchbay; please report it with the command you ran.`,
  );
  if (io.env.PATCHBAY_DEBUG && error instanceof Error && error.stack) writeLine(io.stderr, error.stack);
  return exitCodeOf(error);
}
