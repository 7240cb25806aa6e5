import type { Command } from 'commander';
import type { DefineCommand } from '../define.js';
import { dryRunOption, forceOption, jsonOption } from '../options.js';

function hostCommand(command: 'install' | 'uninstall', what: string): DefineCommand {
  return (program, { io, act }) => {
    const defined: Command = program
      .command(command)
      .description(what)
      .requiredOption('--host <host>', 'claude-code, claude-desktop, cursor or vscode')
      .addOption(dryRunOption('show what would change, change nothing'))
      .addOption(jsonOption());
    if (command === 'install')
      defined
        .option('--servers <names>', 'serve only these servers (comma-separated)')
        .option(
          '--http [url]',
          'enter a running "patchbay serve --http" (default http://127.0.0.1:7431/mcp), its token from $PATCHBAY_GATEWAY_TOKEN',
        )
        .addOption(forceOption('replace an entry named patchbay that is not the gateway'))
        .option('--allow-empty', 'install even if the gateway would serve no servers yet');
    return defined
      .addHelpText(
        'after',
        `
The host's file is copied to <file>.patchbay-backup-<time> before it is changed; a file that does
not parse is never touched.

Examples:
  $ patchbay ${command} --host claude-desktop${command === 'install' ? ' --dry-run' : ''}
  $ patchbay ${command} --host cursor${command === 'install' ? '\n  $ patchbay install --host claude-code --http' : ''}`,
      )
      .action(
        act(async (flags) => {
          const module = await import('./install.js');
          const options = module.parseInstallOptions(flags);
          return command === 'install' ? module.runInstall(options, io) : module.runUninstall(options, io);
        }),
      );
  };
}

export const installCommand = hostCommand(
  'install',
  "Add the gateway (patchbay serve) to a host's own config as one server named patchbay",
);
export const uninstallCommand = hostCommand(
  'uninstall',
  "Remove the gateway's entry from a host's config (only if it is still patchbay's)",
);
