/**
 * `patchbay completion bash|zsh|fish`: a script for the shell that asks `patchbay __complete` on
 * each Tab (commands/complete.ts). The scripts hold no list of their own, so they never go stale
 * when patchbay is upgraded.
 */

import { PatchbayError } from '../../errors.js';
import type { Io } from '../io.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export function parseShell(text: string): Shell {
  if ((SHELLS as readonly string[]).includes(text)) return text as Shell;
  throw new PatchbayError(
    'usage',
    `No completion for the shell ${JSON.stringify(text)}: bash, zsh or fish.`,
    {
      hint: 'patchbay completion bash   (see patchbay completion --help for where to put it)',
    },
  );
}

const BASH = `# patchbay completion for bash: eval "$(patchbay completion bash)"
_patchbay_complete() {
  local line
  COMPREPLY=()
  while IFS= read -r line; do
    COMPREPLY+=("\${line%%$'\\t'*}")
  done < <(patchbay __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
}
complete -o nosort -F _patchbay_complete patchbay 2>/dev/null || complete -F _patchbay_complete patchbay
`;

const ZSH = `#compdef patchbay
# patchbay completion for zsh: source <(patchbay completion zsh)
_patchbay() {
  local -a lines candidates
  local line value
  lines=("\${(@f)$(patchbay __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  for line in "\${lines[@]}"; do
    [[ -z $line ]] && continue
    value=\${line%%$'\\t'*}
    candidates+=("\${value//:/\\\\:}:\${line#*$'\\t'}")
  done
  _describe -V patchbay candidates
}
if [[ \${funcstack[1]} == _patchbay ]]; then
  _patchbay "$@"
else
  compdef _patchbay patchbay
fi
`;

const FISH = `# patchbay completion for fish: patchbay completion fish | source
function __patchbay_complete
    set -l words (commandline -opc)
    set -l current (commandline -ct)
    patchbay __complete $words[2..-1] "$current" 2>/dev/null
end
complete -c patchbay -f -a '(__patchbay_complete)'
`;

export const SCRIPTS: Readonly<Record<Shell, string>> = { bash: BASH, zsh: ZSH, fish: FISH };

export function runCompletion(shell: Shell, io: Io): number {
  io.stdout.write(SCRIPTS[shell]);
  return 0;
}
