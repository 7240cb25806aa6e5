import type { DefineCommand } from '../define.js';
import { logArgumentsOption, maxOutputOption, serverRequestOptions, timeoutOption } from '../options.js';
import { withOutputLimit } from '../output-limit.js';

export const callCommand: DefineCommand = (program, { io, act }) => {
  const call = program
    .command('call')
    .description('Call a tool: key=value typed by its schema, validated before sending')
    .argument('<name>', 'server name')
    .argument('<tool>', 'tool name (see: patchbay tools <name>)')
    .argument('[arguments...]', 'key=value pairs (numbers, booleans, JSON for objects and arrays)')
    .option(
      '--args <json>',
      "arguments as a JSON object ('-' reads it from stdin); key=value pairs go on top",
    )
    .option('-o, --output <dir>', 'where images, audio and other binary results are written')
    .option('--json', 'the whole tool result as JSON')
    .addOption(timeoutOption())
    .option('-y, --yes', 'approve a tool that policy sets to ask, without asking')
    .addOption(logArgumentsOption("the call's"))
    .option('--allow-unknown-args', "send argument names the tool's schema does not declare")
    .option(
      '--task',
      'run the tool as a task (where it allows one; one that requires it always runs as one; a 2026-07-28 server decides by itself)',
    )
    .addOption(maxOutputOption());
  for (const option of serverRequestOptions()) call.addOption(option);
  return call
    .addHelpText(
      'after',
      `
Arguments are checked against the tool's schema before anything is sent: a wrong type, a value
not allowed or a missing argument is named, with an example call; an unknown name is refused with
the nearest one (--allow-unknown-args sends it anyway).
A result with isError exits 1 with its text on stderr. A question from the server is asked on a
terminal; without one it is declined, or answered with its defaults given --accept-defaults.
A tool whose execution requires a task runs as one (--task asks for it where the tool allows it):
its status is shown as it moves and its result printed as a normal call's. Ctrl-C on a terminal
asks whether to cancel the task or leave it running (its id and the command to fetch its result
are printed); without a terminal Ctrl-C cancels it. Both exit 130.
Policy applies (patchbay policy <name>): a denied tool is refused; one set to ask is asked about
on a terminal and refused without one unless --yes; a limit reached refuses the call. Every call
is recorded in the audit log (patchbay log).

Examples:
  $ patchbay call demo add a=2 b=3
  $ patchbay call ev echo message='hello world'
  $ echo '{"query": "mcp"}' | patchbay call docs search --args -
  $ patchbay call ev simulate-research-query topic=python   # a task: status, then the result`,
    )
    .action(
      act(async (name: string, tool: string, pairs: string[], flags) => {
        const { parseCallOptions, runCall } = await import('./call.js');
        const options = parseCallOptions(name, tool, pairs, flags, io.env);
        return withOutputLimit(io, flags, (io) => runCall(options, io));
      }),
    );
};
