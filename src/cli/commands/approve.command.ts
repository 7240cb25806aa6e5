import type { DefineCommand } from '../define.js';

function choiceCommand(
  command: 'approve' | 'reject',
  what: string,
  policy: string,
  all: string,
): DefineCommand {
  return (program, { io, act }) =>
    program
      .command(command)
      .description(what)
      .argument('[names...]', 'server names')
      .option('--policy', policy)
      .option('--all', all)
      .action(
        act(async (names: string[], flags) => {
          const { parseChoiceOptions, runChoice } = await import('./approve.js');
          return runChoice(
            parseChoiceOptions(command === 'approve' ? 'approved' : 'rejected', names, flags),
            io,
          );
        }),
      );
}

export const approveCommand = choiceCommand(
  'approve',
  "Approve servers from this project's .mcp.json, or its .patchbay.json policy (bound to their current content)",
  "approve the project's .patchbay.json: what it loosens takes effect too",
  'approve every server in .mcp.json, and the .patchbay.json',
);

export const rejectCommand = choiceCommand(
  'reject',
  "Reject servers from this project's .mcp.json (never contacted), or what its .patchbay.json loosens",
  "reject what the project's .patchbay.json loosens (what it tightens still applies)",
  'reject every server in .mcp.json, and the .patchbay.json',
);

export const resetProjectChoicesCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('reset-project-choices')
    .description("Forget approvals and rejections for this project's .mcp.json servers and .patchbay.json")
    .action(
      act(async () => {
        const { runResetProjectChoices } = await import('./approve.js');
        return runResetProjectChoices(io);
      }),
    );
