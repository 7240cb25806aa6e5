import type { DefineCommand } from '../define.js';
import { jsonOption } from '../options.js';

export const vaultCommand: DefineCommand = (program, { io, act }) => {
  const vault = program
    .command('vault')
    .description("A team gateway's member vault: each member's own logins to perMember servers");
  vault
    .command('list')
    .description("Members' links (member, server, issuer, since); never a token, no key needed")
    .option('--member <subject>', "only this member's links")
    .option('--server <name>', 'only links to this server')
    .option(
      '--state <url>',
      "the gateway's state store, as serve --state (redis://…); default: files on this machine",
    )
    .addOption(jsonOption('stable'))
    .addHelpText(
      'after',
      '\nExamples:\n  $ patchbay vault list\n  $ patchbay vault list --member alice@example.com',
    )
    .action(
      act(async (flags) => {
        const { parseVaultOptions, runVaultList } = await import('./vault.js');
        return runVaultList(parseVaultOptions(flags, false), io);
      }),
    );
  vault
    .command('revoke')
    .description("Remove a member's links (all, or to one server): they sign in again on next use")
    .requiredOption('--member <subject>', 'the member (their subject, as `vault list` shows it)')
    .option('--server <name>', 'only the link to this server')
    .option(
      '--state <url>',
      "the gateway's state store, as serve --state (redis://…); default: files on this machine",
    )
    .addHelpText(
      'after',
      '\nA running gateway stops using the login at its next call to the server.\n\nExamples:\n  $ patchbay vault revoke --member alice@example.com\n  $ patchbay vault revoke --member alice@example.com --server crm',
    )
    .action(
      act(async (flags) => {
        const { parseVaultOptions, runVaultRevoke } = await import('./vault.js');
        return runVaultRevoke(parseVaultOptions(flags, true), io);
      }),
    );
  return vault;
};
