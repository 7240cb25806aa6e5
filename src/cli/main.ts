#!/usr/bin/env node
/**
 * The `patchbay` command: the table of commands, error reporting, and the process around them.
 * Each command declares its own flags in commands/<verb>.command.ts and imports its code when it
 * runs, so a command that needs no network never loads the MCP SDK. This is the only file that exits.
 */

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format } from 'node:util';
import { Command } from 'commander';
import { terminateProcessGroups } from '../connect/live-children.js';
import { graceAfterSignal } from './signals.js';
import { EXIT } from '../errors.js';
import { addJsonCommand } from './commands/add-json.command.js';
import { addCommand } from './commands/add.command.js';
import { approveCommand, rejectCommand, resetProjectChoicesCommand } from './commands/approve.command.js';
import { authCommand } from './commands/auth.command.js';
import { callCommand } from './commands/call.command.js';
import { serverCompleteCommand } from './commands/server-complete.command.js';
import { shellCommand } from './commands/shell.command.js';
import { completionCommand } from './commands/completion.command.js';
import { promptsCommand, resourcesCommand } from './commands/catalog.command.js';
import { demoCommand } from './commands/demo.command.js';
import { doctorCommand } from './commands/doctor.command.js';
import { editCommand } from './commands/edit.command.js';
import { exportCommand } from './commands/export.command.js';
import { getCommand } from './commands/get.command.js';
import { helpCommand } from './commands/help.command.js';
import { importCommand } from './commands/import.command.js';
import { installCommand, uninstallCommand } from './commands/install.command.js';
import { keysCommand } from './commands/keys.command.js';
import { listCommand } from './commands/list.command.js';
import { logCommand, statsCommand } from './commands/log.command.js';
import { loginCommand } from './commands/login.command.js';
import { logoutCommand } from './commands/logout.command.js';
import { disableCommand, enableCommand, limitCommand, permitCommand } from './commands/permit.command.js';
import { policyCommand, reviewCommand } from './commands/policy.command.js';
import { promptCommand } from './commands/prompt.command.js';
import { readCommand } from './commands/read.command.js';
import { removeCommand } from './commands/remove.command.js';
import { searchCommand } from './commands/search.command.js';
import { setCommand } from './commands/set.command.js';
import { connectCommand, serveCommand } from './commands/serve.command.js';
import { taskCommand, tasksCommand } from './commands/tasks.command.js';
import { toolCommand, toolsCommand } from './commands/tools.command.js';
import { uiCommand } from './commands/ui.command.js';
import { vaultCommand } from './commands/vault.command.js';
import type { Action, Cli, DefineCommand } from './define.js';
import { processIo, type Io } from './io.js';
import { reportError } from './report-error.js';
import { packageVersion } from '../core/version.js';

/**
 * Every command, by the job it does: `--help` lists them under these headings, as gh does, in this
 * order. Each command's declaration (its flags, arguments and help) lives beside it in
 * commands/<verb>.command.ts, and imports the command's code only when it runs.
 */
export const COMMAND_GROUPS: ReadonlyArray<readonly [heading: string, commands: readonly DefineCommand[]]> = [
  [
    'Configure servers:',
    [
      searchCommand,
      addCommand,
      addJsonCommand,
      setCommand,
      editCommand,
      removeCommand,
      approveCommand,
      rejectCommand,
      resetProjectChoicesCommand,
      importCommand,
      exportCommand,
    ],
  ],
  ['Check servers:', [listCommand, getCommand, doctorCommand]],
  ['Authenticate:', [loginCommand, logoutCommand, authCommand]],
  [
    'Use a server:',
    [
      toolsCommand,
      toolCommand,
      resourcesCommand,
      promptsCommand,
      callCommand,
      readCommand,
      promptCommand,
      serverCompleteCommand,
      shellCommand,
    ],
  ],
  ['Tasks (tool calls a server runs in the background):', [tasksCommand, taskCommand]],
  [
    'Control (permissions, limits, audit):',
    [
      permitCommand,
      enableCommand,
      disableCommand,
      limitCommand,
      logCommand,
      statsCommand,
      policyCommand,
      reviewCommand,
    ],
  ],
  [
    'Serve to hosts:',
    [serveCommand, keysCommand, vaultCommand, connectCommand, installCommand, uninstallCommand],
  ],
  ['More:', [uiCommand, demoCommand, completionCommand, helpCommand]],
];

function buildProgram(io: Io, argv: string[], setExitCode: (code: number) => void): Command {
  const cli: Cli = {
    io,
    argv,
    // Every action returns its exit code; commander discards return values, so record it here.
    act:
      (action: Action) =>
      async (...args: unknown[]) =>
        setExitCode(await action(...args)),
  };

  const program = new Command('patchbay')
    .description('Connect any MCP host to remote MCP servers, and keep those connections working.')
    .version(packageVersion(), '-V, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .addHelpText(
      'after',
      `
Examples:
  $ patchbay add notion https://mcp.notion.com/mcp
  $ patchbay add -s project -H "Authorization: Bearer \${SENTRY_TOKEN}" sentry https://mcp.sentry.dev/mcp
  $ patchbay add files -- npx -y @modelcontextprotocol/server-filesystem ~/src
  $ patchbay list
  $ patchbay get notion --json
  $ patchbay demo

More: patchbay help config · patchbay help exit-codes`,
    );
  program.helpCommand(false);
  for (const [heading, commands] of COMMAND_GROUPS)
    for (const define of commands) define(program, cli).helpGroup(heading);
  return program;
}

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(io, argv, (code) => (exitCode = code));
  // The completion scripts' question (`patchbay completion`): about the program, not one of its
  // commands, so commander never parses the words being completed.
  if (argv[0] === '__complete') {
    const { runComplete } = await import('./commands/complete.js');
    return runComplete(program, argv.slice(1), io);
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error, io);
  }
}

/**
 * Ctrl-C (or a SIGTERM) ends the stdio servers patchbay started before patchbay itself: they run
 * in their own process groups, out of the terminal's reach. Exit status 128 + signal number,
 * unless the command returned by itself within its grace (signals.ts: a gateway's drain). A second
 * signal ends the process at once.
 */
function exitCleanlyOnSignals(interrupt: AbortController): void {
  const onSignal = (signal: NodeJS.Signals, code: number, graceMs: number) => {
    process.on(signal, () => {
      if (interrupt.signal.aborted) {
        void terminateProcessGroups(0).finally(() => process.exit(code));
        return;
      }
      // A command with a request in flight cancels it (the server is told) and returns by itself;
      // whatever is still running after the grace period is ended here.
      interrupt.abort(new Error(`interrupted by ${signal}`));
      const timer = setTimeout(() => {
        void terminateProcessGroups().finally(() => process.exit(code));
      }, graceAfterSignal(graceMs));
      timer.unref();
    });
  };
  onSignal('SIGINT', EXIT.interrupted, 1_000);
  onSignal('SIGTERM', 143, 0);
  // `patchbay list | head`: the reader left; stop quietly, as other command-line tools do.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(EXIT.ok);
      throw error;
    });
  }
}

/**
 * stdout carries data (tables, --json) and nothing else; a library's console output must not land
 * in it (the MCP SDK logs with console.debug, which Node writes to stdout). Debug output is
 * dropped unless PATCHBAY_DEBUG is set; log and info go to stderr.
 */
function keepStdoutForData(): void {
  const toStderr = (...args: unknown[]) => process.stderr.write(`${format(...args)}\n`);
  console.log = toStderr;
  console.info = toStderr;
  console.debug = process.env.PATCHBAY_DEBUG ? toStderr : () => undefined;
}

// Run when executed as the `patchbay` binary (through npm's symlink too), not when imported by tests.
const entryPath = process.argv[1] ? realpathSync(process.argv[1]) : '';
// The binary's loader (scripts/cli-loader.js) has already set what must precede compilation: the
// code cache and the WebAssembly tier.
if (entryPath === fileURLToPath(import.meta.url)) {
  const interrupt = new AbortController();
  exitCleanlyOnSignals(interrupt);
  keepStdoutForData();
  // exitCode, not exit(): let stdout drain so piped output is never cut.
  process.exitCode = await main(process.argv.slice(2), processIo(interrupt.signal));
  // Ctrl-C may have left stdio servers behind a command that returned early.
  if (interrupt.signal.aborted) await terminateProcessGroups();
}
