import type { DefineCommand } from '../define.js';
import { jsonOption, maxOutputOption, timeoutOption } from '../options.js';
import { withOutputLimit } from '../output-limit.js';

function catalogCommand(
  command: 'resources' | 'prompts',
  what: string,
  run: 'runResources' | 'runPrompts',
): DefineCommand {
  return (program, { io, act }) =>
    program
      .command(command)
      .description(what)
      .argument('<name>', 'server name')
      .addOption(jsonOption('as the server describes them'))
      .addOption(timeoutOption())
      .addOption(maxOutputOption())
      .addHelpText(
        'after',
        `\nExamples:\n  $ patchbay ${command} notion\n  $ patchbay ${command} notion --json`,
      )
      .action(
        act(async (name: string, flags) => {
          const catalog = await import('./catalog.js');
          const options = catalog.parseCatalogOptions(name, flags, io.env);
          return withOutputLimit(io, flags, (io) => catalog[run](options, io));
        }),
      );
}

export const resourcesCommand = catalogCommand(
  'resources',
  "List a server's resources and resource templates",
  'runResources',
);
export const promptsCommand = catalogCommand(
  'prompts',
  "List a server's prompts and their arguments",
  'runPrompts',
);
