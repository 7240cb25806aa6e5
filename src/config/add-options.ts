/**
 * What `patchbay add` turns into an entry, and what it refuses: the pure parse of its operands and
 * flags. The CLI (cli/commands/add.ts) and the console's "Add custom connector" form
 * (console/) both go through it, so both accept the same input and say the same errors.
 * A URL without a transport is always http: a remote server is never silently treated as a command.
 */

import { isAbsolute, resolve } from 'node:path';

import { PatchbayError } from '../errors.js';
import { parseDuration } from '../core/duration.js';
import {
  CLIENT_AUTH_METHODS,
  OAUTH_GRANTS,
  SCOPES,
  TRANSPORTS,
  type Scope,
  type ServerEntry,
  type Transport,
} from './entry.js';
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
  /** The OAuth client's private key (private_key_jwt), when --client-key is taken by mTLS. */
  oauthClientKey?: string;
  grant?: string;
  clientAuth?: string;
  idpIssuer?: string;
  idpClientId?: string;
  idpClientSecret?: boolean;
  idTokenFile?: string;
  idTokenEnv?: string;
  force?: boolean;
}

export interface AddOptions {
  name: string;
  scope: Scope;
  entry: ServerEntry;
  force: boolean;
  wantsClientSecret: boolean;
  /** `--client-key FILE` (without --client-cert) or `--oauth-client-key FILE`: read and stored privately. */
  clientKeyFile?: string;
  /** `--idp-client-secret`: the secret of patchbay's client at the IdP (cross-app access). */
  wantsIdpClientSecret?: boolean;
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
  let clientKeyFile: string | undefined;

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
      'oauthClientKey',
      'grant',
      'clientAuth',
      'idpIssuer',
      'idpClientId',
      'idpClientSecret',
      'idTokenFile',
      'idTokenEnv',
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
    // --client-key is the mTLS key beside --client-cert (as it always was); alone, the OAuth client's.
    const oauthKeyFlag =
      flags.oauthClientKey ?? (flags.clientCert === undefined ? flags.clientKey : undefined);
    const tls = tlsFromFlags(flags.clientCert === undefined ? { ...flags, clientKey: undefined } : flags);
    if (tls) entry.tls = tls;
    if (flags.clientKey !== undefined && flags.clientCert === undefined && flags.clientId === undefined) {
      throw new PatchbayError(
        'usage',
        "--client-key without --client-cert is the OAuth client's private key (private_key_jwt), and needs --client-id; with --client-cert it is the key of a TLS client certificate.",
        {
          hint: `patchbay add ${name} <url> --client-id <id> --client-key private-key.pem   or   --client-cert client.pem --client-key client-key.pem`,
        },
      );
    }
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
    machineFlags(name, flags, entry, oauthKeyFlag, warnings);
    if (oauthKeyFlag !== undefined) clientKeyFile = absolutePath(oauthKeyFlag, '--client-key');
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
    ...(clientKeyFile !== undefined ? { clientKeyFile } : {}),
    wantsIdpClientSecret: Boolean(flags.idpClientSecret),
    warnings,
  };
}

/**
 * Logins without a browser: `--grant`, `--client-auth`, the OAuth client key, and cross-app
 * access's IdP (`--idp-issuer`, `--idp-client-id`, where the ID token is). Written into
 * `entry.oauth`; the secrets and the key are stored by the caller, never in the entry.
 */
function machineFlags(
  name: string,
  flags: RawAddFlags,
  entry: ServerEntry,
  oauthKeyFlag: string | undefined,
  found: string[],
): void {
  const crossApp = [flags.idpIssuer, flags.idpClientId, flags.idTokenFile, flags.idTokenEnv].some(
    (value) => value !== undefined,
  );
  if (flags.idpClientSecret && !crossApp) {
    throw new PatchbayError('usage', '--idp-client-secret goes with --idp-issuer and --idp-client-id.');
  }
  if (flags.clientSecret && oauthKeyFlag !== undefined) {
    throw new PatchbayError(
      'usage',
      'Give the OAuth client a secret (--client-secret) or a private key (--client-key), not both.',
    );
  }
  const grant = parseChoice(flags.grant, '--grant', OAUTH_GRANTS);
  const method = parseChoice(flags.clientAuth, '--client-auth', CLIENT_AUTH_METHODS);
  if (!grant && !method && !crossApp && oauthKeyFlag === undefined) return;
  const effective =
    grant ?? (crossApp ? 'cross_app_access' : oauthKeyFlag !== undefined ? 'client_credentials' : undefined);
  if (effective !== undefined && effective !== 'authorization_code' && flags.clientId === undefined) {
    throw new PatchbayError(
      'usage',
      `${effective === 'cross_app_access' ? 'Cross-app access' : 'A client credentials login'} needs --client-id: the client the authorization server knows.`,
      {
        hint: `patchbay add ${name} <url> --client-id <id> --client-secret   (or --client-key <private-key-file>)`,
      },
    );
  }
  if (
    (effective === 'client_credentials' || effective === 'cross_app_access') &&
    !flags.clientSecret &&
    oauthKeyFlag === undefined
  ) {
    throw new PatchbayError(
      'usage',
      `--grant ${effective} needs the client's secret (--client-secret) or private key (--client-key FILE).`,
      {
        hint: `MCP_CLIENT_SECRET=… patchbay add ${name} <url> --client-id <id> --client-secret${effective === 'cross_app_access' ? ' --idp-issuer <url> --idp-client-id <id> --id-token-file <file>' : ''}`,
      },
    );
  }
  if (method === 'private_key_jwt' && oauthKeyFlag === undefined) {
    throw new PatchbayError(
      'usage',
      '--client-auth private_key_jwt needs the private key: --client-key FILE.',
    );
  }
  if ((method === 'client_secret_basic' || method === 'client_secret_post') && !flags.clientSecret) {
    throw new PatchbayError('usage', `--client-auth ${method} needs the secret: --client-secret.`);
  }
  if (effective === 'cross_app_access' && (!flags.idpIssuer || !flags.idpClientId)) {
    throw new PatchbayError(
      'usage',
      "Cross-app access needs the organisation's identity provider: --idp-issuer <url> and --idp-client-id <id>.",
      {
        hint: `patchbay add ${name} <url> --client-id <id> --client-secret --idp-issuer https://idp.example.com --idp-client-id <id> --id-token-file <file>`,
      },
    );
  }
  if (crossApp && effective !== 'cross_app_access') {
    throw new PatchbayError(
      'usage',
      `--idp-* and --id-token-* flags are for --grant cross_app_access, not ${effective}.`,
    );
  }
  if (flags.idTokenFile !== undefined && flags.idTokenEnv !== undefined) {
    throw new PatchbayError('usage', 'Give the ID token one place: --id-token-file or --id-token-env.');
  }
  const oauth = (entry.oauth ??= {});
  if (effective) oauth.grant = effective;
  if (method) oauth.clientAuthMethod = method;
  if (flags.idpIssuer !== undefined) {
    found.push(...validateUrl(flags.idpIssuer, '--idp-issuer').warnings);
    oauth.idpIssuer = flags.idpIssuer;
  }
  if (flags.idpClientId !== undefined) {
    if (flags.idpClientId === '') throw new PatchbayError('usage', '--idp-client-id is empty.');
    oauth.idpClientId = flags.idpClientId;
  }
  if (flags.idTokenFile !== undefined) oauth.idTokenFile = absolutePath(flags.idTokenFile, '--id-token-file');
  if (flags.idTokenEnv !== undefined) {
    if (!isValidEnvName(flags.idTokenEnv))
      throw new PatchbayError(
        'usage',
        `--id-token-env ${JSON.stringify(flags.idTokenEnv)} is not a variable name.`,
      );
    oauth.idTokenEnv = flags.idTokenEnv;
  }
}

function parseChoice<T extends string>(
  value: string | undefined,
  flag: string,
  choices: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new PatchbayError(
    'usage',
    `Invalid ${flag} ${JSON.stringify(value)}: expected ${choices.join(', ')}.`,
  );
}

/** Stored absolute: a relative path in the file would be read from the file's directory. */
function absolutePath(path: string, flag: string): string {
  if (path === '') throw new PatchbayError('usage', `${flag} is empty.`);
  return hasReferences(path) || isAbsolute(path) ? path : resolve(path);
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
