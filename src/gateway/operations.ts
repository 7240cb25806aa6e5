/**
 * The operations side of a gateway listener, put together for gateway/serve.ts: `/healthz` and
 * `/readyz` (health.ts) with the checks the gateway owns, TLS files (tls.ts), the trusted proxies
 * (proxies.ts), and the drain on SIGTERM (drain.ts) with its bound.
 */

import { DEFAULT_DRAIN_MS } from './drain.js';
import { healthRoutes, Readiness } from './health.js';
import type { HttpGateway, HttpGatewayOptions, ListenerEvents } from './http.js';
import { TrustedProxies } from './proxies.js';
import type { TlsFiles } from './tls.js';

/** What `serve --http` (its flags, or a deployment file) sets for the listener's operation. */
export interface ListenerOptions {
  /** Speak TLS with this certificate and key. */
  tls?: TlsFiles;
  /** Addresses and CIDR ranges whose X-Forwarded-* headers are believed. */
  trustedProxies?: string[];
  /** SIGTERM: in-flight calls get this long to finish (default DEFAULT_DRAIN_MS). */
  drainMs?: number;
}

export interface DrainCallbacks {
  onDraining?: (inFlight: number, withinMs: number) => void;
  onDrained?: (cut: number) => void;
}

export interface ListenerOperations {
  /**
   * `/readyz`'s checks. The gateway's are here (upstreams: its configuration is loaded); the
   * listener adds its own; a state store (Redis) adds one more with `readiness.add`.
   */
  readiness: Readiness;
  /** The part of serveHttp's options these make. */
  http(
    events?: ListenerEvents,
  ): Pick<HttpGatewayOptions, 'routes' | 'readiness' | 'tls' | 'trustedProxies' | 'events'>;
  /** Stop taking requests and let those in flight finish within the bound. */
  drain(served: HttpGateway, callbacks: DrainCallbacks): Promise<void>;
}

export function listenerOptions(options: ListenerOptions, upstreams: () => number): ListenerOperations {
  const readiness = new Readiness();
  readiness.add('upstreams', () => ({ ready: true, count: upstreams() }));
  const trusted = options.trustedProxies?.length ? new TrustedProxies(options.trustedProxies) : undefined;
  const withinMs = options.drainMs ?? DEFAULT_DRAIN_MS;
  return {
    readiness,
    http: (events) => ({
      routes: healthRoutes(readiness),
      readiness,
      ...(options.tls ? { tls: options.tls } : {}),
      ...(trusted ? { trustedProxies: trusted } : {}),
      ...(events ? { events } : {}),
    }),
    async drain(served, callbacks) {
      callbacks.onDraining?.(served.inFlight(), withinMs);
      const { cut } = await served.drain(withinMs);
      callbacks.onDrained?.(cut);
    },
  };
}
