/**
 * `/metrics` of a gateway listener, in Prometheus's text format (prom-client), on a registry of
 * the gateway's own (never prom-client's global one: two gateways in one process, or a library
 * user's own metrics, stay apart).
 *
 * - `patchbay_calls_total{server,tool,outcome,decision}` and
 *   `patchbay_call_duration_seconds{server,tool}`: counted where the audit entry is recorded (an
 *   observer of the policy gate; gateway.ts counts a gate-less gateway's calls the same way), so a
 *   call is counted once whichever path relayed it. Refusals are calls too (outcome `refused`);
 *   their duration is not observed (nothing was sent upstream). Tool calls only: a resource's
 *   URI is no label.
 * - `patchbay_upstream_up{server}`: read from the upstreams when scraped.
 * - `patchbay_sessions`: 2025-era host sessions this replica counts as its own (it opened them,
 *   or took them over from a replica that stopped serving them: shared-sessions.ts): a sum over
 *   replicas counts each session once.
 *   `patchbay_session_copies`: the copies this replica holds, its own and others' it serves
 *   (legacy-sessions.ts): its load, not to be summed. One process: the two are equal.
 * - `patchbay_requests_refused_total{reason}`: requests the listener answered with a refusal
 *   (401, 403, 404, 413, 503 …), by its fixed reason word.
 * - `patchbay_state_store_seconds{op}`: the state store's operations (`measuredState`).
 * - the process's defaults (CPU, memory, event loop lag, handles).
 *
 * Labels are bounded: servers are the configuration's, tools the listings' (at most
 * MAX_TOOLS_PER_SERVER per server; any beyond are counted under OTHER_TOOL), outcome and
 * decision are enums. Never a member, an argument or a URI.
 *
 * The route is protected like `/mcp` (any identity the listener's authenticator accepts): it names
 * servers and tools. `public` serves it to anyone, for a scraper on a private network.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { AuditEntry, CallObserver } from '../policy/audit.js';
import type { RecordStore, StateStore, WindowCounters } from '../state/store.js';
import type { GatewayRoute } from './inbound.js';

export const METRICS_PATH = '/metrics';

/** Distinct tool labels kept per server; a host can name tools no listing has (perMember, unlisted). */
export const MAX_TOOLS_PER_SERVER = 1000;
export const OTHER_TOOL = '(other)';

/** 1 ms to 60 s: a cached answer to a long tool run. */
export const CALL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** A local file or a Redis round trip: 0.1 ms to 1 s. */
export const STATE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export interface MetricsSources {
  /** The upstreams now: each one's name and whether it is usable. */
  upstreams: () => ReadonlyArray<{ name: string; up: boolean }>;
}

/** A listener's 2025-era sessions: the ones it counts as its own, and every copy it holds. */
export interface SessionCount {
  owned: () => number;
  held: () => number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'server' | 'tool' | 'outcome' | 'decision'>;
  private readonly durations: Histogram<'server' | 'tool'>;
  private readonly refusals: Counter<'reason'>;
  readonly stateSeconds: Histogram<'op'>;
  private readonly toolsSeen = new Map<string, Set<string>>();
  private sessionCount: SessionCount = { owned: () => 0, held: () => 0 };

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.calls = new Counter({
      name: 'patchbay_calls_total',
      help: 'Tool calls through the gateway, refusals included, by how they were decided and ended.',
      labelNames: ['server', 'tool', 'outcome', 'decision'],
      registers,
    });
    this.durations = new Histogram({
      name: 'patchbay_call_duration_seconds',
      help: 'Time from a tool call being admitted to its answer (calls sent upstream).',
      labelNames: ['server', 'tool'],
      buckets: CALL_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'patchbay_upstream_up',
      help: 'Whether the upstream is usable (1) or not (0: unusable entry, or its last connection failed).',
      labelNames: ['server'],
      registers,
      collect() {
        this.reset();
        for (const upstream of sources.upstreams()) this.set({ server: upstream.name }, upstream.up ? 1 : 0);
      },
    });
    const sessions = () => this.sessionCount;
    new Gauge({
      name: 'patchbay_sessions',
      help:
        '2025-era host sessions open, counted by the one replica that opened them (or took them over): ' +
        "sum over replicas for the gateway's total.",
      registers,
      collect() {
        this.set(sessions().owned());
      },
    });
    new Gauge({
      name: 'patchbay_session_copies',
      help:
        "Copies of 2025-era host sessions this replica holds (its own and other replicas' it serves): " +
        "its load; a session is in every serving replica's count, so do not sum (patchbay_sessions).",
      registers,
      collect() {
        this.set(sessions().held());
      },
    });
    this.refusals = new Counter({
      name: 'patchbay_requests_refused_total',
      help: 'Requests the listener refused before the gateway (401, 403, 404, 413, 503 …), by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.stateSeconds = new Histogram({
      name: 'patchbay_state_store_seconds',
      help: "Time of the state store's operations.",
      labelNames: ['op'],
      buckets: STATE_BUCKETS,
      registers,
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** The audit observer: one entry, one count. */
  readonly observe: CallObserver = (entry: AuditEntry) => {
    if (entry.kind !== undefined && entry.kind !== 'tool') return;
    const tool = this.toolLabel(entry.server, entry.tool);
    this.calls.inc({ server: entry.server, tool, outcome: entry.outcome, decision: entry.decision });
    if (entry.outcome !== 'refused')
      this.durations.observe({ server: entry.server, tool }, entry.durationMs / 1000);
  };

  /** A request the listener refused (its reason word: unauthenticated, host, too-large, busy …). */
  refused(reason: string): void {
    this.refusals.inc({ reason });
  }

  /** Where the session counts are read from (the listener, once it exists). */
  countSessions(count: SessionCount): void {
    this.sessionCount = count;
  }

  async text(): Promise<{ type: string; body: string }> {
    return { type: this.registry.contentType, body: await this.registry.metrics() };
  }

  private toolLabel(server: string, tool: string): string {
    let seen = this.toolsSeen.get(server);
    if (!seen) this.toolsSeen.set(server, (seen = new Set()));
    if (seen.has(tool)) return tool;
    if (seen.size >= MAX_TOOLS_PER_SERVER) return OTHER_TOOL;
    seen.add(tool);
    return tool;
  }
}

/**
 * The `/metrics` route. Served after the listener's authentication (as `/mcp` is) unless
 * `isPublic`: then before it, to anyone who reaches the listener.
 */
export function metricsRoute(metrics: GatewayMetrics, isPublic: boolean): GatewayRoute {
  return {
    path: METRICS_PATH,
    ...(isPublic ? {} : { authenticated: true }),
    async handle(req: IncomingMessage, res: ServerResponse) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
        res.end('Method not allowed.\n');
        return;
      }
      const { type, body } = await metrics.text();
      res.writeHead(200, {
        'content-type': type,
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  };
}

/** A state store whose every operation is timed into `histogram` (by `op`: get, put, take, …). */
export function measuredState(store: StateStore, histogram: Histogram<'op'>): StateStore {
  const timed = async <T>(op: string, run: () => Promise<T>): Promise<T> => {
    const end = histogram.startTimer({ op });
    try {
      return await run();
    } finally {
      end();
    }
  };
  return {
    get description() {
      return store.description;
    },
    records<T>(namespace: string, options?: { secret?: boolean }): RecordStore<T> {
      const inner = store.records<T>(namespace, options);
      return {
        get: (key) => timed('get', () => inner.get(key)),
        put: (key, value, put) => timed('put', () => inner.put(key, value, put)),
        take: (key) => timed('take', () => inner.take(key)),
        delete: (key) => timed('delete', () => inner.delete(key)),
        entries: () => timed('entries', () => inner.entries()),
        update: (key, change, put) => timed('update', () => inner.update(key, change, put)),
      };
    },
    ...(store.windows ? { windows: measuredWindows(store.windows, timed) } : {}),
    bus: {
      get replica() {
        return store.bus.replica;
      },
      publish: (channel, message) => timed('publish', () => store.bus.publish(channel, message)),
      subscribe: (channel, onMessage) => store.bus.subscribe(channel, onMessage),
    },
    leases: {
      acquire: (name, leaseMs) => timed('lease-acquire', () => store.leases.acquire(name, leaseMs)),
      renew: (lease, leaseMs) => timed('lease-renew', () => store.leases.renew(lease, leaseMs)),
      release: (lease) => timed('lease-release', () => store.leases.release(lease)),
    },
    // The log's writes are batched and spooled off the call (state/spooled-log.ts): not timed here.
    ...(store.log ? { log: store.log.bind(store) } : {}),
    reachable: () => timed('reachable', () => store.reachable()),
    close: () => store.close(),
  };
}

function measuredWindows(
  windows: WindowCounters,
  timed: <T>(op: string, run: () => Promise<T>) => Promise<T>,
): WindowCounters {
  return {
    charge: (calls) => timed('charge', () => windows.charge(calls)),
    read: (keys) => timed('read', () => windows.read(keys)),
  };
}
