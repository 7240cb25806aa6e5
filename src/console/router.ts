/** `METHOD /api/a/:param/b` → handler; path parameters percent-decoded, errors answered as JSON. */

import type { ConsoleContext } from './context.js';
import { errorResponse, failure, readJsonBody } from './http.js';

export interface RouteRequest {
  request: Request;
  url: URL;
  params: Record<string, string>;
  ctx: ConsoleContext;
  /** The JSON body (415/413/400 when it is not JSON, too large or malformed). */
  body(): Promise<unknown>;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Segments, `:name` for a parameter. */
  path: string;
  handler(request: RouteRequest): Promise<Response>;
}

export async function dispatch(
  routes: readonly Route[],
  request: Request,
  url: URL,
  ctx: ConsoleContext,
): Promise<Response> {
  const segments = url.pathname.split('/').filter((segment) => segment !== '');
  let pathMatched = false;
  for (const route of routes) {
    const params = match(route.path, segments);
    if (!params) continue;
    pathMatched = true;
    if (route.method !== request.method) continue;
    try {
      const decoded: Record<string, string> = {};
      for (const [key, value] of Object.entries(params)) decoded[key] = decodeURIComponent(value);
      return await route.handler({ request, url, params: decoded, ctx, body: () => readJsonBody(request) });
    } catch (error) {
      if (error instanceof URIError) return failure(400, 'usage', 'The address holds a broken %-escape.');
      return errorResponse(error);
    }
  }
  return pathMatched
    ? failure(405, 'method-not-allowed', `${request.method} is not allowed on ${url.pathname}.`)
    : failure(404, 'not-found', `No API endpoint at ${url.pathname}.`);
}

function match(pattern: string, segments: string[]): Record<string, string> | undefined {
  const parts = pattern.split('/').filter((part) => part !== '');
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part.startsWith(':')) params[part.slice(1)] = segments[i]!;
    else if (part !== segments[i]) return undefined;
  }
  return params;
}
