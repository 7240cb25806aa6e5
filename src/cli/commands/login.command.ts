import { Option } from 'commander';
import type { DefineCommand } from '../define.js';

export const loginCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('login')
    .description(
      'Log in to a server with OAuth (opens a browser; prints the URL when it cannot; none for a machine client)',
    )
    .argument('<name>', 'the server to log in to')
    .option('--no-browser', 'print the login URL instead of opening a browser (paste the address it ends on)')
    .option('--device', 'log in with a code typed on another device (RFC 8628), where the server offers it')
    .option(
      '--oauth-scope <scopes>',
      'space-separated OAuth scopes to ask for (default: what the server asks for)',
    )
    // The old spelling: --scope is a config scope (local, project, user) everywhere else.
    .addOption(new Option('--scope <scopes>').hideHelp())
    .option(
      '--id-token-file <path>',
      "cross-app access: this login's ID token from your identity provider (default: the entry's)",
    )
    // Not timeoutOption(): a person is at the browser, which takes longer than a server.
    .option('--timeout <duration>', 'how long to wait for the browser (default 5m)')
    .addHelpText(
      'after',
      `
Examples:
  $ patchbay login notion
  $ patchbay login --no-browser corp          # over SSH: open the URL elsewhere, paste the address it ends on
  $ patchbay login --device corp              # headless: type a code on another device
  $ patchbay login corp --oauth-scope "mcp:read mcp:write"
  $ patchbay login build                      # a client credentials entry: no browser, a token for the client
  $ patchbay login corp --id-token-file ~/.acme/id-token   # cross-app access with this ID token"
  $ PATCHBAY_BROWSER=firefox patchbay login corp`,
    )
    .action(
      act(async (name: string, flags) => {
        const { parseLoginOptions, runLogin } = await import('./login.js');
        return runLogin(parseLoginOptions(name, flags, io), io);
      }),
    );
