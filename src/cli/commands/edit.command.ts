import type { DefineCommand } from '../define.js';
import { scopeOption } from '../options.js';

export const editCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('edit')
    .description(
      "Edit a server's entry as JSON in $VISUAL or $EDITOR; checked on save, written back to its scope",
    )
    .argument('<name>', 'server name')
    .addOption(scopeOption('local, project or user (default: the one in effect when the name is in several)'))
    .addHelpText(
      'after',
      `
The entry alone is opened (its keys as the file holds them, unknown ones included); the rest of
the file is kept as it is. Nothing is written if the editor fails, the JSON is invalid or the
entry does not check; the edit is then kept in a temporary file, whose path is printed.
Without an editor, change one key at a time with: patchbay set <name> <key> <value>

Examples:
  $ patchbay edit notion
  $ EDITOR="code --wait" patchbay edit -s project sentry`,
    )
    .action(
      act(async (name: string, flags) => {
        const { parseEditOptions, runEdit } = await import('./edit.js');
        return runEdit(parseEditOptions(name, flags), io);
      }),
    );
