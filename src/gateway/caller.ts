/**
 * Who is behind one host request: the host's name and capabilities as it introduced itself (per
 * request for a 2026-07-28 host, at `initialize` for a 2025-era one), and what patchbay itself
 * established about the caller (the audit log's `caller`).
 */

import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  type ClientCapabilities,
  type Server,
  type ServerContext,
} from '@modelcontextprotocol/server';

import type { AuditCaller } from '../policy/audit.js';
import { isModernRequest, type RelayedCall } from './input-relay.js';

/** Where serveHttp puts the caller in a request's authInfo.extra. */
export const CALLER_KEY = 'io.patchbay/caller';

/** The downstream request an upstream's own request (elicitation, sampling) belongs to. */
export interface CallScope {
  ctx: ServerContext;
  server: Server;
  /** A 2026-07-28 host's call: questions wait for its next round. */
  call?: RelayedCall;
}

/** The host's name as it introduced itself (for the audit log). */
export function hostName({ ctx, server }: CallScope): string | null {
  if (isModernRequest(ctx)) {
    const info = ctx.mcpReq.envelope?.[CLIENT_INFO_META_KEY as never] as { name?: string } | undefined;
    return info?.name ?? null;
  }
  return server.getClientVersion()?.name ?? null;
}

/**
 * What patchbay itself knows of a request's caller: over HTTP, what serveHttp established and
 * passed in as the request's authInfo (CALLER_KEY); otherwise the stdio host that started
 * `patchbay serve`.
 */
export function callerOf({ ctx }: CallScope): AuditCaller {
  const known = ctx.http?.authInfo?.extra?.[CALLER_KEY] as AuditCaller | undefined;
  return known ?? { transport: 'stdio', auth: 'parent-process', subject: null };
}

/** What the host of a call can do: from its request's envelope (2026-07-28) or its `initialize`. */
export function hostCapabilities({ ctx, server }: CallScope): ClientCapabilities | undefined {
  if (isModernRequest(ctx))
    return ctx.mcpReq.envelope?.[CLIENT_CAPABILITIES_META_KEY as never] as ClientCapabilities | undefined;
  return server.getClientCapabilities();
}
