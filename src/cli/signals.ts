/**
 * How long the process waits, after SIGINT or SIGTERM, for the command to return by itself
 * before cli/main.ts ends it. Most commands cancel what they do and return within the default;
 * `serve --http` drains its in-flight calls first (gateway/drain.ts) and says how long that may take.
 */

/** Beyond the drain: closing sessions and upstreams after it. */
export const AFTER_DRAIN_MS = 5_000;

let drainMs: number | undefined;
let heldMs: number | undefined;

/** The running command returns by itself within `ms` of a signal (plus AFTER_DRAIN_MS). */
export function drainOnSignal(ms: number): void {
  drainMs = ms;
}

/**
 * While the command would ask the person what to do after a Ctrl-C (a running task: cancel it or
 * leave it running), the process waits up to `ms` for that answer instead of its usual second.
 * Returns the function that ends the hold.
 */
export function holdOnSignal(ms: number): () => void {
  heldMs = ms;
  return () => {
    heldMs = undefined;
  };
}

/** How long to wait for the command after a signal whose own default is `fallbackMs`. */
export function graceAfterSignal(fallbackMs: number): number {
  if (heldMs !== undefined) return Math.max(heldMs, fallbackMs);
  return drainMs === undefined ? fallbackMs : drainMs + AFTER_DRAIN_MS;
}
