/**
 * The one secret redactor: every mask patchbay applies to what it prints, logs or stores.
 *
 * - By name: values of headers, env variables and flags whose names look secret (maskValue,
 *   maskMap, maskArgs), passwords and secret-looking query parameters in URLs (maskUrl).
 *   `${VAR}` references are not secrets and stay visible, so `Bearer ${TOKEN}` prints as is while
 *   `Bearer abc123` prints as `Bearer ****`.
 * - By value: secrets the caller knows (a configured header, a stored token) replaced wherever
 *   they appear in a message (replaceSecrets).
 * - By shape: credentials in free text and JSON (maskSecretsInText, maskJsonSecrets), and in
 *   authorization-server error text (redactSecrets).
 */

import { splitTemplate } from './template.js';
import { mapOwnValues } from './json-source.js';
import { terminalText } from './terminal-text.js';

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

/**
 * Every occurrence of each of `secrets` replaced by `marker`, in the order given (put a secret
 * that contains another first, so it is replaced whole).
 */
export function replaceSecrets(text: string, secrets: readonly string[], marker: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join(marker);
  return out;
}

// ---------------------------------------------------------------------------------------------
// By shape

/*
 * The primitives above mask values whose *name* says they are secret (headers, env, flags, URL parts). Tool
 * arguments and error texts are free-form, so secrets there are also found by *shape*: an auth
 * scheme followed by a credential, `name=value` / `"name": "value"` with a secret-looking name,
 * URLs (passwords and secret query parameters, via maskUrl), well-known token formats, and long
 * random-looking strings. Hex-only strings (commit SHAs, UUIDs) are left alone on purpose: they
 * are common tool arguments, and a hex key under a secret-looking name is masked by name anyway.
 */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;
const SCHEME_CREDENTIAL = /\b(?:Bearer|Basic|Token|Bot|Digest|ApiKey|DPoP)\s+([A-Za-z0-9._~+/=-]{8,})/gi;
// The value may start with an auth scheme (`Authorization: Bearer abc`); maskValue keeps the scheme.
const SECRET_PAIR =
  /([A-Za-z][A-Za-z0-9_.-]*)(["']?\s*[:=]\s*["']?)((?:(?:Bearer|Basic|Token|Bot|Digest|ApiKey|DPoP)\s+)?[^\s"'&,;)}\]]+)/gi;
const KNOWN_TOKEN =
  /\b(?:eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*|(?:gh[pousr]_|github_pat_|glpat-|sk-|sk_live_|sk_test_|rk_live_|xox[abposr]-|AKIA|ASIA|AIza|npm_|pypi-)[A-Za-z0-9_-]{10,})/g;
const LONG_RUN = /[A-Za-z0-9_+=-]{32,}/g;

function looksRandom(run: string): boolean {
  return /[A-Z]/.test(run) && /[a-z]/.test(run) && /[0-9]/.test(run);
}

/** Mask what looks secret in free text (an error message, a string argument). */
export function maskSecretsInText(text: string): string {
  return text
    .replace(URL_IN_TEXT, (match) => {
      // Punctuation that ends the sentence is not part of the URL.
      const url = match.replace(/[.,;:!?)\]]+$/, '');
      return maskUrl(url) + match.slice(url.length);
    })
    .replace(SCHEME_CREDENTIAL, (match, credential: string) =>
      // A word after "Token" is a credential only if it has a digit or is long (not "Token expired").
      /\d/.test(credential) || credential.length >= 24 ? maskValue(match) : match,
    )
    .replace(SECRET_PAIR, (match, name: string, separator: string, value: string) =>
      isSecretName(name) ? `${name}${separator}${maskValue(value)}` : match,
    )
    .replace(KNOWN_TOKEN, MASK)
    .replace(LONG_RUN, (run) => (looksRandom(run) ? MASK : run));
}

const MAX_DEPTH = 64;

/**
 * Mask a JSON value: everything under a secret-looking key is masked whatever its shape (strings
 * keep `${VAR}` references and an auth scheme, numbers become ****), and every other string is
 * searched for secrets by shape.
 */
export function maskJsonSecrets(value: unknown, underSecret = false, depth = 0): unknown {
  if (typeof value === 'string') return underSecret ? maskValue(value) : maskSecretsInText(value);
  if (typeof value === 'number') return underSecret ? MASK : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return MASK;
  if (Array.isArray(value)) return value.map((item) => maskJsonSecrets(item, underSecret, depth + 1));
  // fromEntries defines own properties, so a "__proto__" key stays a key.
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      maskJsonSecrets(item, underSecret || isSecretName(key), depth + 1),
    ]),
  );
}

const REDACTED = '[redacted]';
const MAX_ERROR_LENGTH = 500;

/**
 * Make an error message safe to store and show: the given secrets and anything that looks like a
 * credential in a header, a form body or JSON are replaced, the rest made safe for a terminal
 * (core/terminal-text.ts: escape sequences and invisible format characters removed, control
 * characters a space), and the length capped.
 */
export function redactSecrets(message: string, secrets: ReadonlyArray<string | undefined>): string {
  let text = message;
  // Longest first, so a secret that contains another is replaced whole.
  const known = secrets
    .filter((secret): secret is string => secret !== undefined && secret.length >= 4)
    .sort((a, b) => b.length - a.length);
  text = replaceSecrets(text, known, REDACTED);
  text = text
    .replace(/\b(Bearer|Basic|DPoP)\s+[A-Za-z0-9\-._~+/]+=*/gi, `$1 ${REDACTED}`)
    .replace(
      /\b(access_token|refresh_token|id_token|client_secret|code|code_verifier|assertion)=[^&\s"']+/gi,
      `$1=${REDACTED}`,
    )
    .replace(
      /"(access_token|refresh_token|id_token|client_secret|registration_access_token)"\s*:\s*"[^"]*"/gi,
      `"$1":"${REDACTED}"`,
    )
    .replace(/\b(eyJ[A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)/g, REDACTED);
  text = terminalText(text);
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH - 1)}…` : text;
}
