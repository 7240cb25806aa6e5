import { Argument } from 'commander';

import type { DefineCommand } from '../define.js';
import { collect, jsonOption, timeoutOption } from '../options.js';

/**
 * `patchbay complete`: the server's completions (completion/complete). Not `__complete`, the
 * shell-completion backend in complete.ts, which never contacts a server.
 */
export const serverCompleteCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('complete')
    .description("Ask a server what a prompt's argument or a resource template's variable may be")
    .argument('<name>', 'server name')
    .addArgument(new Argument('<kind>', 'what to complete').choices(['prompt', 'resource']))
    .argument('<ref>', 'the prompt name, or the resource template (see: patchbay prompts|resources <name>)')
    .argument('<argument>', "the prompt's argument, or the template's variable")
    .argument('[prefix]', 'what is typed so far (default: nothing)', '')
    .option('-c, --context <key=value>', 'another argument already chosen (repeatable)', collect)
    .addOption(jsonOption('{ values, total, hasMore }'))
    .addOption(timeoutOption())
    .addHelpText(
      'after',
      `
Values are printed one a line. A server that offers no completions (no completions capability)
exits 1; an unknown prompt, template, argument or variable exits 2 and names what exists.

Examples:
  $ patchbay complete ev prompt completable-prompt department S
  $ patchbay complete ev prompt completable-prompt name -c department=Sales
  $ patchbay complete ev resource 'demo://resource/dynamic/text/{resourceId}' resourceId 3 --json`,
    )
    .action(
      act(async (name: string, kind: string, ref: string, argument: string, prefix: string, flags) => {
        const { parseServerCompleteOptions, runServerComplete } = await import('./server-complete.js');
        const options = parseServerCompleteOptions(name, kind, ref, argument, prefix, flags, io.env);
        return runServerComplete(options, io);
      }),
    );
