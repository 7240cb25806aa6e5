/**
 * What can be said about a server without touching the network: an invalid entry, a project
 * entry not yet approved, an unset variable. Everything that passes is ready to be checked.
 */

import { PatchbayError } from '../errors.js';
import type { ServerEntry } from './entry.js';
import { expandEntry } from './expand.js';
import type { EffectiveServer } from './registry.js';
import { validateUrl } from './validate.js';

export type ServerStatus =
  'connected' | 'needs-auth' | 'failed' | 'pending-approval' | 'disabled' | 'unchecked';

export interface StaticState {
  status: ServerStatus;
  reason: string | null;
  /** Next command to run, when there is one. */
  hint?: string;
  /** The expanded entry, when the server may be contacted. */
  resolved?: ServerEntry;
}

export function staticState(server: EffectiveServer, env: NodeJS.ProcessEnv): StaticState {
  const { winner } = server;
  if (!winner.entry) {
    return {
      status: 'failed',
      reason: `invalid entry: ${winner.problems.join('; ')}`,
      hint: `Fix the entry in ${winner.path}.`,
    };
  }
  if (server.projectChoice === 'pending') {
    return {
      status: 'pending-approval',
      reason: `comes from the project's .mcp.json and has not been approved (or changed since it was)`,
      hint: `Review it with \`patchbay get ${server.name}\`, then run \`patchbay approve ${server.name}\`.`,
    };
  }
  if (server.projectChoice === 'rejected') {
    return {
      status: 'disabled',
      reason: 'rejected for this project',
      hint: `To use it after all: patchbay approve ${server.name}`,
    };
  }
  let resolved: ServerEntry;
  try {
    resolved = expandEntry(winner.entry, env);
  } catch (error) {
    if (error instanceof PatchbayError) return { status: 'failed', reason: error.message, hint: error.hint };
    throw error;
  }
  if (resolved.url !== undefined) {
    try {
      validateUrl(resolved.url);
    } catch (error) {
      if (error instanceof PatchbayError)
        return {
          status: 'failed',
          reason: error.message,
          hint: `Fix the url of ${server.name} in ${winner.path}.`,
        };
      throw error;
    }
  }
  return { status: 'unchecked', reason: null, resolved };
}
