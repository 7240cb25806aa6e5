/**
 * The SDK checks every OAuth document it reads against its zod schemas and, when one does not
 * fit, throws the zod error — whose message is the issues as a JSON array. That reaches a person
 * as raw validation JSON; here it becomes a sentence naming the document, the field and its
 * offending value (`authorization_endpoint 'javascript:alert(1)' is not an https URL`).
 *
 * The zod issues carry the field's path but not its value, so the documents the SDK fetched are
 * kept (a clone of each JSON answer, bounded) to look the value up in the one it was reading.
 */

import { terminalText } from '../core/terminal-text.js';
import { PatchbayError } from '../errors.js';
import { displayUrl } from '../config/text.js';

type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

interface SchemaIssue {
  path: PropertyKey[];
  message: string;
}

/** Larger than any metadata document; a body past it is not kept. */
const MAX_KEPT_CHARS = 256 * 1024;

/** A fetch that remembers the last JSON document it read, for a later schema error to quote. */
export function rememberingFetch(fetch: FetchLike): {
  fetch: FetchLike;
  last(): Promise<ReadDocument | undefined>;
} {
  let last: Promise<ReadDocument | undefined> = Promise.resolve(undefined);
  return {
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      if (response.ok && /json/i.test(response.headers.get('content-type') ?? '')) {
        const where = String(url);
        last = response
          .clone()
          .text()
          .then((text) =>
            text.length > MAX_KEPT_CHARS ? undefined : { url: where, json: JSON.parse(text) as unknown },
          )
          .catch(() => undefined);
      }
      return response;
    },
    last: () => last,
  };
}

export interface ReadDocument {
  url: string;
  json: unknown;
}

/** The zod error the SDK throws for a document that does not fit its schema, if this is one. */
export function schemaIssues(error: unknown): SchemaIssue[] | undefined {
  if (!(error instanceof Error) || error.name !== 'ZodError') return undefined;
  const issues = (error as { issues?: unknown }).issues;
  if (!Array.isArray(issues) || issues.length === 0) return undefined;
  return issues.filter(
    (issue): issue is SchemaIssue =>
      typeof issue === 'object' &&
      issue !== null &&
      Array.isArray(issue.path) &&
      typeof issue.message === 'string',
  );
}

/**
 * `the authorization server's metadata at https://as.example/.well-known/… is unusable:
 * authorization_endpoint 'javascript:alert(1)' is not an https URL`, for the SDK's schema error.
 */
export function unusableDocument(
  issues: SchemaIssue[],
  document: ReadDocument | undefined,
  name: string,
): PatchbayError {
  const what = document ? describeDocument(document.url) : "the authorization server's answer";
  return new PatchbayError('auth-refused', `${what} is unusable: ${describeIssues(issues, document?.json)}`, {
    hint: `This is for the server's operator to fix; tell them. patchbay doctor ${name} shows each discovery step. If the server documents another authorization server, set oauth.authServerMetadataUrl in its entry.`,
  });
}

/** `authorization_endpoint 'javascript:alert(1)' is not an https URL (a javascript: URL)`; at most three. */
export function describeIssues(issues: SchemaIssue[], json: unknown): string {
  return [...new Map(issues.map((issue) => [issue.path.join('.'), issue])).values()]
    .slice(0, 3)
    .map((issue) => describeIssue(issue, json))
    .join('; ');
}

function describeDocument(url: string): string {
  let where: string;
  try {
    where = displayUrl(new URL(url));
  } catch {
    where = terminalText(url, { max: 120 });
  }
  if (/\/\.well-known\/oauth-protected-resource/.test(url))
    return `the server's protected-resource metadata at ${where}`;
  if (/\/\.well-known\/(?:oauth-authorization-server|openid-configuration)/.test(url))
    return `the authorization server's metadata at ${where}`;
  return `the authorization server's answer from ${where}`;
}

function describeIssue(issue: SchemaIssue, json: unknown): string {
  const field =
    issue.path.length > 0 ? terminalText(issue.path.map(String).join('.'), { max: 80 }) : 'the document';
  const why = terminalText(issue.message, { max: 160 });
  const value = valueAt(json, issue.path);
  if (value === undefined) return `${field}: ${why}`;
  if (typeof value !== 'string')
    return `${field} (${typeof value === 'object' ? 'an object or list' : typeof value}): ${why}`;
  const shown = `'${terminalText(value, { max: 80 })}'`;
  if (/URL/i.test(issue.message) || /(?:_endpoint|_uri|^issuer)$/.test(String(issue.path.at(-1) ?? ''))) {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(value)?.[1]?.toLowerCase();
    if (!URL.canParse(value) || scheme === undefined) return `${field} ${shown} is not a URL`;
    if (scheme !== 'https' && scheme !== 'http')
      return `${field} ${shown} is not an https URL (a ${terminalText(scheme, { max: 20 })}: URL)`;
  }
  return `${field} ${shown}: ${why}`;
}

function valueAt(json: unknown, path: PropertyKey[]): unknown {
  let current = json;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
