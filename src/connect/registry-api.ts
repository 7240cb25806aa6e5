/**
 * The MCP Registry's v0 API, read side: one function per operation, every answer checked (status,
 * content type, shape) before use. Requests go through the HttpClient every other request uses,
 * so proxies and extra CAs apply here too.
 *
 *   GET {base}/v0/servers?search=&limit=&cursor=&version=latest     → listServers
 *   GET {base}/v0/servers/{serverName}/versions/{version}           → getServerVersion
 */

import { PatchbayError } from '../errors.js';
import { isLoopbackHost } from '../core/loopback.js';
import {
  parseServerList,
  parseServerResponse,
  type RegistryPage,
  type RegistryServer,
} from '../config/server-json.js';
import type { HttpClient } from './network.js';

export const DEFAULT_REGISTRY_URL = 'https://registry.modelcontextprotocol.io';

/** Pages followed at most by one search: a registry that keeps answering with cursors is cut off. */
export const MAX_PAGES = 10;

/**
 * The registry to ask: `--registry`, else PATCHBAY_REGISTRY_URL, else the official one. https,
 * or http on this computer only (a registry decides what commands get written into the config).
 */
export function registryUrl(flag: string | undefined, env: NodeJS.ProcessEnv): URL {
  const text = flag ?? (env.PATCHBAY_REGISTRY_URL || DEFAULT_REGISTRY_URL);
  const from =
    flag !== undefined ? '--registry' : env.PATCHBAY_REGISTRY_URL ? 'PATCHBAY_REGISTRY_URL' : 'default';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PatchbayError(
      'invalid-url',
      `The registry URL ${JSON.stringify(text)} (${from}) is not a URL.`,
      {
        hint: `Give its base, e.g. --registry ${DEFAULT_REGISTRY_URL}`,
      },
    );
  }
  const plainLoopback = url.protocol === 'http:' && isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !plainLoopback) {
    throw new PatchbayError(
      'invalid-url',
      `The registry URL ${url.href} (${from}) must use https (http only for localhost).`,
      { hint: `Use https://…, e.g. --registry ${DEFAULT_REGISTRY_URL}` },
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new PatchbayError(
      'invalid-url',
      `The registry URL (${from}) must be a plain base URL, without credentials, query or fragment.`,
    );
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

export interface RegistryRequest {
  http: HttpClient;
  base: URL;
  signal?: AbortSignal;
}

export interface ListParams {
  search?: string;
  cursor?: string;
  limit?: number;
  /** 'latest' for the newest version of each server only. */
  version?: string;
}

/** GET /v0/servers */
export async function listServers(request: RegistryRequest, params: ListParams): Promise<RegistryPage> {
  const url = new URL('v0/servers', request.base);
  if (params.search) url.searchParams.set('search', params.search);
  if (params.cursor) url.searchParams.set('cursor', params.cursor);
  if (params.limit !== undefined) url.searchParams.set('limit', String(params.limit));
  if (params.version) url.searchParams.set('version', params.version);
  const body = await getJson(request, url, 'the server list');
  return parseServerList(body, `The server list from ${request.base.origin}`);
}

/** GET /v0/servers/{serverName}/versions/{version}; `latest` is the newest. */
export async function getServerVersion(
  request: RegistryRequest,
  name: string,
  version: string,
): Promise<RegistryServer> {
  const url = new URL(
    `v0/servers/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`,
    request.base,
  );
  const body = await getJson(request, url, `${name}@${version}`, { name, version });
  const found = parseServerResponse(
    body,
    `The server.json of ${name}@${version} from ${request.base.origin}`,
    name,
  );
  if (found.server.name !== name) {
    throw new PatchbayError(
      'registry-failed',
      `The registry answered the request for ${name} with another server (${found.server.name}).`,
      {
        hint: 'Check --registry or PATCHBAY_REGISTRY_URL: that registry does not answer as the MCP Registry does.',
      },
    );
  }
  if (version !== 'latest' && found.server.version !== version) {
    throw new PatchbayError(
      'registry-failed',
      `The registry answered the request for ${name}@${version} with version ${found.server.version}.`,
      { hint: `List its versions: patchbay search ${name}` },
    );
  }
  return found;
}

/**
 * Every matching server, newest versions only, following cursors until `limit` are found or the
 * registry has no more (at most MAX_PAGES pages). `more` tells that results were left.
 */
export async function searchServers(
  request: RegistryRequest,
  search: string,
  limit: number,
  keep: (server: RegistryServer) => boolean = () => true,
): Promise<{ servers: RegistryServer[]; skipped: RegistryPage['skipped']; more: boolean; pages: number }> {
  const servers: RegistryServer[] = [];
  const skipped: RegistryPage['skipped'] = [];
  let cursor: string | undefined;
  let pages = 0;
  const seen = new Set<string>();
  do {
    const page = await listServers(request, {
      search,
      limit: Math.min(100, Math.max(limit, 10)),
      version: 'latest',
      ...(cursor ? { cursor } : {}),
    });
    pages++;
    skipped.push(...page.skipped);
    for (const item of page.servers) {
      if (!keep(item)) continue;
      if (servers.length === limit) return { servers, skipped, more: true, pages };
      servers.push(item);
    }
    if (page.nextCursor && seen.has(page.nextCursor)) {
      throw new PatchbayError(
        'registry-failed',
        `The registry at ${request.base.origin} gave the same page cursor twice.`,
        {
          hint: 'Its paging is broken; narrow the search, or try again later.',
        },
      );
    }
    cursor = page.nextCursor;
    if (cursor) seen.add(cursor);
  } while (cursor && pages < MAX_PAGES);
  return { servers, skipped, more: Boolean(cursor), pages };
}

async function getJson(
  request: RegistryRequest,
  url: URL,
  what: string,
  missing?: { name: string; version: string },
): Promise<unknown> {
  let response: Response;
  try {
    response = await request.http.fetch(url, {
      headers: { accept: 'application/json' },
      redirect: 'error',
      ...(request.signal ? { signal: request.signal } : {}),
    });
  } catch (error) {
    const reason =
      error instanceof Error
        ? error.cause instanceof Error
          ? error.cause.message
          : error.message
        : String(error);
    throw new PatchbayError(
      'registry-failed',
      `Could not reach the registry at ${request.base.origin} for ${what}: ${reason}.`,
      {
        hint: 'Check the network (and HTTPS_PROXY), or point at another registry with --registry <url>.',
        cause: error,
      },
    );
  }
  const type = response.headers.get('content-type') ?? '';
  const isJson = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type);
  const text = await response.text();
  if (response.status === 404 && missing) {
    throw new PatchbayError(
      'not-found',
      missing.version === 'latest'
        ? `The registry at ${request.base.origin} has no server named ${missing.name}.`
        : `The registry at ${request.base.origin} has no version ${missing.version} of ${missing.name}.`,
      { hint: `Find the name and its versions with: patchbay search ${missing.name.split('/').pop()}` },
    );
  }
  if (!response.ok) {
    const detail = isJson ? errorDetail(text) : undefined;
    throw new PatchbayError(
      'registry-failed',
      `The registry at ${request.base.origin} answered ${what} with HTTP ${response.status}${detail ? `: ${detail}` : ''}.`,
      { hint: 'Try again later, or point at another registry with --registry <url>.' },
    );
  }
  if (!isJson) {
    throw new PatchbayError(
      'registry-failed',
      `The registry at ${request.base.origin} answered ${what} with ${type || 'no content type'}, not JSON.`,
      {
        hint: `Is ${request.base.href} the base of an MCP Registry (its /v0/servers answers JSON)? Check --registry or PATCHBAY_REGISTRY_URL.`,
      },
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new PatchbayError(
      'registry-failed',
      `The registry at ${request.base.origin} answered ${what} with broken JSON.`,
      {
        hint: 'Try again later, or point at another registry with --registry <url>.',
      },
    );
  }
}

/** `{ "error": "…" }` (the spec) or RFC 9457 `{ "title", "detail" }` (the official server). */
function errorDetail(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const parts = [body.error, body.title, body.detail].filter((part) => typeof part === 'string');
    return parts.length > 0 ? (parts as string[]).join(': ').slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}
