/**
 * Locks with a bounded lease over the state store, for work that must happen once across every
 * process sharing the state (a member's upstream refresh: one token request at the authorization
 * server, however many replicas see the token expire at once).
 *
 * The store gives single atomic steps (`Leases`: Redis SET NX PX and token-checked scripts in
 * `redis-leases.ts`; files, `recordLeases` below over a record's atomic update). The rest is
 * written once, here: waiting (a random back-off, cut short by the holder's release message on the
 * bus), renewing while the work runs, and releasing after it. A holder that crashes stops renewing,
 * so its lease is gone at most `leaseMs` later and a waiter takes over.
 */

import { randomBytes } from 'node:crypto';

import { PatchbayError } from '../errors.js';
import type { Lease, Leases, MessageBus, RecordStore } from './store.js';

export interface LeaseOptions {
  /** How long a lease lasts without renewal: the bound on how long a crashed holder blocks others. */
  leaseMs: number;
  /** How long to wait for another holder before giving up with `lock-timeout`. */
  waitMs: number;
}

/** A waiter polls at least this often (a crashed holder sends no release message). */
const MAX_BACKOFF_MS = 250;

/** Run `work` holding the lease `name`; waits for another holder within `waitMs`. */
export async function withLease<T>(
  store: { leases: Leases; bus: MessageBus },
  name: string,
  options: LeaseOptions,
  work: () => Promise<T>,
): Promise<T> {
  const lease = await acquireWithin(store, name, options);
  // Renewed well before it lapses, so a slow refresh keeps it; a failed renewal is not retried
  // here: the next tick tries again, and the lease's own bound covers the rest.
  const renewal = setInterval(
    () => void store.leases.renew(lease, options.leaseMs).catch(() => false),
    Math.max(1, Math.floor(options.leaseMs / 3)),
  );
  renewal.unref();
  try {
    return await work();
  } finally {
    clearInterval(renewal);
    // A release that fails (the store away) leaves the lease to lapse on its own.
    if (await store.leases.release(lease).catch(() => false))
      await store.bus.publish(releasedChannel(name), { released: true }).catch(() => 0);
  }
}

async function acquireWithin(
  store: { leases: Leases; bus: MessageBus },
  name: string,
  { leaseMs, waitMs }: LeaseOptions,
): Promise<Lease> {
  const deadline = Date.now() + waitMs;
  let wake: (() => void) | undefined;
  let unsubscribe: (() => Promise<void>) | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      const lease = await store.leases.acquire(name, leaseMs).catch((error: unknown) => {
        // Fail closed: work that must happen once is not done without the lock.
        throw new PatchbayError(
          'connect-failed',
          `The shared state could not be reached to take the lock ${what(name)} (${error instanceof Error ? error.message : String(error)}); nothing was done.`,
          {
            hint: 'Check that Redis runs and is reachable from the gateway (its /readyz says "state"); try again once it is back.',
            cause: error,
          },
        );
      });
      if (lease) return lease;
      if (!unsubscribe) {
        // Listen for the holder's release, then try once more at once: a release that came
        // between the first try and the subscription is not waited out.
        unsubscribe = await store.bus
          .subscribe(releasedChannel(name), () => wake?.())
          .catch(() => async () => undefined);
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new PatchbayError(
          'lock-timeout',
          `Another process held the lock ${what(name)} for longer than ${Math.round(waitMs / 1000)} s.`,
          { hint: 'Try again; a holder that went away loses its lease within its bound.' },
        );
      // Random, growing, bounded: waiters on several replicas do not retry in lockstep.
      const backoff = Math.min(10 * 2 ** attempt, MAX_BACKOFF_MS) * (0.5 + Math.random() / 2);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, backoff));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    await unsubscribe?.().catch(() => undefined);
  }
}

/** A lock's kind for messages (`vault`, `pins`): its name may hold a member's subject. */
function what(name: string): string {
  return name.split(' ')[0]!;
}

function releasedChannel(name: string): string {
  return `lease-released:${name}`;
}

export function leaseToken(): string {
  return randomBytes(16).toString('base64url');
}

interface HeldLease {
  token: string;
  /** Epoch milliseconds (one machine, one clock). */
  expiresAt: number;
}

/** Stale leases of holders that vanished are dropped from the record store after this. */
const LEFTOVER_MS = 24 * 60 * 60 * 1000;

/**
 * Leases over a record store whose `update` is atomic across the processes that share it: the
 * file backend's (one machine, under the file's lock). The expiry is in the value, so taking an
 * expired lease and keeping a live one are both one update.
 */
export function recordLeases(records: RecordStore<HeldLease>): Leases {
  const whose = (current: HeldLease | undefined, token: string) =>
    current !== undefined && current.token === token && current.expiresAt > Date.now();
  return {
    async acquire(name, leaseMs) {
      const token = leaseToken();
      const held = await records.update(
        name,
        (current) =>
          current !== undefined && current.expiresAt > Date.now()
            ? current
            : { token, expiresAt: Date.now() + leaseMs },
        { ttlMs: LEFTOVER_MS },
      );
      return held?.token === token ? { name, token } : undefined;
    },
    async renew(lease, leaseMs) {
      let renewed = false;
      await records.update(
        lease.name,
        (current) => {
          renewed = whose(current, lease.token);
          return renewed ? { token: lease.token, expiresAt: Date.now() + leaseMs } : current;
        },
        { ttlMs: LEFTOVER_MS },
      );
      return renewed;
    },
    async release(lease) {
      let released = false;
      await records.update(
        lease.name,
        (current) => {
          released = whose(current, lease.token);
          // An expired lease of ours is dropped too; another's, live or not, is left alone.
          return current?.token === lease.token ? undefined : current;
        },
        { ttlMs: LEFTOVER_MS },
      );
      return released;
    },
  };
}
