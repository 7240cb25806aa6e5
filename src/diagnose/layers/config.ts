/**
 * The config layer: which entry won, from which file, whether it is valid and approved, and
 * whether every `${VAR}` it uses is set. Nothing here touches the network or the disk.
 */

import type { ServerEntry } from '../../config/entry.js';
import { splitTemplate } from '../../config/expand.js';
import type { EffectiveServer } from '../../config/registry.js';
import { staticState } from '../../config/status.js';
import { failed, notChecked, passed, type Evidence, type Finding } from '../findings.js';
import { clean } from '../text.js';

export interface ConfigOutcome {
  finding: Finding;
  /** The expanded entry, when the server may be contacted. */
  resolved?: ServerEntry;
  /** Set when the server must not be contacted at all (pending approval, rejected). */
  notContacted?: boolean;
}

export function checkConfig(server: EffectiveServer, env: NodeJS.ProcessEnv): ConfigOutcome {
  const { winner } = server;
  const evidence: Evidence = { scope: winner.scope, file: winner.path };
  if (server.shadowed.length > 0)
    evidence.shadows = server.shadowed.map((entry) => `${entry.scope} (${entry.path})`).join(', ');
  const state = staticState(server, env);

  if (!winner.entry) {
    evidence.problems = winner.problems.length;
    return {
      finding: failed(
        'config',
        `invalid entry: ${clean(winner.problems[0] ?? 'unknown problem', 300)}`,
        evidence,
        `Fix the entry in ${winner.path} (see: patchbay help config)`,
      ),
    };
  }

  const variables = referencedVariables(winner.entry, env);
  const unset = variables.filter((variable) => variable.unset).map((variable) => variable.name);
  if (variables.length > 0) {
    evidence.variables = variables.map((variable) => variable.name).join(', ');
    evidence.unset = unset.length > 0 ? unset.join(', ') : null;
  }

  if (state.status === 'pending-approval') {
    return {
      notContacted: true,
      finding: failed(
        'config',
        "not approved: it comes from the project's .mcp.json and was not approved (or changed since)",
        evidence,
        `patchbay get ${server.name}   # review it, then: patchbay approve ${server.name}`,
      ),
    };
  }
  if (state.status === 'disabled') {
    return {
      notContacted: true,
      finding: {
        ...notChecked('config', `${clean(state.reason ?? 'disabled', 300)}: not contacted`, evidence),
        fix: state.hint ?? `patchbay approve ${server.name}   # to use it after all`,
      },
    };
  }
  if (unset.length > 0) {
    return {
      finding: failed(
        'config',
        `environment variable${unset.length > 1 ? 's' : ''} ${unset.join(', ')} not set (and no default)`,
        evidence,
        `export ${unset.map((name) => `${name}=…`).join(' ')}   # or give a default: \${${unset[0]}:-value}`,
      ),
    };
  }
  if (!state.resolved) {
    return {
      finding: failed(
        'config',
        clean(state.reason ?? 'the entry cannot be used', 300),
        evidence,
        state.hint ?? `Fix the entry in ${winner.path}`,
      ),
    };
  }
  return {
    resolved: state.resolved,
    finding: passed(
      'config',
      `${winner.scope} scope, ${winner.path}${variables.length > 0 ? `; ${variables.length} variable${variables.length > 1 ? 's' : ''} set` : ''}`,
      evidence,
    ),
  };
}

interface VariableUse {
  name: string;
  /** Unset with no default: the server cannot be used. */
  unset: boolean;
}

/** Every `${VAR}` in the fields that are expanded, in order of first use. */
function referencedVariables(entry: ServerEntry, env: NodeJS.ProcessEnv): VariableUse[] {
  const texts = [
    entry.url,
    entry.headersHelper,
    entry.command,
    ...(entry.args ?? []),
    ...Object.values(entry.headers ?? {}),
    ...Object.values(entry.env ?? {}),
    ...Object.values(entry.tls ?? {}),
  ].filter((text): text is string => typeof text === 'string');
  const byName = new Map<string, VariableUse>();
  for (const text of texts) {
    for (const part of splitTemplate(text)) {
      if (part.variable === undefined) continue;
      const unset = env[part.variable] === undefined && part.fallback === undefined;
      const known = byName.get(part.variable);
      if (known) known.unset ||= unset;
      else byName.set(part.variable, { name: part.variable, unset });
    }
  }
  return [...byName.values()];
}
