import type { DefineCommand } from '../define.js';
import { jsonOption, maxOutputOption, serverRequestOptions, timeoutOption } from '../options.js';
import { withOutputLimit } from '../output-limit.js';

export const tasksCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('tasks')
    .description("List a server's tasks: id, status, last update, the server's status message")
    .argument('<name>', 'server name')
    .addOption(jsonOption('the tasks as the server describes them'))
    .addOption(timeoutOption())
    .addOption(maxOutputOption())
    .addHelpText(
      'after',
      `
Tasks are tool calls a server runs in the background (protocol 2025-11-25). A server may keep a
task only as long as the session that started it: server-everything, for one, forgets it when
that session ends, so another command sees none of them.
Exit codes: 0 listed (also when there are none), 1 the server does not list tasks, 8 not
reachable.

Examples:
  $ patchbay tasks ev
  $ patchbay tasks ev --json`,
    )
    .action(
      act(async (name: string, flags) => {
        const { parseTasksOptions, runTasks } = await import('./tasks.js');
        const options = parseTasksOptions(name, flags, io.env);
        return withOutputLimit(io, flags, (io) => runTasks(options, io));
      }),
    );

export const taskCommand: DefineCommand = (program, { io, act }) => {
  const task = program
    .command('task')
    .description('Show one task; --result waits for and prints its result, --cancel cancels it')
    .argument('<name>', 'server name')
    .argument('<id>', 'task id (see: patchbay tasks <name>)')
    .option('--result', "wait until the task ends and print its result, as call prints a tool's")
    .option('--cancel', 'cancel the task')
    .option('-o, --output <dir>', 'with --result: where images, audio and other binary results are written')
    .addOption(jsonOption('the task, or with --result the whole tool result'))
    .addOption(timeoutOption())
    .addOption(maxOutputOption());
  for (const option of serverRequestOptions()) task.addOption(option);
  return task
    .addHelpText(
      'after',
      `
With --result the task's status is shown on a terminal as it moves, and the server's questions
are asked as call asks them (declined without a terminal, or --accept-defaults). Ctrl-C stops
waiting and leaves the task running (cancel it with --cancel).
Exit codes: 0 shown, cancelled, or a result without isError; 1 a result with isError, a task
that failed or was cancelled (or already ended, for --cancel), a server without tasks; 2 an
unknown task id; 8 not reachable; 130 Ctrl-C.

Examples:
  $ patchbay task ev 3f2a9c
  $ patchbay task ev 3f2a9c --result
  $ patchbay task ev 3f2a9c --cancel`,
    )
    .action(
      act(async (name: string, id: string, flags) => {
        const { parseTaskOptions, runTask } = await import('./tasks.js');
        const options = parseTaskOptions(name, id, flags, io.env);
        return withOutputLimit(io, flags, (io) => runTask(options, io));
      }),
    );
};
