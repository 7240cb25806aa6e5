/**
 * CONTRACT (being implemented): `connect(entry, options) → Session`, the one way every command
 * reaches a server.
 */

import type { Client } from '@modelcontextprotocol/client';

import { PatchbayError } from '../errors.js';
import type { ServerEntry, Transport } from '../config/entry.js';
import type { HttpClient } from './network.js';

export interface ConnectOptions {
  /** The server's configured name: for headersHelper's environment and for hints. */
  name?: string;
  /** Upper bound for the whole connect (spawn or request, handshake). */
  timeoutMs: number;
  /** Default bound for each later request; defaults to timeoutMs. */
  requestTimeoutMs?: number;
  signal?: AbortSignal;
  /** Working directory for a stdio server and a headersHelper (defaults to the current one). */
  cwd?: string;
  /** Proxy variables and the headersHelper's inherited variables; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Try legacy HTTP+SSE when an http server answers the POST with 400/404/405 (default true). */
  sseFallback?: boolean;
}

/** Where a connect attempt was when it failed. */
export type ConnectStep =
  | 'config'
  | 'headers-helper'
  | 'spawn'
  | 'connect'
  | 'tls'
  | 'http'
  | 'handshake'
  | 'request';

export type ConnectFailureStatus = 'failed' | 'needs-auth';

export class ConnectError extends PatchbayError {
  constructor(
    readonly status: ConnectFailureStatus,
    readonly step: ConnectStep,
    /** One sentence a person can act on; never holds a secret. */
    readonly reason: string,
    options: { hint?: string; cause?: unknown; httpStatus?: number } = {},
  ) {
    super(status === 'needs-auth' ? 'needs-auth' : 'connect-failed', reason, options);
    this.httpStatus = options.httpStatus;
  }
  readonly httpStatus: number | undefined;
}

export interface ServerIdentity {
  name: string;
  version: string;
  title?: string;
}

export interface Session {
  readonly client: Client;
  /** The transport actually in use (an http entry may have fallen back to sse). */
  readonly transport: Transport;
  /** Set when an http entry turned out to speak only the legacy HTTP+SSE transport. */
  readonly fellBackToSse: boolean;
  readonly server: ServerIdentity | undefined;
  readonly protocolVersion: string | undefined;
  /** 2026-07-28 and later: 'modern' (server/discover, stateless); else 'legacy' (initialize). */
  readonly era: 'modern' | 'legacy';
  readonly sessionId: string | undefined;
  readonly instructions: string | undefined;
  /** Time from the start of connect to a usable session. */
  readonly connectMs: number;
  /** HTTP transports only: the client every request of this session goes through. */
  readonly http: HttpClient | undefined;
  /**
   * Run a request; when a 2025-era HTTP session has expired (404 on a request that carried
   * Mcp-Session-Id), start a new session and run it once more.
   */
  request<T>(run: (client: Client) => Promise<T>): Promise<T>;
  /** Ends the session (DELETE for HTTP sessions, process group for stdio). Idempotent. */
  close(): Promise<void>;
}

export declare function connect(entry: ServerEntry, options: ConnectOptions): Promise<Session>;
