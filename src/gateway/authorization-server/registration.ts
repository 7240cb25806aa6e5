/**
 * Bounds on the open dynamic client registration (RFC 7591) of the gateway's own authorization
 * server: anyone who reaches `<issuer>/reg` may register a client, and each one is a record kept
 * for good (registered clients do not expire). Two bounds, both in the state store so that every
 * replica keeps the same ones:
 *
 * - a rate per client address: a token bucket (`rate.count` at once, refilled at `rate.count` per
 *   `rate.perMs`); the address is the TCP peer's, or the client a trusted proxy names (proxies.ts),
 *   and an IPv6 client counts by its /64 (one host commonly holds a whole /64). A request over it
 *   is answered 429 with Retry-After, before oidc-provider reads it;
 * - a cap on registered clients: a counter, raised as oidc-provider stores a new client (the
 *   adapter's `claim`, one atomic step, so that concurrent registrations on any replica cannot
 *   pass it), seeded once from the records there when a gateway first runs with it. Over it:
 *   403 `access_denied`, saying which setting to raise.
 *
 * Client ID metadata documents are neither: such a client is fetched, never registered or stored.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';

import type { RecordStore, StateStore } from '../../state/store.js';
import type { RegistrationBounds } from '../deployment.js';
import { unmapped, type TrustedProxies } from '../proxies.js';

/** The setting an operator raises, as the deployment file spells it. */
const SETTINGS = 'auth.authorizationServer.registration';

interface Bucket {
  tokens: number;
  /** Epoch ms of `tokens`. */
  at: number;
}

interface ClientCount {
  count: number;
}

const COUNT_KEY = 'clients';

/** A registration refused: the RFC 7591 §3.2.2 error shape, with the HTTP status it goes with. */
export interface RegistrationRefusal {
  status: number;
  error: string;
  description: string;
  retryAfterSeconds?: number;
}

export class RegistrationLimits {
  private readonly buckets: RecordStore<Bucket>;
  private readonly counts: RecordStore<ClientCount>;
  private readonly clients: RecordStore<unknown>;
  private seeded: Promise<void> | undefined;

  constructor(
    private readonly bounds: RegistrationBounds,
    state: StateStore,
    private readonly proxies?: TrustedProxies,
  ) {
    // Secret, as every namespace of the authorization server: addresses are personal data.
    this.buckets = state.records<Bucket>('as-registration-rate', { secret: true });
    this.counts = state.records<ClientCount>('as-registration-count', { secret: true });
    // The adapter's namespace of the Client model (adapter.ts): counted once, to seed the counter.
    this.clients = state.records<unknown>('as-client', { secret: true });
  }

  /**
   * Before oidc-provider sees a registration request: takes one from the address's bucket, and
   * looks at the cap. False when the request was answered (refused) here.
   */
  async admit(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    let refusal: RegistrationRefusal | undefined;
    try {
      refusal = (await this.rate(req)) ?? (await this.full());
    } catch {
      // Not counted, so not let through: the store is away, or one address's flood contends for
      // its bucket on every replica.
      refusal = {
        status: 503,
        error: 'temporarily_unavailable',
        description:
          'The gateway could not count this registration (its state store did not answer in time). Try again shortly.',
        retryAfterSeconds: 1,
      };
    }
    if (!refusal) return true;
    refuse(res, refusal);
    return false;
  }

  /**
   * oidc-provider is storing a new client: counted, atomically, unless the cap is reached
   * (undefined); otherwise the refusal to throw.
   */
  async claim(): Promise<RegistrationRefusal | undefined> {
    await this.seed();
    let admitted = false;
    await this.counts.update(COUNT_KEY, (current) => {
      const count = current?.count ?? 0;
      admitted = count < this.bounds.maxClients;
      return { count: admitted ? count + 1 : count };
    });
    return admitted ? undefined : this.capRefusal();
  }

  /** A claimed client that was not stored after all. */
  async release(): Promise<void> {
    await this.counts.update(COUNT_KEY, (current) => ({ count: Math.max(0, (current?.count ?? 1) - 1) }));
  }

  /** The address a registration is counted under. */
  addressOf(req: IncomingMessage): string {
    const address = unmapped(this.proxies?.forwarded(req)?.client ?? req.socket.remoteAddress ?? '');
    return isIP(address) === 6 ? prefix64(address) : address;
  }

  private async rate(req: IncomingMessage): Promise<RegistrationRefusal | undefined> {
    const { count, perMs } = this.bounds.rate;
    const msPerToken = perMs / count;
    let waitMs = 0;
    await this.buckets.update(
      this.addressOf(req),
      (current) => {
        const now = Date.now();
        const tokens = current ? Math.min(count, current.tokens + (now - current.at) / msPerToken) : count;
        waitMs = tokens >= 1 ? 0 : (1 - tokens) * msPerToken;
        return { tokens: tokens >= 1 ? tokens - 1 : tokens, at: now };
      },
      // Gone once it would be full again: a full bucket and no bucket are the same.
      { ttlMs: perMs },
    );
    if (waitMs === 0) return undefined;
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    return {
      status: 429,
      error: 'temporarily_unavailable',
      description: `Too many client registrations from this address (at most ${count} per ${window(perMs)}). Try again in ${retryAfterSeconds} s; a client that is registered already needs no new registration. The gateway's operator sets this with ${SETTINGS}.rate.`,
      retryAfterSeconds,
    };
  }

  private async full(): Promise<RegistrationRefusal | undefined> {
    await this.seed();
    const count = (await this.counts.get(COUNT_KEY))?.count ?? 0;
    return count < this.bounds.maxClients ? undefined : this.capRefusal();
  }

  private capRefusal(): RegistrationRefusal {
    return {
      status: 403,
      error: 'access_denied',
      description: `This gateway's authorization server has as many registered clients as it keeps (${this.bounds.maxClients}), and registers no more. Ask the gateway's operator to raise ${SETTINGS}.maxClients; a client with a client ID metadata document can sign in without registering.`,
    };
  }

  /** A gateway's first start with the counter: the clients registered before it are counted once. */
  private seed(): Promise<void> {
    this.seeded ??= (async () => {
      if ((await this.counts.get(COUNT_KEY)) !== undefined) return;
      const count = (await this.clients.entries()).length;
      await this.counts.update(COUNT_KEY, (current) => current ?? { count });
    })().catch((error: unknown) => {
      this.seeded = undefined;
      throw error;
    });
    return this.seeded;
  }
}

/** The RFC 7591 error response, as oidc-provider writes its own (JSON, no-store). */
export function refuse(res: ServerResponse, refusal: RegistrationRefusal): void {
  const body = JSON.stringify({ error: refusal.error, error_description: refusal.description });
  res.writeHead(refusal.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(refusal.retryAfterSeconds !== undefined ? { 'retry-after': String(refusal.retryAfterSeconds) } : {}),
  });
  res.end(body);
}

function window(ms: number): string {
  for (const [unit, length] of [
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
    ['second', 1_000],
  ] as const)
    if (ms === length) return unit;
  return `${ms / 1000} s`;
}

/** `2001:db8:1:2:3:4:5:6` → `2001:db8:1:2::/64`. */
export function prefix64(address: string): string {
  const [head = '', tail] = address.toLowerCase().split('%', 1)[0]!.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (`64:ff9b::192.0.2.1`) is two groups.
  const width = (groups: string[]) => groups.reduce((sum, group) => sum + (group.includes('.') ? 2 : 1), 0);
  const missing = tail === undefined ? 0 : 8 - width(left) - width(right);
  const groups = [...left, ...Array<string>(Math.max(0, missing)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
