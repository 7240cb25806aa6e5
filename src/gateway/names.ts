/**
 * The names the gateway gives upstream tools and prompts: `<server>__<name>`.
 *
 * The rule, deterministic whatever order the upstreams answer in:
 * 1. `<server>__<name>`, with every character outside `A-Z a-z 0-9 _ -` replaced by `_` (what
 *    the strictest hosts accept, e.g. `^[a-zA-Z0-9_-]{1,64}$`).
 * 2. A name that had to change in step 1, is longer than 64 characters, or is the same as another
 *    upstream item's name becomes its first 55 characters, `_`, and 8 hex digits of the SHA-256
 *    of `<server>\0<name>` — unique per original, stable across runs.
 * The original server and name stay visible in each item's title and `_meta`
 * (`io.patchbay/server`, `io.patchbay/name`).
 */

import { createHash } from 'node:crypto';

export const SEPARATOR = '__';
export const MAX_NAME_LENGTH = 64;
const HASH_DIGITS = 8;

export interface Original {
  server: string;
  name: string;
}

/** Exposed names for a set of originals: a map from exposed name to original, and back. */
export function exposedNames(originals: Original[]): Map<string, Original> {
  const plain = originals.map((original) => ({ original, candidate: plainName(original) }));
  const counts = new Map<string, number>();
  for (const { candidate } of plain) counts.set(candidate.name, (counts.get(candidate.name) ?? 0) + 1);
  const exposed = new Map<string, Original>();
  for (const { original, candidate } of plain) {
    const unique = candidate.clean && (counts.get(candidate.name) ?? 0) === 1;
    exposed.set(unique ? candidate.name : hashedName(original, candidate.name), original);
  }
  return exposed;
}

function plainName({ server, name }: Original): { name: string; clean: boolean } {
  const joined = `${server}${SEPARATOR}${name}`;
  const sanitized = joined.replace(/[^A-Za-z0-9_-]/g, '_');
  return { name: sanitized, clean: sanitized === joined && sanitized.length <= MAX_NAME_LENGTH };
}

function hashedName(original: Original, sanitized: string): string {
  const digest = createHash('sha256')
    .update(`${original.server}\0${original.name}`)
    .digest('hex')
    .slice(0, HASH_DIGITS);
  return `${sanitized.slice(0, MAX_NAME_LENGTH - HASH_DIGITS - 1)}_${digest}`;
}
