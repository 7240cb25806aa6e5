/**
 * Project approval: a server from a project's `.mcp.json` is not contacted or spawned until the
 * user approves it. Decisions live in the user's config, bound to the entry's content.
 */

import { PatchbayError } from '../../errors.js';
import {
  recordProjectChoices,
  resetProjectChoices,
  type Registry,
  type ScopedEntry,
} from '../../config/registry.js';
import { validateName } from '../../config/validate.js';
import { note, type Io } from '../io.js';
import { loadForCommand } from '../registry-loader.js';
import { targetText } from '../server-view.js';

export interface ChoiceOptions {
  decision: 'approved' | 'rejected';
  names: string[];
  all: boolean;
}

export function parseChoiceOptions(
  decision: 'approved' | 'rejected',
  names: string[],
  flags: { all?: boolean },
): ChoiceOptions {
  const all = Boolean(flags.all);
  if (all && names.length > 0) throw new PatchbayError('usage', 'Give server names or --all, not both.');
  if (!all && names.length === 0) {
    const verb = decision === 'approved' ? 'approve' : 'reject';
    throw new PatchbayError('usage', `Which project server should be ${decision}?`, {
      hint: `patchbay ${verb} <name>   or   patchbay ${verb} --all`,
    });
  }
  names.forEach(validateName);
  return { decision, names, all };
}

function projectEntries(registry: Registry): ScopedEntry[] {
  return registry.entries.filter((entry) => entry.scope === 'project');
}

export async function runChoice(options: ChoiceOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const candidates = projectEntries(registry);
  const chosen = options.all
    ? candidates
    : options.names.map((name) => pickProjectEntry(registry, candidates, name));
  if (chosen.length === 0) {
    note(
      io,
      `No project servers in ${registry.context.projectConfigPath}; nothing to ${options.decision === 'approved' ? 'approve' : 'reject'}.`,
    );
    return 0;
  }
  await recordProjectChoices(
    registry.context,
    chosen.map((entry) => ({ name: entry.name, decision: options.decision, raw: entry.raw })),
  );
  for (const entry of chosen) {
    const what = entry.entry
      ? `${entry.entry.transport} ${targetText({ transport: entry.entry.transport, url: entry.entry.url ?? null, command: entry.entry.command ?? null, args: entry.entry.args ?? null })}`
      : 'invalid entry';
    note(
      io,
      `${options.decision === 'approved' ? 'Approved' : 'Rejected'} ${entry.name} (${what}) for ${registry.context.projectRoot}.`,
    );
  }
  if (options.decision === 'approved')
    note(io, 'If the entry changes in .mcp.json, it will need approval again.');
  return 0;
}

function pickProjectEntry(registry: Registry, candidates: ScopedEntry[], name: string): ScopedEntry {
  const entry = candidates.find((candidate) => candidate.name === name);
  if (entry) return entry;
  const elsewhere = registry.entries.find((candidate) => candidate.name === name);
  throw new PatchbayError(
    'not-found',
    elsewhere
      ? `${name} is a ${elsewhere.scope}-scope server, not a project one; only servers from .mcp.json need approval.`
      : `No project server named ${JSON.stringify(name)} in ${registry.context.projectConfigPath}.`,
    { hint: 'See which servers are pending with: patchbay list --no-check' },
  );
}

export async function runResetProjectChoices(io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const count = await resetProjectChoices(registry.context);
  note(
    io,
    `Forgot ${count} approval/rejection decision${count === 1 ? '' : 's'} for ${registry.context.projectRoot}; its .mcp.json servers are pending again.`,
  );
  return 0;
}
