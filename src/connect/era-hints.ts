/**
 * Which Streamable HTTP servers answered as 2025-era servers lately, so that a check can send
 * them `initialize` straight away instead of a `server/discover` they will refuse: one round
 * trip fewer per check of such a server, which is most servers today.
 *
 * Spec-correct either way: a 2025-era connect is what the negotiation would have ended in, and
 * the SDK's `prior: { kind: 'legacy' }` runs exactly that handshake. A hint is only a guess —
 * session.ts forgets it and negotiates afresh when `initialize` is refused — and it lapses after
 * HINT_TTL_MS, so a server that moved to 2026-07-28 is met in its new era within a day even if it
 * still answers `initialize`. Only "legacy" is remembered: modern servers are what the
 * negotiation tries first anyway.
 *
 * A small JSON file in the data directory, read once per owner of an `EraHints` (the process's
 * own unless a caller passes one), written only when a verdict changes (never on a steady state),
 * atomically and best effort: a lost write costs one round trip next time, nothing else.
 */

import { promises as fs } from 'node:fs';
import { join } from 'node:path';

import { writeFileAtomic } from '../core/file-store.js';
import { ERA_HINTS_FILE, type Paths } from '../core/paths.js';

export { ERA_HINTS_FILE };
/** A day: long enough to save the round trip on every everyday check. */
export const HINT_TTL_MS = 24 * 60 * 60 * 1000;

interface HintsFile {
  version: 1;
  /** The server URL (as configured) → epoch ms when it was last seen speaking the 2025 era. */
  legacy: Record<string, number>;
}

/**
 * The hints as one owner knows them: each data directory's file read once, and one write at a
 * time per file for all the checks of that owner.
 */
export class EraHints {
  private readonly loaded = new Map<string, Promise<Map<string, number>>>();
  private readonly pendingWrites = new Map<string, Promise<void>>();

  private load(path: string): Promise<Map<string, number>> {
    let hints = this.loaded.get(path);
    if (!hints) {
      hints = fs.readFile(path, 'utf8').then(
        (text) => {
          const parsed = JSON.parse(text) as Partial<HintsFile>;
          const legacy =
            parsed.version === 1 && parsed.legacy && typeof parsed.legacy === 'object' ? parsed.legacy : {};
          return new Map(
            Object.entries(legacy).filter((entry): entry is [string, number] => typeof entry[1] === 'number'),
          );
        },
        // No file yet, or one that is not ours: no hints.
        () => new Map<string, number>(),
      );
      this.loaded.set(path, hints);
    }
    return hints;
  }

  /** Whether the server at `url` answered as a 2025-era server within the last day. */
  async knownLegacy(url: string, paths: Paths, now = Date.now()): Promise<boolean> {
    const seen = (await this.load(paths.eraHints)).get(url);
    return seen !== undefined && now - seen < HINT_TTL_MS;
  }

  /**
   * Record the era a server negotiated. Writes only when that changes what the file says (or a
   * hint is more than half its lifetime old), and all checks of this owner share a write.
   */
  async rememberEra(url: string, era: 'legacy' | 'modern', paths: Paths, now = Date.now()): Promise<void> {
    const path = paths.eraHints;
    const hints = await this.load(path);
    const seen = hints.get(url);
    if (era === 'modern') {
      if (seen === undefined) return;
      hints.delete(url);
    } else {
      if (seen !== undefined && now - seen < HINT_TTL_MS / 2) return;
      hints.set(url, now);
    }
    await this.scheduleWrite(path, hints);
  }

  /** One write per file at a time, of the latest state (later changes ride on the next one). */
  private scheduleWrite(path: string, hints: Map<string, number>): Promise<void> {
    const running = this.pendingWrites.get(path);
    if (running) return running;
    const write = (async () => {
      // Let the other checks of this run record theirs first: one write for all of them.
      await new Promise((resolve) => setImmediate(resolve));
      this.pendingWrites.delete(path);
      const now = Date.now();
      const legacy = Object.fromEntries([...hints].filter(([, at]) => now - at < HINT_TTL_MS));
      const file: HintsFile = { version: 1, legacy };
      try {
        await fs.mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
        await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, secret: false });
      } catch {
        // A hint that is not saved costs a round trip next time; it is not worth a failed check.
      }
    })();
    this.pendingWrites.set(path, write);
    return write;
  }
}

/** The hints of the callers that bring none of their own. */
export const processEraHints = new EraHints();

/** Whether the server at `url` answered as a 2025-era server within the last day. */
export function knownLegacy(url: string, paths: Paths, now = Date.now()): Promise<boolean> {
  return processEraHints.knownLegacy(url, paths, now);
}

/** Record the era a server negotiated, in the process's hints. */
export function rememberEra(
  url: string,
  era: 'legacy' | 'modern',
  paths: Paths,
  now = Date.now(),
): Promise<void> {
  return processEraHints.rememberEra(url, era, paths, now);
}
