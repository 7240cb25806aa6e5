import type { DefineCommand } from '../define.js';

export const completionCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('completion')
    .description('Print the shell completion script: commands, flags, server and tool names')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText(
      'after',
      `
Completion answers from the config files and from the tool names patchbay saw last (tools, call
and checks remember them); it never contacts a server.

Install:
  bash  add to ~/.bashrc:             eval "$(patchbay completion bash)"
        or, with bash-completion:     patchbay completion bash > ~/.local/share/bash-completion/completions/patchbay
  zsh   add to ~/.zshrc (after compinit):  source <(patchbay completion zsh)
        or put it on your $fpath:     patchbay completion zsh > "\${fpath[1]}/_patchbay"
  fish  patchbay completion fish > ~/.config/fish/completions/patchbay.fish

Open a new shell afterwards.`,
    )
    .action(
      act(async (shell: string) => {
        const { parseShell, runCompletion } = await import('./completion.js');
        return runCompletion(parseShell(shell), io);
      }),
    );
