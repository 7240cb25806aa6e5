/**
 * The gateway reading its token issuer's metadata: RFC 8414 at the path-inserted well-known URL
 * first, then OpenID Connect discovery (at the path-inserted URL, then appended to the issuer),
 * each answer checked before use — status, content type, JSON object, `issuer` exactly the
 * configured one (RFC 8414 §3.3: a mismatch is an attack or a misconfiguration, never "close
 * enough"), and the endpoints it names are https (or http to this machine).
 */

import { isLoopbackHost } from '../core/loopback.js';

export interface IssuerMetadata {
  issuer: string;
  jwksUri?: URL;
  introspectionEndpoint?: URL;
  /** Where it was read. */
  from: URL;
}

const FETCH_TIMEOUT_MS = 10_000;

/** RFC 8414 §3.1 and OpenID Connect Discovery §4: the URLs to try, in order. */
export function metadataUrls(issuer: URL): URL[] {
  const path = issuer.pathname === '/' ? '' : issuer.pathname.replace(/\/$/, '');
  return [
    new URL(`/.well-known/oauth-authorization-server${path}`, issuer.origin),
    new URL(`/.well-known/openid-configuration${path}`, issuer.origin),
    ...(path ? [new URL(`${path}/.well-known/openid-configuration`, issuer.origin)] : []),
  ];
}

/**
 * The issuer's metadata, from the first location that has it (404 or no JSON: the next one). A
 * document naming another issuer is an error, not a miss: nothing further is tried.
 */
export async function discoverIssuer(issuer: URL, fetchFn: typeof fetch = fetch): Promise<IssuerMetadata> {
  // A root issuer is written without its slash (`https://login.example.com`), as IdPs do.
  const expected = issuer.pathname === '/' ? issuer.origin : issuer.href;
  const tried: string[] = [];
  for (const url of metadataUrls(issuer)) {
    const document = await fetchMetadata(url, fetchFn, tried);
    if (!document) continue;
    if (document.issuer !== expected && document.issuer !== issuer.href)
      throw new Error(
        `${url.href} names the issuer ${JSON.stringify(document.issuer)}, not ${expected}: set auth.oauth.issuer to exactly the issuer the metadata gives`,
      );
    return {
      issuer: document.issuer,
      from: url,
      ...endpoint(document, 'jwks_uri', url, (value) => ({ jwksUri: value })),
      ...endpoint(document, 'introspection_endpoint', url, (value) => ({ introspectionEndpoint: value })),
    };
  }
  throw new Error(`no authorization server metadata for ${expected} (tried ${tried.join('; ')})`);
}

async function fetchMetadata(
  url: URL,
  fetchFn: typeof fetch,
  tried: string[],
): Promise<Record<string, unknown> | undefined> {
  let response: Response;
  try {
    response = await fetchFn(url, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
  } catch (error) {
    throw new Error(`could not fetch ${url.href}: ${(error as Error).message}`);
  }
  const type = response.headers.get('content-type') ?? '';
  if (response.status !== 200 || !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    await response.body?.cancel().catch(() => undefined);
    tried.push(
      `${url.href}: ${response.status}${response.status === 200 ? ` ${type || 'no content type'}` : ''}`,
    );
    return undefined;
  }
  const document = (await response.json().catch(() => undefined)) as unknown;
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    tried.push(`${url.href}: not a JSON object`);
    return undefined;
  }
  return document as Record<string, unknown>;
}

/** A URL field of the metadata, checked: https, or http to this machine. */
function endpoint<T>(
  document: Record<string, unknown>,
  field: string,
  from: URL,
  wrap: (value: URL) => T,
): T | Record<string, never> {
  const value = document[field];
  if (value === undefined) return {};
  const url = typeof value === 'string' ? URL.parse(value) : null;
  if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))))
    throw new Error(`${from.href}: ${field} is not an https URL`);
  return wrap(url);
}
