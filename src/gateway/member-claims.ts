/**
 * A member from a token's (or an IdP's) claims, by the deployment's ClaimMapping: which claims
 * name the subject, the email and the groups (dotted paths reach nested claims), and how the IdP's
 * group values read as the group names policy files use. Shared by the access-token check and the
 * gateway's own authorization server.
 */

import type { ClaimMapping } from './deployment.js';
import type { Identity } from './inbound.js';

/** The claim at a dotted path (`realm_access.roles`); a claim whose name has a dot is found too. */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** `scope` (space separated, RFC 9068 / RFC 7662) or `scp` (an array, or a string, as some IdPs send). */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const value = typeof claims.scope === 'string' ? claims.scope : claims.scp;
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return [];
}

/**
 * The member the claims name, or a reason why they name none (no subject). The client is the
 * token's `client_id` (RFC 9068) or `azp`.
 */
export function memberOf(
  claims: Record<string, unknown>,
  mapping: ClaimMapping,
  auth: Identity['auth'],
): Identity | string {
  const subject = claimAt(claims, mapping.subject);
  if (typeof subject !== 'string' || subject === '' || subject.length > 1024)
    return `it names no member (no ${mapping.subject} claim)`;
  const identity: Identity = { auth, subject };
  const email = claimAt(claims, mapping.email);
  if (typeof email === 'string' && email) identity.email = email;
  const groups = groupsOf(claimAt(claims, mapping.groups), mapping.groupNames);
  if (groups.length) identity.groups = groups;
  const client = typeof claims.client_id === 'string' ? claims.client_id : claims.azp;
  if (typeof client === 'string' && client) identity.client = client;
  identity.scopes = scopesOf(claims);
  return identity;
}

function groupsOf(value: unknown, names: Record<string, string>): string[] {
  const raw = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
  const groups = raw
    .filter((item): item is string => typeof item === 'string' && item !== '')
    .map((item) => (Object.hasOwn(names, item) ? names[item]! : item));
  return [...new Set(groups)];
}
