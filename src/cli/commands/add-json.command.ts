import type { DefineCommand } from '../define.js';
import { forceOption, scopeOption } from '../options.js';

export const addJsonCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('add-json')
    .description('Add a server from a JSON entry in .mcp.json\'s format ("-" reads standard input)')
    .argument('<name>', 'server name')
    .argument('<json>', 'the entry as JSON, or "-"')
    .addOption(scopeOption('local, project or user', 'local'))
    .addOption(forceOption('replace an existing entry of the same name in that scope'))
    .addHelpText(
      'after',
      `\nExample:\n  $ patchbay add-json api '{"type":"http","url":"https://api.example.com/mcp","headers":{"Authorization":"Bearer \${API_TOKEN}"}}'`,
    )
    .action(
      act(async (name: string, json: string, flags) => {
        const { parseAddJsonOptions, runAddJson } = await import('./add-json.js');
        return runAddJson(parseAddJsonOptions(name, json, flags), io);
      }),
    );
