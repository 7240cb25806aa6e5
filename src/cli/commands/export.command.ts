import type { DefineCommand } from '../define.js';
import { dryRunOption, forceOption, scopeOption } from '../options.js';

export const exportCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('export')
    .description(
      "Write patchbay's servers into another host's config (claude-code, claude-desktop, cursor, vscode)",
    )
    .requiredOption('--to <host>', 'claude-code, claude-desktop, cursor or vscode')
    .addOption(scopeOption('export only this scope'))
    .addOption(dryRunOption('report what would be written, change nothing'))
    .addOption(forceOption('replace same-named entries in the target'))
    .option('--json', 'machine-readable report')
    .addHelpText(
      'after',
      '\nExamples:\n  $ patchbay export --to cursor --dry-run\n  $ patchbay export --to vscode -s project',
    )
    .action(
      act(async (flags) => {
        const { parseExportOptions, runExport } = await import('./export.js');
        return runExport(parseExportOptions(flags), io);
      }),
    );
