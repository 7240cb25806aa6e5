import type { DefineCommand } from '../define.js';
import { jsonOption, maxOutputOption, timeoutOption } from '../options.js';
import { withOutputLimit } from '../output-limit.js';

export const toolsCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('tools')
    .description("List a server's tools: name, title, annotations, arguments, description")
    .argument('<name>', 'server name')
    .addOption(jsonOption('the tools as the server describes them'))
    .addOption(timeoutOption())
    .addOption(maxOutputOption())
    .addHelpText('after', '\nExamples:\n  $ patchbay tools notion\n  $ patchbay tools notion --json')
    .action(
      act(async (name: string, flags) => {
        const { parseToolsOptions, runTools } = await import('./tools.js');
        const options = parseToolsOptions(name, flags, io.env);
        return withOutputLimit(io, flags, (io) => runTools(options, io));
      }),
    );

export const toolCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('tool')
    .description("Show one tool's description, annotations, and input and output schema")
    .argument('<name>', 'server name')
    .argument('<tool>', 'tool name')
    .addOption(jsonOption())
    .addOption(timeoutOption())
    .addOption(maxOutputOption())
    .addHelpText('after', '\nExamples:\n  $ patchbay tool notion search')
    .action(
      act(async (name: string, tool: string, flags) => {
        const { parseToolOptions, runTool } = await import('./tools.js');
        const options = parseToolOptions(name, tool, flags, io.env);
        return withOutputLimit(io, flags, (io) => runTool(options, io));
      }),
    );
