/**
 * `patchbay set <name> <key> <value>` and `patchbay set <name> --unset <key>`: one setting of a
 * configured server changed in place, in the scope that holds it (the one in effect, or -s), every
 * other key of the entry kept. The edit is the one `patchbay edit` and the console run
 * (use/edit-entry.ts); values are masked in what is printed.
 */

import { isAbsolute, resolve } from 'node:path';

import { PatchbayError } from '../../errors.js';
import { parseScope } from '../../config/add-options.js';
import type { Scope, ServerEntry } from '../../config/entry.js';
import { hasReferences } from '../../config/expand.js';
import { MASK, maskMap, maskUrl } from '../../config/mask.js';
import { validateName } from '../../config/validate.js';
import { splitCommandLine } from '../../core/command-line.js';
import { parseDuration } from '../../core/duration.js';
import {
  createObject,
  getOwn,
  isObject,
  setOwn,
  type JsonObject,
  type JsonValue,
} from '../../core/json-source.js';
import { editEntry, entryToEdit } from '../../use/edit-entry.js';
import { isInteractive, note, warn, type Io } from '../io.js';
import { readHiddenLine } from '../prompt.js';
import { loadForCommand } from '../registry-loader.js';

type Kind = 'string' | 'url' | 'transport' | 'duration' | 'port' | 'path' | 'boolean' | 'args' | 'secret';

interface KeySpec {
  /** Where the value lives in the entry; a map key (header.<Name>) adds one more step. */
  path: string[];
  kind: Kind;
  /** Only for remote (http, sse) or only for stdio servers. */
  for?: 'remote' | 'stdio';
  /** `<key>.<NAME>`: a map whose names the user chooses. */
  map?: boolean;
  /** Required by the entry: it can be changed, not removed. */
  required?: boolean;
}

/** Every key `set` knows, as typed (kebab-case; camelCase is accepted too). */
export const SET_KEYS: Readonly<Record<string, KeySpec>> = {
  url: { path: ['url'], kind: 'url', for: 'remote', required: true },
  transport: { path: ['type'], kind: 'transport', for: 'remote' },
  header: { path: ['headers'], kind: 'string', for: 'remote', map: true },
  'headers-helper': { path: ['headersHelper'], kind: 'string', for: 'remote' },
  'oauth.client-id': { path: ['oauth', 'clientId'], kind: 'string', for: 'remote' },
  'oauth.client-secret': { path: [], kind: 'secret', for: 'remote' },
  'oauth.callback-port': { path: ['oauth', 'callbackPort'], kind: 'port', for: 'remote' },
  'oauth.scope': { path: ['oauth', 'scopes'], kind: 'string', for: 'remote' },
  'oauth.metadata-url': { path: ['oauth', 'authServerMetadataUrl'], kind: 'url', for: 'remote' },
  // Logins without a browser (README: Logins without a browser); checked as the file is.
  'oauth.grant': { path: ['oauth', 'grant'], kind: 'string', for: 'remote' },
  'oauth.auth-method': { path: ['oauth', 'clientAuthMethod'], kind: 'string', for: 'remote' },
  'oauth.idp-issuer': { path: ['oauth', 'idpIssuer'], kind: 'url', for: 'remote' },
  'oauth.idp-client-id': { path: ['oauth', 'idpClientId'], kind: 'string', for: 'remote' },
  'oauth.id-token-file': { path: ['oauth', 'idTokenFile'], kind: 'path', for: 'remote' },
  'oauth.id-token-env': { path: ['oauth', 'idTokenEnv'], kind: 'string', for: 'remote' },
  'per-member': { path: ['perMember'], kind: 'boolean', for: 'remote' },
  'tls.ca-file': { path: ['tls', 'caFile'], kind: 'path', for: 'remote' },
  'tls.cert-file': { path: ['tls', 'certFile'], kind: 'path', for: 'remote' },
  'tls.key-file': { path: ['tls', 'keyFile'], kind: 'path', for: 'remote' },
  command: { path: ['command'], kind: 'string', for: 'stdio', required: true },
  args: { path: ['args'], kind: 'args', for: 'stdio' },
  env: { path: ['env'], kind: 'string', for: 'stdio', map: true },
  'inherit-env': { path: ['inheritEnv'], kind: 'boolean', for: 'stdio' },
  timeout: { path: ['timeout'], kind: 'duration' },
};

/** Other spellings of a key: the file's own names, and plurals. */
const ALIASES: Readonly<Record<string, string>> = {
  headers: 'header',
  type: 'transport',
  'oauth.scopes': 'oauth.scope',
  'oauth.auth-server-metadata-url': 'oauth.metadata-url',
  'oauth.client-auth-method': 'oauth.auth-method',
};

/** The keys for help and completion: `header.<Name>` for a map. */
export const SET_KEY_NAMES: readonly string[] = Object.entries(SET_KEYS).map(([key, spec]) =>
  spec.map ? `${key}.` : key,
);

export interface SetChange {
  /** As shown: `header.X-Api-Key`, `timeout`. */
  key: string;
  spec: KeySpec;
  /** The map key of `header.<Name>` / `env.<KEY>`. */
  member?: string;
  /** The new value as typed; undefined to remove the key. */
  value?: string;
}

export interface SetOptions {
  name: string;
  scope?: Scope;
  changes: SetChange[];
  /** Ask for the value of the one change without a value, hidden, on the terminal. */
  secret: boolean;
}

export interface RawSetFlags {
  scope?: string;
  unset?: string[];
  secret?: boolean;
}

const alias = (key: string): string => (Object.hasOwn(ALIASES, key) ? ALIASES[key]! : key);

const keyList = () => SET_KEY_NAMES.map((key) => (key.endsWith('.') ? `${key}<Name>` : key)).join(', ');

function parseKey(text: string): Omit<SetChange, 'value'> {
  const dot = text.indexOf('.');
  const head = dot === -1 ? text : text.slice(0, dot);
  const canonicalHead = alias(head);
  const mapSpec = Object.hasOwn(SET_KEYS, canonicalHead) ? SET_KEYS[canonicalHead] : undefined;
  if (mapSpec?.map) {
    const member = dot === -1 ? '' : text.slice(dot + 1);
    if (member === '')
      throw new PatchbayError('usage', `${text} needs a name: ${canonicalHead}.<Name>.`, {
        hint: `e.g. patchbay set <server> ${canonicalHead === 'header' ? 'header.X-Api-Key "${API_KEY}"' : 'env.API_KEY "${API_KEY}"'}`,
      });
    return { key: `${canonicalHead}.${member}`, spec: mapSpec, member };
  }
  const kebab = text.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const canonical = alias(kebab);
  const spec = Object.hasOwn(SET_KEYS, canonical) ? SET_KEYS[canonical] : undefined;
  if (!spec || spec.map)
    throw new PatchbayError('usage', `Unknown key ${JSON.stringify(text)}.`, {
      hint: `Keys: ${keyList()}. For anything else: patchbay edit <server>`,
    });
  return { key: canonical, spec };
}

/** Pure parse of the command line. */
export function parseSetOptions(
  name: string,
  key: string | undefined,
  value: string | undefined,
  flags: RawSetFlags,
): SetOptions {
  validateName(name);
  const options: SetOptions = { name, changes: [], secret: Boolean(flags.secret) };
  if (flags.scope !== undefined) options.scope = parseScope(flags.scope);
  for (const text of flags.unset ?? []) {
    const change = parseKey(text);
    if (change.spec.required)
      throw new PatchbayError('usage', `${change.key} cannot be unset: the entry needs one.`, {
        hint: `Change it instead: patchbay set ${name} ${change.key} <value>`,
      });
    options.changes.push(change);
  }
  if (key !== undefined) {
    const change = parseKey(key);
    if (value === undefined && !options.secret)
      throw new PatchbayError('usage', `Missing the value for ${change.key}.`, {
        hint: `patchbay set ${name} ${change.key} <value>${change.spec.kind === 'string' || change.spec.kind === 'secret' ? `   or, asked for hidden: patchbay set ${name} ${change.key} --secret` : ''}`,
      });
    if (value !== undefined && options.secret)
      throw new PatchbayError('usage', '--secret asks for the value: give the key only.', {
        hint: `patchbay set ${name} ${change.key} --secret`,
      });
    options.changes.push(value === undefined ? { ...change, value: '' } : { ...change, value });
  } else if (options.secret) {
    throw new PatchbayError('usage', '--secret needs the key whose value to ask for.', {
      hint: `patchbay set ${name} header.Authorization --secret`,
    });
  }
  if (options.changes.length === 0)
    throw new PatchbayError(
      'usage',
      `Nothing to change on ${name}: give a key and a value, or --unset <key>.`,
      {
        hint: `patchbay set ${name} <key> <value>   Keys: ${keyList()}`,
      },
    );
  const keys = options.changes.map((change) => change.key);
  const twice = keys.find((k, i) => keys.indexOf(k) !== i);
  if (twice !== undefined) throw new PatchbayError('usage', `${twice} is given twice.`);
  return options;
}

export async function runSet(options: SetOptions, io: Io): Promise<number> {
  if (options.secret) {
    const asked = options.changes.at(-1)!;
    if (!isInteractive(io))
      throw new PatchbayError(
        'no-tty',
        `--secret asks for the value of ${asked.key}, but there is no terminal.`,
        {
          hint: `Give it as an argument, preferably as a variable the value is read from when used: patchbay set ${options.name} ${asked.key} '\${MY_SECRET}'`,
        },
      );
    const secret = await readHiddenLine(io, `${asked.key} for ${options.name}: `);
    if (!secret) throw new PatchbayError('usage', 'No value entered; nothing was changed.');
    asked.value = secret;
  }
  const registry = await loadForCommand(io);
  const { scoped, entry } = entryToEdit(registry, options.name, options.scope);
  for (const change of options.changes) applicable(change, entry, options.name);

  const secretChange = options.changes.find((change) => change.spec.kind === 'secret');
  const result = await editEntry(registry, scoped, {
    env: io.env,
    ...(secretChange?.value !== undefined ? { newClientSecret: secretChange.value } : {}),
    removeClientSecret: secretChange !== undefined && secretChange.value === undefined,
    change: (raw) => {
      for (const change of options.changes) applyChange(raw, change, io.cwd);
      return raw;
    },
  });
  for (const warning of result.warnings) warn(io, warning);
  for (const change of options.changes)
    note(
      io,
      change.value === undefined
        ? `Unset ${change.key} on ${options.name}.`
        : `Set ${change.key} = ${shown(change)} on ${options.name}.`,
    );
  note(io, `Saved in the ${result.scope} scope: ${result.path}`);
  const winner = registry.servers.find((server) => server.name === options.name)!.winner;
  if (winner.scope !== result.scope)
    note(io, `Note: the ${winner.scope} entry of the same name takes precedence over it (${winner.path}).`);
  return 0;
}

function applicable(change: SetChange, entry: ServerEntry, name: string): void {
  const remote = entry.transport !== 'stdio';
  if (change.spec.for === 'remote' && !remote)
    throw new PatchbayError(
      'usage',
      `${change.key} applies to http and sse servers; ${name} runs a local command.`,
      {
        hint: `Its keys: command, args, env.<KEY>, inherit-env, timeout. Or: patchbay edit ${name}`,
      },
    );
  if (change.spec.for === 'stdio' && remote)
    throw new PatchbayError('usage', `${change.key} applies to local commands; ${name} is a remote server.`, {
      hint: `Its keys: url, transport, header.<Name>, headers-helper, oauth.*, tls.*, timeout. Or: patchbay edit ${name}`,
    });
}

/** The value as printed: secrets masked by the one redactor's rules. */
function shown(change: SetChange): string {
  const value = change.value!;
  if (change.spec.kind === 'secret') return MASK;
  if (change.spec.kind === 'url') return maskUrl(value);
  if (change.member !== undefined) return maskMap({ [change.member]: value })[change.member]!;
  return value;
}

function applyChange(raw: JsonObject, change: SetChange, cwd: string): void {
  const { spec } = change;
  if (spec.kind === 'secret') return;
  const path = change.member === undefined ? spec.path : [...spec.path, change.member];
  if (change.value === undefined) {
    unsetAt(raw, path);
    return;
  }
  setAt(raw, path, valueOf(change, change.value, cwd));
}

function valueOf(change: SetChange, text: string, cwd: string): JsonValue {
  switch (change.spec.kind) {
    case 'transport': {
      const transport = text === 'streamable-http' ? 'http' : text;
      if (transport !== 'http' && transport !== 'sse')
        throw new PatchbayError('usage', `Invalid transport ${JSON.stringify(text)}: expected http or sse.`, {
          hint: 'http is Streamable HTTP; sse is the legacy HTTP+SSE transport.',
        });
      return transport;
    }
    case 'duration':
      // Seconds when bare, as every --timeout; the file keeps milliseconds (Claude Code's format).
      return parseDuration(text, change.key);
    case 'port': {
      const port = Number(text);
      if (!/^\d+$/.test(text) || port < 1 || port > 65535)
        throw new PatchbayError(
          'usage',
          `Invalid ${change.key} ${JSON.stringify(text)}: expected a port number (1-65535).`,
        );
      return port;
    }
    case 'boolean':
      if (text !== 'true' && text !== 'false')
        throw new PatchbayError(
          'usage',
          `Invalid ${change.key} ${JSON.stringify(text)}: expected true or false.`,
        );
      return text === 'true';
    case 'path':
      // Stored absolute, as add stores it: a relative path in the file is read from the file's directory.
      if (text === '') throw new PatchbayError('usage', `${change.key} is empty.`);
      return hasReferences(text) || isAbsolute(text) ? text : resolve(cwd, text);
    case 'args':
      return splitCommandLine(text);
    default:
      if (text === '' && change.member === undefined)
        throw new PatchbayError('usage', `${change.key} is empty.`, {
          hint: `To remove it: patchbay set <server> --unset ${change.key}`,
        });
      return text;
  }
}

function setAt(raw: JsonObject, path: string[], value: JsonValue): void {
  let at = raw;
  for (const key of path.slice(0, -1)) {
    let next = getOwn(at, key);
    if (!isObject(next)) {
      next = createObject();
      setOwn(at, key, next);
    }
    at = next;
  }
  setOwn(at, path.at(-1)!, value);
}

/** Remove the key, and an object it leaves empty (headers, env, oauth, tls). */
function unsetAt(raw: JsonObject, path: string[]): void {
  const parents: JsonObject[] = [raw];
  for (const key of path.slice(0, -1)) {
    const next = getOwn(parents.at(-1)!, key);
    if (!isObject(next)) return;
    parents.push(next);
  }
  delete parents.at(-1)![path.at(-1)!];
  for (let i = parents.length - 1; i > 0; i--)
    if (Object.keys(parents[i]!).length === 0) delete parents[i - 1]![path[i - 1]!];
}
