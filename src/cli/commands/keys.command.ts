import type { DefineCommand } from '../define.js';
import { collect, jsonOption } from '../options.js';

export const keysCommand: DefineCommand = (program, { io, act }) => {
  const keys = program
    .command('keys')
    .description('Named API keys for machines (CI, scripts) calling a team gateway (serve --config)');
  keys
    .command('create')
    .description('Create a key for a member or a service; it is printed once, on stdout')
    .argument('<key-name>', 'a name of your choosing (letters, digits, ".", "_", "-")')
    .option('--member <subject>', 'the member the key acts as (their sign-in subject)')
    .option('--service', 'the key acts as the service service:<key-name>, no member')
    .option('--email <email>', "the member's email, for policy rules and the audit log")
    .option('--group <group>', 'a group the key is in (repeatable)', collect)
    .option('--scope <scope>', 'a scope the key carries (repeatable; default: mcp)', collect)
    .option('--expires <duration>', 'valid for this long (e.g. 30d, 12h, 1y) or "never" (default 90d)')
    .option(
      '--state <url>',
      "the gateway's state store, as serve --state (redis://…); default: files on this machine",
    )
    .addHelpText(
      'after',
      `
Only the key's SHA-256 is stored: the key cannot be shown again. Keep it in your CI's secrets and
send it as "Authorization: Bearer <key>" to a gateway whose deployment file sets auth.apiKeys.
The gateway's state directory is the one \`patchbay serve\` uses on this machine.

Examples:
  $ patchbay keys create ci-deploy --service --group deploy --expires 30d
  $ patchbay keys create alice-laptop --member alice@example.com --email alice@example.com --group eng
  $ patchbay keys create nightly --service --scope mcp --expires never`,
    )
    .action(
      act(async (name: string, flags) => {
        const { parseKeysCreateOptions, runKeysCreate } = await import('./keys.js');
        return runKeysCreate(parseKeysCreateOptions(name, flags), io);
      }),
    );
  keys
    .command('list')
    .description('Every key: owner, groups, scopes, created, expires, last used, state (never the key)')
    .addOption(jsonOption('stable; no secret or hash'))
    .option(
      '--state <url>',
      "the gateway's state store, as serve --state (redis://…); default: files on this machine",
    )
    .addHelpText('after', '\nExamples:\n  $ patchbay keys list\n  $ patchbay keys list --json')
    .action(
      act(async (flags) => {
        const { runKeysList } = await import('./keys.js');
        const { parseStateOption } = await import('../../state/open.js');
        const state = parseStateOption(flags.state as string | undefined);
        return runKeysList({ json: Boolean(flags.json), ...(state !== undefined ? { state } : {}) }, io);
      }),
    );
  keys
    .command('revoke')
    .description('Revoke a key: a running gateway refuses it within 5 seconds')
    .argument('<key-name>', 'the key')
    .option(
      '--state <url>',
      "the gateway's state store, as serve --state (redis://…); default: files on this machine",
    )
    .addHelpText(
      'after',
      '\nThe key stays listed, as revoked; its name may be used again.\n\nExamples:\n  $ patchbay keys revoke ci-deploy',
    )
    .action(
      act(async (name: string, flags) => {
        const { parseKeysRevokeOptions, runKeysRevoke } = await import('./keys.js');
        return runKeysRevoke(parseKeysRevokeOptions(name, flags), io);
      }),
    );
  return keys;
};
