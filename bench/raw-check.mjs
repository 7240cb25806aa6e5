#!/usr/bin/env node
// The floor of a health check, for bench/list.mjs: what the servers alone cost. A bare Node
// process with plain fetch and no SDK checks every http server of ./.mcp.json at once with the
// same requests a full check sends (initialize, notifications/initialized, tools/list, DELETE),
// then prints `[{"name":…,"status":"connected"|"failed"}, …]` as `patchbay list --json` does.
// No client, however fast, lists these servers in less time than this process takes, except by
// sending less; when a peer's time comes close to it, the servers are what is being measured.
//
// Usage (in a directory with .mcp.json): node bench/raw-check.mjs [--init-only]
//   --init-only   initialize and DELETE only: the least a check can send and still be a handshake

import { readFileSync } from 'node:fs';

const initOnly = process.argv.includes('--init-only');
const VERSION = '2025-11-25';
const capabilities = { elicitation: { form: {}, url: {} }, sampling: {} };
const headers = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': VERSION,
};

async function post(url, message, sessionId) {
  const response = await fetch(url, {
    method: 'POST',
    headers: sessionId ? { ...headers, 'mcp-session-id': sessionId } : headers,
    body: JSON.stringify(message),
  });
  const body = await response.text();
  if (!response.ok) throw new Error(`${message.method}: HTTP ${response.status}`);
  if ('id' in message && !body.includes('"result"')) throw new Error(`${message.method}: no result`);
  return response.headers.get('mcp-session-id') ?? sessionId;
}

async function check(url) {
  const initialize = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    // What patchbay declares (src/connect/client-capabilities.ts): servers offer more to it.
    params: { protocolVersion: VERSION, capabilities, clientInfo: { name: 'raw-check', version: '1' } },
  };
  const sessionId = await post(url, initialize);
  if (!initOnly) {
    await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, sessionId);
    await post(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, sessionId);
  }
  if (sessionId)
    await fetch(url, {
      method: 'DELETE',
      headers: { 'mcp-session-id': sessionId, 'mcp-protocol-version': VERSION },
    });
}

const { mcpServers } = JSON.parse(readFileSync('.mcp.json', 'utf8'));
const results = await Promise.all(
  Object.entries(mcpServers)
    .filter(([, entry]) => entry.url)
    .map(([name, entry]) =>
      check(entry.url).then(
        () => ({ name, status: 'connected' }),
        (error) => ({ name, status: 'failed', reason: String(error) }),
      ),
    ),
);
process.stdout.write(`${JSON.stringify(results)}\n`);
