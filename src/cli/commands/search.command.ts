import { Option } from 'commander';
import type { DefineCommand } from '../define.js';
import { jsonOption, timeoutOption } from '../options.js';

export const searchCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('search')
    .description('Find servers by name in the MCP Registry (or --registry / PATCHBAY_REGISTRY_URL)')
    .argument('<words...>', 'words the server name, title or description must all contain')
    .addOption(
      new Option(
        '--registry <url>',
        'the registry to ask (default PATCHBAY_REGISTRY_URL, else https://registry.modelcontextprotocol.io)',
      ),
    )
    .addOption(new Option('--limit <n>', 'show at most this many servers (default 30, at most 500)'))
    .addOption(jsonOption('name, description, version, remotes and packages of each match'))
    .addOption(timeoutOption('time allowed for each registry request'))
    .addHelpText(
      'after',
      `
Examples:
  $ patchbay search filesystem
  $ patchbay search github issues --limit 10
  $ patchbay search weather --registry https://registry.internal.example --json
  $ patchbay add weather --from-registry io.github.acme-labs/weather`,
    )
    .action(
      act(async (words: string[], flags) => {
        const { parseSearchOptions, runSearch } = await import('./search.js');
        return runSearch(parseSearchOptions(words, flags), io);
      }),
    );
