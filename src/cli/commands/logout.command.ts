import type { DefineCommand } from '../define.js';
import { timeoutOption } from '../options.js';

export const logoutCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('logout')
    .description("Remove a server's stored login, and revoke its tokens where the server offers revocation")
    .argument('<name>', 'the server (or the URL of a stored login no server uses any more)')
    .addOption(timeoutOption('how long revocation may take'))
    .addHelpText(
      'after',
      `
The tokens are removed here first; a revocation that fails is a warning. The client registration
stays, for the next login.

Examples:
  $ patchbay logout notion
  $ patchbay logout https://old.example.com/mcp   # a login listed by auth status under no server`,
    )
    .action(
      act(async (name: string, flags) => {
        const { parseLogoutOptions, runLogout } = await import('./logout.js');
        return runLogout(parseLogoutOptions(name, flags, io.env), io);
      }),
    );
