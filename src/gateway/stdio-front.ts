/**
 * The gateway over stdio (`patchbay connect`, `patchbay serve` without --http): the SDK's
 * `serveStdio`, with the hot path in front of it. Each message the host writes is looked at before
 * the SDK server sees it: once the connection is pinned to the 2025 era and the host has
 * initialized, a `tools/call`, `prompts/get` or `resources/read` the hot path takes is answered by
 * it, as whole lines on stdout between the SDK server's own; everything else (and every request
 * the hot path leaves) goes on to the SDK server as it came. A host's `notifications/cancelled`
 * reaches both (the hot path cancels a call of its own; the SDK server, one of its own).
 */

import type { JSONRPCMessage, Server } from '@modelcontextprotocol/server';

import type { AuditCaller } from '../policy/audit.js';
import type { Gateway } from './gateway.js';
import { HotPath } from './hot-path.js';

/** The stdio host is the process that started the gateway (caller.ts's `callerOf` says the same). */
const STDIO_CALLER: AuditCaller = { transport: 'stdio', auth: 'parent-process', subject: null };

export async function serveStdioFront(gateway: Gateway): Promise<{ close(): Promise<void> }> {
  const { serveStdio, StdioServerTransport } = await import('@modelcontextprotocol/server/stdio');
  const hot = gateway.hotPath;
  if (!hot) return serveStdio(() => gateway.createServer());
  const wire = new StdioServerTransport();
  /** The instance a 2025-era host's connection is pinned to (serveStdio makes one per era decision). */
  let legacy: Server | undefined;
  const handle = serveStdio(
    ({ era }) => {
      const server = gateway.createServer();
      legacy = era === 'legacy' ? server : undefined;
      return server;
    },
    { transport: wire },
  );
  const sdk = wire.onmessage!;
  const out = process.stdout;
  /** Requests the hot path is deciding on, and a cancellation of each the host sent meanwhile. */
  const deciding = new Map<string, JSONRPCMessage | undefined>();
  wire.onmessage = (message) => {
    const server = legacy;
    if (!server || !HotPath.candidate(message)) {
      const cancelled = cancelledId(message);
      if (cancelled !== undefined && deciding.has(cancelled)) deciding.set(cancelled, message);
      hot.cancelLine(message);
      return sdk(message);
    }
    const host = {
      hostName: server.getClientVersion()?.name ?? null,
      hostCapabilities: server.getClientCapabilities(),
      caller: STDIO_CALLER,
    };
    const key = idKey((message as { id?: unknown }).id);
    deciding.set(key, undefined);
    void hot.serveLine(message, host, out).then(
      (served) => {
        const cancellation = deciding.get(key);
        deciding.delete(key);
        if (served) return;
        // The full path's, in the order the host sent them.
        sdk(message);
        if (cancellation) sdk(cancellation);
      },
      () => {
        deciding.delete(key);
        // Nothing else can answer it now: as the SDK server answers a request its handler threw on.
        const { id } = message as { id?: unknown };
        out.write(
          `${JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32603, message: 'Internal error' } })}\n`,
        );
      },
    );
  };
  return handle;
}

function idKey(id: unknown): string {
  return `${typeof id}:${String(id)}`;
}

/** The request a `notifications/cancelled` names, as idKey gives it. */
function cancelledId(message: JSONRPCMessage): string | undefined {
  if (!('method' in message) || message.method !== 'notifications/cancelled') return undefined;
  const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
  return requestId === undefined ? undefined : idKey(requestId);
}
