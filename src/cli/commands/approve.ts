/**
 * Project approval: a server from a project's `.mcp.json` is not contacted or spawned until the
 * user approves it; the project's `.patchbay.json` may only tighten until the user approves it
 * (`--policy`). Decisions live in the user's config, bound to the content they were made about.
 */

import { PatchbayError } from '../../errors.js';
import {
  APPROVE_POLICY_COMMAND,
  recordPolicyFileChoice,
  TEAM_POLICY_FILE,
} from '../../config/policy-files.js';
import {
  recordProjectChoices,
  resetProjectChoices,
  type Registry,
  type ScopedEntry,
} from '../../config/registry.js';
import { validateName } from '../../config/validate.js';
import { projectPolicyStatus } from '../../policy/project-file.js';
import { terminalText } from '../../core/terminal-text.js';
import { note, type Io } from '../io.js';
import { loadForCommand } from '../registry-loader.js';
import { targetText } from '../server-view.js';

export interface ChoiceOptions {
  decision: 'approved' | 'rejected';
  names: string[];
  /** Every .mcp.json server, and the .patchbay.json. */
  all: boolean;
  /** The project's .patchbay.json. */
  policy: boolean;
}

export function parseChoiceOptions(
  decision: 'approved' | 'rejected',
  names: string[],
  flags: { all?: boolean; policy?: boolean },
): ChoiceOptions {
  const all = Boolean(flags.all);
  const policy = Boolean(flags.policy) || all;
  if (all && names.length > 0) throw new PatchbayError('usage', 'Give server names or --all, not both.');
  if (!all && !policy && names.length === 0) {
    const verb = decision === 'approved' ? 'approve' : 'reject';
    throw new PatchbayError('usage', `Which project server (or policy file) should be ${decision}?`, {
      hint: `patchbay ${verb} <name>   or   patchbay ${verb} --policy (${TEAM_POLICY_FILE})   or   patchbay ${verb} --all`,
    });
  }
  names.forEach(validateName);
  return { decision, names, all, policy };
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
  // Checked before anything is written: a policy file that cannot be chosen stops the command.
  const policyFile = options.policy ? choosablePolicyFile(registry, options, io) : undefined;
  if (policyFile) await choosePolicyFile(registry, policyFile, options.decision, io);
  if (options.policy && !options.all && options.names.length === 0) {
    if (!policyFile)
      note(io, `No ${TEAM_POLICY_FILE} in ${registry.context.projectRoot}; nothing to ${verbOf(options)}.`);
    return 0;
  }
  if (chosen.length === 0) {
    if (policyFile) return 0;
    note(io, `No project servers in ${registry.context.projectConfigPath}; nothing to ${verbOf(options)}.`);
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

function verbOf(options: ChoiceOptions): string {
  return options.decision === 'approved' ? 'approve' : 'reject';
}

/** The project's policy file as this run read it; undefined when there is none (or, with --all, it is broken). */
function choosablePolicyFile(registry: Registry, options: ChoiceOptions, io: Io) {
  const broken = registry.policy.sources.find((source) => source.scope === 'project' && source.broken);
  if (broken && options.all) {
    note(
      io,
      `${broken.path} cannot be read, so it was not ${options.decision} (until fixed it denies every tool).`,
    );
    return undefined;
  }
  if (broken)
    throw new PatchbayError(
      'config-shape',
      `${broken.path} cannot be read, so it cannot be ${options.decision}: ${broken.broken}`,
      { hint: `Fix ${broken.path} (until then it denies every tool), then: ${APPROVE_POLICY_COMMAND}` },
    );
  return projectPolicyStatus(registry.policy) ?? undefined;
}

/**
 * Record the decision about exactly the content this run read and shows (its digest): if the
 * file changes afterwards, the new content is pending again.
 */
async function choosePolicyFile(
  registry: Registry,
  status: NonNullable<ReturnType<typeof projectPolicyStatus>>,
  decision: 'approved' | 'rejected',
  io: Io,
): Promise<void> {
  const { userConfigPath, projectRoot } = registry.context;
  await recordPolicyFileChoice({ userConfigPath, projectRoot }, decision, status.sha256);
  const text = (value: string) => terminalText(value);
  const loosens = status.changes.filter((change) => change.effect === 'loosens');
  const what =
    loosens.length === 0
      ? 'it only tightens, so nothing changes'
      : decision === 'approved'
        ? `now in effect: ${loosens.map((change) => text(change.what)).join(', ')}`
        : `not in effect: ${loosens.map((change) => text(change.what)).join(', ')} (what it tightens still applies)`;
  note(
    io,
    `${decision === 'approved' ? 'Approved' : 'Rejected'} ${text(status.path)} (sha256 ${status.sha256.slice(0, 12)}) for ${text(registry.context.projectRoot)}: ${what}.`,
  );
  if (decision === 'approved') note(io, `If ${TEAM_POLICY_FILE} changes, it will need approval again.`);
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
  const { servers, policyFile } = await resetProjectChoices(registry.context);
  const count = servers + (policyFile ? 1 : 0);
  note(
    io,
    `Forgot ${count} approval/rejection decision${count === 1 ? '' : 's'} for ${registry.context.projectRoot}; ` +
      `its .mcp.json servers are pending again, and its ${TEAM_POLICY_FILE} only tightens until approved (${APPROVE_POLICY_COMMAND}).`,
  );
  return 0;
}
