/**
 * The console API's wire format: JSON responses, `{ error: ApiError }` with the status the
 * contract gives each kind of failure (api-types.ts), and request bodies read with a size cap.
 * Local errors become ApiErrors here and nowhere else (DESIGN.md, house style 5).
 */

import { PatchbayError, type ErrorCode } from '../errors.js';
import { maskSecretsInText } from '../policy/audit.js';
import type { ApiError } from './api-types.js';

/** Request bodies larger than this are refused with 413. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** A refusal with its HTTP status, thrown by a handler and answered as `{ error }`. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: ApiError,
  ) {
    super(error.message);
    this.name = 'ApiFailure';
  }
}

/** 400 bad input, 403 refused by policy, 404 unknown, 409 exists; everything else is a 500. */
const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  usage: 400,
  'invalid-name': 400,
  'invalid-url': 400,
  'invalid-header': 400,
  'invalid-env': 400,
  'invalid-entry': 400,
  'invalid-json': 400,
  'config-parse': 400,
  'config-shape': 400,
  'unset-variable': 400,
  'ambiguous-scope': 400,
  'no-tty': 400,
  'not-found': 404,
  duplicate: 409,
  'policy-denied': 403,
  'limit-reached': 403,
  // A login asked for where the server needs none: nothing to do, said as a plain answer.
  'no-login-needed': 409,
};

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

export function noContent(): Response {
  return new Response(null, { status: 204 });
}

export function failure(status: number, code: string, message: string, hint?: string): Response {
  return json(status, { error: { code, message, ...(hint ? { hint } : {}) } });
}

/** Any error as the API's error response. Messages that did not come from patchbay are masked. */
export function errorResponse(error: unknown): Response {
  if (error instanceof ApiFailure) return json(error.status, { error: error.error });
  if (error instanceof PatchbayError) {
    const body: ApiError = { code: error.code, message: error.message };
    if (error.hint) body.hint = error.hint;
    return json(STATUS_BY_CODE[error.code] ?? 500, { error: body });
  }
  const message = error instanceof Error ? error.message : String(error);
  return failure(
    500,
    'internal',
    `internal error: ${maskSecretsInText(message.slice(0, 500))}`,
    'This is a bug in patchbay; please report it with what you did in the console.',
  );
}

/** Whether a request carries a body (a length above zero, or one sent in chunks). */
export function hasBody(request: Request): boolean {
  const length = request.headers.get('content-length');
  if (length !== null) return length.trim() !== '0';
  return request.headers.has('transfer-encoding');
}

export function isJsonContentType(value: string | null): boolean {
  return value !== null && value.split(';', 1)[0]!.trim().toLowerCase() === 'application/json';
}

/**
 * The request's JSON body: `application/json`, at most `limit` bytes (413 beyond, counted as it
 * arrives, whatever Content-Length claims), parsed.
 */
export async function readJsonBody(request: Request, limit = MAX_BODY_BYTES): Promise<unknown> {
  if (!hasBody(request) || !request.body)
    throw new ApiFailure(400, { code: 'usage', message: 'This request needs a JSON body.' });
  if (!isJsonContentType(request.headers.get('content-type')))
    throw new ApiFailure(415, {
      code: 'unsupported-media-type',
      message: 'The body must be JSON, sent with Content-Type: application/json.',
    });
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > limit) throw tooLarge(limit);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiFailure(400, { code: 'invalid-json', message: 'The body is not valid JSON.' });
  }
}

export function tooLarge(limit = MAX_BODY_BYTES): ApiFailure {
  return new ApiFailure(413, {
    code: 'too-large',
    message: `The request body is larger than ${limit / 1024 / 1024} MiB.`,
  });
}

// ---------------------------------------------------------------------------------------------
// Fields of a JSON body: each refusal names the field.

export type JsonBody = Record<string, unknown>;

export function objectBody(value: unknown): JsonBody {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw badField('the body', 'a JSON object');
  return value as JsonBody;
}

export function badField(field: string, expected: string): PatchbayError {
  return new PatchbayError('usage', `Invalid ${field}: expected ${expected}.`);
}

export function stringField(body: JsonBody, field: string): string {
  const value = Object.hasOwn(body, field) ? body[field] : undefined;
  if (typeof value !== 'string' || value === '') throw badField(field, 'a non-empty string');
  return value;
}

export function optionalString(body: JsonBody, field: string): string | undefined {
  const value = Object.hasOwn(body, field) ? body[field] : undefined;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badField(field, 'a string');
  return value;
}

export function optionalObject(body: JsonBody, field: string): JsonBody | undefined {
  const value = Object.hasOwn(body, field) ? body[field] : undefined;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw badField(field, 'a JSON object');
  return value as JsonBody;
}
