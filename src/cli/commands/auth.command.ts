import type { DefineCommand } from '../define.js';
import { jsonOption, timeoutOption } from '../options.js';

export const authCommand: DefineCommand = (program, { io, act }) => {
  const auth = program.command('auth').description('OAuth logins and how each server is authenticated');
  auth
    .command('status')
    .description(
      'Per server: header, OAuth or none; issuer, client registration, scopes, expiry, refresh (no network)',
    )
    .addOption(jsonOption('stable; see the README'))
    .addHelpText(
      'after',
      '\nNever shows a token. Exit status: 0, or 2 when a config file is broken.\n\nExamples:\n  $ patchbay auth status\n  $ patchbay auth status --json',
    )
    .action(
      act(async (flags) => {
        const { parseAuthStatusOptions, runAuthStatus } = await import('./auth-status.js');
        return runAuthStatus(parseAuthStatusOptions(flags), io);
      }),
    );
  auth
    .command('refresh')
    .description('Renew a login now with its stored refresh token (a health check never does)')
    .argument('<name>', 'the server')
    .addOption(timeoutOption())
    .addHelpText('after', '\nExamples:\n  $ patchbay auth refresh corp')
    .action(
      act(async (name: string, flags) => {
        const { parseAuthRefreshOptions, runAuthRefresh } = await import('./auth-refresh.js');
        return runAuthRefresh(parseAuthRefreshOptions(name, flags, io.env), io);
      }),
    );
  return auth;
};
