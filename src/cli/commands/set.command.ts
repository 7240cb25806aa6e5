import { Option } from 'commander';
import type { DefineCommand } from '../define.js';
import { collect, scopeOption } from '../options.js';

export const setCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('set')
    .description('Change one setting of a server in place, in the scope that holds it (the rest is kept)')
    .argument('<name>', 'server name')
    .argument(
      '[key]',
      'what to change: url, transport, header.<Name>, env.<KEY>, timeout, oauth.client-id, … (see below)',
    )
    .argument('[value]', 'the new value (${VAR} allowed where the file allows it)')
    .addOption(scopeOption('local, project or user (default: the one in effect when the name is in several)'))
    .addOption(
      new Option(
        '--unset <key>',
        'remove a key: a header, an env value, an OAuth setting (repeatable)',
      ).argParser(collect),
    )
    .option('--secret', "ask for the value on the terminal, hidden (it is not left in the shell's history)")
    .addHelpText(
      'after',
      `
Keys:
  remote (http, sse):  url, transport (http|sse), header.<Name>, headers-helper,
                       oauth.client-id, oauth.client-secret (stored privately, never in the config),
                       oauth.callback-port, oauth.scope, oauth.metadata-url,
                       tls.ca-file, tls.cert-file, tls.key-file
  local (stdio):       command, args (one command line, split as a shell would), env.<KEY>, inherit-env
  any:                 timeout (30s, 2m, 500ms; a bare number is seconds)
  For anything else, or several keys at once: patchbay edit <name>

Examples:
  $ patchbay set notion url https://mcp.notion.com/mcp
  $ patchbay set sentry header.Authorization 'Bearer \${SENTRY_TOKEN}'
  $ patchbay set sentry header.Authorization --secret
  $ patchbay set sentry --unset header.X-Debug
  $ patchbay set -s user corp oauth.client-id my-app
  $ patchbay set files env.ROOT /srv/files`,
    )
    .action(
      act(async (name: string, key: string | undefined, value: string | undefined, flags) => {
        const { parseSetOptions, runSet } = await import('./set.js');
        return runSet(parseSetOptions(name, key, value, flags), io);
      }),
    );
