/**
 * The graceful stop of a gateway listener (SIGTERM): from the moment it starts, no new connection
 * is accepted and every new request is answered 503 with `Retry-After` and `Connection: close`
 * (and `/readyz` says draining, so a load balancer stops sending); the calls already in flight
 * get a bounded time to finish; then the caller closes everything.
 */

/** How long in-flight calls get, unless the deployment or --drain-timeout says otherwise. */
export const DEFAULT_DRAIN_MS = 30_000;

export class Drain {
  #inFlight = 0;
  #draining = false;
  #idle: Array<() => void> = [];

  /** Requests being served now (standing streams are not counted: they never finish by themselves). */
  get inFlight(): number {
    return this.#inFlight;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** A request starts; call what is returned when it has been answered. */
  enter(): () => void {
    this.#inFlight++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#inFlight--;
      if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    };
  }

  /**
   * Stops taking requests, and resolves once none is in flight (true) or after `withinMs`
   * (false: some were cut short).
   */
  start(withinMs: number): Promise<boolean> {
    this.#draining = true;
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), withinMs);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
