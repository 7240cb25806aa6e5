/**
 * The gateway over stdio (`patchbay connect`, `patchbay serve` without --http): the SDK's
 * `serveStdio`, with the hot path in front of it. Each line the host writes is read here before
 * the SDK transport sees it: once the connection is pinned to the 2025 era and the host has
 * initialized, a `tools/call`, `prompts/get` or `resources/read` the hot path takes is answered by
 * it, as whole lines on stdout between the SDK server's own; everything else (and every request
 * the hot path leaves) goes on to the SDK server as it came. A host's `notifications/cancelled`
 * reaches both (the hot path cancels a call of its own; the SDK server, one of its own).
 */

import { PassThrough } from 'node:stream';

import type { Server } from '@modelcontextprotocol/server';

import type { AuditCaller } from '../policy/audit.js';
import type { Gateway } from './gateway.js';
import { HotPath } from './hot-path.js';

/** The stdio host is the process that started the gateway (caller.ts's `callerOf` says the same). */
const STDIO_CALLER: AuditCaller = { transport: 'stdio', auth: 'parent-process', subject: null };

/** A host line longer than this without a newline is handed to the SDK transport as it comes (which refuses it). */
const MAX_LINE_BYTES = 10 * 1024 * 1024;

export async function serveStdioFront(gateway: Gateway): Promise<{ close(): Promise<void> }> {
  const { serveStdio, StdioServerTransport } = await import('@modelcontextprotocol/server/stdio');
  const hot = gateway.hotPath;
  if (!hot) return serveStdio(({ era }) => gateway.createServer(era));
  // The SDK transport reads what the hot path leaves: the host's lines are split and parsed here
  // once (without the SDK's per-message schema check, which the hot path's own reading replaces),
  // and every line not taken is written on to the SDK transport as it came.
  const feed = new PassThrough();
  const out = process.stdout;
  const wire = new StdioServerTransport(feed, out);
  /** The instance a 2025-era host's connection is pinned to (serveStdio makes one per era decision). */
  let legacy: Server | undefined;
  const handle = serveStdio(
    ({ era }) => {
      const server = gateway.createServer(era);
      legacy = era === 'legacy' ? server : undefined;
      return server;
    },
    { transport: wire },
  );
  /** Requests the hot path is deciding on, and a cancellation of each the host sent meanwhile. */
  const deciding = new Map<string, Buffer | undefined>();
  const toSdk = (line: Buffer) => feed.write(Buffer.concat([line, NEWLINE]));

  const onLine = (line: Buffer) => {
    const server = legacy;
    if (!server) return toSdk(line);
    let message: unknown;
    try {
      message = JSON.parse(line.toString('utf8'));
    } catch {
      return toSdk(line);
    }
    if (!HotPath.candidate(message)) {
      const cancelled = cancelledId(message);
      if (cancelled !== undefined && deciding.has(cancelled)) deciding.set(cancelled, line);
      hot.cancelLine(message);
      return toSdk(line);
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
        toSdk(line);
        if (cancellation) toSdk(cancellation);
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

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** A line grew past MAX_LINE_BYTES: the rest of it goes to the SDK transport as it comes. */
  let passing = false;
  const stdin = process.stdin;
  stdin.on('data', (chunk: Buffer) => {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      if (newline < 0) break;
      const piece = chunk.subarray(start, newline);
      start = newline + 1;
      if (passing) {
        passing = false;
        feed.write(Buffer.concat([piece, NEWLINE]));
        continue;
      }
      const line = pending.length > 0 ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      pendingBytes = 0;
      if (line.length > 0) onLine(line);
    }
    if (start >= chunk.length) return;
    const rest = chunk.subarray(start);
    if (passing) return void feed.write(rest);
    pending.push(Buffer.from(rest));
    pendingBytes += rest.length;
    if (pendingBytes > MAX_LINE_BYTES) {
      passing = true;
      feed.write(Buffer.concat(pending));
      pending = [];
      pendingBytes = 0;
    }
  });
  stdin.once('end', () => feed.end());
  stdin.once('close', () => feed.end());
  stdin.on('error', (error) => feed.destroy(error));
  return handle;
}

const NEWLINE = Buffer.from('\n');

function idKey(id: unknown): string {
  return `${typeof id}:${String(id)}`;
}

/** The request a `notifications/cancelled` names, as idKey gives it. */
function cancelledId(message: unknown): string | undefined {
  const { method, params } = (message ?? {}) as { method?: unknown; params?: { requestId?: unknown } };
  if (method !== 'notifications/cancelled') return undefined;
  const requestId = params?.requestId;
  return requestId === undefined ? undefined : idKey(requestId);
}
