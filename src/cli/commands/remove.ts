/** `patchbay remove <name> [-s scope]`. */

import { PatchbayError } from '../../errors.js';
import type { Scope } from '../../config/entry.js';
import { removeFromScope, scopeToRemove } from '../../config/registry.js';
import { validateName } from '../../config/validate.js';
import { note, type Io } from '../io.js';
import { loadForCommand } from '../registry-loader.js';
import { parseScope } from './add.js';

export interface RemoveOptions {
  name: string;
  scope?: Scope;
}

export function parseRemoveOptions(name: string, flags: { scope?: string }): RemoveOptions {
  const options: RemoveOptions = { name: validateName(name) };
  if (flags.scope !== undefined) options.scope = parseScope(flags.scope);
  return options;
}

export async function runRemove(options: RemoveOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const found = registry.entries.filter((entry) => entry.name === options.name);
  const scope = scopeToRemove(
    registry,
    options.name,
    options.scope,
    (scope) => `patchbay remove ${options.name} -s ${scope}`,
  );
  const removed = await removeFromScope(registry.context, scope, options.name);
  if (!removed) {
    const elsewhere = found.map((entry) => entry.scope);
    throw new PatchbayError(
      'not-found',
      `No server named ${JSON.stringify(options.name)} in the ${scope} scope.`,
      {
        hint: elsewhere.length
          ? `It is in the ${elsewhere.join(' and ')} scope: patchbay remove ${options.name} -s ${elsewhere[0]}`
          : 'See all servers with: patchbay list --no-check',
      },
    );
  }
  note(io, `Removed ${options.name} from the ${scope} scope.`);
  const remaining = found.filter((entry) => entry.scope !== scope);
  if (remaining.length > 0)
    note(io, `The ${remaining[0]!.scope} entry of the same name is now in effect (${remaining[0]!.path}).`);
  return 0;
}
