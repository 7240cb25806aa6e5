/**
 * What can be said about a server without touching the network: an invalid entry, a project
 * entry not yet approved, an unset variable. Everything that passes is ready to be checked.
 */

import { dirname, isAbsolute, resolve } from 'node:path';

import { PatchbayError } from '../errors.js';
import type { ServerEntry } from './entry.js';
import { expandEntry } from './expand.js';
import { managedBlock } from './managed.js';
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
  // The administrator's word first: a blocked server is never contacted, whatever else is set.
  const blocked = managedBlock(server.managed, server.name, winner.entry);
  if (blocked) return managedState(server.name, blocked);
  if (server.disabledBy) {
    const { scope, path } = server.disabledBy;
    return {
      status: 'disabled',
      reason: `disabled in ${path} (${scope} policy)`,
      hint: `To use it again: patchbay enable ${server.name} -s ${scope}`,
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
  // Checked again once expanded: `${VAR}` must not be a way around a denied URL.
  const blockedExpanded = managedBlock(server.managed, server.name, resolved);
  if (blockedExpanded) return managedState(server.name, blockedExpanded);
  if (resolved.tls) resolved = { ...resolved, tls: resolveTlsPaths(resolved.tls, dirname(winner.path)) };
  return { status: 'unchecked', reason: null, resolved };
}

function managedState(name: string, reason: string): StaticState {
  return {
    status: 'disabled',
    reason,
    hint: `Your administrator decides this; patchbay policy ${name} shows the rule.`,
  };
}

/** A relative certificate path means the same file wherever patchbay runs: next to the config file. */
function resolveTlsPaths(tls: NonNullable<ServerEntry['tls']>, base: string): ServerEntry['tls'] {
  const out: NonNullable<ServerEntry['tls']> = {};
  for (const [key, path] of Object.entries(tls) as Array<[keyof typeof tls, string]>) {
    out[key] = isAbsolute(path) ? path : resolve(base, path);
  }
  return out;
}

/**
 * Why a command cannot use a server its config rules out, with the code of that situation, the
 * same from every command: waiting for approval (5), off by choice or by the administrator (6),
 * an entry that cannot work (8, as `list` reports it).
 */
export function unusableError(name: string, state: StaticState, doing?: string): PatchbayError {
  const code =
    state.status === 'pending-approval'
      ? 'pending-approval'
      : state.status === 'disabled'
        ? 'server-disabled'
        : 'connect-failed';
  const what = doing ? `Cannot ${doing} ${name}` : name;
  return new PatchbayError(code, `${what}: ${state.reason ?? state.status}.`, {
    ...(state.hint ? { hint: state.hint } : {}),
  });
}
