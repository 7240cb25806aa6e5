/**
 * Many servers checked at once: every contactable one probed (connect/probe.ts) in a bounded
 * pool, each within its own timeout; the same check for `patchbay list`, `patchbay get` and the
 * console's Connectors page. The SDK is loaded only here, and only when there is a server to
 * check, so `--no-check` never pays for it.
 */

import type { EffectiveServer } from '../config/registry.js';
import type { StaticState } from '../config/status.js';
import type { RefreshState } from '../auth/refresh.js';
import type { EraHints } from '../connect/era-hints.js';
import type { ProbeResult } from '../connect/probe.js';
import type { Paths } from '../core/paths.js';
import { CHECK_POOL_SIZE, mapBounded } from '../core/pool.js';

export interface CheckTarget {
  server: EffectiveServer;
  state: StaticState;
}

export interface CheckManyOptions {
  timeoutMs: number;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Where stored logins and era hints are: the front end's resolved paths. */
  paths: Paths;
  /** Whose refreshes and era hints the checks share (a console's); default the process's. */
  refreshState?: RefreshState;
  eraHintCache?: EraHints;
  /** Renew due or expired logins first (default true); false: `--no-refresh`, read-only. */
  refresh?: boolean;
  /** What each check counts (probe.ts): `list` counts tools only, `get` and the console all three kinds. */
  offers?: 'all' | 'tools';
  onResult?: (index: number, result: ProbeResult) => void;
  /** Receives each session's end; without it, each result waits for its session to end. */
  closing?: Array<Promise<void>>;
}

/** A result for every target that could be contacted (state.resolved); undefined for the rest. */
export async function checkMany(
  targets: CheckTarget[],
  options: CheckManyOptions,
): Promise<Array<ProbeResult | undefined>> {
  const results: Array<ProbeResult | undefined> = new Array(targets.length).fill(undefined);
  const work = targets
    .map((target, index) => ({ target, index }))
    .filter(({ target }) => target.state.resolved);
  if (work.length === 0) return results;
  const { probeServer } = await import('../connect/probe.js');
  await mapBounded(work, CHECK_POOL_SIZE, async ({ target, index }) => {
    const resolved = target.state.resolved!;
    const result = await probeServer(resolved, {
      timeoutMs: resolved.timeout ?? options.timeoutMs,
      name: target.server.name,
      cwd: options.cwd,
      env: options.env,
      paths: options.paths,
      ...(options.refreshState ? { refreshState: options.refreshState } : {}),
      ...(options.eraHintCache ? { eraHintCache: options.eraHintCache } : {}),
      refresh: options.refresh !== false,
      offers: options.offers ?? 'all',
      ...(options.closing ? { onClosing: (closing: Promise<void>) => options.closing!.push(closing) } : {}),
    });
    results[index] = result;
    options.onResult?.(index, result);
  });
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
