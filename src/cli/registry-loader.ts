/** Load the registry for a command and report broken files once, on stderr. */

import { createContext, loadRegistry, type Registry } from '../config/registry.js';
import { paint, useColor, writeLine, type Io } from './io.js';

export async function loadForCommand(io: Io): Promise<Registry> {
  const registry = await loadRegistry(createContext(io.env, io.cwd, io.paths));
  const p = paint(useColor(io));
  for (const file of registry.files) {
    if (!file.error) continue;
    writeLine(io.stderr, `${p.red('error:')} ${file.error.message}`);
    writeLine(
      io.stderr,
      `  The ${file.scopes.join(' and ')} scope${file.scopes.length > 1 ? 's are' : ' is'} ignored until it is fixed; the other scopes still work.`,
    );
    if (file.error.hint) writeLine(io.stderr, `  ${file.error.hint}`);
  }
  for (const entry of registry.entries) {
    if (entry.problems.length === 0) continue;
    for (const problem of entry.problems) writeLine(io.stderr, `${p.red('error:')} ${problem}`);
    writeLine(
      io.stderr,
      `  ${entry.name} is not usable, and patchbay will not rewrite ${entry.path} until the entry is fixed.`,
    );
  }
  for (const problem of registry.policy.problems) {
    writeLine(io.stderr, `${p.red('error:')} ${problem.message}`);
    writeLine(
      io.stderr,
      '  Every tool is denied until it is fixed: a policy that cannot be read is not ignored.',
    );
    if (problem.hint) writeLine(io.stderr, `  ${problem.hint}`);
  }
  return registry;
}

export { hasBrokenFile } from '../config/registry.js';
