import type { DefineCommand } from '../define.js';
import { scopeOption } from '../options.js';

export const removeCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('remove')
    .description('Remove a server (from the one scope that has it, or the one given)')
    .argument('<name>', 'server name')
    .addOption(scopeOption('local, project or user'))
    .action(
      act(async (name: string, flags) => {
        const { parseRemoveOptions, runRemove } = await import('./remove.js');
        return runRemove(parseRemoveOptions(name, flags), io);
      }),
    );
