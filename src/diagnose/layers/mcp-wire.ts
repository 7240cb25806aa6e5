/**
 * The bytes of MCP over HTTP as the doctor sends and reads them: the initialize POST every
 * client starts with, and bounded readers for a JSON body or the first matching SSE event.
 */

import type { HttpClient } from '../../connect/network.js';
import { packageVersion } from '../../core/version.js';
import { clean } from '../text.js';
import type { LayerContext } from './context.js';

const MAX_BODY_BYTES = 256 * 1024;

/** `initialize` as an MCP client sends it first, with the headers the spec asks for. */
export async function postInitialize(
  http: HttpClient,
  url: URL,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<Response> {
  const { LATEST_PROTOCOL_VERSION } = await import('@modelcontextprotocol/client');
  return http.fetch(url, {
    method: 'POST',
    redirect: 'manual',
    signal,
    headers: {
      ...headers,
      Accept: 'application/json, text/event-stream',
      'Content-Type': 'application/json',
      'MCP-Protocol-Version': LATEST_PROTOCOL_VERSION,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: LATEST_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'patchbay-doctor', version: packageVersion() },
      },
    }),
  });
}

export function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

export async function readText(response: Response, context: LayerContext): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < MAX_BODY_BYTES) {
      const { done, value } = await context.deadline.race(reader.read());
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return text;
}

export interface SseEvent {
  event: string;
  data: string;
}

/** The first event `wanted` accepts, reading no more than MAX_BODY_BYTES and within the budget. */
export async function readSseEvent(
  response: Response,
  context: LayerContext,
  wanted: (event: SseEvent) => boolean,
): Promise<SseEvent | undefined> {
  const reader = response.body?.getReader();
  if (!reader) return undefined;
  const decoder = new TextDecoder();
  let buffered = '';
  let total = 0;
  try {
    while (total < MAX_BODY_BYTES) {
      const { done, value } = await context.deadline.race(reader.read());
      if (done) break;
      total += value.byteLength;
      buffered += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = buffered.indexOf('\n\n')) !== -1) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const event = parseSseBlock(block);
        if (event && wanted(event)) return event;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return undefined;
}

function parseSseBlock(block: string): SseEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || line === '') continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length === 0 && event === 'message' ? undefined : { event, data: data.join('\n') };
}

export async function jsonRpcErrorText(
  response: Response,
  context: LayerContext,
): Promise<string | undefined> {
  if (mediaType(response.headers.get('content-type')) !== 'application/json') return undefined;
  try {
    const message = parseJson(await readText(response, context));
    return isObject(message) && isObject(message.error) ? errorText(message.error) : undefined;
  } catch {
    return undefined;
  }
}

export function errorText(error: Record<string, unknown>): string {
  const code = typeof error.code === 'number' ? `JSON-RPC error ${error.code}` : 'JSON-RPC error';
  return typeof error.message === 'string' ? `${code}: ${clean(error.message, 120)}` : code;
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
