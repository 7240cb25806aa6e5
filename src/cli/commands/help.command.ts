import type { DefineCommand } from '../define.js';

export const helpCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('help')
    .description('Show help for a command or a topic (config, exit-codes)')
    .argument('[topic]', 'a command name, "config" or "exit-codes"')
    .action(
      act(async (topic: string | undefined) => {
        const { runHelp } = await import('./help.js');
        return runHelp(topic, program, io);
      }),
    );
