/**
 * What a command's declaration (commands/<verb>.command.ts) is given to join the program. A
 * declaration is light: its flags, arguments and help, and an action that imports the command's
 * parse and run when it runs, so that building the program loads no command's dependencies.
 */

import type { Command } from 'commander';
import type { Io } from './io.js';

// commander hands actions untyped operands and an options bag; each command's parse function checks them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Action = (...args: any[]) => Promise<number> | number;

export interface Cli {
  readonly io: Io;
  /** The command line as given (add tells a URL from "-- command" by it). */
  readonly argv: readonly string[];
  /** An action for commander, which discards return values: this one records the exit code. */
  act(action: Action): (...args: unknown[]) => Promise<void>;
}

/** Adds one command to the program and returns it. */
export type DefineCommand = (program: Command, cli: Cli) => Command;
