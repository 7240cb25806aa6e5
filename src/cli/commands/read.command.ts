import type { DefineCommand } from '../define.js';
import { maxOutputOption, serverRequestOptions, timeoutOption } from '../options.js';
import { withOutputLimit } from '../output-limit.js';

export const readCommand: DefineCommand = (program, { io, act }) => {
  const read = program
    .command('read')
    .description("Read a server's resource: text to stdout, binary to a file (-o)")
    .argument('<name>', 'server name')
    .argument('<uri>', 'resource URI (see: patchbay resources <name>)')
    .option('-o, --output <file>', 'where to write binary content')
    .option('--json', 'the contents as the server sent them (binary as base64)')
    .addOption(timeoutOption())
    .addOption(maxOutputOption());
  for (const option of serverRequestOptions()) read.addOption(option);
  return read
    .addHelpText(
      'after',
      '\nExamples:\n  $ patchbay read docs file:///README.md\n  $ patchbay read ev demo://resource/static/document/architecture.md',
    )
    .action(
      act(async (name: string, uri: string, flags) => {
        const { parseReadOptions, runRead } = await import('./read.js');
        const options = parseReadOptions(name, uri, flags, io.env);
        return withOutputLimit(io, flags, (io) => runRead(options, io));
      }),
    );
};
