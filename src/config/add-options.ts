/**
 * What `patchbay add` turns into an entry, and what it refuses: the pure parse of its operands and
 * flags. The CLI (cli/commands/add.ts) and the console's "Add custom connector" form
 * (console/) both go through it, so both accept the same input and say the same errors.
 * A URL without a transport is always http: a remote server is never silently treated as a command.
 */

import { isAbsolute, resolve } from 'node:path';

import { PatchbayError } from '../errors.js';
import { parseDuration } from '../core/duration.js';
import { SCOPES, TRANSPORTS, type Scope, type ServerEntry, type Transport } from './entry.js';
import { hasReferences } from './expand.js';
import { isSecretName, maskUrl, maskValue } from './mask.js';
import { isLoopbackHost } from '../core/loopback.js';
import {
  isValidEnvName,
  parseEnvFlag,
  parseHeaderFlag,
  validateHeader,
  validateName,
  validateUrl,
} from './validate.js';

export interface RawAddFlags {
  transport?: string;
  scope?: string;
  header?: string[];
  env?: string[];
  clientId?: string;
  clientSecret?: boolean;
  callbackPort?: string;
  timeout?: string;
  headersHelper?: string;
  caFile?: string;
  clientCert?: string;
  clientKey?: string;
  force?: boolean;
}

export interface AddOptions {
  name: string;
  scope: Scope;
  entry: ServerEntry;
  force: boolean;
  wantsClientSecret: boolean;
  warnings: string[];
}

export function parseScope(text: string | undefined, fallback: Scope = 'local'): Scope {
  if (text === undefined) return fallback;
  if ((SCOPES as readonly string[]).includes(text)) return text as Scope;
  throw new PatchbayError(
    'usage',
    `Invalid scope ${JSON.stringify(text)}: expected local, project or user.`,
    {
      hint: 'local: you, this project · project: .mcp.json, shared with the team · user: you, every project.',
    },
  );
}

function parseTransport(text: string | undefined): Transport | undefined {
  if (text === undefined) return undefined;
  if (text === 'streamable-http') return 'http';
  if ((TRANSPORTS as readonly string[]).includes(text)) return text as Transport;
  throw new PatchbayError(
    'usage',
    `Invalid transport ${JSON.stringify(text)}: expected http, sse or stdio.`,
    {
      hint: 'http is Streamable HTTP (the default for a URL); sse is the legacy HTTP+SSE transport; stdio runs a local command.',
    },
  );
}

function parsePositiveInteger(text: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new PatchbayError(
      'usage',
      `Invalid ${flag} ${JSON.stringify(text)}: expected a whole number from 1 to ${max}.`,
    );
  }
  return value;
}

/**
 * Pure parse of the command line. `afterDashDash` tells whether the operands came after `--`
 * (a command), which commander does not report itself.
 */
export function parseAddOptions(
  name: string,
  operands: string[],
  flags: RawAddFlags,
  afterDashDash: boolean,
): AddOptions {
  validateName(name);
  const scope = parseScope(flags.scope);
  const requested = parseTransport(flags.transport);
  const warnings: string[] = [];
  let entry: ServerEntry;

  if (operands.length === 0) {
    throw new PatchbayError('usage', `Missing the URL or command for ${name}.`, {
      hint: `patchbay add ${name} https://mcp.example.com/mcp   or   patchbay add ${name} -- npx -y some-mcp-server`,
    });
  }
  const isCommand = afterDashDash || requested === 'stdio';
  if (isCommand) {
    if (requested && requested !== 'stdio') {
      throw new PatchbayError('usage', `-t ${requested} takes a URL, but a command was given after "--".`, {
        hint: `For a remote server: patchbay add -t ${requested} ${name} <url>`,
      });
    }
    entry = { transport: 'stdio', command: operands[0]!, args: operands.slice(1) };
  } else {
    if (operands.length > 1) {
      throw new PatchbayError(
        'usage',
        `Too many arguments: expected one URL after the name, got ${operands.length} (${operands.join(' ')}).`,
        {
          hint: `To run a command, put it after "--": patchbay add ${name} -- ${operands.join(' ')}`,
        },
      );
    }
    const url = operands[0]!;
    warnings.push(...checkUrlOperand(name, url));
    entry = { transport: requested ?? 'http', url };
  }

  const headers = flags.header ?? [];
  const envFlags = flags.env ?? [];
  if (entry.transport === 'stdio') {
    if (headers.length > 0)
      throw new PatchbayError(
        'usage',
        '-H/--header applies to http and sse servers, not to a stdio command.',
        { hint: 'Pass settings to a command with -e KEY=value.' },
      );
    for (const flag of [
      'clientId',
      'clientSecret',
      'callbackPort',
      'headersHelper',
      'caFile',
      'clientCert',
      'clientKey',
    ] as const) {
      if (flags[flag] !== undefined && flags[flag] !== false) {
        throw new PatchbayError(
          'usage',
          `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} applies to http and sse servers, not to a stdio command.`,
        );
      }
    }
    if (envFlags.length > 0) {
      const env: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const flag of envFlags) {
        const [key, value] = parseEnvFlag(flag);
        env[key] = value;
      }
      entry.env = env;
    }
  } else {
    if (envFlags.length > 0) {
      throw new PatchbayError('usage', '-e/--env applies to stdio commands, not to a remote server.', {
        hint: 'Send settings to a remote server as headers: -H "X-Api-Key: ${API_KEY}".',
      });
    }
    if (headers.length > 0) {
      const map: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const flag of headers) {
        const [key, value] = parseHeaderFlag(flag);
        map[key] = value;
      }
      entry.headers = map;
    }
    if (flags.headersHelper) entry.headersHelper = flags.headersHelper;
    const tls = tlsFromFlags(flags);
    if (tls) entry.tls = tls;
    if (flags.clientId !== undefined || flags.callbackPort !== undefined) {
      entry.oauth = {};
      if (flags.clientId !== undefined) {
        if (flags.clientId === '') throw new PatchbayError('usage', '--client-id is empty.');
        entry.oauth.clientId = flags.clientId;
      }
      if (flags.callbackPort !== undefined)
        entry.oauth.callbackPort = parsePositiveInteger(flags.callbackPort, '--callback-port', 65535);
    }
    if (flags.clientSecret && flags.clientId === undefined) {
      throw new PatchbayError(
        'usage',
        '--client-secret needs --client-id: a secret belongs to a pre-registered client.',
        {
          hint: `patchbay add ${name} <url> --client-id <id> --client-secret`,
        },
      );
    }
  }
  if (flags.timeout !== undefined)
    // Seconds when bare, as every other --timeout; the file keeps milliseconds (Claude Code's format).
    entry.timeout = parseDuration(flags.timeout, '--timeout');
  if (scope === 'project') warnings.push(...literalSecretWarnings(entry));
  return {
    name,
    scope,
    entry,
    force: Boolean(flags.force),
    wantsClientSecret: Boolean(flags.clientSecret),
    warnings,
  };
}

/**
 * The URL operand of `add` (and any URL an edit sets): a scheme, a URL, and its warnings. A
 * templated URL can only be checked once expanded, which happens when it is used.
 */
function checkUrlOperand(name: string, url: string): string[] {
  const withScheme = hasReferences(url) ? undefined : schemeFor(url);
  if (withScheme) {
    throw new PatchbayError('usage', `${JSON.stringify(url)} has no scheme (https:// or http://).`, {
      hint: `Did you mean ${withScheme}? patchbay add ${name} ${withScheme}`,
    });
  }
  if (!/^[a-z][a-z0-9+.-]*:/i.test(url) && !hasReferences(url)) {
    throw new PatchbayError('usage', `${JSON.stringify(url)} is not a URL.`, {
      hint: `For a remote server give its full URL (https://…); to run a command, put it after "--": patchbay add ${name} -- ${url}`,
    });
  }
  return hasReferences(url) ? [] : validateUrl(url).warnings;
}

/**
 * An edited entry (`patchbay set`/`edit`, the console's form), checked as `add` checks a new one:
 * its URL, header names and values, environment names; returns add's warnings for it (plain http,
 * a literal secret in the team's `.mcp.json`). The file-shape checks are `entryFromRaw`'s.
 */
export function checkEditedEntry(name: string, scope: Scope, entry: ServerEntry): string[] {
  const warnings: string[] = [];
  if (entry.transport !== 'stdio' && entry.url !== undefined)
    warnings.push(...checkUrlOperand(name, entry.url));
  for (const [header, value] of Object.entries(entry.headers ?? {})) validateHeader(header, value);
  for (const key of Object.keys(entry.env ?? {}))
    if (!isValidEnvName(key))
      throw new PatchbayError('invalid-env', `Invalid environment variable name ${JSON.stringify(key)}.`, {
        hint: 'A name is letters, digits and "_", not starting with a digit, e.g. API_KEY.',
      });
  if (scope === 'project') warnings.push(...literalSecretWarnings(entry));
  return warnings;
}

/** Secrets written in clear into the team's committed `.mcp.json` deserve a warning. */
export function literalSecretWarnings(entry: ServerEntry): string[] {
  const warnings: string[] = [];
  const check = (kind: string, map: Record<string, string> | undefined) => {
    for (const [key, value] of Object.entries(map ?? {})) {
      if (isSecretName(key) && maskValue(value) !== value) {
        warnings.push(
          `${kind} ${key} holds a literal secret, and .mcp.json is usually committed. Use a variable instead, e.g. ${kind === 'header' ? `-H "${key}: ${/^bearer /i.test(value) ? 'Bearer ' : ''}\${${envNameFor(key)}}"` : `-e ${key}=\${${key}}`}.`,
        );
      }
    }
  };
  check('header', entry.headers);
  check('env', entry.env);
  if (entry.url && maskUrl(entry.url) !== entry.url) {
    warnings.push(
      'the URL holds a password or a secret-looking query parameter, and .mcp.json is usually committed. Use ${VAR} in the URL instead.',
    );
  }
  return warnings;
}

function envNameFor(header: string): string {
  const name = header
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
  return name === 'AUTHORIZATION' ? 'API_TOKEN' : name;
}

function tlsFromFlags(flags: RawAddFlags): ServerEntry['tls'] {
  if ((flags.clientCert === undefined) !== (flags.clientKey === undefined)) {
    throw new PatchbayError('usage', 'A client certificate needs both --client-cert and --client-key.', {
      hint: 'patchbay add <name> <url> --client-cert client.pem --client-key client-key.pem',
    });
  }
  const tls: NonNullable<ServerEntry['tls']> = {};
  // Stored absolute: a relative path in the file would be read from the file's directory.
  const absolute = (path: string, flag: string) => {
    if (path === '') throw new PatchbayError('usage', `${flag} is empty.`);
    return hasReferences(path) || isAbsolute(path) ? path : resolve(path);
  };
  if (flags.caFile !== undefined) tls.caFile = absolute(flags.caFile, '--ca-file');
  if (flags.clientCert !== undefined) tls.certFile = absolute(flags.clientCert, '--client-cert');
  if (flags.clientKey !== undefined) tls.keyFile = absolute(flags.clientKey, '--client-key');
  return Object.keys(tls).length > 0 ? tls : undefined;
}

/**
 * `mcp.example.com/mcp` or `localhost:3000/mcp`: an address typed without its scheme (the second
 * even parses as the URL scheme "localhost:"). The URL it most likely means: https, or http for a
 * loopback host, where local servers listen without TLS. Undefined when it does not look like one.
 */
export function schemeFor(text: string): string | undefined {
  // `server.py`, `index.js`: a script meant for after "--", not a host.
  if (text.includes('://') || /\.(?:[cm]?js|ts|py|sh|rb|jar|exe|json|toml|ya?ml)$/i.test(text))
    return undefined;
  const match =
    /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)(:\d{1,5})?(?:[/?#]|$)/i.exec(
      text,
    );
  if (!match) return undefined;
  const host = match[1]!;
  // A bare word ("notion") is more likely a command meant for after "--" than a host.
  if (!match[2] && !host.includes('.') && !host.startsWith('[') && host.toLowerCase() !== 'localhost')
    return undefined;
  const scheme = isLoopbackHost(host.replace(/^\[|\]$/g, '')) ? 'http' : 'https';
  return `${scheme}://${text}`;
}
