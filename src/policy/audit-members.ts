/**
 * The audit log by member: which lines a `--member` / `--group` filter keeps, and the figures per
 * member (`patchbay stats --by member`). A line's member is what the gateway established about its
 * caller (audit.ts `caller`: subject, email, groups), never what a host says of itself; a line
 * without a member (stdio, the single static token, `patchbay call`, older lines) is "local".
 */

import { summarizeCalls, type AuditEntry, type CallStats } from './audit.js';

/** The member a line is counted under: the subject, else the email, else `local`. */
export const LOCAL_MEMBER = 'local';

export function memberOf(entry: AuditEntry): string {
  return entry.caller?.subject ?? entry.caller?.email ?? LOCAL_MEMBER;
}

export interface MemberFilter {
  /** A subject or an email (`local`: lines without a member). */
  member?: string | undefined;
  /** A members' group. */
  group?: string | undefined;
}

/** Whether a line matches `--member` (subject or email) and `--group`. */
export function matchesMember(entry: AuditEntry, filter: MemberFilter): boolean {
  const caller = entry.caller;
  if (filter.member !== undefined) {
    const named =
      filter.member === LOCAL_MEMBER
        ? !caller?.subject && !caller?.email
        : caller?.subject === filter.member || caller?.email === filter.member;
    if (!named) return false;
  }
  if (filter.group !== undefined && !(caller?.groups ?? []).includes(filter.group)) return false;
  return true;
}

export interface MemberStats extends CallStats {
  /** The subject (or email, or `local`). */
  member: string;
  email?: string;
  /** The groups the member's latest line carried. */
  groups?: string[];
}

/** Calls, errors, refusals and latency per member, members in name order. */
export function summarizeByMember(entries: readonly AuditEntry[]): MemberStats[] {
  const byMember = new Map<string, AuditEntry[]>();
  for (const entry of entries) {
    const member = memberOf(entry);
    const list = byMember.get(member) ?? [];
    list.push(entry);
    byMember.set(member, list);
  }
  return [...byMember.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([member, list]) => {
      const last = list[list.length - 1]!.caller;
      return {
        member,
        ...(last?.email !== undefined ? { email: last.email } : {}),
        ...(last?.groups !== undefined ? { groups: last.groups } : {}),
        ...summarizeCalls(list),
      };
    });
}
