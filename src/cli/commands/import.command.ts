import type { DefineCommand } from '../define.js';
import { dryRunOption, forceOption, scopeOption } from '../options.js';

export const importCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('import')
    .description("Import servers from another host's config (claude-code, claude-desktop, cursor, vscode)")
    .requiredOption('--from <host>', 'claude-code, claude-desktop, cursor or vscode')
    .addOption(scopeOption('scope to import into', 'local'))
    .addOption(dryRunOption('report what would be imported, change nothing'))
    .addOption(forceOption('replace same-named entries'))
    .option('--json', 'machine-readable report')
    .addHelpText(
      'after',
      '\nExamples:\n  $ patchbay import --from claude-desktop --dry-run\n  $ patchbay import --from cursor -s user',
    )
    .action(
      act(async (flags) => {
        const { parseImportOptions, runImport } = await import('./import.js');
        return runImport(parseImportOptions(flags), io);
      }),
    );
