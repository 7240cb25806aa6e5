/**
 * The health check behind `patchbay list`, `get` and the console: connect, count what the server
 * offers, disconnect, and say in one sentence why it failed if it did. A check registers nothing
 * and opens no browser. A login that is due or expired and has a refresh token is renewed first,
 * as a call renews it (one refresh across processes), so the check reports the server as it
 * really is; with `refresh: false` (`--no-refresh`) a check makes no token request and writes no
 * file, and such a login shows as "renews on next use".
 *
 * What a check costs is mostly the server's round trips and the SDK: a 2025-era server
 * remembered as such gets `initialize` straight away (era-hints.ts), no GET stream is opened, the
 * three listings run at once, and the session's DELETE can be left off the caller's path
 * (`onClosing`).
 *
 * Imported lazily by the commands (it pulls in the SDK through `connect`).
 */

import { rememberToolNames } from '../core/tool-name-cache.js';
import { performance } from 'node:perf_hooks';

import type { ServerEntry, Transport } from '../config/entry.js';
import type { RefreshState } from '../auth/refresh.js';
import type { Paths } from '../core/paths.js';
import type { EraHints } from './era-hints.js';
import { ConnectError, type ConnectStep } from './connect-error.js';
import { connect, type Session } from './session.js';

export type ProbeStatus = 'connected' | 'needs-auth' | 'failed';

export interface ProbeResult {
  status: ProbeStatus;
  /** One sentence saying what failed and why; null when connected. */
  reason: string | null;
  /** The next command to run, when patchbay knows it. */
  hint: string | null;
  /** Where a failure happened. */
  step: ConnectStep | null;
  /** Time until the verdict, connect and listings included (teardown not included). */
  durationMs: number;
  /** The transport actually used; differs from the entry's when an http entry fell back to SSE. */
  transport?: Transport;
  fellBackToSse?: boolean;
  server?: { name: string; version: string; protocolVersion?: string };
  era?: 'modern' | 'legacy';
  /** Null when the server does not offer tools (or resources, or prompts) at all. */
  toolCount?: number | null;
  resourceCount?: number | null;
  promptCount?: number | null;
  /**
   * With `refresh: false`: needs-auth only because the login expired and the check may not
   * renew it; it has a refresh token, so the next use renews it. Not an error.
   */
  renewsOnUse?: boolean;
}

export interface ProbeOptions {
  /** Upper bound for the whole check: spawn or request, handshake, and the listings. */
  timeoutMs: number;
  /** The server's configured name, for hints and the headersHelper. */
  name?: string;
  signal?: AbortSignal;
  /** Working directory for a stdio server (defaults to the current one). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Where stored logins and era hints are (the caller's resolved paths); else resolved from `env`.
   * Only a check given them remembers the server's tool names for shell completion, in the cache
   * they name (a library caller's check writes nothing it was not pointed at).
   */
  paths?: Paths;
  /** Whose refreshes and era hints the check shares (a console's); default the process's. */
  refreshState?: RefreshState;
  eraHintCache?: EraHints;
  /** Renew a due or expired login that has a refresh token (default true); false: read-only. */
  refresh?: boolean;
  /**
   * What to count: 'all' (default: tools, resources and prompts, every page) or 'tools' (what a
   * host needs to know a server works; `list` of many servers: two requests fewer per server,
   * resourceCount and promptCount left null).
   */
  offers?: 'all' | 'tools';
  /**
   * Take over the end of the session (the HTTP DELETE, the process group): called with its
   * promise, and the result comes back without waiting for it. Without it, the result waits.
   */
  onClosing?: (closing: Promise<void>) => void;
}

/** Start loading what a check needs (the SDK, the HTTP client) while the caller does other work. */
export function preloadProbe(): void {
  void import('@modelcontextprotocol/client').catch(() => undefined);
  void import('./network.js').catch(() => undefined);
}

export async function probeServer(entry: ServerEntry, options: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const failure = (error: ConnectError): ProbeResult => ({
    status: error.status,
    reason: error.reason,
    hint: error.hint ?? null,
    step: error.step,
    durationMs: elapsed(),
    ...(error.renewsOnUse ? { renewsOnUse: true } : {}),
  });
  const readOnly = options.refresh === false;

  let session: Session;
  try {
    session = await connect(entry, {
      timeoutMs: options.timeoutMs,
      ...(options.name ? { name: options.name } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.paths ? { paths: options.paths } : {}),
      ...(options.refreshState ? { refreshState: options.refreshState } : {}),
      ...(options.eraHintCache ? { eraHintCache: options.eraHintCache } : {}),
      credentials: readOnly ? 'read-only' : 'renew',
      listen: false,
      eraHints: readOnly ? 'read' : 'read-write',
    });
  } catch (error) {
    if (error instanceof ConnectError) return failure(error);
    throw error;
  }

  try {
    const counts = await countOffers(
      session,
      Math.max(1, options.timeoutMs - elapsed()),
      options.signal,
      options.offers ?? 'all',
      // For shell completion: remembered in the background, never waited on; not by a read-only
      // check (--no-refresh writes no file).
      (names) => {
        if (options.name && options.paths && !readOnly) rememberToolNames(options.paths, options.name, names);
      },
    );
    const result: ProbeResult = {
      status: 'connected',
      reason: null,
      hint: session.fellBackToSse
        ? `It speaks only the legacy SSE transport; record that to skip the probe next time: patchbay add -t sse --force ${options.name ?? '<name>'} <url>`
        : null,
      step: null,
      durationMs: elapsed(),
      transport: session.transport,
      fellBackToSse: session.fellBackToSse,
      era: session.era,
      ...counts,
    };
    const server = session.server;
    if (server) {
      result.server = { name: server.name, version: server.version };
      if (session.protocolVersion) result.server.protocolVersion = session.protocolVersion;
    }
    return result;
  } catch (error) {
    await session.settle();
    return failure(session.explain(error, options.timeoutMs));
  } finally {
    const closing = session.close();
    if (options.onClosing) options.onClosing(closing);
    else await closing;
  }
}

/** Each kind the server declares, counted over every page; null for a kind it does not offer. */
async function countOffers(
  session: Session,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  offers: 'all' | 'tools',
  onToolNames: (names: string[]) => void,
): Promise<{ toolCount: number | null; resourceCount: number | null; promptCount: number | null }> {
  const declared = session.client.getServerCapabilities() ?? {};
  const capabilities = offers === 'all' ? declared : { tools: declared.tools };
  const options = { timeout: timeoutMs, ...(signal ? { signal } : {}), cacheMode: 'bypass' as const };
  const [tools, resources, prompts] = await Promise.all([
    capabilities.tools
      ? session.request((client) => client.listTools(undefined, options))
      : Promise.resolve(null),
    capabilities.resources
      ? session.request((client) => client.listResources(undefined, options))
      : Promise.resolve(null),
    capabilities.prompts
      ? session.request((client) => client.listPrompts(undefined, options))
      : Promise.resolve(null),
  ]);
  if (tools) onToolNames(tools.tools.map((tool) => tool.name));
  return {
    toolCount: tools ? tools.tools.length : null,
    resourceCount: resources ? resources.resources.length : null,
    promptCount: prompts ? prompts.prompts.length : null,
  };
}
