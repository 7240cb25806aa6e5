/**
 * A server entry as Claude Code's `.mcp.json` spells it, and its normalised form.
 *
 * The file shape is kept verbatim (`raw`) so that keys patchbay does not know survive a rewrite;
 * `ServerEntry` is the checked, normalised view every other module reads.
 */

import { PatchbayError } from '../errors.js';
import {
  createObject,
  getOwn,
  isObject,
  setOwn,
  type JsonObject,
  type JsonValue,
  type Position,
} from '../core/json-source.js';

export type Transport = 'http' | 'sse' | 'stdio';
export const TRANSPORTS: readonly Transport[] = ['http', 'sse', 'stdio'];

export type Scope = 'local' | 'project' | 'user';
/** Highest precedence first. */
export const SCOPES: readonly Scope[] = ['local', 'project', 'user'];

export interface OAuthSettings {
  clientId?: string;
  callbackPort?: number;
  /** Space-separated, as in Claude Code. */
  scopes?: string;
  authServerMetadataUrl?: string;
  /**
   * How a token is obtained: a person in a browser (`authorization_code`, the default), a machine
   * client with its own secret or key (`client_credentials`), or an identity assertion from the
   * organisation's IdP exchanged for an ID-JAG and then for the server's token
   * (`cross_app_access`, SEP-990). The secret or key lives in the credential store, never here.
   */
  grant?: OAuthGrant;
  /** How the client authenticates at the token endpoint; default: from the server's metadata. */
  clientAuthMethod?: ClientAuthMethod;
  /** Cross-app access: the organisation's IdP (its issuer; its token endpoint is discovered). */
  idpIssuer?: string;
  /** Cross-app access: patchbay's client at the IdP. */
  idpClientId?: string;
  /** Cross-app access: a file holding the IdP's ID token, read at each grant (kept fresh by others). */
  idTokenFile?: string;
  /** Cross-app access: an environment variable holding the IdP's ID token, read at each grant. */
  idTokenEnv?: string;
}

export const OAUTH_GRANTS = ['authorization_code', 'client_credentials', 'cross_app_access'] as const;
export type OAuthGrant = (typeof OAUTH_GRANTS)[number];
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/**
 * Per-server TLS for a private CA or a client certificate (mTLS): PEM file paths, `${VAR}`
 * expanded; a relative path is taken from the directory of the file that holds the entry.
 * Not part of Claude Code's format, which ignores the key.
 */
export interface TlsSettings {
  /** CA certificate(s) trusted in addition to the system's and NODE_EXTRA_CA_CERTS. */
  caFile?: string;
  /** Client certificate chain for mTLS; needs keyFile. */
  certFile?: string;
  keyFile?: string;
}

export const TLS_KEYS = ['caFile', 'certFile', 'keyFile'] as const;

export interface ServerEntry {
  transport: Transport;
  url?: string;
  headers?: Record<string, string>;
  headersHelper?: string;
  oauth?: OAuthSettings;
  tls?: TlsSettings;
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  /**
   * stdio, patchbay's own key (Claude Code ignores it): false starts the server with a minimal
   * environment instead of the user's (connect/child-env.ts). Unset: PATCHBAY_STDIO_INHERIT_ENV,
   * else the user's environment, as other hosts give it.
   */
  inheritEnv?: boolean;
  /**
   * http/sse, patchbay's own key (Claude Code ignores it): a team gateway calls this server with
   * each member's own login (kept in its member vault) instead of one shared login. Unset: shared.
   */
  perMember?: boolean;
  /** Milliseconds. */
  timeout?: number;
}

export interface EntryProblem {
  /** JSON path inside the entry, e.g. ['headers', 'X-Key']. */
  path: Array<string | number>;
  message: string;
}

function typeName(value: JsonValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (isObject(value)) return 'an object';
  return `a ${typeof value}`;
}

function stringMap(
  value: JsonValue | undefined,
  key: string,
  problems: EntryProblem[],
): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) {
    problems.push({ path: [key], message: `expected an object of strings but found ${typeName(value)}` });
    return undefined;
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, inner] of Object.entries(value)) {
    if (typeof inner !== 'string') {
      problems.push({ path: [key, name], message: `expected a string but found ${typeName(inner)}` });
      continue;
    }
    setOwn(out, name, inner);
  }
  return out;
}

/**
 * Check one entry of `mcpServers` and normalise it. Problems are collected, not thrown, so a
 * file with one bad entry still serves the others and the message can list every mistake.
 */
export function entryFromRaw(raw: JsonValue): { entry?: ServerEntry; problems: EntryProblem[] } {
  const problems: EntryProblem[] = [];
  if (!isObject(raw)) {
    return { problems: [{ path: [], message: `expected an object but found ${typeName(raw)}` }] };
  }
  const type = getOwn(raw, 'type');
  const url = getOwn(raw, 'url');
  const command = getOwn(raw, 'command');
  let transport: Transport | undefined;
  if (type === undefined) {
    // Claude Code's rule: no type and a command is stdio; a URL alone is http.
    if (command !== undefined) transport = 'stdio';
    else if (url !== undefined) transport = 'http';
    else problems.push({ path: [], message: 'expected "url" (a remote server) or "command" (a local one)' });
  } else if (type === 'http' || type === 'streamable-http') {
    transport = 'http';
  } else if (type === 'sse' || type === 'stdio') {
    transport = type;
  } else {
    problems.push({
      path: ['type'],
      message: `expected "http", "sse" or "stdio" but found ${typeof type === 'string' ? JSON.stringify(type) : typeName(type)}`,
    });
  }

  const entry: ServerEntry = { transport: transport ?? 'http' };
  const timeout = getOwn(raw, 'timeout');
  if (timeout !== undefined) {
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout <= 0) {
      problems.push({
        path: ['timeout'],
        message: `expected a positive whole number of milliseconds but found ${JSON.stringify(timeout)}`,
      });
    } else entry.timeout = timeout;
  }

  if (transport === 'stdio') {
    if (typeof command !== 'string' || command.length === 0) {
      problems.push({
        path: ['command'],
        message: `expected a non-empty string but found ${typeName(command)}`,
      });
    } else entry.command = command;
    const args = getOwn(raw, 'args');
    if (args !== undefined) {
      if (!Array.isArray(args))
        problems.push({
          path: ['args'],
          message: `expected an array of strings but found ${typeName(args)}`,
        });
      else {
        args.forEach((arg, i) => {
          if (typeof arg !== 'string')
            problems.push({ path: ['args', i], message: `expected a string but found ${typeName(arg)}` });
        });
        entry.args = args.filter((arg): arg is string => typeof arg === 'string');
      }
    }
    const env = stringMap(getOwn(raw, 'env'), 'env', problems);
    if (env) entry.env = env;
    const inheritEnv = getOwn(raw, 'inheritEnv');
    if (inheritEnv !== undefined) {
      if (typeof inheritEnv !== 'boolean')
        problems.push({
          path: ['inheritEnv'],
          message: `expected true or false but found ${typeName(inheritEnv)}`,
        });
      else entry.inheritEnv = inheritEnv;
    }
  } else if (transport) {
    if (typeof url !== 'string' || url.length === 0) {
      problems.push({ path: ['url'], message: `expected a URL string but found ${typeName(url)}` });
    } else entry.url = url;
    const headers = stringMap(getOwn(raw, 'headers'), 'headers', problems);
    if (headers) entry.headers = headers;
    const helper = getOwn(raw, 'headersHelper');
    if (helper !== undefined) {
      if (typeof helper !== 'string' || helper.length === 0) {
        problems.push({
          path: ['headersHelper'],
          message: `expected a command string but found ${typeName(helper)}`,
        });
      } else entry.headersHelper = helper;
    }
    const oauth = getOwn(raw, 'oauth');
    if (oauth !== undefined) entry.oauth = oauthFromRaw(oauth, problems);
    const tls = getOwn(raw, 'tls');
    if (tls !== undefined) entry.tls = tlsFromRaw(tls, problems);
    const perMember = getOwn(raw, 'perMember');
    if (perMember !== undefined) {
      if (typeof perMember !== 'boolean')
        problems.push({
          path: ['perMember'],
          message: `expected true or false but found ${typeName(perMember)}`,
        });
      else entry.perMember = perMember;
    }
  }
  return problems.length === 0 ? { entry, problems } : { problems };
}

function oauthFromRaw(raw: JsonValue, problems: EntryProblem[]): OAuthSettings | undefined {
  if (!isObject(raw)) {
    problems.push({ path: ['oauth'], message: `expected an object but found ${typeName(raw)}` });
    return undefined;
  }
  const settings: OAuthSettings = {};
  for (const key of [
    'clientId',
    'scopes',
    'authServerMetadataUrl',
    'idpIssuer',
    'idpClientId',
    'idTokenFile',
    'idTokenEnv',
  ] as const) {
    const value = getOwn(raw, key);
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0) {
      problems.push({
        path: ['oauth', key],
        message: `expected a non-empty string but found ${typeName(value)}`,
      });
    } else settings[key] = value;
  }
  const port = getOwn(raw, 'callbackPort');
  if (port !== undefined) {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      problems.push({
        path: ['oauth', 'callbackPort'],
        message: `expected a port number (1-65535) but found ${JSON.stringify(port)}`,
      });
    } else settings.callbackPort = port;
  }
  const grant = getOwn(raw, 'grant');
  if (grant !== undefined) {
    if (typeof grant !== 'string' || !(OAUTH_GRANTS as readonly string[]).includes(grant)) {
      problems.push({
        path: ['oauth', 'grant'],
        message: `expected one of ${OAUTH_GRANTS.join(', ')} but found ${JSON.stringify(grant)}`,
      });
    } else settings.grant = grant as OAuthGrant;
  }
  const method = getOwn(raw, 'clientAuthMethod');
  if (method !== undefined) {
    if (typeof method !== 'string' || !(CLIENT_AUTH_METHODS as readonly string[]).includes(method)) {
      problems.push({
        path: ['oauth', 'clientAuthMethod'],
        message: `expected one of ${CLIENT_AUTH_METHODS.join(', ')} but found ${JSON.stringify(method)}`,
      });
    } else settings.clientAuthMethod = method as ClientAuthMethod;
  }
  return settings;
}

function tlsFromRaw(raw: JsonValue, problems: EntryProblem[]): TlsSettings | undefined {
  if (!isObject(raw)) {
    problems.push({ path: ['tls'], message: `expected an object but found ${typeName(raw)}` });
    return undefined;
  }
  const settings: TlsSettings = {};
  for (const key of TLS_KEYS) {
    const value = getOwn(raw, key);
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0) {
      problems.push({ path: ['tls', key], message: `expected a file path but found ${typeName(value)}` });
    } else settings[key] = value;
  }
  if ((settings.certFile === undefined) !== (settings.keyFile === undefined)) {
    problems.push({
      path: ['tls', settings.certFile === undefined ? 'certFile' : 'keyFile'],
      message: 'a client certificate needs both certFile and keyFile',
    });
  }
  return settings;
}

/** The file shape patchbay writes: what Claude Code writes for the same entry. */
export function entryToRaw(entry: ServerEntry): JsonObject {
  const raw = createObject();
  setOwn(raw, 'type', entry.transport);
  if (entry.transport === 'stdio') {
    setOwn(raw, 'command', entry.command ?? '');
    setOwn(raw, 'args', [...(entry.args ?? [])]);
    setOwn(raw, 'env', mapToJson(entry.env ?? {}));
    if (entry.inheritEnv !== undefined) setOwn(raw, 'inheritEnv', entry.inheritEnv);
  } else {
    setOwn(raw, 'url', entry.url ?? '');
    if (entry.headers && Object.keys(entry.headers).length > 0)
      setOwn(raw, 'headers', mapToJson(entry.headers));
    if (entry.headersHelper) setOwn(raw, 'headersHelper', entry.headersHelper);
    if (entry.oauth && Object.keys(entry.oauth).length > 0) {
      const oauth = createObject();
      for (const [key, value] of Object.entries(entry.oauth))
        if (value !== undefined) setOwn(oauth, key, value);
      setOwn(raw, 'oauth', oauth);
    }
    if (entry.tls && Object.keys(entry.tls).length > 0) {
      const tls = createObject();
      for (const key of TLS_KEYS) if (entry.tls[key] !== undefined) setOwn(tls, key, entry.tls[key]);
      setOwn(raw, 'tls', tls);
    }
    if (entry.perMember !== undefined) setOwn(raw, 'perMember', entry.perMember);
  }
  if (entry.timeout !== undefined) setOwn(raw, 'timeout', entry.timeout);
  return raw;
}

function mapToJson(map: Record<string, string>): JsonObject {
  const out = createObject();
  for (const [key, value] of Object.entries(map)) setOwn(out, key, value);
  return out;
}

/** `file:line:col: mcpServers.name.field: message`, the form editors and terminals link. */
export function formatProblem(
  fileLabel: string,
  entryPath: ReadonlyArray<string | number>,
  problem: EntryProblem,
  positionOf: (path: ReadonlyArray<string | number>) => Position | undefined,
): string {
  const fullPath = [...entryPath, ...problem.path];
  // Fall back to the nearest enclosing value that has a position (a missing key has none).
  let position: Position | undefined;
  for (let length = fullPath.length; length >= 0 && !position; length--)
    position = positionOf(fullPath.slice(0, length));
  const where = position ? `${fileLabel}:${position.line}:${position.column}` : fileLabel;
  return `${where}: ${fullPath.join('.')}: ${problem.message}`;
}

export function entryProblemsError(messages: string[]): PatchbayError {
  return new PatchbayError('config-shape', messages.join('\n'), {
    hint: 'Fix the entry in the file (see the Claude Code .mcp.json format in `patchbay help config`).',
  });
}
