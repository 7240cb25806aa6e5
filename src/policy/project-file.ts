/**
 * What the project's `.patchbay.json` changes, entry by entry, and whether it waits for approval:
 * what `patchbay policy`, `patchbay approve --policy` and the console show. (Enforcement does not
 * read this list: policy/rules decides each tool with and without an unapproved file and takes
 * the stricter, so this is the explanation of that, not a second implementation of it.)
 *
 * Against the user's own files (local and user scope), an entry of the project file:
 *
 * - loosens: an allow rule (it beats the annotations' ask for a destructive tool, and any
 *   default); an ask rule where the user's default is deny; a default allow where the user's
 *   files set none (it beats the annotations' ask);
 * - tightens: a deny rule, an ask rule otherwise, a stricter default, a limit (every file's
 *   limits apply together, so one written here only adds a window: it cannot raise or remove
 *   another's), `enabled: false`;
 * - changes nothing: `enabled: true` (a server disabled in any file stays disabled), a default
 *   no stricter than the user's.
 */

import { APPROVE_POLICY_COMMAND, type Decision, type PolicySource } from '../config/policy-files.js';
import type { PolicySet, ProjectChoice } from '../config/registry.js';
import { audienceText, stricter } from './rules.js';

export type PolicyEffect = 'loosens' | 'tightens' | 'none';

export interface PolicyFileChange {
  effect: PolicyEffect;
  kind: 'default' | 'rule' | 'group' | 'limit' | 'enabled';
  /** The server the entry is about; null for the file's `default`. */
  server: string | null;
  /** The tool name or glob of a rule or limit; null otherwise. */
  pattern: string | null;
  /** The entry in words: `allow gh/*`, `default allow`, `limit gh/* 10/hour`, `disable gh`. */
  what: string;
  /** Why it has that effect. */
  why: string;
}

export interface ProjectPolicyStatus {
  path: string;
  sha256: string;
  /**
   * approved: in effect as written; pending / rejected: only what it tightens is in effect;
   * not-needed: it only tightens, so there is nothing to approve.
   */
  state: ProjectChoice | 'not-needed';
  changes: PolicyFileChange[];
  /** The command that takes what waits (pending, rejected); null otherwise. */
  hint: string | null;
}

/** Each entry of a project policy document, classified against the user's own files. */
export function classifyPolicyFile(doc: PolicySource['doc'], trusted: PolicySource[]): PolicyFileChange[] {
  const changes: PolicyFileChange[] = [];
  let trustedDefault: Decision | undefined;
  for (const source of trusted)
    if (source.doc.default)
      trustedDefault = trustedDefault ? stricter(trustedDefault, source.doc.default) : source.doc.default;

  if (doc.default) {
    const decision = doc.default;
    if (!trustedDefault)
      changes.push(
        decision === 'allow'
          ? {
              effect: 'loosens',
              kind: 'default',
              server: null,
              pattern: null,
              what: 'default allow',
              why: 'tools no rule names would run without asking, destructive ones included',
            }
          : {
              effect: 'tightens',
              kind: 'default',
              server: null,
              pattern: null,
              what: `default ${decision}`,
              why: `tools no rule names: ${decision}`,
            },
      );
    else
      changes.push(
        stricter(trustedDefault, decision) === trustedDefault
          ? {
              effect: 'none',
              kind: 'default',
              server: null,
              pattern: null,
              what: `default ${decision}`,
              why: `your files' default (${trustedDefault}) is at least as strict`,
            }
          : {
              effect: 'tightens',
              kind: 'default',
              server: null,
              pattern: null,
              what: `default ${decision}`,
              why: `stricter than your default (${trustedDefault})`,
            },
      );
  }

  for (const [server, policy] of Object.entries(doc.servers ?? {})) {
    for (const [pattern, decision] of Object.entries(policy.tools ?? {})) {
      const rule = { kind: 'rule' as const, server, pattern, what: `${decision} ${server}/${pattern}` };
      if (decision === 'allow')
        changes.push({
          ...rule,
          effect: 'loosens',
          why: 'these tools would run without asking, destructive ones included',
        });
      else if (decision === 'ask' && trustedDefault === 'deny')
        changes.push({ ...rule, effect: 'loosens', why: 'your default denies them' });
      else changes.push({ ...rule, effect: 'tightens', why: `these tools: ${decision} at least` });
    }
    for (const [group, decision] of Object.entries(policy.groups ?? {})) {
      const entry = {
        kind: 'group' as const,
        server,
        pattern: null,
        what: `${decision} ${server}'s ${group} tools`,
      };
      if (decision === 'allow')
        changes.push({ ...entry, effect: 'loosens', why: 'these tools would run without asking' });
      else if (decision === 'ask' && trustedDefault === 'deny')
        changes.push({ ...entry, effect: 'loosens', why: 'your default denies them' });
      else changes.push({ ...entry, effect: 'tightens', why: `these tools: ${decision} at least` });
    }
    // Rules for some members: like the others, only for whom they name.
    for (const rule of policy.rules ?? []) {
      const audience = audienceText(rule);
      const whom = audience ? ` for ${audience}` : '';
      for (const [pattern, decision] of Object.entries(rule.tools ?? {})) {
        const entry = {
          kind: 'rule' as const,
          server,
          pattern,
          what: `${decision} ${server}/${pattern}${whom}`,
        };
        if (decision === 'allow')
          changes.push({ ...entry, effect: 'loosens', why: `these tools would run without asking${whom}` });
        else if (decision === 'ask' && trustedDefault === 'deny')
          changes.push({ ...entry, effect: 'loosens', why: 'your default denies them' });
        else changes.push({ ...entry, effect: 'tightens', why: `these tools: ${decision} at least${whom}` });
      }
      for (const [field, perMember] of [
        ['limits', ''],
        ['memberLimits', ' per member'],
      ] as const)
        for (const [pattern, limit] of Object.entries(rule[field] ?? {}))
          changes.push({
            effect: 'tightens',
            kind: 'limit',
            server,
            pattern,
            what: `limit ${server}/${pattern} ${limit}${perMember}${whom}`,
            why: 'counted in addition to every other limit',
          });
    }
    for (const [pattern, limit] of Object.entries(policy.memberLimits ?? {}))
      changes.push({
        effect: 'tightens',
        kind: 'limit',
        server,
        pattern,
        what: `limit ${server}/${pattern} ${limit} per member`,
        why: 'counted in addition to every other limit',
      });
    for (const [pattern, limit] of Object.entries(policy.limits ?? {}))
      changes.push({
        effect: 'tightens',
        kind: 'limit',
        server,
        pattern,
        what: `limit ${server}/${pattern} ${limit}`,
        why: 'counted in addition to every other limit',
      });
    if (policy.enabled === false)
      changes.push({
        effect: 'tightens',
        kind: 'enabled',
        server,
        pattern: null,
        what: `disable ${server}`,
        why: 'the server is not used',
      });
    else if (policy.enabled === true)
      changes.push({
        effect: 'none',
        kind: 'enabled',
        server,
        pattern: null,
        what: `enable ${server}`,
        why: 'a server disabled in any policy file stays disabled',
      });
  }
  return changes;
}

/**
 * The project's policy file: what it changes and whether that waits for approval; null: none.
 * With `server`, the changes listed are its entries about that server and its default (the state
 * is the whole file's).
 */
export function projectPolicyStatus(policy: PolicySet, server?: string): ProjectPolicyStatus | null {
  const file = policy.projectFile;
  if (!file) return null;
  const project = policy.sources.find((source) => source.scope === 'project' && !source.broken);
  const trusted = policy.sources.filter((source) => source.scope !== 'project');
  const changes = project ? classifyPolicyFile(project.doc, trusted) : [];
  const loosens = changes.some((change) => change.effect === 'loosens');
  const state = file.choice === 'pending' && !loosens ? 'not-needed' : file.choice;
  return {
    path: file.path,
    sha256: file.sha256,
    state,
    changes:
      server === undefined
        ? changes
        : changes.filter((change) => change.server === null || change.server === server),
    hint: state === 'pending' || state === 'rejected' ? APPROVE_POLICY_COMMAND : null,
  };
}

/** What approving the file would add, to follow "would": `set default allow, allow gh/*`; '' when nothing. */
export function loosensText(status: ProjectPolicyStatus): string {
  return status.changes
    .filter((change) => change.effect === 'loosens')
    .map((change) => (change.kind === 'default' ? `set ${change.what}` : change.what))
    .join(', ');
}
