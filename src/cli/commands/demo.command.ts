import type { DefineCommand } from '../define.js';
import { paint, useColor } from '../io.js';

export const demoCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('demo')
    .description('Run the main job end to end against an embedded MCP server, in a throwaway config')
    .action(
      act(async () => {
        const { runDemo } = await import('../../demo/run-demo.js');
        return runDemo(io, paint(useColor(io, 'stdout')));
      }),
    );
