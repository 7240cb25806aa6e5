import { Option } from 'commander';

import { LOG_LEVELS } from '../../core/log-levels.js';
import type { DefineCommand } from '../define.js';
import { logArgumentsOption, serverRequestOptions, timeoutOption } from '../options.js';

export const shellCommand: DefineCommand = (program, { io, act }) => {
  const shell = program
    .command('shell')
    .description('Open one session with a server and keep it: tools, call, read, prompt, subscribe …')
    .argument('<name>', 'server name')
    .option('--json', 'results and notifications as JSON lines on stdout, each tagged by its kind')
    .addOption(timeoutOption('connect and per-request timeout'))
    .option('-y, --yes', 'approve tools that policy sets to ask, without asking')
    .addOption(logArgumentsOption("each call's"))
    .addOption(
      new Option('--log-level <level>', "the server's log messages to show, from this level up").choices(
        LOG_LEVELS,
      ),
    )
    .option(
      '-e, --exit-on-error',
      'without a terminal: stop at the first command that fails, with its status',
    )
    .option('--no-history', 'keep no history on disk');
  for (const option of serverRequestOptions()) shell.addOption(option);
  return shell
    .addHelpText(
      'after',
      `
One session for many commands: a resource a call returned can be read, a subscription lasts, and
log messages, resource updates and list changes are shown as they arrive. Type help inside for
the commands (tools, tool, call, resources, read, subscribe, unsubscribe, prompts, prompt,
complete, log-level, wait, help, exit).

On a terminal: history (Up/Down; kept per server in the state directory, never a line that looks
like it holds a secret or starts with a space), Tab completes commands, names, argument names and
the server's completions; Ctrl-C cancels the command running, Ctrl-D leaves.
Without a terminal: one command a line on stdin, results on stdout, errors and notifications on
stderr (with --json: every stdout line a JSON object tagged by kind: result, error, log,
resource-updated, list-changed). Exits 0 if every command succeeded, else with the status of the
last that failed; \`exit N\` exits with N.

Examples:
  $ patchbay shell ev
  $ printf 'call get-resource-links count=2\\nread demo://resource/dynamic/text/2\\n' | patchbay shell ev --json`,
    )
    .action(
      act(async (name: string, flags) => {
        const { parseShellOptions, runShell } = await import('./shell.js');
        const options = parseShellOptions(name, flags, io.env);
        return runShell(options, io);
      }),
    );
};
