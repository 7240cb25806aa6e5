import type { DefineCommand } from '../define.js';

export const uiCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('ui')
    .description('Open the console: a local web page for every configured server (127.0.0.1 only)')
    .option('--port <n>', 'listen on this port (default: any free port)')
    .option('--no-open', 'print the URL without opening a browser')
    .addHelpText(
      'after',
      `
Prints the URL to open on stdout; the page exchanges its one-time token for a session that lives
in that browser tab (no cookie), so the URL works once, in one tab. Serves until Ctrl-C.
PATCHBAY_BROWSER names the browser to use.

Examples:
  $ patchbay ui
  $ patchbay ui --port 7432 --no-open`,
    )
    .action(
      act(async (flags) => {
        const { parseUiOptions, runUi } = await import('./ui.js');
        return runUi(parseUiOptions(flags), io);
      }),
    );
