/**
 * Members of the gateway's own authorization server: who the organisation's IdP said signed in,
 * mapped through the deployment's ClaimMapping (subject, email and groups claim names, dotted
 * paths for nested claims, `groupNames` for IdP group ids), and kept in the state store under
 * their subject so that access tokens minted later (a refresh) carry them.
 */

import type { StateStore, RecordStore } from '../../state/store.js';
import type { ClaimMapping } from '../deployment.js';

export interface Member {
  subject: string;
  email?: string;
  groups: string[];
}

/** A claim by a dotted path (`realm_access.roles`); a claim named with a dot itself wins. */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The member the IdP's claims name, or why they name none (for the page the person sees). */
export function memberFromClaims(
  claims: Record<string, unknown>,
  mapping: ClaimMapping,
): Member | { error: string } {
  const subject = claimAt(claims, mapping.subject);
  if (typeof subject !== 'string' || subject === '')
    return {
      error: `the identity provider's answer has no "${mapping.subject}" claim to name the member by`,
    };
  const email = claimAt(claims, mapping.email);
  const rawGroups = claimAt(claims, mapping.groups);
  const listed = typeof rawGroups === 'string' ? [rawGroups] : Array.isArray(rawGroups) ? rawGroups : [];
  const groups = [
    ...new Set(
      listed
        .filter((group): group is string => typeof group === 'string' && group !== '')
        .map((group) => mapping.groupNames[group] ?? group),
    ),
  ];
  return { subject, ...(typeof email === 'string' && email !== '' ? { email } : {}), groups };
}

export class Members {
  private readonly records: RecordStore<Member>;

  /** `keepMs`: a member unseen this long is forgotten (their refresh tokens have expired too). */
  constructor(
    state: StateStore,
    private readonly keepMs: number,
  ) {
    this.records = state.records<Member>('as-members', { secret: true });
  }

  get(subject: string): Promise<Member | undefined> {
    return this.records.get(subject);
  }

  put(member: Member): Promise<void> {
    return this.records.put(member.subject, member, { ttlMs: this.keepMs });
  }
}
