import type { DefineCommand } from '../define.js';
import { jsonOption, noCheckOption, noRefreshOption, showSecretsOption, timeoutOption } from '../options.js';

export const getCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('get')
    .description('Show one server in full: entry, scope, what it shadows, and its status')
    .argument('<name>', 'server name')
    .addOption(jsonOption())
    .option('--resolved', 'also show the values after ${VAR} expansion (masked)')
    .addOption(showSecretsOption())
    .addOption(noCheckOption('do not contact the server'))
    .addOption(timeoutOption('check timeout'))
    .addOption(noRefreshOption())
    .addHelpText('after', '\nExamples:\n  $ patchbay get notion\n  $ patchbay get notion --resolved --json')
    .action(
      act(async (name: string, flags) => {
        const { parseGetOptions, runGet } = await import('./get.js');
        return runGet(parseGetOptions(name, flags, io.env), io);
      }),
    );
