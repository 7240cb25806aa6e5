/**
 * CONTRACT (being implemented): every HTTP request patchbay makes (MCP traffic, OAuth, discovery,
 * doctor) goes through an HttpClient built here, so proxies and certificates behave the same
 * everywhere.
 *
 * - Proxy: HTTPS_PROXY / HTTP_PROXY / NO_PROXY, upper or lower case (lower wins when both set,
 *   as curl does), credentials from the proxy URL's user-info.
 * - TLS: the system roots plus NODE_EXTRA_CA_CERTS, plus the entry's `tls.caFile`; a client
 *   certificate from `tls.certFile` / `tls.keyFile` (mTLS).
 * - Connection progress per origin, so a timeout can say at which step it happened.
 */

import type { TlsSettings } from '../config/entry.js';

/** The fetch signature the SDK's transports and auth functions accept. */
export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

export interface HttpClientOptions {
  env: NodeJS.ProcessEnv;
  /** Absolute paths (already expanded and resolved). */
  tls?: TlsSettings;
  /** Bound on TCP connect + TLS handshake for one connection; default 10 s. */
  connectTimeoutMs?: number;
}

/** How far the latest connection attempt to an origin got (via the proxy, when there is one). */
export type ConnectionPhase = 'none' | 'connecting' | 'tls-handshake' | 'connected';

export interface HttpClient {
  fetch: FetchLike;
  /** The proxy this client sends a request for `url` through, or null for a direct connection. */
  proxyFor(url: URL): URL | null;
  phase(url: URL): ConnectionPhase;
  /** Closes every socket this client opened. Idempotent. */
  close(): Promise<void>;
}

export declare function createHttpClient(options: HttpClientOptions): Promise<HttpClient>;
