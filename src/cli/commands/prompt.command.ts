import type { DefineCommand } from '../define.js';
import { jsonOption, maxOutputOption, serverRequestOptions, timeoutOption } from '../options.js';
import { withOutputLimit } from '../output-limit.js';

export const promptCommand: DefineCommand = (program, { io, act }) => {
  const prompt = program
    .command('prompt')
    .description("Get a server's prompt with arguments; prints the messages")
    .argument('<name>', 'server name')
    .argument('<prompt>', 'prompt name (see: patchbay prompts <name>)')
    .argument('[arguments...]', 'key=value pairs')
    .addOption(jsonOption())
    .addOption(timeoutOption())
    .addOption(maxOutputOption());
  for (const option of serverRequestOptions()) prompt.addOption(option);
  return prompt.addHelpText('after', '\nExamples:\n  $ patchbay prompt demo greet name=Ada').action(
    act(async (name: string, prompt: string, pairs: string[], flags) => {
      const { parsePromptOptions, runPrompt } = await import('./prompt.js');
      const options = parsePromptOptions(name, prompt, pairs, flags, io.env);
      return withOutputLimit(io, flags, (io) => runPrompt(options, io));
    }),
  );
};
