/**
 * The console's checks on every request, before the session is even looked at, and the headers
 * on every response:
 *
 * - `Host` must be this console's own (127.0.0.1:PORT or localhost:PORT): a page on another name
 *   that resolves to 127.0.0.1 (DNS rebinding) is refused.
 * - A request that says where it comes from (`Origin`) must come from this console.
 * - POST, PUT and DELETE must prove they come from the console's own page: an `Origin` (checked
 *   above) or `Sec-Fetch-Site: same-origin`. The API also refuses a fetch another site started.
 * - A body is JSON (`Content-Type: application/json`), at most MAX_BODY_BYTES.
 * - Responses carry a strict Content-Security-Policy, nosniff, no referrer, and never a cache.
 *
 * The session itself is a header that only the console's own script sends (session.ts), which by
 * itself stops a forged request from another site; these checks stay as defence in depth, and
 * they are what guards the launch token's exchange, the one API call made without a session.
 */

import { failure, hasBody, isJsonContentType, MAX_BODY_BYTES } from './http.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // Every answer is about this launch and this machine's config: nothing is worth keeping.
  'cache-control': 'no-store',
};

/** The response with the security headers set (over whatever the handler set). */
export function withSecurityHeaders(response: Response): Response {
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

export interface Allowed {
  /** `127.0.0.1:PORT` and `localhost:PORT`. */
  hosts: ReadonlySet<string>;
  /** `http://127.0.0.1:PORT` and `http://localhost:PORT`. */
  origins: ReadonlySet<string>;
}

export function allowedFor(port: number): Allowed {
  const hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  return { hosts, origins: new Set([...hosts].map((host) => `http://${host}`)) };
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The refusal for a request that fails a check, or undefined when it passes them all. */
export function guardRequest(request: Request, api: boolean, allowed: Allowed): Response | undefined {
  const refuse = (status: number, code: string, message: string) =>
    api
      ? failure(status, code, message)
      : new Response(`${message}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });

  const host = request.headers.get('host')?.toLowerCase();
  if (!host || !allowed.hosts.has(host))
    return refuse(
      403,
      'forbidden-host',
      'This console answers only to 127.0.0.1 and localhost on its own port.',
    );
  const origin = request.headers.get('origin');
  if (origin !== null && !allowed.origins.has(origin.toLowerCase()))
    return refuse(403, 'forbidden-origin', 'Requests from another site are refused.');
  const fetchSite = request.headers.get('sec-fetch-site');
  if (STATE_CHANGING.has(request.method) && origin === null && fetchSite !== 'same-origin')
    return refuse(403, 'forbidden-origin', 'A change must come from the console page itself (no Origin).');
  // The page's own fetches are same-origin; "none" is a person typing an address.
  if (api && fetchSite !== null && fetchSite !== 'same-origin' && fetchSite !== 'none')
    return refuse(403, 'forbidden-origin', 'Requests another site started are refused.');
  const length = Number(request.headers.get('content-length') ?? '0');
  if (length > MAX_BODY_BYTES)
    return refuse(413, 'too-large', `The request body is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB.`);
  if (hasBody(request) && !isJsonContentType(request.headers.get('content-type')))
    return refuse(
      415,
      'unsupported-media-type',
      'The body must be JSON, sent with Content-Type: application/json.',
    );
  return undefined;
}
