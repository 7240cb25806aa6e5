/** Checks of user input shared by the CLI flags and the config files: names, URLs, headers, env. */

import { PatchbayError } from '../errors.js';
import { isLoopbackHost } from '../core/loopback.js';

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function validateName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    const why =
      name.length === 0
        ? 'it is empty'
        : name.length > 64
          ? `it is ${name.length} characters long (at most 64)`
          : `it contains ${JSON.stringify(name.match(/[^A-Za-z0-9_-]/)?.[0] ?? '')}`;
    throw new PatchbayError('invalid-name', `Invalid server name ${JSON.stringify(name)}: ${why}.`, {
      hint: 'Use 1 to 64 letters, digits, "_" or "-", e.g. `patchbay add my-server https://example.com/mcp`.',
    });
  }
  return name;
}

export interface UrlCheck {
  url: URL;
  warnings: string[];
}

/** An absolute http(s) URL with a host. Plain http off loopback is allowed but warned about. */
export function validateUrl(text: string, label = 'URL'): UrlCheck {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PatchbayError(
      'invalid-url',
      `Invalid ${label} ${JSON.stringify(text)}: it is not an absolute URL.`,
      {
        hint: 'Give the full address with its scheme, e.g. https://mcp.example.com/mcp.',
      },
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new PatchbayError(
      'invalid-url',
      `Invalid ${label} ${JSON.stringify(text)}: the scheme ${url.protocol} is not supported (only http: and https:).`,
      { hint: 'For a local command use stdio: `patchbay add <name> -- <command> [args...]`.' },
    );
  }
  if (!url.hostname) {
    throw new PatchbayError('invalid-url', `Invalid ${label} ${JSON.stringify(text)}: it has no host.`, {
      hint: 'Give the full address, e.g. https://mcp.example.com/mcp.',
    });
  }
  const warnings: string[] = [];
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    warnings.push(
      `${label} ${url.origin} uses plain http to a host that is not loopback: requests and tokens travel unencrypted. Use https:// if the server offers it.`,
    );
  }
  return { url, warnings };
}

// RFC 9110 token characters for a field name.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function validateHeader(name: string, value: string): void {
  if (!HEADER_NAME.test(name)) {
    throw new PatchbayError(
      'invalid-header',
      `Invalid header name ${JSON.stringify(name)}: it is not an HTTP token.`,
      {
        hint: 'Header names are letters, digits and !#$%&\'*+.^_`|~-, e.g. -H "X-Api-Key: ${API_KEY}".',
      },
    );
  }
  if (/[\r\n\0]/.test(value)) {
    throw new PatchbayError(
      'invalid-header',
      `Invalid value for header ${name}: it contains a line break or NUL, which would split the request.`,
      { hint: 'Put the value on one line.' },
    );
  }
}

/** `-H "Name: value"` → [name, value]. */
export function parseHeaderFlag(flag: string): [string, string] {
  const colon = flag.indexOf(':');
  if (colon <= 0) {
    throw new PatchbayError(
      'invalid-header',
      `Invalid header ${JSON.stringify(flag)}: expected "Name: value".`,
      {
        hint: 'Write each header as -H "Name: value", e.g. -H "Authorization: Bearer ${TOKEN}".',
      },
    );
  }
  const name = flag.slice(0, colon).trim();
  const value = flag.slice(colon + 1).trim();
  validateHeader(name, value);
  return [name, value];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `-e KEY=value` → [key, value]. One value per flag: the value may itself contain "=" or ",". */
export function parseEnvFlag(flag: string): [string, string] {
  const equals = flag.indexOf('=');
  const key = equals === -1 ? flag : flag.slice(0, equals);
  if (equals === -1 || !ENV_NAME.test(key)) {
    throw new PatchbayError(
      'invalid-env',
      `Invalid environment variable ${JSON.stringify(flag)}: expected KEY=value.`,
      {
        hint: 'Pass one variable per flag, e.g. -e API_KEY=${API_KEY} -e DEBUG=1.',
      },
    );
  }
  return [key, flag.slice(equals + 1)];
}

export function isValidEnvName(name: string): boolean {
  return ENV_NAME.test(name);
}
