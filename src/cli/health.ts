/**
 * Health checks for `list` and `get`: every contactable server probed at once (bounded pool),
 * each within its own timeout. The SDK is loaded only here, and only when there is a server to
 * check, so `--no-check` never pays for it. The sessions' ends (HTTP DELETE, process groups) are
 * handed back in `closing`, for the command to await after it printed.
 */

import { parseDuration } from '../core/duration.js';
import type { EffectiveServer } from '../config/registry.js';
import type { StaticState } from '../config/status.js';
import type { ProbeResult } from '../connect/probe.js';

/** Large enough that 50 servers are not queued behind each other. */
export const CHECK_POOL_SIZE = 64;

export interface CheckTarget {
  server: EffectiveServer;
  state: StaticState;
}

export async function checkServers(
  targets: CheckTarget[],
  options: {
    timeoutMs: number;
    cwd: string;
    env: NodeJS.ProcessEnv;
    /** Renew due or expired logins first (default true); false: `--no-refresh`, read-only. */
    refresh?: boolean;
    /** What each check counts (probe.ts): `list` counts tools only, `get` all three kinds. */
    offers?: 'all' | 'tools';
    onResult?: (index: number, result: ProbeResult) => void;
    /** Receives each session's end; without it, each result waits for its session to end. */
    closing?: Array<Promise<void>>;
  },
): Promise<Array<ProbeResult | undefined>> {
  const results: Array<ProbeResult | undefined> = new Array(targets.length).fill(undefined);
  const work = targets
    .map((target, index) => ({ target, index }))
    .filter(({ target }) => target.state.resolved);
  if (work.length === 0) return results;
  const { probeServer } = await import('../connect/probe.js');
  let next = 0;
  const worker = async () => {
    while (next < work.length) {
      const { target, index } = work[next++]!;
      const resolved = target.state.resolved!;
      const timeoutMs = resolved.timeout ?? options.timeoutMs;
      const result = await probeServer(resolved, {
        timeoutMs,
        name: target.server.name,
        cwd: options.cwd,
        env: options.env,
        refresh: options.refresh !== false,
        offers: options.offers ?? 'all',
        ...(options.closing ? { onClosing: (closing: Promise<void>) => options.closing!.push(closing) } : {}),
      });
      results[index] = result;
      options.onResult?.(index, result);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CHECK_POOL_SIZE, work.length) }, worker));
  return results;
}

/**
 * Start loading the check's modules (the SDK above all) now, so that loading overlaps the
 * configuration's file reads instead of following them.
 */
export function preloadChecks(): void {
  void import('../connect/probe.js').then(
    (probe) => probe.preloadProbe(),
    () => undefined,
  );
}

/**
 * `--timeout` (`30s`, `2m`, `500ms`; a bare number is seconds), else `PATCHBAY_TIMEOUT` (the same
 * forms), else 10 s; in milliseconds.
 */
export function timeoutFrom(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  const text = flag ?? env.PATCHBAY_TIMEOUT;
  if (text === undefined || text === '') return 10_000;
  return parseDuration(text, flag === undefined ? 'PATCHBAY_TIMEOUT' : '--timeout');
}
