import type { DefineCommand } from '../define.js';
import { jsonOption, noCheckOption, noRefreshOption, showSecretsOption, timeoutOption } from '../options.js';

export const listCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('list')
    .description('List servers, the scope each comes from, and check that each one works')
    .addOption(jsonOption('stable; see the README'))
    .addOption(noCheckOption('do not contact any server'))
    .addOption(timeoutOption('per-server check timeout'))
    .addOption(showSecretsOption())
    .addOption(noRefreshOption())
    .addHelpText(
      'after',
      `
Exit status: 0 all fine (or off on purpose), 4 only logins missing, 5 only approvals pending,
8 a server not reached or troubles of different kinds, 2 a config file is broken
(patchbay help exit-codes).

Examples:
  $ patchbay list
  $ patchbay list --no-check --json`,
    )
    .action(
      act(async (flags) => {
        const { parseListOptions, runList } = await import('./list.js');
        return runList(parseListOptions(flags, io.env), io);
      }),
    );
