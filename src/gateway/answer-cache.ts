/**
 * A bounded cache of answers about tokens: at most `maxEntries` (the least recently used go
 * first), each until its own deadline. Keys are SHA-256 digests of the token, so the cache holds
 * no credential.
 */

import { createHash } from 'node:crypto';

export class AnswerCache<T> {
  private readonly entries = new Map<string, { value: T; until: number }>();

  constructor(private readonly maxEntries: number) {}

  static keyOf(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  get(key: string, now = Date.now()): T | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    if (hit.until <= now) return undefined;
    this.entries.set(key, hit);
    return hit.value;
  }

  /** Kept until `until` (ms since the epoch); a deadline already past keeps nothing. */
  set(key: string, value: T, until: number, now = Date.now()): void {
    if (until <= now || this.maxEntries <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
