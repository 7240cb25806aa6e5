/**
 * Secret masking for every output, human and `--json`. What is masked: values of headers and
 * env variables whose names look secret, passwords in URLs, secret-looking query parameters, and
 * the value of secret-looking `--flag value` arguments. `${VAR}` references are not secrets and
 * stay visible, so `Bearer ${TOKEN}` prints as is while `Bearer abc123` prints as `Bearer ****`.
 */

import type { ServerEntry } from './entry.js';
import { splitTemplate } from './expand.js';
import { mapOwnValues } from '../core/json-source.js';

export const MASK = '****';

const SECRET_NAME = /auth|cookie|token|key|secret|passw|pwd|credential|session|signature|private/i;
const SECRET_QUERY = /^(?:.*(?:token|key|secret|passw|pwd|auth|credential|signature)|sig|code|pat)$/i;
const AUTH_SCHEME = /^(Bearer|Basic|Token|Bot|Digest|ApiKey|DPoP)\s+/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** Mask the literal parts of a value, keeping `${VAR}` references and a leading auth scheme. */
export function maskValue(value: string): string {
  if (value === '') return value;
  const scheme = AUTH_SCHEME.exec(value)?.[0] ?? '';
  const rest = value.slice(scheme.length);
  const masked = splitTemplate(rest)
    .map((part) =>
      part.literal !== undefined ? (part.literal.trim() === '' ? part.literal : MASK) : rawReference(part),
    )
    .join('');
  return scheme + masked;
}

function rawReference(part: { variable?: string; fallback?: string }): string {
  // A default is a literal too; it may be a secret.
  return part.fallback === undefined
    ? `\${${part.variable}}`
    : `\${${part.variable}:-${part.fallback === '' ? '' : MASK}}`;
}

export function maskUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  let changed = false;
  if (url.password) {
    url.password = MASK;
    changed = true;
  }
  for (const key of [...url.searchParams.keys()]) {
    if (SECRET_QUERY.test(key)) {
      url.searchParams.set(key, MASK);
      changed = true;
    }
  }
  // Re-serialising would percent-encode `${VAR}` templates; only do it when something was masked.
  return changed ? url.toString().replaceAll(encodeURIComponent(MASK), MASK) : text;
}

export function maskMap(map: Record<string, string>): Record<string, string> {
  return mapOwnValues(map, (value, key) => (isSecretName(key) ? maskValue(value) : value));
}

/** `--api-key abc`, `--token=abc`: mask the value that follows a secret-looking flag. */
export function maskArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const inline = /^(--?[A-Za-z0-9_-]+)=(.*)$/.exec(arg);
    if (inline && isSecretName(inline[1]!)) {
      out.push(`${inline[1]}=${maskValue(inline[2]!)}`);
    } else if (
      /^--?[A-Za-z0-9_-]+$/.test(arg) &&
      isSecretName(arg) &&
      i + 1 < args.length &&
      !args[i + 1]!.startsWith('-')
    ) {
      out.push(arg, maskValue(args[i + 1]!));
      i++;
    } else {
      out.push(/^[a-z]+:\/\//i.test(arg) ? maskUrl(arg) : arg);
    }
  }
  return out;
}

export function maskEntry(entry: ServerEntry): ServerEntry {
  const out: ServerEntry = { ...entry };
  if (entry.url !== undefined) out.url = maskUrl(entry.url);
  if (entry.headers) out.headers = maskMap(entry.headers);
  if (entry.env) out.env = maskMap(entry.env);
  if (entry.args) out.args = maskArgs(entry.args);
  return out;
}
